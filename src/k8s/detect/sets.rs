//! Detectors for StatefulSets and DaemonSets. Neither has conditions to read: what is wrong is
//! read from the status counts alone, and only becomes a signal once it has lasted (every
//! rollout and every pod restart is briefly short). Whoever watches them keeps the clocks
//! ([`SetState`] says what to time); these functions only judge.

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::apps::v1::{DaemonSet, StatefulSet};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::{signal, target};
use crate::domain::signal::Signal;

/// What a StatefulSet's or DaemonSet's status says is wrong with it right now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SetState {
    /// Fewer pods ready than wanted: what the status says, as a message.
    pub short: Option<String>,
    /// A rollout under way that has not reached every pod it should.
    pub rollout: Option<Rollout>,
}

/// A rollout in progress: the revision (or generation) it rolls out and how many pods have it.
/// While both stay the same the rollout is not progressing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rollout {
    pub revision: String,
    pub updated: i32,
    pub wanted: i32,
}

impl Rollout {
    fn message(&self, kind: &str) -> String {
        format!(
            "{kind} rollout to {} stalled: {} of {} pods updated",
            self.revision, self.updated, self.wanted
        )
    }
}

/// A StatefulSet or a DaemonSet, as the detectors read it.
pub trait Set {
    const KIND: &'static str;
    fn meta(&self) -> &ObjectMeta;
    fn state(&self) -> SetState;
}

impl Set for StatefulSet {
    const KIND: &'static str = "StatefulSet";

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn state(&self) -> SetState {
        stateful_set(self)
    }
}

impl Set for DaemonSet {
    const KIND: &'static str = "DaemonSet";

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn state(&self) -> SetState {
        daemon_set(self)
    }
}

/// Whether an update strategy leaves pods to be deleted by hand: then a revision not yet
/// rolled out is the operator's choice, not a stalled rollout.
fn on_delete(strategy: Option<&str>) -> bool {
    strategy == Some("OnDelete")
}

/// A StatefulSet is short when fewer replicas are ready than `spec.replicas` (1 when unset); its
/// rollout is under way when `updateRevision` differs from `currentRevision` and fewer than the
/// replicas the partition allows have it.
pub fn stateful_set(sts: &StatefulSet) -> SetState {
    let spec = &sts.spec;
    let status = sts.status.clone().unwrap_or_default();
    let desired = spec.replicas.unwrap_or(1);
    let ready = status.ready_replicas.unwrap_or(0);
    let short = (ready < desired).then(|| format!("{ready} of {desired} replicas ready"));
    let strategy = spec.update_strategy.as_ref();
    let partition = strategy
        .and_then(|s| s.rolling_update.as_ref())
        .and_then(|r| r.partition)
        .unwrap_or(0)
        .clamp(0, desired);
    let wanted = desired - partition;
    let rollout = match (&status.update_revision, &status.current_revision) {
        (Some(update), Some(current))
            if update != current
                && !on_delete(strategy.and_then(|s| s.type_.as_deref()))
                && status.updated_replicas.unwrap_or(0) < wanted =>
        {
            Some(Rollout {
                revision: update.clone(),
                updated: status.updated_replicas.unwrap_or(0),
                wanted,
            })
        }
        _ => None,
    };
    SetState { short, rollout }
}

/// A DaemonSet is short when any scheduled pod is unavailable or not ready; its rollout is under
/// way when fewer pods run the current template than are scheduled. Its status names no
/// revision: the generation the controller observed stands for it.
pub fn daemon_set(ds: &DaemonSet) -> SetState {
    let Some(status) = ds.status.clone() else {
        return SetState::default();
    };
    let desired = status.desired_number_scheduled;
    let ready = status.number_ready;
    let unavailable = status.number_unavailable.unwrap_or(0);
    let short = (unavailable > 0 || ready < desired)
        .then(|| format!("{ready} of {desired} scheduled pods ready, {unavailable} unavailable"));
    let strategy = ds
        .spec
        .update_strategy
        .as_ref()
        .and_then(|s| s.type_.as_deref());
    let updated = status.updated_number_scheduled.unwrap_or(0);
    let rollout = (updated < desired && !on_delete(strategy)).then(|| Rollout {
        revision: format!(
            "generation {}",
            status
                .observed_generation
                .or(ds.metadata.generation)
                .unwrap_or(0)
        ),
        updated,
        wanted: desired,
    });
    SetState { short, rollout }
}

/// Since when each problem of a [`SetState`] has lasted, as its watcher saw it (`None`: for an
/// unknown time, which counts as long enough).
#[derive(Debug, Clone, Copy, Default)]
pub struct Since {
    pub short: Option<Timestamp>,
    pub rollout: Option<Timestamp>,
}

/// Signals a StatefulSet or DaemonSet raises once what is wrong has lasted `after`: its rollout
/// stalled (`RolloutStuck`), or else too few pods ready (`ReplicasUnavailable`), as a Deployment
/// does.
pub fn set_signals<S: Set>(
    set: &S,
    since: Since,
    after: SignedDuration,
    now: Timestamp,
) -> Vec<Signal> {
    let state = set.state();
    let lasted = |at: Option<Timestamp>| at.is_none_or(|at| now.duration_since(at) >= after);
    let me = target(S::KIND, set.meta());
    let raise = |reason: &str, message: String| {
        let mut s = signal(me.clone(), set.meta(), reason, Some(message), now);
        s.workload = Some(me.clone());
        s
    };
    if let Some(rollout) = state.rollout.as_ref().filter(|_| lasted(since.rollout)) {
        return vec![raise("RolloutStuck", rollout.message(S::KIND))];
    }
    match state.short {
        Some(message) if lasted(since.short) => vec![raise("ReplicasUnavailable", message)],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests;
