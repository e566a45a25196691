//! The decision pipeline shared by `replay`, the bench and the daemon: select the rule a signal
//! matches, then diagnose, plan and apply policy. Pure: evidence is gathered by the caller.

use jiff::Timestamp;

use crate::diagnose::diagnose;
use crate::domain::diagnosis::Diagnosis;
use crate::domain::evidence::Evidence;
use crate::domain::plan::Plan;
use crate::domain::planner::{plan, policy_context};
use crate::domain::playbook::Playbook;
use crate::domain::policy::nodes::NodeView;
use crate::domain::policy::{PastAction, Policy};
use crate::domain::rule::{Rule, render_fingerprint};
use crate::domain::signal::Signal;
use crate::rules::RuleSet;

/// The first (signal, rule) pair that matches: signals in the detector's order, rules in file
/// order; `fallback` rules only when no other rule matches any signal.
pub fn select<'a>(
    signals: &'a [Signal],
    rules: &'a RuleSet,
) -> Option<(&'a Signal, &'a Rule, &'a Playbook)> {
    select_among(signals, rules, false).or_else(|| select_among(signals, rules, true))
}

fn select_among<'a>(
    signals: &'a [Signal],
    rules: &'a RuleSet,
    fallback: bool,
) -> Option<(&'a Signal, &'a Rule, &'a Playbook)> {
    signals.iter().find_map(|signal| {
        rules
            .rules
            .iter()
            .filter(|r| r.rule.enabled && r.rule.fallback == fallback)
            .find(|r| r.rule.matcher.matches(signal))
            .and_then(|r| {
                // Validation guarantees the playbook exists; a missing one is skipped, not a panic.
                rules
                    .playbook(&r.rule.playbook)
                    .map(|p| (signal, &r.rule, p))
            })
    })
}

/// The fingerprint of a signal under a rule; a template that fails to render falls back to a
/// fingerprint that still dedups by rule and target.
pub fn fingerprint(rule: &Rule, signal: &Signal) -> String {
    render_fingerprint(&rule.fingerprint, &rule.name, signal)
        .ok()
        .filter(|f| !f.is_empty())
        .unwrap_or_else(|| format!("{}/{}", rule.name, signal.target))
}

/// Diagnosis and policy-checked plan for a matched signal.
pub fn decide(
    signal: &Signal,
    playbook: &Playbook,
    evidence: &Evidence,
    policy: &Policy,
    recent: &[PastAction],
    now: Timestamp,
) -> (Diagnosis, Plan) {
    let diagnosis = diagnose(signal, evidence, &playbook.heuristics, now);
    let proposed = plan(signal, &diagnosis, playbook, evidence, now);
    let mut ctx = policy_context(&proposed, evidence, recent);
    ctx.signal_namespace = signal.namespace().map(str::to_owned);
    // Only the nodes the evidence holds: the whole pool is read right before execution.
    ctx.nodes = NodeView::partial(evidence.nodes().map(|(_, n)| n.clone()).collect());
    let plan = policy.enforce(proposed, &ctx, now);
    (diagnosis, plan)
}
