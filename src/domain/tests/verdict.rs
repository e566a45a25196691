//! Verification verdicts: the pure check evaluators.

use jiff::SignedDuration;

use super::builders::{at, pod, rollout, signal};
use crate::domain::evidence::CronJobFacts;
use crate::domain::plan::CheckKind;
use crate::domain::verdict::{
    CheckResult, Examined, RestartWindow, Verdict, condition_cleared, cronjob_suspended,
    no_new_restarts, pods_ready, rollout_complete,
};

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
