//! Investigations on demand: a person asks nightshift to look at an object even when no rule
//! fired (`nightshift investigate deploy/checkout -n shop --question "why is it slow?"`, or
//! `POST /api/v1/investigations`). The object is read from the cluster, the detectors' signals
//! about it (and its pods) come first and the question last, as `replay` orders an
//! `investigate:` fixture; the engine opens, gathers, diagnoses and plans the incident and stops
//! there (see [`Engine::investigate`]). The incident is in the store like any other.

pub mod http;
mod request;

use std::sync::{Arc, Mutex, PoisonError};

use jiff::Timestamp;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};

use crate::domain::playbook::EvidenceSpec;
use crate::domain::signal::ObjectRef;
use crate::engine::{Clock, Engine, EngineError, Investigated};
use crate::k8s::collect;
use crate::replay::investigation_signals;
use crate::rules::RuleSet;
use crate::store::{IncidentRecord, Store, StoreError};

pub use request::{BadRequest, Request};

/// Why an investigation has no incident to show.
#[derive(Debug, thiserror::Error)]
pub enum InvestigateError {
    /// The request is malformed.
    #[error(transparent)]
    BadRequest(#[from] BadRequest),
    /// The object is not in the cluster.
    #[error("{0} not found in the cluster")]
    NotFound(ObjectRef),
    /// The cluster could not be asked.
    #[error("reading {target} from the cluster: {source}")]
    Cluster {
        /// The object asked about.
        target: ObjectRef,
        /// Why.
        #[source]
        source: kube::Error,
    },
    /// The rules open no incident for it and a recent one's cooldown holds.
    #[error("no incident opened for {0}: a recent incident's cooldown holds, or no rule opens one")]
    NotOpened(ObjectRef),
    /// The engine could not record it.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The store could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What an investigation answers: the incident, and whether it was opened by this request or
/// was already open on the object's workload.
#[derive(Debug)]
pub struct Answer {
    /// The incident as the store holds it.
    pub record: IncidentRecord,
    /// `false` when the workload's open incident answered.
    pub opened: bool,
}

/// Runs investigations against one cluster and store.
#[derive(Clone)]
pub struct Investigator {
    engine: Engine,
    client: kube::Client,
    store: Store,
    rules: Arc<Mutex<Arc<RuleSet>>>,
    clock: Clock,
}

impl Investigator {
    /// An investigator over the engine that decides, the cluster it reads and the engine's
    /// store and rules.
    pub fn new(
        engine: Engine,
        client: kube::Client,
        store: Store,
        rules: Arc<Mutex<Arc<RuleSet>>>,
        clock: Clock,
    ) -> Investigator {
        Investigator {
            engine,
            client,
            store,
            rules,
            clock,
        }
    }

    /// Investigates `request`'s object: the incident it opened (or joined), decided.
    pub async fn investigate(&self, request: Request) -> Result<Answer, InvestigateError> {
        let target = request.target()?;
        self.require_exists(&target).await?;
        let spec = self.evidence_spec();
        let fetched = collect::Gatherer::new(self.client.clone())
            .fetch(&target, None, &spec)
            .await;
        let now: Timestamp = (self.clock)();
        let signals = investigation_signals(&fetched.objects, &target, request.question, now);
        let (id, opened) = match self.engine.investigate(signals, now).await? {
            Investigated::Opened(id) => (id, true),
            Investigated::Joined(id) => (id, false),
            Investigated::NotOpened => return Err(InvestigateError::NotOpened(target)),
        };
        let record = self
            .store
            .load(&id)
            .await?
            .ok_or(EngineError::Missing(id))?;
        Ok(Answer { record, opened })
    }

    /// What the investigation playbook gathers (the loaded one, else the built-in one).
    fn evidence_spec(&self) -> EvidenceSpec {
        let rules = self
            .rules
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        rules
            .investigation()
            .map(|(_, playbook)| playbook.evidence)
            .unwrap_or_default()
    }

    async fn require_exists(&self, target: &ObjectRef) -> Result<(), InvestigateError> {
        let (group, version) = api_version(&target.kind);
        let resource = ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, &target.kind));
        let api: Api<DynamicObject> = match &target.namespace {
            Some(ns) => Api::namespaced_with(self.client.clone(), ns, &resource),
            None => Api::all_with(self.client.clone(), &resource),
        };
        match api.get_opt(&target.name).await {
            Ok(Some(_)) => Ok(()),
            Ok(None) => Err(InvestigateError::NotFound(target.clone())),
            Err(source) => Err(InvestigateError::Cluster {
                target: target.clone(),
                source,
            }),
        }
    }
}

/// The API group and version of a kind [`crate::domain::signal::canonical_kind`] names.
fn api_version(kind: &str) -> (&'static str, &'static str) {
    match kind {
        "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet" => ("apps", "v1"),
        "Job" | "CronJob" => ("batch", "v1"),
        _ => ("", "v1"),
    }
}
