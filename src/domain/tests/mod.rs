//! Tests of the pure domain: policy, rule matching and admission, planning, verdicts.

pub(crate) mod builders;
mod corroboration;
mod planner;
mod policy;
mod rule;
mod verdict;
