//! The control plane and node agents of the simulated cluster: deployment and ReplicaSet
//! controllers, quota, scheduler, node lifecycle, claim binding and a kubelet model whose containers
//! behave as their image says. [`Controllers::step`] runs one reconciliation pass at a
//! given time (deterministic for tests); [`spawn`] runs passes on a tick until cancelled.
//!
//! Everything goes through [`SimCluster`]'s store like API writes do, so watches, kubectl
//! and kube-rs see the changes as they would on a real cluster.

pub mod api;
pub mod deployment;
pub mod durations;
pub mod events;
pub mod hash;
pub mod kubelet;
pub mod node_lifecycle;
pub mod nodes;
pub mod quota;
pub mod replicaset;
pub mod scheduler;
pub mod settings;
pub mod volumes;

use std::collections::HashSet;

use jiff::Timestamp;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::SimCluster;
use super::meta::Ids;
pub use settings::{Behaviour, ImageSpec, Images, Runtime, Settings};

/// What every controller gets during a pass.
pub struct Ctx<'a> {
    /// The cluster to read and write.
    pub cluster: &'a SimCluster,
    /// Timings and the image catalogue.
    pub settings: &'a Settings,
    /// The event recorder.
    pub events: &'a mut events::Recorder,
    /// Names, uids and container ids.
    pub ids: &'a mut Ids,
    /// The time of this pass.
    pub now: Timestamp,
}

/// The controllers and kubelets of one cluster, with their in-memory state.
pub struct Controllers {
    cluster: SimCluster,
    settings: Settings,
    events: events::Recorder,
    ids: Ids,
    nodes: node_lifecycle::Nodes,
    replicasets: replicaset::ReplicaSets,
    scheduler: scheduler::Scheduler,
    kubelet: kubelet::Kubelet,
    passes: u64,
}

impl Controllers {
    /// Controllers for `cluster` with the given settings (images included).
    pub fn new(cluster: SimCluster, settings: Settings) -> Self {
        let ids = settings.seed.map_or_else(Ids::from_time, Ids::seeded);
        Controllers {
            cluster,
            settings,
            events: events::Recorder::default(),
            ids,
            nodes: node_lifecycle::Nodes::default(),
            replicasets: replicaset::ReplicaSets::default(),
            scheduler: scheduler::Scheduler::default(),
            kubelet: kubelet::Kubelet::default(),
            passes: 0,
        }
    }

    /// The settings in use.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// One reconciliation pass of every controller at `now`: nodes, volume claims,
    /// deployments, ReplicaSets (and quota), the scheduler, then the kubelets.
    pub fn step(&mut self, now: Timestamp) {
        let first = self.passes == 0;
        self.passes += 1;
        let mut ctx = Ctx {
            cluster: &self.cluster,
            settings: &self.settings,
            events: &mut self.events,
            ids: &mut self.ids,
            now,
        };
        self.nodes.reconcile(&mut ctx, first);
        volumes::reconcile(&mut ctx);
        deployment::reconcile(&mut ctx);
        self.replicasets.reconcile(&mut ctx);
        self.scheduler.reconcile(&mut ctx);
        self.kubelet.reconcile(&mut ctx);
        if self.passes.is_multiple_of(100) {
            self.forget_deleted_objects();
        }
    }

    /// Steps at the cluster's own clock.
    pub fn step_now(&mut self) {
        let now = self.cluster.now();
        self.step(now);
    }

    fn forget_deleted_objects(&mut self) {
        let mut live = HashSet::new();
        for plural in ["pods", "replicasets", "deployments", "nodes"] {
            for obj in api::list(&self.cluster, plural, None) {
                live.insert(api::uid(&obj).to_string());
            }
        }
        self.events.forget(&live);
    }
}

/// Runs the controllers every `settings.tick` (each pass on a blocking thread so the API
/// server stays responsive) until `shutdown` is cancelled.
pub fn spawn(
    cluster: SimCluster,
    settings: Settings,
    shutdown: CancellationToken,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(settings.tick);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut controllers = Some(Controllers::new(cluster, settings));
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = interval.tick() => {}
            }
            let Some(mut c) = controllers.take() else {
                return;
            };
            let pass = tokio::task::spawn_blocking(move || {
                c.step_now();
                c
            });
            match pass.await {
                Ok(c) => controllers = Some(c),
                Err(e) => {
                    tracing::error!(error = %e, "a controller pass panicked; the simulation stops");
                    return;
                }
            }
        }
    })
}
