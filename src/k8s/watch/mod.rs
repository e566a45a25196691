//! Watchers → signals. One kube-runtime watcher per resource (pods, events, deployments,
//! statefulsets, daemonsets, replicasets, jobs, nodes, persistentvolumeclaims), each object through the pure detectors
//! in [`detect`](crate::k8s::detect). What names a pod's workload is kept, and only that: each
//! ReplicaSet's and Job's controller and pod-template-hash, each pod's workload ([`Owned`]);
//! what the caches do not know yet is asked of the apiserver before a signal leaves
//! ([`resolve`]), so it is fingerprinted by its workload. A re-list
//! replays every object: dedup happens in the engine and the store, never here. Pods, claims
//! and workloads that wait on the clock (not Ready yet, Pending, short of replicas, a rollout
//! standing still) are kept
//! in [`Rechecks`] until their time and looked at again then, since a stuck object may never
//! change again; they are the only objects held, each until its time, its next update or its
//! deletion (a re-list forgets what it no longer shows).

mod objects;
mod resolve;
mod sets;
mod synced;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};

use futures::{Stream, StreamExt};
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Event, Node, PersistentVolumeClaim, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::runtime::watcher::{self, Event as WatchEvent};
use kube::runtime::{WatchStreamExt, watcher as watch};
use kube::{Api, Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::domain::scope::NamespaceScope;
use crate::domain::signal::{ObjectRef, Signal};
use crate::k8s::recheck::Rechecks;
use crate::k8s::{events, facts};
use objects::Short;
use sets::SetClocks;
pub use synced::Synced;

/// Warning events last seen longer ago than this are history, not signals (a restarted daemon
/// lists up to an hour of old events).
pub const EVENT_FRESHNESS: SignedDuration = SignedDuration::from_mins(5);

/// How often objects waiting on the clock are looked for.
const RECHECK_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// An object's namespace and name.
type Key = (String, String);

/// What the watchers keep of a ReplicaSet or a Job: its controller's kind and name, and its
/// `pod-template-hash` label — all that naming a pod's workload needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Owned {
    controller: Option<(String, String)>,
    template_hash: Option<String>,
}

impl Owned {
    fn of(meta: &ObjectMeta) -> Owned {
        Owned {
            controller: facts::controller(meta).map(|o| (o.kind.clone(), o.name.clone())),
            template_hash: meta
                .labels
                .as_ref()
                .and_then(|l| l.get("pod-template-hash"))
                .cloned(),
        }
    }
}

/// Objects kept by key.
type Cache<V> = Arc<Mutex<HashMap<Key, V>>>;

/// What the watchers share: the scope, the caches that name workloads, the objects that wait
/// on the clock, and the signal sink.
#[derive(Clone)]
pub struct Watch {
    client: Client,
    scope: Arc<NamespaceScope>,
    replica_sets: Cache<Owned>,
    jobs: Cache<Owned>,
    /// Pod (namespace, name) → its workload (`None`: the pod has no owner), for events about
    /// pods. A pod whose owner the caches did not know is not here.
    pods: Cache<Option<ObjectRef>>,
    /// What the apiserver said lately about the workload of pods the caches did not know.
    answers: Cache<(std::time::Instant, Option<ObjectRef>)>,
    /// Pods to look at again when their time comes.
    rechecks: Arc<Mutex<Rechecks>>,
    /// Claims to look at again when their time comes.
    claim_rechecks: Arc<Mutex<Rechecks<PersistentVolumeClaim>>>,
    /// Deployments short of replicas: since when, and when to look at them again.
    short: Arc<Mutex<Short>>,
    /// StatefulSets and DaemonSets with something wrong: since when, and when to look again.
    stateful_sets: Arc<Mutex<SetClocks<StatefulSet>>>,
    daemon_sets: Arc<Mutex<SetClocks<DaemonSet>>>,
    /// How long a StatefulSet or DaemonSet may be short or stand still in a rollout before it
    /// is a signal ([`detect::REPLICAS_SHORT_AFTER`](crate::k8s::detect::REPLICAS_SHORT_AFTER)).
    set_grace: SignedDuration,
    sink: mpsc::Sender<Signal>,
}

/// What a watcher does with an object of its resource, and what it forgets after a re-list.
struct Handler<K> {
    on: fn(&Watch, &K, bool, Timestamp) -> Vec<Signal>,
    prune: fn(&Watch, &HashSet<Key>),
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

fn plural<K: Resource>() -> String
where
    K::DynamicType: Default,
{
    K::plural(&K::DynamicType::default()).into_owned()
}

/// [`run`], reporting in `synced` which watchers have completed their first list.
pub async fn run_reporting(
    client: Client,
    scope: NamespaceScope,
    sink: mpsc::Sender<Signal>,
    shutdown: CancellationToken,
    synced: Synced,
) {
    let grace = crate::k8s::detect::REPLICAS_SHORT_AFTER;
    run_with_grace(client, scope, sink, shutdown, synced, grace).await;
}

/// [`run_reporting`], with `set_grace` instead of
/// [`REPLICAS_SHORT_AFTER`](crate::k8s::detect::REPLICAS_SHORT_AFTER) as how long a StatefulSet
/// or DaemonSet may be short of ready pods, or stand still in a rollout, before it is a signal.
pub async fn run_with_grace(
    client: Client,
    scope: NamespaceScope,
    sink: mpsc::Sender<Signal>,
    shutdown: CancellationToken,
    synced: Synced,
    set_grace: SignedDuration,
) {
    let watch = Watch {
        client: client.clone(),
        scope: Arc::new(scope),
        replica_sets: Arc::default(),
        jobs: Arc::default(),
        answers: Arc::default(),
        pods: Arc::default(),
        rechecks: Arc::default(),
        claim_rechecks: Arc::default(),
        short: Arc::default(),
        stateful_sets: Arc::default(),
        daemon_sets: Arc::default(),
        set_grace,
        sink,
    };
    register_all(&synced);
    let nothing = Watch::prune_nothing;
    let (w, s) = (&watch, &synced);
    let (rs, jobs) = (stream::<ReplicaSet>(&client), stream::<Job>(&client));
    let tasks = [
        spawn(rs, w, Watch::replica_set, Watch::prune_replica_sets, s),
        spawn(jobs, w, Watch::job, Watch::prune_jobs, s),
        spawn(stream::<Pod>(&client), w, Watch::pod, Watch::prune_pods, s),
        spawn(stream::<Event>(&client), w, Watch::event, nothing, s),
        spawn(
            stream::<Deployment>(&client),
            w,
            Watch::deployment,
            Watch::prune_deployments,
            s,
        ),
        spawn(
            stream::<StatefulSet>(&client),
            w,
            Watch::stateful_set,
            Watch::prune_stateful_sets,
            s,
        ),
        spawn(
            stream::<DaemonSet>(&client),
            w,
            Watch::daemon_set,
            Watch::prune_daemon_sets,
            s,
        ),
        spawn(stream::<Node>(&client), w, Watch::node, nothing, s),
        spawn(
            stream::<PersistentVolumeClaim>(&client),
            w,
            Watch::claim,
            Watch::prune_claims,
            s,
        ),
        tokio::spawn(recheck(watch.clone())),
    ];
    shutdown.cancelled().await;
    for task in tasks {
        task.abort();
    }
}

/// Registers every watched resource before any watcher runs, so readiness cannot be claimed
/// early.
fn register_all(synced: &Synced) {
    for resource in [
        plural::<ReplicaSet>(),
        plural::<Job>(),
        plural::<Pod>(),
        plural::<Event>(),
        plural::<Deployment>(),
        plural::<StatefulSet>(),
        plural::<DaemonSet>(),
        plural::<Node>(),
        plural::<PersistentVolumeClaim>(),
    ] {
        synced.register(&resource);
    }
}

fn spawn<K, S>(
    stream: S,
    watch: &Watch,
    on: fn(&Watch, &K, bool, Timestamp) -> Vec<Signal>,
    prune: fn(&Watch, &HashSet<Key>),
    synced: &Synced,
) -> tokio::task::JoinHandle<()>
where
    S: Stream<Item = watcher::Result<WatchEvent<K>>> + Send + 'static,
    K: Resource + Send + 'static,
    K::DynamicType: Default,
{
    let handler = Handler { on, prune };
    tokio::spawn(drive(stream, watch.clone(), handler, synced.clone()))
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

async fn drive<K, S>(stream: S, watch: Watch, handler: Handler<K>, synced: Synced)
where
    S: Stream<Item = watcher::Result<WatchEvent<K>>> + Send,
    K: Resource + Send,
    K::DynamicType: Default,
{
    let resource = plural::<K>();
    // The keys a (re-)list shows, from `Init` to `InitDone`.
    let mut listed: Option<HashSet<Key>> = None;
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
            WatchEvent::Apply(o) => (o, false),
            WatchEvent::InitApply(o) => {
                if let Some(keys) = listed.as_mut() {
                    keys.insert((o.namespace().unwrap_or_default(), o.name_any()));
                }
                (o, false)
            }
            WatchEvent::Delete(o) => (o, true),
            WatchEvent::Init => {
                listed = Some(HashSet::new());
                continue;
            }
            WatchEvent::InitDone => {
                if let Some(keys) = listed.take() {
                    (handler.prune)(&watch, &keys);
                }
                synced.mark(&resource);
                continue;
            }
        };
        if !watch.scope.allows(object.meta().namespace.as_deref()) {
            continue;
        }
        for mut signal in (handler.on)(&watch, object, deleted, Timestamp::now()) {
            watch.complete(&mut signal).await;
            if watch.sink.send(signal).await.is_err() {
                return;
            }
        }
    }
}

/// Every [`RECHECK_EVERY`], runs the detectors again over the objects whose time has come.
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
        let stateful_sets = sets::take_due(&watch.stateful_sets, now);
        let daemon_sets = sets::take_due(&watch.daemon_sets, now);
        let signals = pods
            .iter()
            .flat_map(|pod| watch.pod(pod, false, now))
            .chain(claims.iter().flat_map(|c| watch.claim(c, false, now)))
            .chain(
                deployments
                    .iter()
                    .flat_map(|d| watch.deployment(d, false, now)),
            )
            .chain(
                stateful_sets
                    .iter()
                    .flat_map(|s| watch.stateful_set(s, false, now)),
            )
            .chain(
                daemon_sets
                    .iter()
                    .flat_map(|d| watch.daemon_set(d, false, now)),
            );
        for mut signal in signals.collect::<Vec<_>>() {
            watch.complete(&mut signal).await;
            if watch.sink.send(signal).await.is_err() {
                return;
            }
        }
    }
}

impl Watch {
    fn cached<V: Clone>(&self, cache: &Cache<V>, key: &Key) -> Option<V> {
        let cache = cache.lock().unwrap_or_else(PoisonError::into_inner);
        cache.get(key).cloned()
    }
}

fn take_due<K: Resource + Clone>(rechecks: &Mutex<Rechecks<K>>, now: Timestamp) -> Vec<K> {
    rechecks
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take_due(now)
}

/// Whether a Warning event is recent enough to be a signal rather than history.
pub fn is_fresh(event: &Event, now: Timestamp) -> bool {
    events::last_seen(event).is_none_or(|seen| now - EVENT_FRESHNESS <= seen)
}

#[cfg(test)]
mod tests;
