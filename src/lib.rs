//! nightshift: a self-hosted incident responder for Kubernetes.
//!
//! signals → rules → incident → evidence → diagnosis → plan → approval → execute → verify →
//! report. `domain` holds the pure decisions; every other module is an edge that feeds it or
//! carries its decisions out.
#![forbid(unsafe_code)]

pub mod domain;
pub mod report;
pub mod store;
