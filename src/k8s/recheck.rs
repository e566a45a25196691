//! Objects to look at again later. Some detectors wait on the clock (a container not Ready
//! after its start-up time, a pod or a claim Pending for minutes), and an object stuck that way
//! may not change again for hours, so no watch event would ever show it to them again. The
//! watchers keep such objects here, with the time the detectors give
//! ([`detect::pod_recheck_at`](crate::k8s::detect::pod_recheck_at),
//! [`detect::claim_recheck_at`](crate::k8s::detect::claim_recheck_at)), and run the detectors
//! over them when it comes. Only objects waiting on the clock are kept, and each only until
//! its time (or its next update, or its deletion).

use std::collections::HashMap;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Pod;
use kube::Resource;

/// An object's namespace and name.
pub type Key = (String, String);

/// Objects waiting on the clock, each with the time to look at it again.
pub struct Rechecks<K = Pod> {
    due: HashMap<Key, (Timestamp, K)>,
}

impl<K> Default for Rechecks<K> {
    fn default() -> Self {
        Rechecks {
            due: HashMap::new(),
        }
    }
}

/// Whether `a` is a later version of the object than `b`, when their resourceVersions say so
/// (they are opaque to clients, but the apiserver's are etcd revisions; unknown: not later).
fn later<K: Resource>(a: &K, b: &K) -> bool {
    let version = |o: &K| {
        o.meta()
            .resource_version
            .as_deref()
            .and_then(|v| v.parse::<u64>().ok())
    };
    matches!((version(a), version(b)), (Some(a), Some(b)) if a > b)
}

impl<K: Resource + Clone> Rechecks<K> {
    /// Records the object's latest state: kept until `at` when it waits on the clock, forgotten
    /// when it does not (`at` is `None`). An older version than the one held (a due object
    /// looked at again while its update arrived) changes nothing.
    pub fn track(&mut self, key: Key, object: &K, at: Option<Timestamp>) {
        if self
            .due
            .get(&key)
            .is_some_and(|(_, held)| later(held, object))
        {
            return;
        }
        match at {
            Some(at) => {
                self.due.insert(key, (at, object.clone()));
            }
            None => {
                self.due.remove(&key);
            }
        }
    }

    /// Forgets a deleted object.
    pub fn forget(&mut self, key: &Key) {
        self.due.remove(key);
    }

    /// Keeps only the objects whose key `keep` accepts (after a re-list: the ones it showed).
    pub fn retain(&mut self, keep: impl Fn(&Key) -> bool) {
        self.due.retain(|k, _| keep(k));
    }

    /// Removes and returns the objects whose time has come by `now`.
    pub fn take_due(&mut self, now: Timestamp) -> Vec<K> {
        let keys: Vec<Key> = self
            .due
            .iter()
            .filter(|(_, (at, _))| *at <= now)
            .map(|(k, _)| k.clone())
            .collect();
        keys.into_iter()
            .filter_map(|k| self.due.remove(&k).map(|(_, object)| object))
            .collect()
    }

    /// How many objects wait.
    pub fn len(&self) -> usize {
        self.due.len()
    }

    /// Whether none wait.
    pub fn is_empty(&self) -> bool {
        self.due.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use jiff::Timestamp;
    use k8s_openapi::api::core::v1::Pod;

    use super::{Key, Rechecks};

    fn ts(s: &str) -> Timestamp {
        s.parse().expect("timestamp")
    }

    fn pod(name: &str) -> (Key, Pod) {
        let mut pod = Pod::default();
        pod.metadata.name = Some(name.into());
        (("shop".into(), name.into()), pod)
    }

    #[test]
    fn a_pod_comes_back_when_its_time_comes_and_only_once() {
        let mut r: Rechecks = Rechecks::default();
        let (key, p) = pod("api-1");
        r.track(key, &p, Some(ts("2026-11-20T02:02:00Z")));
        assert!(r.take_due(ts("2026-11-20T02:01:59Z")).is_empty());
        let due = r.take_due(ts("2026-11-20T02:02:00Z"));
        assert_eq!(due.len(), 1);
        assert!(r.take_due(ts("2026-11-20T03:00:00Z")).is_empty());
        assert!(r.is_empty());
    }

    #[test]
    fn an_update_that_waits_on_nothing_or_a_deletion_forgets_the_pod() {
        let mut r: Rechecks = Rechecks::default();
        let (a, pa) = pod("api-1");
        let (b, pb) = pod("api-2");
        r.track(a.clone(), &pa, Some(ts("2026-11-20T02:02:00Z")));
        r.track(b.clone(), &pb, Some(ts("2026-11-20T02:02:00Z")));
        assert_eq!(r.len(), 2);
        r.track(a, &pa, None);
        r.forget(&b);
        assert!(r.take_due(ts("2026-11-20T03:00:00Z")).is_empty());
    }

    #[test]
    fn an_older_version_looked_at_again_does_not_replace_a_newer_one() {
        let mut r: Rechecks = Rechecks::default();
        let (key, mut old) = pod("api-1");
        old.metadata.resource_version = Some("41".into());
        let mut new = old.clone();
        new.metadata.resource_version = Some("42".into());
        r.track(key.clone(), &new, Some(ts("2026-11-20T02:10:00Z")));
        r.track(key, &old, Some(ts("2026-11-20T02:02:00Z")));
        assert!(r.take_due(ts("2026-11-20T02:05:00Z")).is_empty());
        let due = r.take_due(ts("2026-11-20T02:10:00Z"));
        assert_eq!(due[0].metadata.resource_version.as_deref(), Some("42"));
    }

    #[test]
    fn a_relist_keeps_only_what_it_showed() {
        let mut r: Rechecks = Rechecks::default();
        let (a, pa) = pod("api-1");
        let (b, pb) = pod("api-2");
        r.track(a.clone(), &pa, Some(ts("2026-11-20T02:02:00Z")));
        r.track(b, &pb, Some(ts("2026-11-20T02:02:00Z")));
        r.retain(|k| *k == a);
        let due = r.take_due(ts("2026-11-20T03:00:00Z"));
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].metadata.name.as_deref(), Some("api-1"));
    }

    #[test]
    fn the_latest_state_and_time_replace_the_earlier_ones() {
        let mut r: Rechecks = Rechecks::default();
        let (key, mut p) = pod("api-1");
        r.track(key.clone(), &p, Some(ts("2026-11-20T02:02:00Z")));
        p.metadata.resource_version = Some("42".into());
        r.track(key, &p, Some(ts("2026-11-20T02:10:00Z")));
        assert!(r.take_due(ts("2026-11-20T02:05:00Z")).is_empty());
        let due = r.take_due(ts("2026-11-20T02:10:00Z"));
        assert_eq!(due[0].metadata.resource_version.as_deref(), Some("42"));
    }
}
