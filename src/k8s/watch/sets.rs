//! StatefulSets and DaemonSets through their watchers: what is wrong with one (too few pods
//! ready, a rollout not progressing) is timed from this daemon's first sight of it, for that
//! uid, and the object is kept until that has lasted the grace, then looked at again. A rollout
//! that moves (another revision, another count of updated pods) starts its clock again.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, PoisonError};

use jiff::{SignedDuration, Timestamp};
use kube::{Resource, ResourceExt};

use super::Key;
use crate::domain::signal::Signal;
use crate::k8s::detect::{self, Rollout, Set, Since};
use crate::k8s::recheck::Rechecks;

/// One set's clocks: the uid they are for, since when it is short, since when its rollout has
/// stood still (and where).
#[derive(Debug, Clone)]
struct Clocks {
    uid: String,
    short: Option<Timestamp>,
    rollout: Option<(Rollout, Timestamp)>,
}

/// The clocks of every StatefulSet (or DaemonSet) that has something wrong, and the ones to
/// look at again when their grace ends.
pub(super) struct SetClocks<K> {
    clocks: HashMap<Key, Clocks>,
    pub(super) rechecks: Rechecks<K>,
}

impl<K> Default for SetClocks<K> {
    fn default() -> Self {
        SetClocks {
            clocks: HashMap::new(),
            rechecks: Rechecks::default(),
        }
    }
}

impl<K: Set + Resource + Clone> SetClocks<K> {
    /// The signals `set` raises at `now` once what is wrong has lasted `grace`; keeps or forgets
    /// its clocks.
    pub(super) fn observe(
        &mut self,
        set: &K,
        deleted: bool,
        grace: SignedDuration,
        now: Timestamp,
    ) -> Vec<Signal> {
        let key = (set.namespace().unwrap_or_default(), set.name_any());
        let state = set.state();
        if deleted || (state.short.is_none() && state.rollout.is_none()) {
            self.clocks.remove(&key);
            self.rechecks.forget(&key);
            return Vec::new();
        }
        let uid = set.uid().unwrap_or_default();
        let before = self.clocks.get(&key).filter(|c| c.uid == uid);
        let short = state
            .short
            .as_ref()
            .map(|_| before.and_then(|c| c.short).unwrap_or(now));
        let rollout = state.rollout.clone().map(|r| {
            let at = before
                .and_then(|c| c.rollout.as_ref())
                .filter(|(was, _)| *was == r)
                .map_or(now, |(_, at)| *at);
            (r, at)
        });
        let since = Since {
            short,
            rollout: rollout.as_ref().map(|(_, at)| *at),
        };
        let due = [since.short, since.rollout]
            .into_iter()
            .flatten()
            .filter_map(|at| at.checked_add(grace).ok())
            .filter(|at| *at > now)
            .min();
        self.clocks.insert(
            key.clone(),
            Clocks {
                uid,
                short,
                rollout,
            },
        );
        self.rechecks.track(key, set, due);
        detect::set_signals(set, since, grace, now)
    }

    /// Forgets what a re-list no longer shows.
    pub(super) fn prune(&mut self, listed: &HashSet<Key>) {
        self.clocks.retain(|k, _| listed.contains(k));
        self.rechecks.retain(|k| listed.contains(k));
    }
}

/// [`SetClocks::take_due`] under its lock.
pub(super) fn take_due<K: Resource + Clone>(
    clocks: &Mutex<SetClocks<K>>,
    now: Timestamp,
) -> Vec<K> {
    clocks
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .rechecks
        .take_due(now)
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::apps::v1::StatefulSet;
    use serde_json::json;

    use super::*;

    const GRACE: SignedDuration = SignedDuration::from_mins(5);

    fn at(mins: i64) -> Timestamp {
        "2026-12-02T10:00:00Z".parse::<Timestamp>().expect("t0") + SignedDuration::from_mins(mins)
    }

    fn sts(uid: &str, ready: i32, updated: i32, update_revision: &str) -> StatefulSet {
        serde_json::from_value(json!({
            "metadata": {"name": "ledger", "namespace": "shop", "uid": uid},
            "spec": {"replicas": 3, "serviceName": "ledger",
                     "selector": {"matchLabels": {"app": "ledger"}},
                     "template": {"spec": {"containers": [{"name": "db", "image": "pg:16"}]}}},
            "status": {"replicas": 3, "readyReplicas": ready, "updatedReplicas": updated,
                       "currentRevision": "ledger-1", "updateRevision": update_revision},
        }))
        .expect("statefulset")
    }

    fn reasons(clocks: &mut SetClocks<StatefulSet>, s: &StatefulSet, mins: i64) -> Vec<String> {
        clocks
            .observe(s, false, GRACE, at(mins))
            .into_iter()
            .map(|s| s.reason)
            .collect()
    }

    #[test]
    fn short_is_timed_from_first_sight_and_looked_at_again_when_the_grace_ends() {
        let mut clocks = SetClocks::default();
        let short = sts("a", 1, 3, "ledger-1");
        assert!(reasons(&mut clocks, &short, 0).is_empty());
        assert!(clocks.rechecks.take_due(at(4)).is_empty());
        let due = clocks.rechecks.take_due(at(5));
        assert_eq!(due.len(), 1, "kept until its grace ends");
        assert_eq!(
            reasons(&mut clocks, &due[0], 5),
            vec!["ReplicasUnavailable"]
        );
        assert!(clocks.rechecks.is_empty(), "nothing left to wait for");
    }

    #[test]
    fn recovering_forgets_the_clock_and_another_uid_starts_its_own() {
        let mut clocks = SetClocks::default();
        assert!(reasons(&mut clocks, &sts("a", 1, 3, "ledger-1"), 0).is_empty());
        assert!(reasons(&mut clocks, &sts("a", 3, 3, "ledger-1"), 3).is_empty());
        assert!(clocks.rechecks.is_empty());
        assert!(reasons(&mut clocks, &sts("a", 1, 3, "ledger-1"), 4).is_empty());
        assert!(
            reasons(&mut clocks, &sts("a", 1, 3, "ledger-1"), 8).is_empty(),
            "short again since minute 4"
        );
        assert!(
            reasons(&mut clocks, &sts("b", 1, 3, "ledger-1"), 9).is_empty(),
            "recreated under the same name: its own clock"
        );
        assert_eq!(
            reasons(&mut clocks, &sts("b", 1, 3, "ledger-1"), 14),
            vec!["ReplicasUnavailable"]
        );
    }

    #[test]
    fn a_rollout_that_moves_restarts_its_clock_and_one_that_stands_still_is_stuck() {
        let mut clocks = SetClocks::default();
        assert!(reasons(&mut clocks, &sts("a", 3, 0, "ledger-2"), 0).is_empty());
        assert!(
            reasons(&mut clocks, &sts("a", 3, 1, "ledger-2"), 4).is_empty(),
            "one more pod updated at minute 4"
        );
        assert!(reasons(&mut clocks, &sts("a", 3, 1, "ledger-2"), 8).is_empty());
        assert_eq!(
            reasons(&mut clocks, &sts("a", 3, 1, "ledger-2"), 9),
            vec!["RolloutStuck"]
        );
        assert!(
            reasons(&mut clocks, &sts("a", 3, 1, "ledger-3"), 10).is_empty(),
            "another revision: another rollout"
        );
    }

    #[test]
    fn deletion_and_a_re_list_that_no_longer_shows_it_forget_it() {
        let mut clocks = SetClocks::default();
        let short = sts("a", 1, 3, "ledger-1");
        reasons(&mut clocks, &short, 0);
        assert!(clocks.observe(&short, true, GRACE, at(1)).is_empty());
        assert!(clocks.rechecks.is_empty());
        reasons(&mut clocks, &short, 2);
        clocks.prune(&HashSet::new());
        assert!(clocks.rechecks.is_empty());
        assert!(
            reasons(&mut clocks, &short, 3).is_empty(),
            "seen again after the prune: a fresh clock"
        );
    }
}
