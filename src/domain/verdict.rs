//! Verification verdicts: whether the system is healthy again, decided from observed facts by
//! pure functions. The verifier gathers the facts and records the verdict; it decides nothing.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::domain::evidence::{ContainerState, NodeFacts, PodFacts, RolloutFacts};
use crate::domain::plan::CheckKind;

/// The result of one check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    /// Which check.
    pub check: CheckKind,
    /// Whether it passed.
    pub passed: bool,
    /// What was observed, in words.
    pub observed: String,
}

/// The verdict over all of a plan's checks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// True only when there was at least one check and every check passed.
    pub healthy: bool,
    /// Each check's result.
    pub results: Vec<CheckResult>,
    /// When it was decided.
    pub decided_at: Timestamp,
}

impl Verdict {
    /// Decides from check results. No checks is not healthy: nothing was proven.
    pub fn decide(results: Vec<CheckResult>, now: Timestamp) -> Verdict {
        let healthy = !results.is_empty() && results.iter().all(|r| r.passed);
        Verdict {
            healthy,
            results,
            decided_at: now,
        }
    }
}

/// The rollout finished: the controller observed the newest generation and every desired
/// replica is updated, ready and available.
pub fn rollout_complete(r: &RolloutFacts) -> CheckResult {
    let observed = r.observed_generation.unwrap_or(0) >= r.generation.unwrap_or(0);
    let passed = observed
        && r.updated_replicas >= r.replicas
        && r.ready_replicas >= r.replicas
        && r.available_replicas >= r.replicas;
    CheckResult {
        check: CheckKind::RolloutComplete,
        passed,
        observed: format!(
            "generation {}/{}, {} desired, {} updated, {} ready, {} available",
            r.observed_generation.unwrap_or(0),
            r.generation.unwrap_or(0),
            r.replicas,
            r.updated_replicas,
            r.ready_replicas,
            r.available_replicas
        ),
    }
}

/// No container of the target's pods restarted between two observations (pods are matched by
/// name; a pod that appeared later must show no restarts at all).
pub fn no_new_restarts(before: &[PodFacts], after: &[PodFacts]) -> CheckResult {
    let restarts = |p: &PodFacts| p.all_containers().map(|c| c.restart_count).sum::<i32>();
    let new: i32 = after
        .iter()
        .map(|p| {
            let earlier = before.iter().find(|b| b.name == p.name).map_or(0, restarts);
            (restarts(p) - earlier).max(0)
        })
        .sum();
    CheckResult {
        check: CheckKind::NoNewRestarts,
        passed: new == 0 && !after.is_empty(),
        observed: format!("{new} new restart(s) across {} pod(s)", after.len()),
    }
}

/// Every target pod is Running with all containers Ready.
pub fn pods_ready(pods: &[PodFacts]) -> CheckResult {
    let ready = pods
        .iter()
        .filter(|p| {
            p.phase.as_deref() == Some("Running")
                && p.containers
                    .iter()
                    .all(|c| c.ready && matches!(c.state, Some(ContainerState::Running { .. })))
        })
        .count();
    CheckResult {
        check: CheckKind::PodsReady,
        passed: !pods.is_empty() && ready == pods.len(),
        observed: format!("{ready} of {} pod(s) ready", pods.len()),
    }
}

/// The node is cordoned.
pub fn node_cordoned(node: &NodeFacts) -> CheckResult {
    CheckResult {
        check: CheckKind::NodeCordoned,
        passed: node.unschedulable,
        observed: format!("node {} unschedulable={}", node.name, node.unschedulable),
    }
}

#[cfg(test)]
mod tests {
    use super::{Verdict, no_new_restarts, pods_ready, rollout_complete};
    use crate::domain::tests::builders::{at, pod, rollout};

    #[test]
    fn a_rollout_is_complete_only_when_every_replica_is_updated_ready_and_available() {
        let mut r = rollout(vec![]);
        (r.generation, r.observed_generation) = (Some(7), Some(7));
        (
            r.replicas,
            r.updated_replicas,
            r.ready_replicas,
            r.available_replicas,
        ) = (3, 3, 3, 3);
        assert!(rollout_complete(&r).passed);
        r.available_replicas = 2;
        assert!(!rollout_complete(&r).passed);
        r.available_replicas = 3;
        r.observed_generation = Some(6);
        assert!(
            !rollout_complete(&r).passed,
            "controller has not seen the change yet"
        );
    }

    #[test]
    fn restarts_after_the_action_fail_the_check() {
        let before = vec![pod("api-1").crash_looping(1, "Error").build()];
        let mut after = before.clone();
        assert!(no_new_restarts(&before, &after).passed);
        after[0].containers[0].restart_count += 1;
        assert!(!no_new_restarts(&before, &after).passed);
        assert!(
            !no_new_restarts(&before, &[]).passed,
            "no pods proves nothing"
        );
    }

    #[test]
    fn a_verdict_with_no_checks_or_any_failure_is_not_healthy() {
        let now = at("2026-01-01T00:00:00Z");
        assert!(!Verdict::decide(vec![], now).healthy);
        let ready = pods_ready(&[pod("a").build()]);
        assert!(Verdict::decide(vec![ready.clone()], now).healthy);
        let not_ready = pods_ready(&[pod("a").build(), pod("b").crash_looping(1, "Error").build()]);
        assert!(!Verdict::decide(vec![ready, not_ready], now).healthy);
    }
}
