//! Watchers → signals. One kube-runtime watcher per resource (pods, events, deployments,
//! replicasets, jobs, nodes, persistentvolumeclaims), each object through the pure detectors
//! in [`detect`](crate::k8s::detect). Reflector stores are kept only where current state is
//! needed to name a pod's workload (ReplicaSets → Deployment, Jobs → CronJob). A re-list
//! replays every object: dedup happens in the engine and the store, never here. Pods, claims
//! and Deployments that wait on the clock (not Ready yet, Pending, short of replicas) are kept
//! in [`Rechecks`] until their time and looked at again then, since a stuck object may never
//! change again; they are the only objects held, each until its time, its next update or its
//! deletion (a re-list forgets what it no longer shows).

mod objects;
mod synced;

use std::collections::{HashMap, HashSet};
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
use crate::k8s::events;
use crate::k8s::recheck::Rechecks;
use objects::Short;
pub use synced::Synced;

/// Warning events last seen longer ago than this are history, not signals (a restarted daemon
/// lists up to an hour of old events).
pub const EVENT_FRESHNESS: SignedDuration = SignedDuration::from_mins(5);

/// How often objects waiting on the clock are looked for.
const RECHECK_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// An object's namespace and name.
type Key = (String, String);

/// What the watchers share: the scope, the caches that name workloads, the objects that wait
/// on the clock, and the signal sink.
#[derive(Clone)]
pub struct Watch {
    scope: Arc<NamespaceScope>,
    replica_sets: Store<ReplicaSet>,
    jobs: Store<Job>,
    /// Pod (namespace, name) → its workload, for events about pods.
    pods: Arc<Mutex<HashMap<Key, ObjectRef>>>,
    /// Pods to look at again when their time comes.
    rechecks: Arc<Mutex<Rechecks>>,
    /// Claims to look at again when their time comes.
    claim_rechecks: Arc<Mutex<Rechecks<PersistentVolumeClaim>>>,
    /// Deployments short of replicas: since when, and when to look at them again.
    short: Arc<Mutex<Short>>,
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
    register_all(&synced);
    let nothing = Watch::prune_nothing;
    let (w, s) = (&watch, &synced);
    let rs = stream::<ReplicaSet>(&client).reflect(rs_writer);
    let jobs = stream::<Job>(&client).reflect(job_writer);
    let tasks = [
        spawn(rs, w, Watch::replica_set, nothing, s),
        spawn(jobs, w, Watch::job, nothing, s),
        spawn(stream::<Pod>(&client), w, Watch::pod, Watch::prune_pods, s),
        spawn(stream::<Event>(&client), w, Watch::event, nothing, s),
        spawn(
            stream::<Deployment>(&client),
            w,
            Watch::deployment,
            Watch::prune_deployments,
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
        for signal in (handler.on)(&watch, object, deleted, Timestamp::now()) {
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
