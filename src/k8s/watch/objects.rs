//! What the watchers do with each object: run the detectors, keep what names a pod's workload
//! (never guessed from names: a pod whose owner is not cached yet is resolved by asking the
//! apiserver, see `resolve`),
//! and keep objects that wait on the clock until their time. `prune_*` forget what a re-list no
//! longer shows (an object deleted while the watch was down sends no delete).

use std::collections::{HashMap, HashSet};
use std::sync::PoisonError;

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Event, Node, PersistentVolumeClaim, Pod};
use kube::ResourceExt;

use super::{Cache, Key, Owned, Watch, is_fresh};
use crate::domain::signal::{ObjectRef, Signal};
use crate::k8s::gather::workload_of_job;
use crate::k8s::recheck::Rechecks;
use crate::k8s::{detect, facts};

/// Deployments seen short of replicas: since when (this daemon's first sight of it, for that
/// uid), and the ones to look at again once that has lasted long enough.
#[derive(Default)]
pub(super) struct Short {
    since: HashMap<Key, (String, Timestamp)>,
    pub(super) rechecks: Rechecks<Deployment>,
}

fn key<K: kube::Resource>(object: &K) -> Key {
    (object.namespace().unwrap_or_default(), object.name_any())
}

impl Watch {
    pub(super) fn pod(&self, pod: &Pod, deleted: bool, now: Timestamp) -> Vec<Signal> {
        let key = key(pod);
        if deleted {
            let mut rechecks = self.rechecks.lock().unwrap_or_else(PoisonError::into_inner);
            rechecks.forget(&key);
            drop(rechecks);
            let mut pods = self.pods.lock().unwrap_or_else(PoisonError::into_inner);
            pods.remove(&key);
            return Vec::new();
        }
        let known = self.workload_of_pod(pod);
        let mut pods = self.pods.lock().unwrap_or_else(PoisonError::into_inner);
        match &known {
            Some(w) => pods.insert(key.clone(), w.clone()),
            None => pods.remove(&key),
        };
        drop(pods);
        let workload = known.flatten();
        let (signals, again) = detect::pod_watched(pod, workload, now);
        let mut rechecks = self.rechecks.lock().unwrap_or_else(PoisonError::into_inner);
        rechecks.track(key, pod, again);
        signals
    }

    pub(super) fn prune_pods(&self, listed: &HashSet<Key>) {
        let mut rechecks = self.rechecks.lock().unwrap_or_else(PoisonError::into_inner);
        rechecks.retain(|k| listed.contains(k));
        drop(rechecks);
        let mut pods = self.pods.lock().unwrap_or_else(PoisonError::into_inner);
        pods.retain(|k, _| listed.contains(k));
    }

    /// The pod's workload as far as the caches know: `Some(None)` for a pod without owner,
    /// `None` when its owner (a ReplicaSet or Job) is not cached yet.
    fn workload_of_pod(&self, pod: &Pod) -> Option<Option<ObjectRef>> {
        let Some(owner) = facts::controller(&pod.metadata) else {
            return Some(None);
        };
        let ns = pod.namespace().unwrap_or_default();
        let key = (ns.clone(), owner.name.clone());
        let itself = ObjectRef {
            kind: owner.kind.clone(),
            namespace: Some(ns.clone()),
            name: owner.name.clone(),
        };
        let cache = match owner.kind.as_str() {
            "ReplicaSet" => &self.replica_sets,
            "Job" => &self.jobs,
            _ => return Some(Some(itself)),
        };
        let owned = self.cached(cache, &key)?;
        Some(Some(match owned.controller {
            Some((kind, name)) => ObjectRef {
                kind,
                namespace: Some(ns),
                name,
            },
            None => itself,
        }))
    }

    pub(super) fn event(&self, event: &Event, deleted: bool, now: Timestamp) -> Vec<Signal> {
        if deleted || !is_fresh(event, now) {
            return Vec::new();
        }
        let Some(mut signal) = detect::event(event, now) else {
            return Vec::new();
        };
        let target = &signal.target;
        if signal.workload.is_none() {
            signal.workload = match target.kind.as_str() {
                "Pod" => {
                    let key = (
                        target.namespace.clone().unwrap_or_default(),
                        target.name.clone(),
                    );
                    let pods = self.pods.lock().unwrap_or_else(PoisonError::into_inner);
                    pods.get(&key).cloned().flatten()
                }
                "ReplicaSet" => self.replica_set_owner(target),
                _ => None,
            };
        }
        vec![signal]
    }

    fn replica_set_owner(&self, target: &ObjectRef) -> Option<ObjectRef> {
        let ns = target.namespace.clone().unwrap_or_default();
        let owned = self.cached(&self.replica_sets, &(ns, target.name.clone()))?;
        owned.controller.map(|(kind, name)| ObjectRef {
            kind,
            namespace: target.namespace.clone(),
            name,
        })
    }

    pub(super) fn replica_set(
        &self,
        rs: &ReplicaSet,
        deleted: bool,
        now: Timestamp,
    ) -> Vec<Signal> {
        if remember(&self.replica_sets, key(rs), &rs.metadata, deleted) {
            return Vec::new();
        }
        let workload = facts::controller(&rs.metadata).map(|o| ObjectRef {
            kind: o.kind.clone(),
            namespace: rs.namespace(),
            name: o.name.clone(),
        });
        detect::replica_set(rs, workload, now)
    }

    pub(super) fn job(&self, job: &Job, deleted: bool, now: Timestamp) -> Vec<Signal> {
        if remember(&self.jobs, key(job), &job.metadata, deleted) {
            return Vec::new();
        }
        let ns = job.namespace();
        let workload = workload_of_job(Some(&job.metadata), ns.as_deref(), &job.name_any());
        detect::job(job, Some(workload), now)
    }

    pub(super) fn deployment(&self, d: &Deployment, deleted: bool, now: Timestamp) -> Vec<Signal> {
        let key = key(d);
        let mut short = self.short.lock().unwrap_or_else(PoisonError::into_inner);
        if deleted || !detect::replicas_short(d) {
            short.since.remove(&key);
            short.rechecks.forget(&key);
            return if deleted {
                Vec::new()
            } else {
                detect::deployment_short_since(d, Some(now), now)
            };
        }
        let uid = d.uid().unwrap_or_default();
        let entry = short.since.entry(key.clone()).or_insert((uid.clone(), now));
        if entry.0 != uid {
            // The same name, another Deployment: its own clock.
            *entry = (uid, now);
        }
        let since = entry.1;
        let due = since
            .checked_add(detect::REPLICAS_SHORT_AFTER)
            .ok()
            .filter(|at| *at > now);
        short.rechecks.track(key, d, due);
        drop(short);
        detect::deployment_short_since(d, Some(since), now)
    }

    pub(super) fn prune_deployments(&self, listed: &HashSet<Key>) {
        let mut short = self.short.lock().unwrap_or_else(PoisonError::into_inner);
        short.since.retain(|k, _| listed.contains(k));
        short.rechecks.retain(|k| listed.contains(k));
    }

    pub(super) fn stateful_set(
        &self,
        set: &StatefulSet,
        deleted: bool,
        now: Timestamp,
    ) -> Vec<Signal> {
        let mut clocks = self
            .stateful_sets
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        clocks.observe(set, deleted, self.set_grace, now)
    }

    pub(super) fn prune_stateful_sets(&self, listed: &HashSet<Key>) {
        let mut clocks = self
            .stateful_sets
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        clocks.prune(listed);
    }

    pub(super) fn daemon_set(&self, set: &DaemonSet, deleted: bool, now: Timestamp) -> Vec<Signal> {
        let mut clocks = self
            .daemon_sets
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        clocks.observe(set, deleted, self.set_grace, now)
    }

    pub(super) fn prune_daemon_sets(&self, listed: &HashSet<Key>) {
        let mut clocks = self
            .daemon_sets
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        clocks.prune(listed);
    }

    pub(super) fn claim(
        &self,
        claim: &PersistentVolumeClaim,
        deleted: bool,
        now: Timestamp,
    ) -> Vec<Signal> {
        let key = key(claim);
        let mut rechecks = self
            .claim_rechecks
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if deleted {
            rechecks.forget(&key);
            return Vec::new();
        }
        rechecks.track(key, claim, detect::claim_recheck_at(claim, now));
        drop(rechecks);
        detect::claim(claim, now)
    }

    pub(super) fn prune_claims(&self, listed: &HashSet<Key>) {
        let mut rechecks = self
            .claim_rechecks
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        rechecks.retain(|k| listed.contains(k));
    }

    pub(super) fn node(&self, node: &Node, deleted: bool, now: Timestamp) -> Vec<Signal> {
        if deleted {
            return Vec::new();
        }
        detect::node(node, now)
    }

    pub(super) fn prune_replica_sets(&self, listed: &HashSet<Key>) {
        prune(&self.replica_sets, listed);
    }

    pub(super) fn prune_jobs(&self, listed: &HashSet<Key>) {
        prune(&self.jobs, listed);
    }

    /// For resources that keep nothing per object.
    pub(super) fn prune_nothing(&self, _: &HashSet<Key>) {}
}

/// Keeps what names a pod's workload from a ReplicaSet or Job (forgets it on deletion);
/// returns whether the object was deleted.
fn remember(
    cache: &Cache<Owned>,
    key: Key,
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    deleted: bool,
) -> bool {
    let mut cache = cache.lock().unwrap_or_else(PoisonError::into_inner);
    if deleted {
        cache.remove(&key);
    } else {
        cache.insert(key, Owned::of(meta));
    }
    deleted
}

fn prune<V>(cache: &Cache<V>, listed: &HashSet<Key>) {
    let mut cache = cache.lock().unwrap_or_else(PoisonError::into_inner);
    cache.retain(|k, _| listed.contains(k));
}
