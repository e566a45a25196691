//! Kubernetes: objects and the pure conversions from them to signals, evidence and verdicts
//! (`detect`, `facts`, `controls`, `scope`, `gather`), and the edges that call the apiserver: `collect`
//! (the live gatherer), `verify`, `execute` and `watch` (watchers → signals, with `recheck`
//! for pods that wait on the clock). `access` declares which API calls each makes.

pub mod access;
pub mod collect;
pub mod controls;
pub mod detect;
pub mod events;
pub mod execute;
pub mod facts;
pub mod gather;
pub mod objects;
pub mod recheck;
pub mod scope;
pub mod verify;
pub mod watch;

#[cfg(test)]
mod tests;
