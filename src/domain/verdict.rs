//! Verification verdicts: whether the system is healthy again, decided from observed facts by
//! pure functions. The verifier gathers the facts and records the verdict; it decides nothing.

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::domain::evidence::{ContainerState, CronJobFacts, NodeFacts, PodFacts, RolloutFacts};
use crate::domain::plan::CheckKind;
use crate::domain::signal::Signal;

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

impl Verdict {
    /// The verdict as the JSON `Store::record_verification` stores (and `load` gives back).
    pub fn to_record(&self) -> Value {
        serde_json::to_value(self)
            .unwrap_or_else(|e| json!({"healthy": false, "error": e.to_string()}))
    }
}

impl CheckResult {
    /// A failed result for `check` with `observed` text (could not observe, timed out...).
    pub fn failed(check: CheckKind, observed: impl Into<String>) -> CheckResult {
        CheckResult {
            check,
            passed: false,
            observed: observed.into(),
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

/// The CronJob is suspended.
pub fn cronjob_suspended(cron: &CronJobFacts) -> CheckResult {
    CheckResult {
        check: CheckKind::CronjobSuspended,
        passed: cron.suspended,
        observed: format!(
            "cronjob {}/{} suspended={}",
            cron.namespace, cron.name, cron.suspended
        ),
    }
}

/// What `condition-cleared` could look at.
#[derive(Debug, Clone, PartialEq)]
pub enum Examined {
    /// The incident's target object, described (`pod shop/api-1`).
    Target(String),
    /// The target pod is gone; these are the pods that replaced it (its workload's pods).
    Replacements(usize),
    /// The target no longer exists and nothing replaced it.
    Gone(String),
}

/// The condition that opened the incident is gone: the detectors, run again on the target
/// (or on the pods that replaced it), raise nothing — not the incident's reason, and not another
/// one either (a crash loop flips between `Error` and `CrashLoopBackOff`; whatever else is
/// raised on the same workload belongs to the same incident). A target that no longer exists
/// raises nothing; a workload left with no pods proves nothing.
pub fn condition_cleared(reason: &str, examined: &Examined, signals: &[Signal]) -> CheckResult {
    let (passed, observed) = match examined {
        Examined::Gone(what) => (true, format!("{what} no longer exists")),
        Examined::Replacements(0) => (
            false,
            format!("the target is gone and its workload has no pods to show {reason} cleared"),
        ),
        Examined::Replacements(n) if !signals.is_empty() => {
            let raised: Vec<String> = signals
                .iter()
                .map(|s| format!("{} on {}", s.reason, s.target))
                .collect();
            let what = format!("the {n} pod(s) that replaced the target");
            (false, format!("{what} still raise {}", raised.join(", ")))
        }
        Examined::Target(what) if !signals.is_empty() => {
            let mut others: Vec<&str> = Vec::new();
            for r in signals.iter().map(|s| s.reason.as_str()) {
                if r != reason && !others.contains(&r) {
                    others.push(r);
                }
            }
            let text = match (
                signals.iter().any(|s| s.reason == reason),
                others.is_empty(),
            ) {
                (true, true) => format!("{reason} still raised on {what}"),
                (true, false) => format!(
                    "{reason} still raised on {what} (also {})",
                    others.join(", ")
                ),
                (false, _) => format!(
                    "{reason} is gone but {what} still raises {}",
                    others.join(", ")
                ),
            };
            (false, text)
        }
        Examined::Replacements(n) => (
            true,
            format!("{reason} no longer raised on the {n} pod(s) that replaced the target"),
        ),
        Examined::Target(what) => (true, format!("{reason} no longer raised on {what}")),
    };
    CheckResult {
        check: CheckKind::ConditionCleared,
        passed,
        observed,
    }
}

/// `no-new-restarts` observed across a window: it passes once the target's pods have gone a
/// whole window without a restart. A restart starts the window again from that observation,
/// so pods that restart while a rollback replaces them do not fail a recovery that then holds.
#[derive(Debug, Clone)]
pub struct RestartWindow {
    baseline: Vec<PodFacts>,
    since: Timestamp,
    window: SignedDuration,
}

impl RestartWindow {
    /// Starts observing at `start`, against the pods as they were before the actions ran.
    pub fn new(before: Vec<PodFacts>, start: Timestamp, window: SignedDuration) -> Self {
        Self {
            baseline: before,
            since: start,
            window,
        }
    }

    /// Judges one observation of the target's pods at `now`.
    pub fn observe(&mut self, pods: &[PodFacts], now: Timestamp) -> CheckResult {
        let result = no_new_restarts(&self.baseline, pods);
        if !result.passed {
            if !pods.is_empty() {
                self.baseline = pods.to_vec();
                self.since = now;
            }
            return result;
        }
        let clean_for = now.duration_since(self.since);
        let whole = clean_for >= self.window;
        CheckResult {
            passed: whole,
            observed: format!(
                "{}; no restart for {}s of a {}s window",
                result.observed,
                clean_for.as_secs(),
                self.window.as_secs()
            ),
            ..result
        }
    }
}
