//! # goyaml
//!
//! Go's YAML and JSON exactly as Helm v3.17 (Go 1.23) uses them, on [`gotemplate`]'s value
//! model: [`yaml`] reads YAML as `sigs.k8s.io/yaml` on go-yaml v2 does (YAML 1.1 scalars,
//! the JSON round trip, go-yaml's error texts and line numbers, its UTF-8 reader with its
//! 512-byte read-ahead; for plain block documents, a line scan and a direct node builder that
//! skip the event parser, tested to give the parser's result); [`yaml::parse_json`] reads a
//! manifest into `serde_json` as kubectl does; [`yaml_emit`] writes `toYaml` output byte for byte; [`json`] is
//! `encoding/json` (marshal with Go's escaping and float format, decode into `interface{}`).
//!
//! Split from `helm` the way `sprig` was split from `gotemplate`: `helm` reads as charts,
//! values and rendering, this crate as Go's encodings. `helm` re-exports the modules under
//! their old paths (`helm::yaml`, `helm::yaml_emit`, `helm::json`).
//!
//! May call: `gotemplate` (its value model and `fmt`). Pure: no I/O.

pub mod json;
pub mod yaml;
pub mod yaml_emit;
