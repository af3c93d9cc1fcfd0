//! # sync
//!
//! The Trellis sync engine: make a cluster equal to what git renders, in the right order, and know
//! when it is healthy. The controller calls it for every application; `trellis deploy` and
//! `trellis diff` use it directly.
//!
//! - [`object`]: desired objects and what their annotations say (tracking ids, waves, hooks, options).
//! - [`order`]: the plan, phase → wave → kind → name.
//! - [`cluster`]: the API server connection (discovery, server-side apply, request counting).
//! - [`cache`]: live state from watches, holding only tracked objects.
//! - [`diff`]: noise-free comparison, `ignoreDifferences` (JSON pointers, [`jq`] path expressions,
//!   fields of named managers read from `managedFields` by [`fields`]), Secret masking, unified diffs.
//! - [`health`], [`crd_health`] and [`lua`]: health as Argo CD judges it — [`health::assess`] (the
//!   one judgement the engine, the controller and `trellis health` share), gitops-engine's built-in
//!   rules, popular custom resources, and Lua 5.1 (LuaJIT) customizations in Argo CD's layout.
//! - [`exclusions`]: the kinds left alone (`resource.exclusions` / `resource.inclusions`).
//! - [`state`]: persisted operation state.
//! - [`engine`]: diff, sync (apply, hooks, prune, health waits), deletion.
//!
//! May call: `goyaml` (manifests read as kubectl reads them) and the Kubernetes API through `kube`;
//! never the controller or anything above it.

pub mod cache;
pub mod cluster;
pub mod crd_health;
pub mod diff;
pub mod engine;
pub mod error;
pub mod exclusions;
pub mod fields;
pub mod health;
pub mod jq;
pub mod lua;
pub mod object;
pub mod order;
pub mod state;

pub use error::{Error, Result};
