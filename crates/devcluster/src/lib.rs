//! # devcluster
//!
//! A local Kubernetes API server that kubectl, Helm and `kube` accept: discovery,
//! OpenAPI, CRUD, watch, patch (including server-side apply), garbage collection and a
//! workload simulator. Depends on no other Trellis crate.
