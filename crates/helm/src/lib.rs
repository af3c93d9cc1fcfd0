//! # helm
//!
//! Helm's semantics on top of [`gotemplate`]: loading charts (directories and `.tgz`),
//! dependencies, values coalescing and `--set` parsing, the built-in objects, Helm's
//! template functions, and rendering to manifests in Helm's order.
//!
//! May call: `gotemplate`. Pure apart from reading chart files.

pub mod chart;
pub mod funcs;
pub mod glob;
pub mod ignore;
pub mod json;
pub mod manifest;
pub mod name_template;
pub mod objects;
pub mod render;
pub mod schema;
pub mod semver;
pub mod strvals;
pub mod toml;
pub mod values;
pub mod yaml;
pub mod yaml_emit;

pub use chart::{Chart, LoadError};
pub use render::{Engine, OutputOptions, RenderError, RenderOptions, Rendered};
pub use values::ValueOptions;
