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
            let mut others: Vec<&str> = signals
                .iter()
                .map(|s| s.reason.as_str())
                .filter(|r| *r != reason)
                .collect();
            others.dedup();
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

#[cfg(test)]
mod tests {
    use jiff::SignedDuration;

    use super::{
        CheckResult, Examined, RestartWindow, Verdict, condition_cleared, cronjob_suspended,
        no_new_restarts, pods_ready, rollout_complete,
    };
    use crate::domain::evidence::CronJobFacts;
    use crate::domain::plan::CheckKind;
    use crate::domain::tests::builders::{at, pod, rollout, signal};

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

    #[test]
    fn a_cronjob_check_passes_only_when_it_is_suspended() {
        let mut cron = CronJobFacts {
            namespace: "shop".into(),
            name: "sync".into(),
            ..CronJobFacts::default()
        };
        assert!(!cronjob_suspended(&cron).passed);
        cron.suspended = true;
        let result = cronjob_suspended(&cron);
        assert!(result.passed);
        assert_eq!(result.observed, "cronjob shop/sync suspended=true");
    }

    #[test]
    fn a_condition_is_cleared_when_the_detectors_raise_nothing_on_the_target() {
        let target = Examined::Target("pod shop/api-1".into());
        let crash = signal("CrashLoopBackOff");
        let failed = condition_cleared("CrashLoopBackOff", &target, std::slice::from_ref(&crash));
        assert!(!failed.passed);
        assert!(
            failed
                .observed
                .contains("CrashLoopBackOff still raised on pod shop/api-1"),
            "{}",
            failed.observed
        );
        let cleared = condition_cleared("CrashLoopBackOff", &target, &[]);
        assert!(cleared.passed);
        assert_eq!(
            cleared.observed,
            "CrashLoopBackOff no longer raised on pod shop/api-1"
        );
    }

    #[test]
    fn a_condition_that_only_changed_its_name_is_not_cleared() {
        let target = Examined::Target("pod shop/api-1".into());
        // Opened on the container's `Error`; between restarts it is `CrashLoopBackOff`.
        let flipped = condition_cleared("Error", &target, &[signal("CrashLoopBackOff")]);
        assert!(!flipped.passed, "the same crash loop under another name");
        assert_eq!(
            flipped.observed,
            "Error is gone but pod shop/api-1 still raises CrashLoopBackOff"
        );
        let replaced = condition_cleared(
            "Error",
            &Examined::Replacements(3),
            &[signal("ImagePullBackOff")],
        );
        assert!(
            !replaced.passed,
            "replacements that fail otherwise are not healthy"
        );
    }

    #[test]
    fn a_replaced_pod_is_judged_by_its_replacements_and_no_replacement_proves_nothing() {
        let crash = signal("CrashLoopBackOff");
        let reason = "CrashLoopBackOff";
        assert!(condition_cleared(reason, &Examined::Replacements(3), &[]).passed);
        assert!(!condition_cleared(reason, &Examined::Replacements(3), &[crash]).passed);
        assert!(!condition_cleared(reason, &Examined::Replacements(0), &[]).passed);
        assert!(condition_cleared(reason, &Examined::Gone("node worker-3".into()), &[]).passed);
    }

    #[test]
    fn no_new_restarts_passes_only_after_a_whole_clean_window() {
        let before = vec![pod("api-1").crash_looping(1, "Error").build()];
        let start = at("2026-01-01T00:00:00Z");
        let mut watch = RestartWindow::new(before.clone(), start, SignedDuration::from_mins(5));
        let later = |mins: i64| start + SignedDuration::from_mins(mins);
        assert!(!watch.observe(&before, later(1)).passed, "window not over");
        assert!(watch.observe(&before, later(5)).passed);
    }

    #[test]
    fn a_restart_inside_the_window_starts_it_again() {
        let before = vec![pod("api-1").crash_looping(1, "Error").build()];
        let start = at("2026-01-01T00:00:00Z");
        let mut watch = RestartWindow::new(before.clone(), start, SignedDuration::from_mins(5));
        let mut restarted = before.clone();
        restarted[0].containers[0].restart_count += 1;
        let at_mins = |mins: i64| start + SignedDuration::from_mins(mins);
        let result: CheckResult = watch.observe(&restarted, at_mins(2));
        assert!(!result.passed);
        assert_eq!(result.check, CheckKind::NoNewRestarts);
        assert!(result.observed.starts_with("1 new restart(s)"));
        assert!(
            !watch.observe(&restarted, at_mins(6)).passed,
            "4 clean minutes"
        );
        assert!(watch.observe(&restarted, at_mins(7)).passed);
        assert!(
            !watch.observe(&[], at_mins(20)).passed,
            "no pods proves nothing"
        );
    }

    #[test]
    fn a_verdict_serializes_into_what_the_store_records_and_back() {
        let ready = pods_ready(&[pod("a").build()]);
        let verdict = Verdict::decide(vec![ready], at("2026-01-01T00:00:00Z"));
        let record = verdict.to_record();
        assert_eq!(record["healthy"], true);
        assert_eq!(record["results"][0]["check"], "pods-ready");
        let back: Verdict = serde_json::from_value(record).expect("round trip");
        assert_eq!(back, verdict);
    }
}
