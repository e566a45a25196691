//! The states of a container instance and the kubelet's back-off bookkeeping
//! (client-go's `flowcontrol.Backoff`: doubling per restart, reset after long quiet).

use std::time::Duration;

use jiff::Timestamp;
use serde_json::{Value, json};

use crate::sim::controllers::durations::signed;

/// A finished container instance (`state.terminated` / `lastState.terminated`).
#[derive(Debug, Clone, PartialEq)]
pub struct Terminated {
    /// The process's exit code.
    pub exit_code: i64,
    /// `Error`, `OOMKilled` or `Completed`.
    pub reason: String,
    /// When it started.
    pub started: Timestamp,
    /// When it died.
    pub finished: Timestamp,
    /// `containerd://...`.
    pub id: String,
}

impl Terminated {
    /// The status JSON.
    pub fn to_json(&self) -> Value {
        json!({"exitCode": self.exit_code, "reason": self.reason,
               "startedAt": crate::sim::meta::format_time(self.started),
               "finishedAt": crate::sim::meta::format_time(self.finished),
               "containerID": self.id})
    }

    /// Read back from a status written earlier (adopting pods loaded from fixtures).
    pub fn from_json(t: &Value, now: Timestamp) -> Option<Self> {
        let time = |k: &str| t[k].as_str().and_then(|s| s.parse().ok()).unwrap_or(now);
        Some(Terminated {
            exit_code: t.get("exitCode")?.as_i64().unwrap_or(0),
            reason: t["reason"].as_str().unwrap_or("Error").to_string(),
            started: time("startedAt"),
            finished: time("finishedAt"),
            id: t["containerID"].as_str().unwrap_or_default().to_string(),
        })
    }
}

/// Where the container is.
#[derive(Debug, Clone)]
pub enum State {
    /// Not pulled or created yet (`ContainerCreating`).
    Creating,
    /// Pulling since; `retry` holds the last pull error after a failed attempt.
    Pulling {
        since: Timestamp,
        retry: Option<String>,
    },
    /// The pull just failed (`ErrImagePull`).
    PullFailed { message: String, at: Timestamp },
    /// Waiting to retry the pull (`ImagePullBackOff`).
    PullBackOff { until: Timestamp, message: String },
    /// Cannot be created (`CreateContainerConfigError`).
    ConfigError { message: String },
    /// Running since, until `exit_at` if its behaviour ends it.
    Running {
        since: Timestamp,
        id: String,
        exit_at: Option<Timestamp>,
    },
    /// Exited; the restart decision comes next.
    Exited(Terminated),
    /// Waiting out the crash back-off (`CrashLoopBackOff`).
    CrashBackOff { until: Timestamp, backoff: Duration },
}

/// client-go's `flowcontrol.Backoff` for one container.
#[derive(Debug, Clone, Default)]
pub struct Backoff(Option<(Duration, Timestamp)>);

impl Backoff {
    fn expired(&self, event: Timestamp, max: Duration) -> bool {
        self.0
            .is_none_or(|(_, last)| event.duration_since(last) > signed(max * 2))
    }

    /// `Next`: the initial delay, or double the last (capped).
    pub fn next(
        &mut self,
        event: Timestamp,
        now: Timestamp,
        base: Duration,
        max: Duration,
    ) -> Duration {
        let delay = match self.0 {
            Some((d, _)) if !self.expired(event, max) => (d * 2).min(max),
            _ => base,
        };
        self.0 = Some((delay, now));
        delay
    }

    /// `IsInBackOffSince`: the current delay if `event` is still within it.
    pub fn active_since(
        &self,
        event: Timestamp,
        now: Timestamp,
        max: Duration,
    ) -> Option<Duration> {
        let (delay, _) = self.0?;
        (!self.expired(event, max) && now.duration_since(event) < signed(delay)).then_some(delay)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crash_back_off_doubles_from_the_base_up_to_the_cap() {
        let (base, max) = (Duration::from_secs(10), Duration::from_secs(300));
        let mut b = Backoff::default();
        let t0 = Timestamp::UNIX_EPOCH;
        assert_eq!(
            b.active_since(t0, t0, max),
            None,
            "the first crash restarts at once"
        );
        let delays: Vec<u64> = (0..7)
            .map(|_| b.next(t0, t0, base, max).as_secs())
            .collect();
        assert_eq!(delays, [10, 20, 40, 80, 160, 300, 300]);
        assert_eq!(
            b.active_since(t0, t0 + signed(Duration::from_secs(299)), max),
            Some(max)
        );
    }
}
