//! Tests of the pure domain: policy (node policy and the budget too), rule matching and
//! admission, planning, verdicts.

pub(crate) mod builders;
mod corroboration;
mod node_policy;
mod planner;
mod policy;
mod rule;
mod verdict;
