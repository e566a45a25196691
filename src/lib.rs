//! nightshift: a self-hosted incident responder for Kubernetes.
//!
//! signals → rules → incident → evidence → diagnosis → plan → approval → execute → verify →
//! report. `domain` holds the pure decisions; every other module is an edge that feeds it or
//! carries its decisions out.
#![forbid(unsafe_code)]

pub mod alerts;
pub mod approval;
pub mod bench;
pub mod cli;
pub mod commands;
pub mod config;
pub mod daemon;
pub mod demo;
pub mod diagnose;
pub mod domain;
pub mod engine;
pub mod http;
pub mod investigate;
pub mod k8s;
pub mod links;
pub mod pagers;
pub mod pages;
pub mod pipeline;
pub mod replay;
pub mod report;
pub mod rules;
pub mod sim;
pub mod store;
pub mod telemetry;
