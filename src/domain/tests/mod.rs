//! Tests of the pure domain: policy, rule matching and admission, planning.

pub(crate) mod builders;
mod planner;
mod policy;
mod rule;
