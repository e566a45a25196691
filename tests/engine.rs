//! The engine over a real store (SQLite) and the simulated cluster over HTTP: dedup across
//! re-lists and restarts, the approval gate, execution recorded once, verification deciding
//! resolved or escalated, and no automatic action on a workload after an escalation. Evidence
//! comes from a recorded fixture (the live gatherer has its own tests), and the verifier is a
//! double whose verdict each test chooses.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use jiff::Timestamp;
use kube::config::{KubeConfigOptions, Kubeconfig};
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
use nightshift::sim::{SimCluster, serve, write_kubeconfig};
use nightshift::store::{ActionOutcome, Decision, Store};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

const CASE: &str = "fixtures/incidents/payments-api-missing-deploy-env-after-v2-3-1";

struct FixtureGatherer(Evidence);

impl Gatherer for FixtureGatherer {
    fn gather<'a>(&'a self, _: &'a Signal, _: &'a EvidenceSpec) -> BoxFuture<'a, Gathered> {
        Box::pin(async move {
            Gathered {
                evidence: self.0.clone(),
                problems: vec![],
            }
        })
    }
}

struct ChosenVerdict(AtomicBool);

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

struct World {
    cluster: SimCluster,
    store: Store,
    signal: Signal,
    evidence: Evidence,
    now: Timestamp,
    clock: Arc<Mutex<Timestamp>>,
    client: kube::Client,
    rules: Arc<RuleSet>,
    verdict: Arc<ChosenVerdict>,
    shutdown: CancellationToken,
    _dir: tempfile::TempDir,
}

impl Drop for World {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

async fn world() -> World {
    let rules = RuleSet::load(&root().join("rules"), &root().join("playbooks")).expect("rules");
    let case = Case::load(&root().join(CASE)).expect("case");
    let outcome = run(&case, &rules, &Policy::default());
    let replayed = outcome.incident.expect("the fixture opens an incident");
    let cluster = SimCluster::new();
    let objects = std::fs::read_to_string(root().join(CASE).join("objects.yaml")).expect("objects");
    cluster
        .apply_yaml(&objects)
        .expect("objects load into the simulated cluster");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = dir.path().join("kubeconfig");
    write_kubeconfig(&kubeconfig, &url).expect("kubeconfig");
    let shutdown = CancellationToken::new();
    tokio::spawn(serve(cluster.clone(), listener, shutdown.clone()));
    let file = Kubeconfig::read_from(&kubeconfig).expect("kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(file, &KubeConfigOptions::default())
        .await
        .expect("config");
    let url = format!("sqlite://{}", dir.path().join("nightshift.db").display());
    World {
        cluster,
        store: Store::connect(&url).await.expect("store"),
        signal: replayed.signal,
        now: case.file.now,
        clock: Arc::new(Mutex::new(case.file.now)),
        evidence: replayed.evidence,
        client: kube::Client::try_from(config).expect("client"),
        rules: Arc::new(rules),
        verdict: Arc::new(ChosenVerdict(AtomicBool::new(true))),
        shutdown,
        _dir: dir,
    }
}

impl World {
    fn engine(&self) -> Engine {
        Engine::new(Parts {
            store: self.store.clone(),
            rules: Arc::new(Mutex::new(self.rules.clone())),
            policy: Policy::default(),
            executor: Executor::new(self.client.clone()),
            gatherer: Arc::new(FixtureGatherer(self.evidence.clone())),
            verifier: self.verdict.clone(),
            settings: EngineSettings {
                poll_millis: 20,
                ..EngineSettings::default()
            },
            // The recorded incident happened at the fixture's time; tests may move the clock.
            clock: {
                let clock = self.clock.clone();
                Arc::new(move || *clock.lock().expect("clock"))
            },
        })
    }

    fn deployment_image(&self) -> String {
        let d = self
            .cluster
            .get("Deployment", "payments", "payments-api")
            .expect("deployment");
        d["spec"]["template"]["spec"]["containers"][0]["image"]
            .as_str()
            .expect("image")
            .to_owned()
    }

    async fn state(&self, id: &str) -> IncidentState {
        self.store
            .load(id)
            .await
            .expect("load")
            .expect("incident")
            .incident
            .state
    }

    async fn wait_for(&self, id: &str, want: IncidentState) {
        for _ in 0..500 {
            if self.state(id).await == want {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let record = self.store.load(id).await.expect("load").expect("incident");
        let story: Vec<String> = record
            .audit
            .iter()
            .map(|a| format!("{} {}", a.kind, a.detail))
            .collect();
        panic!(
            "incident {id} is {} after 5s, not {want}:\n{}",
            record.incident.state,
            story.join("\n")
        );
    }

    /// Opens the fixture's incident through a running engine and waits until it awaits approval.
    async fn opened_and_waiting(&self, engine: &Engine, tasks: &mut JoinSet<()>) -> String {
        engine.intake(self.signal.clone(), self.now, tasks).await;
        let id = self.store.list_incidents(10).await.expect("list")[0]
            .id
            .clone();
        self.wait_for(&id, IncidentState::AwaitingApproval).await;
        id
    }
}

fn spawn(engine: &Engine, shutdown: &CancellationToken) -> tokio::sync::mpsc::Sender<Signal> {
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    tokio::spawn(engine.clone().run(rx, shutdown.child_token()));
    tx
}

#[tokio::test]
async fn the_same_signal_again_or_after_a_restart_opens_no_second_incident() {
    let w = world().await;
    let first = w
        .engine()
        .open(w.signal.clone(), w.now)
        .await
        .expect("open");
    assert!(first.is_some(), "the first signal opens an incident");
    let relist = w
        .engine()
        .open(w.signal.clone(), w.now)
        .await
        .expect("again");
    assert!(
        relist.is_none(),
        "a re-list replays the pod: same fingerprint, no new incident"
    );
    let restarted = w.engine();
    let after = restarted
        .open(w.signal.clone(), w.now)
        .await
        .expect("restart");
    assert!(
        after.is_none(),
        "a fresh engine on the same store dedups too"
    );
    assert_eq!(w.store.list_incidents(10).await.expect("list").len(), 1);
}

#[tokio::test]
async fn a_plan_waits_for_a_human_and_nothing_changes_until_approved() {
    let w = world().await;
    let engine = w.engine();
    let _tx = spawn(&engine, &w.shutdown);
    let mut tasks = JoinSet::new();
    let before = w.deployment_image();
    let id = w.opened_and_waiting(&engine, &mut tasks).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(w.state(&id).await, IncidentState::AwaitingApproval);
    assert_eq!(w.deployment_image(), before, "no approval, no change");
    let record = w.store.load(&id).await.expect("load").expect("incident");
    assert!(record.actions.is_empty(), "no action was even claimed");
    assert_eq!(
        record
            .diagnosis
            .expect("diagnosis")
            .diagnosis
            .category
            .as_str(),
        "bad-deploy"
    );
}

#[tokio::test]
async fn an_approval_of_the_plans_hash_rolls_back_once_and_verification_resolves() {
    let w = world().await;
    let engine = w.engine();
    let _tx = spawn(&engine, &w.shutdown);
    let mut tasks = JoinSet::new();
    let broken = w.deployment_image();
    let id = w.opened_and_waiting(&engine, &mut tasks).await;
    let wrong = nightshift::approval::answer(
        &w.store,
        &id,
        Some("00000000"),
        Decision::Approved,
        "alice",
        w.now,
    )
    .await;
    assert!(
        wrong.is_err(),
        "an approval of another plan hash is refused"
    );
    let hash = w
        .store
        .load(&id)
        .await
        .expect("load")
        .expect("incident")
        .plans[0]
        .hash
        .clone();
    nightshift::approval::answer(
        &w.store,
        &id,
        Some(&hash[..12]),
        Decision::Approved,
        "alice",
        w.now,
    )
    .await
    .expect("approve");
    w.wait_for(&id, IncidentState::Resolved).await;
    assert_ne!(
        w.deployment_image(),
        broken,
        "rolled back to the previous revision's image"
    );
    let record = w.store.load(&id).await.expect("load").expect("incident");
    assert_eq!(record.actions.len(), 1, "one action, recorded once");
    assert_eq!(record.actions[0].outcome, ActionOutcome::Succeeded);
    assert_eq!(record.verifications.len(), 1);
    assert!(w.store.verify_audit().await.expect("audit").is_intact());
}

#[tokio::test]
async fn a_denied_plan_ends_the_incident_and_changes_nothing() {
    let w = world().await;
    let engine = w.engine();
    let _tx = spawn(&engine, &w.shutdown);
    let mut tasks = JoinSet::new();
    let before = w.deployment_image();
    let id = w.opened_and_waiting(&engine, &mut tasks).await;
    nightshift::approval::answer(&w.store, &id, None, Decision::Denied, "bob", w.now)
        .await
        .expect("deny");
    w.wait_for(&id, IncidentState::Denied).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(w.deployment_image(), before);
    assert!(
        w.store
            .load(&id)
            .await
            .expect("load")
            .expect("incident")
            .actions
            .is_empty()
    );
}

#[tokio::test]
async fn a_failed_verification_escalates_and_the_next_incident_on_that_workload_only_notifies() {
    let w = world().await;
    w.verdict.0.store(false, Ordering::SeqCst);
    let engine = w.engine();
    let _tx = spawn(&engine, &w.shutdown);
    let mut tasks = JoinSet::new();
    let id = w.opened_and_waiting(&engine, &mut tasks).await;
    nightshift::approval::answer(&w.store, &id, None, Decision::Approved, "alice", w.now)
        .await
        .expect_err("an approval must name the plan");
    let hash = w
        .store
        .load(&id)
        .await
        .expect("load")
        .expect("incident")
        .plans[0]
        .hash
        .clone();
    nightshift::approval::answer(
        &w.store,
        &id,
        Some(&hash),
        Decision::Approved,
        "alice",
        w.now,
    )
    .await
    .expect("approve");
    w.wait_for(&id, IncidentState::Escalated).await;
    // The same crash loop two hours later: past the rule's cooldown, within the escalation hold.
    *w.clock.lock().expect("clock") = w.now + jiff::SignedDuration::from_hours(2);
    let later = w.now + jiff::SignedDuration::from_hours(2);
    let mut again = w.signal.clone();
    again.observed_at = later;
    engine.intake(again, later, &mut tasks).await;
    let incidents = w.store.list_incidents(10).await.expect("list");
    assert_eq!(
        incidents.len(),
        2,
        "the second signal opened its own incident"
    );
    let next = incidents
        .iter()
        .find(|i| i.id != id)
        .expect("the new incident")
        .id
        .clone();
    w.wait_for(&next, IncidentState::Escalated).await;
    let record = w.store.load(&next).await.expect("load").expect("incident");
    let plan = &record.plans[0].plan;
    assert!(
        !plan.is_mutating(),
        "after an escalation the plan only notifies"
    );
    let reason = &plan
        .downgraded
        .as_ref()
        .expect("downgraded, not silently changed")
        .reason;
    assert!(
        reason.contains(&id) && reason.contains("no further automatic action"),
        "{reason}"
    );
    assert!(record.actions.is_empty());
}

#[tokio::test]
async fn an_unanswered_page_expires_after_the_playbooks_timeout() {
    let w = world().await;
    let engine = w.engine();
    let _tx = spawn(&engine, &w.shutdown);
    let mut tasks = JoinSet::new();
    let id = w.opened_and_waiting(&engine, &mut tasks).await;
    *w.clock.lock().expect("clock") = w.now + jiff::SignedDuration::from_mins(31);
    w.wait_for(&id, IncidentState::Expired).await;
    let record = w.store.load(&id).await.expect("load").expect("incident");
    assert_eq!(record.approvals.len(), 1);
    assert_eq!(record.approvals[0].decision, Decision::Expired);
    assert!(record.actions.is_empty());
}

/// Opens the fixture's incident with an engine that is not running its loop (so nothing polls
/// approvals), and returns the incident id and its plan hash once it awaits approval.
async fn waiting_without_a_loop(w: &World) -> (String, String) {
    let mut tasks = JoinSet::new();
    let id = w.opened_and_waiting(&w.engine(), &mut tasks).await;
    while tasks.join_next().await.is_some() {}
    let hash = w
        .store
        .load(&id)
        .await
        .expect("load")
        .expect("incident")
        .plans[0]
        .hash
        .clone();
    (id, hash)
}

#[tokio::test]
async fn an_approved_incident_interrupted_before_acting_resumes_and_acts_once() {
    let w = world().await;
    let broken = w.deployment_image();
    let (id, hash) = waiting_without_a_loop(&w).await;
    nightshift::approval::answer(
        &w.store,
        &id,
        Some(&hash),
        Decision::Approved,
        "alice",
        w.now,
    )
    .await
    .expect("approve");
    // The daemon recorded the approval's effect and died before executing.
    w.store
        .transition(&id, IncidentState::Approved, "alice", w.now)
        .await
        .expect("approved");
    let _tx = spawn(&w.engine(), &w.shutdown);
    w.wait_for(&id, IncidentState::Resolved).await;
    assert_ne!(w.deployment_image(), broken);
    let record = w.store.load(&id).await.expect("load").expect("incident");
    assert_eq!(record.actions.len(), 1);
}

#[tokio::test]
async fn an_action_in_doubt_after_a_restart_is_not_repeated_and_the_incident_escalates() {
    let w = world().await;
    let broken = w.deployment_image();
    let (id, hash) = waiting_without_a_loop(&w).await;
    nightshift::approval::answer(
        &w.store,
        &id,
        Some(&hash),
        Decision::Approved,
        "alice",
        w.now,
    )
    .await
    .expect("approve");
    // The daemon claimed the action and died before (or while) calling the apiserver.
    for to in [IncidentState::Approved, IncidentState::Executing] {
        w.store
            .transition(&id, to, "alice", w.now)
            .await
            .expect("move");
    }
    let plan = w
        .store
        .load(&id)
        .await
        .expect("load")
        .expect("incident")
        .plans[0]
        .plan
        .clone();
    w.store
        .record_action(
            &id,
            &hash,
            0,
            &plan.actions[0],
            ActionOutcome::Started,
            "",
            w.now,
        )
        .await
        .expect("claim");
    let _tx = spawn(&w.engine(), &w.shutdown);
    w.wait_for(&id, IncidentState::Escalated).await;
    assert_eq!(
        w.deployment_image(),
        broken,
        "an action in doubt is never run again"
    );
    let record = w.store.load(&id).await.expect("load").expect("incident");
    assert_eq!(record.actions.len(), 1);
    assert_eq!(record.actions[0].outcome, ActionOutcome::Started);
}
