//! The verifier: after a plan ran, re-reads the cluster until every check passes or its timeout
//! elapses, and returns a [`Verdict`]. The judging is done by the pure evaluators in
//! [`crate::domain::verdict`]; this module only observes, on a schedule. The engine records the
//! verdict (`Verdict::to_record` is what `Store::record_verification` takes) and escalates.
//!
//! Checks run concurrently, each polling every [`Verifier::with_poll_interval`] until it passes
//! or `timeout_seconds` (a check parameter) elapses; `no-new-restarts` passes once the pods went
//! `window_seconds` without a restart. Time is tokio's, so tests pause and advance it.

mod observe;

use std::time::Duration;

use futures::future::join_all;
use jiff::{SignedDuration, Timestamp};
use serde_json::Value;
use tokio::time::Instant;

use crate::domain::evidence::PodFacts;
use crate::domain::plan::{Check, CheckKind};
use crate::domain::signal::ObjectRef;
use crate::domain::verdict::{
    CheckResult, RestartWindow, Verdict, condition_cleared, cronjob_suspended, node_cordoned,
    pods_ready, rollout_complete,
};

use observe::Observation;

/// A check without `timeout_seconds` gives up after this long.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);
/// A `no-new-restarts` check without `window_seconds` observes this long.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(60);

/// The incident being verified.
#[derive(Debug, Clone, PartialEq)]
pub struct Subject {
    /// The object the incident is about.
    pub target: ObjectRef,
    /// Its workload, when known.
    pub workload: Option<ObjectRef>,
    /// The signal reason that opened the incident (for `condition-cleared`).
    pub reason: String,
}

/// Why one observation failed; the check counts it as not passed and tries again.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The apiserver refused or failed.
    #[error("{what}: {source}")]
    Api {
        /// What was asked.
        what: String,
        /// Why it failed.
        #[source]
        source: kube::Error,
    },
    /// The request did not answer in time.
    #[error("{what}: no answer within {after:?}")]
    RequestTimeout {
        /// What was asked.
        what: String,
        /// How long it was given.
        after: Duration,
    },
}

impl VerifyError {
    /// A bounded label for metrics.
    pub fn metric_label(&self) -> &'static str {
        match self {
            VerifyError::Api { source, .. } => match source {
                kube::Error::Api(status) if status.is_forbidden() => "forbidden",
                kube::Error::Api(_) => "api",
                _ => "transport",
            },
            VerifyError::RequestTimeout { .. } => "request_timeout",
        }
    }
}

/// Verifies plans against the apiserver.
#[derive(Clone)]
pub struct Verifier {
    client: kube::Client,
    poll: Duration,
    request_timeout: Duration,
}

/// Wall-clock time that follows tokio's (paused in tests).
#[derive(Clone, Copy)]
struct Clock {
    started: Instant,
    at: Timestamp,
}

impl Clock {
    fn now(&self) -> Timestamp {
        SignedDuration::try_from(self.started.elapsed())
            .ok()
            .and_then(|d| self.at.checked_add(d).ok())
            .unwrap_or(self.at)
    }
}

impl Verifier {
    /// A verifier polling every 10 seconds.
    pub fn new(client: kube::Client) -> Self {
        Self {
            client,
            poll: Duration::from_secs(10),
            request_timeout: Duration::from_secs(10),
        }
    }

    /// Polls every `poll` instead.
    pub fn with_poll_interval(mut self, poll: Duration) -> Self {
        self.poll = poll.max(Duration::from_millis(10));
        self
    }

    /// Runs every check of a plan until it passes or times out; `before` are the target's pods
    /// as gathered before the plan ran, `now` the time verification starts. No checks gives a
    /// verdict that is not healthy: nothing was proven.
    pub async fn verify(
        &self,
        checks: &[Check],
        subject: &Subject,
        before: &[PodFacts],
        now: Timestamp,
    ) -> Verdict {
        let clock = Clock {
            started: Instant::now(),
            at: now,
        };
        let runs = checks
            .iter()
            .map(|check| self.run(check, subject, before, clock));
        let results = join_all(runs).await;
        Verdict::decide(results, clock.now())
    }

    async fn run(
        &self,
        check: &Check,
        subject: &Subject,
        before: &[PodFacts],
        clock: Clock,
    ) -> CheckResult {
        let timeout = seconds(&check.params, "timeout_seconds").unwrap_or(DEFAULT_TIMEOUT);
        let deadline = clock.started + timeout;
        let window = seconds(&check.params, "window_seconds")
            .unwrap_or(DEFAULT_WINDOW)
            .min(timeout);
        let window = SignedDuration::try_from(window).unwrap_or(SignedDuration::ZERO);
        let mut restarts = RestartWindow::new(before.to_vec(), clock.now(), window);
        let target = check_target(&check.params, subject);
        let mut last_seen: Option<CheckResult> = None;
        loop {
            let now = clock.now();
            let observed = self.observe(check.check, &target, subject, now, deadline);
            let result = match observed.await {
                Ok(observation) => {
                    let result = judge(check.check, observation, &mut restarts, now);
                    last_seen = Some(result.clone());
                    result
                }
                // What was last seen still says the most; the failed look is added to it.
                Err(e) => match &last_seen {
                    Some(seen) => CheckResult::failed(
                        check.check,
                        format!("{} (then could not observe: {e})", seen.observed),
                    ),
                    None => CheckResult::failed(check.check, format!("could not observe: {e}")),
                },
            };
            let left = deadline.saturating_duration_since(Instant::now());
            if result.passed || left.is_zero() {
                return finish(result, timeout);
            }
            tokio::time::sleep(self.poll.min(left)).await;
        }
    }
}

fn finish(result: CheckResult, timeout: Duration) -> CheckResult {
    if result.passed {
        return result;
    }
    CheckResult {
        observed: format!(
            "timed out after {}s: {}",
            timeout.as_secs(),
            result.observed
        ),
        ..result
    }
}

/// Decides one observation with the pure evaluator of its check.
fn judge(
    kind: CheckKind,
    observation: Observation,
    restarts: &mut RestartWindow,
    now: Timestamp,
) -> CheckResult {
    match (kind, observation) {
        (CheckKind::RolloutComplete, Observation::Rollout(r)) => rollout_complete(&r),
        (CheckKind::PodsReady, Observation::Pods(pods)) => pods_ready(&pods),
        (CheckKind::NoNewRestarts, Observation::Pods(pods)) => restarts.observe(&pods, now),
        (CheckKind::NodeCordoned, Observation::Node(node)) => node_cordoned(&node),
        (CheckKind::CronjobSuspended, Observation::CronJob(cron)) => cronjob_suspended(&cron),
        (
            CheckKind::ConditionCleared,
            Observation::Signals {
                examined,
                reason,
                signals,
            },
        ) => condition_cleared(&reason, &examined, &signals),
        (kind, Observation::Missing(what)) => CheckResult::failed(kind, what),
        (kind, _) => CheckResult::failed(kind, "nothing this check can judge was observed"),
    }
}

/// The object a check is about: its `target` parameter, else the workload, else the target.
fn check_target(params: &Value, subject: &Subject) -> ObjectRef {
    params
        .get("target")
        .and_then(|t| serde_json::from_value(t.clone()).ok())
        .or_else(|| subject.workload.clone())
        .unwrap_or_else(|| subject.target.clone())
}

fn seconds(params: &Value, key: &str) -> Option<Duration> {
    params
        .get(key)
        .and_then(Value::as_u64)
        .map(Duration::from_secs)
}
