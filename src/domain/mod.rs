//! The pure domain: types and decisions. Nothing here performs I/O or holds a client; `now` is
//! always an argument.

pub mod approval;
pub mod approvers;
pub mod catalog;
pub mod controls;
pub mod corroborate;
pub mod diagnosis;
pub mod evidence;
pub mod guards;
pub mod incident;
pub mod pattern;
pub mod plan;
pub mod planner;
pub mod playbook;
pub mod policy;
pub mod quantity;
pub mod redact;
pub mod rule;
pub mod scheduling;
pub mod scope;
pub mod signal;
pub mod taxonomy;
pub mod verdict;

#[cfg(test)]
pub(crate) mod tests;
