//! The engine's test world: a real store (SQLite), the recorded fixture's objects in a
//! simulated cluster served over HTTP, evidence from the fixture and a verifier double whose
//! verdict each test chooses.
#![allow(dead_code)]

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use jiff::Timestamp;
use nightshift::domain::evidence::Evidence;
use nightshift::domain::incident::{Incident, IncidentState};
use nightshift::domain::plan::{CheckKind, Plan};
use nightshift::domain::playbook::EvidenceSpec;
use nightshift::domain::policy::Policy;
use nightshift::domain::signal::Signal;
use nightshift::domain::verdict::{CheckResult, Verdict};
use nightshift::engine::{Engine, EngineSettings, Gathered, Gatherer, Parts, Verifier};
use nightshift::k8s::execute::Executor;
use nightshift::replay::{Case, run};
use nightshift::rules::RuleSet;
use nightshift::sim::SimCluster;
use nightshift::store::{IncidentRecord, Store};
use nightshift::telemetry::Metrics;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

pub const CASE: &str = "fixtures/incidents/payments-api-missing-deploy-env-after-v2-3-1";

pub struct FixtureGatherer(pub Evidence);

impl Gatherer for FixtureGatherer {
    fn gather<'a>(&'a self, _: &'a Signal, _: &'a EvidenceSpec) -> BoxFuture<'a, Gathered> {
        Box::pin(async move {
            Gathered {
                evidence: self.0.clone(),
                problems: vec![],
                workload: None,
            }
        })
    }
}

pub struct ChosenVerdict(pub AtomicBool);

impl Verifier for ChosenVerdict {
    fn verify<'a>(
        &'a self,
        _: &'a Incident,
        _: &'a Plan,
        _: &'a Evidence,
    ) -> BoxFuture<'a, Verdict> {
        let passed = self.0.load(Ordering::SeqCst);
        Box::pin(async move {
            let result = CheckResult {
                check: CheckKind::RolloutComplete,
                passed,
                observed: format!("test verdict {passed}"),
            };
            Verdict::decide(vec![result], Timestamp::now())
        })
    }
}

pub struct World {
    pub cluster: SimCluster,
    pub store: Store,
    pub signal: Signal,
    pub evidence: Evidence,
    pub now: Timestamp,
    pub clock: Arc<Mutex<Timestamp>>,
    pub client: kube::Client,
    pub rules: Arc<RuleSet>,
    pub verdict: Arc<ChosenVerdict>,
    /// What every engine of this world counts into.
    pub metrics: Metrics,
    /// Cancelled when the world is dropped (the simulated cluster stops serving).
    pub shutdown: CancellationToken,
    _sim: crate::sim_harness::Sim,
    _dir: tempfile::TempDir,
}

impl Drop for World {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

pub async fn world() -> World {
    let rules = RuleSet::load(&root().join("rules"), &root().join("playbooks")).expect("rules");
    let case = Case::load(&root().join(CASE)).expect("case");
    let outcome = run(&case, &rules, &Policy::default());
    let replayed = outcome.incident.expect("the fixture opens an incident");
    let cluster = SimCluster::new();
    let objects = std::fs::read_to_string(root().join(CASE).join("objects.yaml")).expect("objects");
    cluster
        .apply_yaml(&objects)
        .expect("objects load into the simulated cluster");
    let sim = crate::sim_harness::start(cluster).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("nightshift.db").display());
    World {
        cluster: sim.cluster.clone(),
        store: Store::connect(&url).await.expect("store"),
        signal: replayed.signal,
        now: case.file.now,
        clock: Arc::new(Mutex::new(case.file.now)),
        evidence: replayed.evidence,
        client: sim.client.clone(),
        metrics: Metrics::new(rules.rules.iter().map(|r| r.rule.name.as_str())),
        rules: Arc::new(rules),
        verdict: Arc::new(ChosenVerdict(AtomicBool::new(true))),
        shutdown: sim.shutdown.clone(),
        _sim: sim,
        _dir: dir,
    }
}

impl World {
    pub fn engine(&self) -> Engine {
        self.engine_with(Policy::default())
    }

    /// An engine under `policy`.
    pub fn engine_with(&self, policy: Policy) -> Engine {
        let settings = EngineSettings {
            poll_millis: 20,
            ..EngineSettings::default()
        };
        self.engine_with_settings(policy, settings)
    }

    /// An engine under `policy` with `settings`.
    pub fn engine_with_settings(&self, policy: Policy, settings: EngineSettings) -> Engine {
        let gatherer = Arc::new(FixtureGatherer(self.evidence.clone()));
        self.engine_with_gatherer(policy, settings, gatherer)
    }

    /// An engine under `policy` with `settings` and `gatherer`.
    pub fn engine_with_gatherer(
        &self,
        policy: Policy,
        settings: EngineSettings,
        gatherer: Arc<dyn Gatherer>,
    ) -> Engine {
        Engine::new(Parts {
            store: self.store.clone(),
            rules: Arc::new(Mutex::new(self.rules.clone())),
            policy,
            executor: Executor::new(self.client.clone()),
            gatherer,
            verifier: self.verdict.clone(),
            settings,
            // The recorded incident happened at the fixture's time; tests may move the clock.
            clock: {
                let clock = self.clock.clone();
                Arc::new(move || *clock.lock().expect("clock"))
            },
            metrics: self.metrics.clone(),
        })
    }

    pub fn deployment_image(&self) -> String {
        let d = self
            .cluster
            .get("Deployment", "payments", "payments-api")
            .expect("deployment");
        d["spec"]["template"]["spec"]["containers"][0]["image"]
            .as_str()
            .expect("image")
            .to_owned()
    }

    pub async fn state(&self, id: &str) -> IncidentState {
        self.record(id).await.incident.state
    }

    pub async fn wait_for(&self, id: &str, want: IncidentState) {
        for _ in 0..500 {
            if self.state(id).await == want {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let record = self.record(id).await;
        panic!(
            "incident {id} is {} after 5s, not {want}:\n{}",
            record.incident.state,
            story(&record)
        );
    }

    /// The incident as stored.
    pub async fn record(&self, id: &str) -> IncidentRecord {
        self.store.load(id).await.expect("load").expect("incident")
    }

    /// The incident's current plan hash.
    pub async fn plan_hash(&self, id: &str) -> String {
        self.record(id).await.plans[0].hash.clone()
    }

    /// Another incident on the same workload as `of` (another rule's fingerprint), recorded
    /// straight into the store at `at` with the same plan; its id and plan hash.
    pub async fn another_incident(&self, of: &str, at: Timestamp) -> (String, String) {
        let record = self.record(of).await;
        let mut other = record.incident.clone();
        other.id = format!("{of}-other");
        other.fingerprint = format!("{}/other", other.fingerprint);
        other.state = IncidentState::Open;
        other.opened_at = at;
        self.store.insert_incident(&other).await.expect("insert");
        let plan = &record.plans[0].plan;
        let hash = self
            .store
            .record_plan(&other.id, plan, at)
            .await
            .expect("plan");
        (other.id, hash)
    }

    /// Opens the fixture's incident through a running engine and waits until it awaits approval.
    pub async fn opened_and_waiting(&self, engine: &Engine, tasks: &mut JoinSet<()>) -> String {
        engine.intake(self.signal.clone(), self.now, tasks).await;
        let id = self.store.list_incidents(10).await.expect("list")[0]
            .id
            .clone();
        self.wait_for(&id, IncidentState::AwaitingApproval).await;
        id
    }
}

pub fn spawn(engine: &Engine, shutdown: &CancellationToken) -> tokio::sync::mpsc::Sender<Signal> {
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    tokio::spawn(engine.clone().run(rx, shutdown.child_token()));
    tx
}

/// Opens the fixture's incident with an engine that is not running its loop (so nothing polls
/// approvals), and returns the incident id and its plan hash once it awaits approval.
pub async fn waiting_without_a_loop(w: &World) -> (String, String) {
    let mut tasks = JoinSet::new();
    let id = w.opened_and_waiting(&w.engine(), &mut tasks).await;
    while tasks.join_next().await.is_some() {}
    let hash = w.plan_hash(&id).await;
    (id, hash)
}

/// The incident's audit log, a line a row: what happened to it, for failure messages.
pub fn story(record: &IncidentRecord) -> String {
    record
        .audit
        .iter()
        .map(|a| format!("{} {}", a.kind, a.detail))
        .collect::<Vec<_>>()
        .join("\n")
}
