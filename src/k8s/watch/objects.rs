//! What the watchers do with each object: run the detectors, keep what names a pod's workload,
//! and keep objects that wait on the clock until their time. `prune_*` forget what a re-list no
//! longer shows (an object deleted while the watch was down sends no delete).

use std::collections::{HashMap, HashSet};
use std::sync::PoisonError;

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Event, Node, PersistentVolumeClaim, Pod};
use kube::ResourceExt;
use kube::runtime::reflector;

use super::{Key, Watch, is_fresh};
use crate::domain::signal::{ObjectRef, Signal};
use crate::k8s::gather::{workload_of_job, workload_of_pod};
use crate::k8s::objects::ObjectSet;
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
        let workload = self.workload_of_pod(pod);
        let mut pods = self.pods.lock().unwrap_or_else(PoisonError::into_inner);
        match &workload {
            Some(w) => pods.insert(key.clone(), w.clone()),
            None => pods.remove(&key),
        };
        drop(pods);
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

    /// The pod's workload from the cached owner (ReplicaSet → Deployment, Job → CronJob).
    fn workload_of_pod(&self, pod: &Pod) -> Option<ObjectRef> {
        let owner = facts::controller(&pod.metadata)?;
        let ns = pod.namespace();
        let mut set = ObjectSet::default();
        let ns = ns.as_deref().unwrap_or("");
        match owner.kind.as_str() {
            "ReplicaSet" => {
                let key = reflector::ObjectRef::new(&owner.name).within(ns);
                set.replica_sets
                    .extend(self.replica_sets.get(&key).map(|rs| (*rs).clone()));
            }
            "Job" => {
                let key = reflector::ObjectRef::new(&owner.name).within(ns);
                set.jobs.extend(self.jobs.get(&key).map(|j| (*j).clone()));
            }
            _ => {}
        }
        workload_of_pod(pod, &set)
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
                    pods.get(&key).cloned()
                }
                "ReplicaSet" => self.replica_set_owner(target),
                _ => None,
            };
        }
        vec![signal]
    }

    fn replica_set_owner(&self, target: &ObjectRef) -> Option<ObjectRef> {
        let key = reflector::ObjectRef::new(&target.name)
            .within(target.namespace.as_deref().unwrap_or(""));
        let rs = self.replica_sets.get(&key)?;
        facts::controller(&rs.metadata).map(|o| ObjectRef {
            kind: o.kind.clone(),
            namespace: target.namespace.clone(),
            name: o.name.clone(),
        })
    }

    pub(super) fn replica_set(
        &self,
        rs: &ReplicaSet,
        deleted: bool,
        now: Timestamp,
    ) -> Vec<Signal> {
        if deleted {
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
        if deleted {
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

    /// For resources that keep nothing per object.
    pub(super) fn prune_nothing(&self, _: &HashSet<Key>) {}
}
