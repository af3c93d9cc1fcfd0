//! # controller
//!
//! The Trellis controller: it turns git branches into environments and keeps Applications in
//! sync with git. This crate owns the resources (`Application`, `EnvironmentSet`, `Environment`
//! in group `trellis.dev`, version `v1alpha1`) and the logic around them that needs no cluster:
//!
//! - [`types`]: the custom resources as Rust types, the CRDs generated from them
//!   ([`types::crds`], [`types::crds_yaml`]), Go duration parsing.
//! - [`naming`]: environment (and namespace) names from branch names: DNS labels, unique, stable
//!   once assigned.
//! - [`render`]: charts from git trees to desired objects, once per digest (the render cache).
//! - [`metrics`]: the Prometheus families the controller updates, and a layer counting a kube
//!   client's requests.
//! - [`webhook`]: GitHub and GitLab webhook verification and parsing, and repository URL
//!   normalisation to match a webhook with the repositories in use.
//!
//! The reconcile loops (Applications, EnvironmentSets, cleanup), the work queue and leader
//! election build on these modules and on the `sync` and `source` crates.

mod app;
mod envs;
pub mod error;
pub mod install;
pub mod metrics;
pub mod naming;
pub mod queue;
pub mod render;
mod run;
pub mod types;
pub mod webhook;

pub use app::{
    REFRESH_REQUEST, RESOURCES_FINALIZER, ResourceSelector, SYNC_REQUEST, SyncRequestOptions,
    TERMINATE_REQUEST,
};
pub use envs::{ENVIRONMENT_FINALIZER, app_name};
pub use error::{Error, Result};
pub use run::{Config, Controller, Key, Stats, run_with_leader_election};

pub use types::{
    Application, ApplicationSpec, ApplicationStatus, Environment, EnvironmentSet,
    EnvironmentSetSpec, EnvironmentSetStatus, EnvironmentSpec, EnvironmentStatus, crds, crds_yaml,
    parse_go_duration,
};
