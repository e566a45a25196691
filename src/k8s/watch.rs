//! Watchers → signals. One kube-runtime watcher per resource (pods, events, deployments,
//! replicasets, jobs, nodes, persistentvolumeclaims), each object through the pure detectors in [`detect`]. Reflector
//! stores are kept only where current state is needed to name a pod's workload (ReplicaSets →
//! Deployment, Jobs → CronJob); pods themselves are not cached, so memory stays flat with the
//! cluster's size. A re-list replays every object: dedup happens in the engine and the store,
//! never here. Pods, claims and Deployments that wait on the clock (not Ready yet, Pending,
//! short of replicas) are kept in [`Rechecks`] until their time and looked at again then, since
//! a stuck object may never change again.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use futures::{Stream, StreamExt};
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Event, Node, PersistentVolumeClaim, Pod};
use kube::runtime::reflector::{self, Store};
use kube::runtime::watcher::{self, Event as WatchEvent};
use kube::runtime::{WatchStreamExt, watcher as watch};
use kube::{Api, Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::domain::scope::NamespaceScope;
use crate::domain::signal::{ObjectRef, Signal};
use crate::k8s::gather::{workload_of_job, workload_of_pod};
use crate::k8s::objects::ObjectSet;
use crate::k8s::recheck::Rechecks;
use crate::k8s::{detect, events, facts};

/// Warning events last seen longer ago than this are history, not signals (a restarted daemon
/// lists up to an hour of old events).
pub const EVENT_FRESHNESS: SignedDuration = SignedDuration::from_mins(5);

/// How often pods waiting on the clock are looked for.
const RECHECK_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// What the watchers share: the scope, the caches that name workloads, and the signal sink.
#[derive(Clone)]
pub struct Watch {
    scope: Arc<NamespaceScope>,
    replica_sets: Store<ReplicaSet>,
    jobs: Store<Job>,
    /// Pod (namespace, name) → its workload, for events about pods.
    pods: Arc<Mutex<HashMap<(String, String), ObjectRef>>>,
    /// Pods to look at again when their time comes.
    rechecks: Arc<Mutex<Rechecks>>,
    /// Claims to look at again when their time comes.
    claim_rechecks: Arc<Mutex<Rechecks<PersistentVolumeClaim>>>,
    /// Deployments short of replicas: since when, and when to look at them again.
    short: Arc<Mutex<Short>>,
    sink: mpsc::Sender<Signal>,
}

/// Which watchers have listed their resource at least once (readiness).
#[derive(Clone, Default)]
pub struct Synced(Arc<Mutex<BTreeMap<String, bool>>>);

impl Synced {
    fn register(&self, resource: &str) {
        let mut all = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        all.entry(resource.to_owned()).or_insert(false);
    }

    fn mark(&self, resource: &str) {
        let mut all = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        all.insert(resource.to_owned(), true);
    }

    /// The resources whose first list has not completed yet; empty when every watcher (once
    /// any is running) has listed.
    pub fn pending(&self) -> Vec<String> {
        let all = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        all.iter()
            .filter(|(_, done)| !**done)
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// Whether watchers are registered and all of them have listed.
    pub fn all(&self) -> bool {
        let all = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        !all.is_empty() && all.values().all(|done| *done)
    }
}

/// Runs every watcher until `shutdown`; signals go to `sink`. Returns when cancelled (or when
/// the sink is closed).
pub async fn run(
    client: Client,
    scope: NamespaceScope,
    sink: mpsc::Sender<Signal>,
    shutdown: CancellationToken,
) {
    run_reporting(client, scope, sink, shutdown, Synced::default()).await;
}

/// [`run`], reporting in `synced` which watchers have completed their first list.
pub async fn run_reporting(
    client: Client,
    scope: NamespaceScope,
    sink: mpsc::Sender<Signal>,
    shutdown: CancellationToken,
    synced: Synced,
) {
    let (rs_store, rs_writer) = reflector::store::<ReplicaSet>();
    let (job_store, job_writer) = reflector::store::<Job>();
    let watch = Watch {
        scope: Arc::new(scope),
        replica_sets: rs_store,
        jobs: job_store,
        pods: Arc::default(),
        rechecks: Arc::default(),
        claim_rechecks: Arc::default(),
        short: Arc::default(),
        sink,
    };
    let rs = stream::<ReplicaSet>(&client).reflect(rs_writer);
    let jobs = stream::<Job>(&client).reflect(job_writer);
    let s = &synced;
    let tasks = [
        tokio::spawn(drive(rs, watch.clone(), Watch::replica_set, s.clone())),
        tokio::spawn(drive(jobs, watch.clone(), Watch::job, s.clone())),
        tokio::spawn(drive(
            stream::<Pod>(&client),
            watch.clone(),
            Watch::pod,
            s.clone(),
        )),
        tokio::spawn(drive(
            stream::<Event>(&client),
            watch.clone(),
            Watch::event,
            s.clone(),
        )),
        tokio::spawn(drive(
            stream::<Deployment>(&client),
            watch.clone(),
            Watch::deployment,
            s.clone(),
        )),
        tokio::spawn(drive(
            stream::<Node>(&client),
            watch.clone(),
            Watch::node,
            s.clone(),
        )),
        tokio::spawn(drive(
            stream::<PersistentVolumeClaim>(&client),
            watch.clone(),
            Watch::claim,
            s.clone(),
        )),
        tokio::spawn(recheck(watch.clone())),
    ];
    shutdown.cancelled().await;
    for task in tasks {
        task.abort();
    }
}

/// A watch stream of every `K` in the cluster, with managedFields dropped (they are most of an
/// object's bytes and nightshift never reads them) and the default back-off on errors.
fn stream<K>(client: &Client) -> impl Stream<Item = watcher::Result<WatchEvent<K>>> + Send + use<K>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
    K::DynamicType: Default,
{
    let api: Api<K> = Api::all(client.clone());
    watch(api, watcher::Config::default().any_semantic())
        .modify(|o| o.meta_mut().managed_fields = None)
        .default_backoff()
}

async fn drive<K, S>(
    stream: S,
    watch: Watch,
    on: fn(&Watch, &K, bool, Timestamp) -> Vec<Signal>,
    synced: Synced,
) where
    S: Stream<Item = watcher::Result<WatchEvent<K>>> + Send,
    K: Resource + Send,
    K::DynamicType: Default,
{
    let resource = K::plural(&K::DynamicType::default()).into_owned();
    synced.register(&resource);
    futures::pin_mut!(stream);
    while let Some(item) = stream.next().await {
        let event = match item {
            Ok(event) => event,
            Err(err) => {
                tracing::warn!(error = %err, "watch failed; retrying with back-off");
                continue;
            }
        };
        let (object, deleted) = match &event {
            WatchEvent::Apply(o) | WatchEvent::InitApply(o) => (o, false),
            WatchEvent::Delete(o) => (o, true),
            WatchEvent::InitDone => {
                synced.mark(&resource);
                continue;
            }
            WatchEvent::Init => continue,
        };
        if !watch.scope.allows(object.meta().namespace.as_deref()) {
            continue;
        }
        for signal in on(&watch, object, deleted, Timestamp::now()) {
            if watch.sink.send(signal).await.is_err() {
                return;
            }
        }
    }
}

/// Every [`RECHECK_EVERY`], runs the detectors again over the pods and claims whose time has
/// come.
async fn recheck(watch: Watch) {
    let mut tick = tokio::time::interval(RECHECK_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let now = Timestamp::now();
        let pods = take_due(&watch.rechecks, now);
        let claims = take_due(&watch.claim_rechecks, now);
        let deployments = {
            let mut short = watch.short.lock().unwrap_or_else(PoisonError::into_inner);
            short.rechecks.take_due(now)
        };
        let signals = pods
            .iter()
            .flat_map(|pod| watch.pod(pod, false, now))
            .chain(claims.iter().flat_map(|c| watch.claim(c, false, now)))
            .chain(
                deployments
                    .iter()
                    .flat_map(|d| watch.deployment(d, false, now)),
            );
        for signal in signals.collect::<Vec<_>>() {
            if watch.sink.send(signal).await.is_err() {
                return;
            }
        }
    }
}

/// Deployments seen short of replicas: since when (this daemon's first sight of it), and the
/// ones to look at again once that has lasted long enough.
#[derive(Default)]
struct Short {
    since: HashMap<(String, String), Timestamp>,
    rechecks: Rechecks<Deployment>,
}

fn take_due<K: Clone>(rechecks: &Mutex<Rechecks<K>>, now: Timestamp) -> Vec<K> {
    rechecks
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take_due(now)
}

impl Watch {
    fn pod(&self, pod: &Pod, deleted: bool, now: Timestamp) -> Vec<Signal> {
        let key = (pod.namespace().unwrap_or_default(), pod.name_any());
        let mut rechecks = self.rechecks.lock().unwrap_or_else(PoisonError::into_inner);
        if deleted {
            rechecks.forget(&key);
        } else {
            rechecks.track(key.clone(), pod, detect::pod_recheck_at(pod, now));
        }
        drop(rechecks);
        let mut pods = self.pods.lock().unwrap_or_else(PoisonError::into_inner);
        if deleted {
            pods.remove(&key);
            return Vec::new();
        }
        let workload = self.workload_of_pod(pod);
        match &workload {
            Some(w) => pods.insert(key, w.clone()),
            None => pods.remove(&key),
        };
        drop(pods);
        detect::pod(pod, workload, now)
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

    fn event(&self, event: &Event, deleted: bool, now: Timestamp) -> Vec<Signal> {
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

    fn replica_set(&self, rs: &ReplicaSet, deleted: bool, now: Timestamp) -> Vec<Signal> {
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

    fn job(&self, job: &Job, deleted: bool, now: Timestamp) -> Vec<Signal> {
        if deleted {
            return Vec::new();
        }
        let ns = job.namespace();
        let workload = workload_of_job(Some(&job.metadata), ns.as_deref(), &job.name_any());
        detect::job(job, Some(workload), now)
    }

    fn deployment(&self, d: &Deployment, deleted: bool, now: Timestamp) -> Vec<Signal> {
        let key = (d.namespace().unwrap_or_default(), d.name_any());
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
        let since = *short.since.entry(key.clone()).or_insert(now);
        let due = since
            .checked_add(detect::REPLICAS_SHORT_AFTER)
            .ok()
            .filter(|at| *at > now);
        short.rechecks.track(key, d, due);
        drop(short);
        detect::deployment_short_since(d, Some(since), now)
    }

    fn claim(&self, claim: &PersistentVolumeClaim, deleted: bool, now: Timestamp) -> Vec<Signal> {
        let key = (claim.namespace().unwrap_or_default(), claim.name_any());
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

    fn node(&self, node: &Node, deleted: bool, now: Timestamp) -> Vec<Signal> {
        if deleted {
            return Vec::new();
        }
        detect::node(node, now)
    }
}

/// Whether a Warning event is recent enough to be a signal rather than history.
pub fn is_fresh(event: &Event, now: Timestamp) -> bool {
    events::last_seen(event).is_none_or(|seen| now - EVENT_FRESHNESS <= seen)
}
