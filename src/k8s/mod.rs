//! Kubernetes: objects and the pure conversions from them to signals, evidence and verdicts
//! (`detect`, `facts`, `controls`, `scope`, `gather`), and the edges that call the apiserver:
//! `collect` (the live gatherer), `verify`, `execute` (with `nodes`, the pool node policy
//! judges) and `watch` (watchers → signals, with `recheck` for pods that wait on the clock).
//! `access` declares which API calls each makes; `manifests` generates the per-namespace
//! RoleBindings and the admission policy from the policy.

pub mod access;
pub mod collect;
pub mod controls;
pub mod detect;
pub mod events;
pub mod execute;
pub mod facts;
pub mod gather;
pub mod manifests;
pub mod nodes;
pub mod objects;
pub mod recheck;
pub mod scope;
pub mod verify;
pub mod watch;

#[cfg(test)]
mod tests;
