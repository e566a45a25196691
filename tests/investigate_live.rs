//! `nightshift investigate` and `POST /api/v1/investigations` against the simulated cluster:
//! a person's question about an object opens an incident through the engine's normal path,
//! takes the decisions `replay` takes on the recorded case, keeps the question, executes
//! nothing, and is in the store; a workload with an open incident answers with that one; an
//! object that does not exist is a clear error (404, exit 1); a bad body names the field.

use std::path::Path;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{Request as HttpRequest, StatusCode};
use jiff::Timestamp;
use nightshift::domain::policy::Policy;
use nightshift::engine::live::{LiveGatherer, LiveVerifier};
use nightshift::engine::{Clock, Engine, EngineSettings, Parts};
use nightshift::investigate::{InvestigateError, Investigator, Request, http};
use nightshift::k8s::execute::Executor;
use nightshift::k8s::{collect, verify};
use nightshift::replay::{Case, run};
use nightshift::rules::RuleSet;
use nightshift::store::{Store, kinds};
use tower::ServiceExt;

mod sim_harness;

const ASKED: &str =
    "fixtures/incidents/customer-orders-slow-checkout-inventory-timeouts-investigated";
const CRASHING: &str = "fixtures/incidents/payments-api-missing-deploy-env-after-v2-3-1";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// An investigator over the sim, a fresh SQLite store and the built-in rules, at `now`.
async fn investigator(sim: &sim_harness::Sim, dir: &Path, now: Timestamp) -> (Investigator, Store) {
    let rules = RuleSet::load_from(None, None).expect("built-in rules");
    investigator_with(sim, dir, now, rules).await
}

/// An investigator over the sim, a fresh SQLite store and `rules`, at `now`.
async fn investigator_with(
    sim: &sim_harness::Sim,
    dir: &Path,
    now: Timestamp,
    rules: RuleSet,
) -> (Investigator, Store) {
    let store = Store::connect(&format!("sqlite://{}", dir.join("n.db").display()))
        .await
        .expect("store");
    let rules = Arc::new(Mutex::new(Arc::new(rules)));
    let clock: Clock = Arc::new(move || now);
    let client = sim.client.clone();
    let engine = Engine::new(Parts {
        store: store.clone(),
        rules: rules.clone(),
        policy: Policy::default(),
        executor: Executor::new(client.clone()),
        gatherer: Arc::new(LiveGatherer(collect::Gatherer::new(client.clone()))),
        verifier: Arc::new(LiveVerifier(verify::Verifier::new(client.clone()))),
        settings: EngineSettings::default(),
        clock: clock.clone(),
        metrics: nightshift::telemetry::Metrics::new(std::iter::empty::<&str>()),
    });
    let investigator = Investigator::new(engine, client, store.clone(), rules, clock);
    (investigator, store)
}

fn load(case: &str) -> Case {
    Case::load(&root().join(case)).expect("case")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_investigation_takes_the_decisions_replay_takes_keeps_the_question_and_runs_nothing()
{
    let case = load(ASKED);
    let sim = sim_harness::for_case(&case).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let (investigator, store) = investigator(&sim, dir.path(), case.file.now).await;
    let question = "Why is checkout slow since noon?";
    let request = Request::parse(
        "deploy/customer-orders",
        Some("shop".into()),
        Some(question.into()),
    )
    .expect("request");
    let answer = investigator
        .investigate(request)
        .await
        .expect("investigated");
    assert!(answer.opened);
    let replayed = run(
        &case,
        &RuleSet::load_from(None, None).expect("rules"),
        &Policy::default(),
    )
    .incident
    .expect("replay opens an incident");
    let record = &answer.record;
    assert_eq!(record.incident.rule, replayed.rule);
    assert_eq!(record.incident.fingerprint, replayed.fingerprint);
    let diagnosis = &record.diagnosis.as_ref().expect("diagnosed").diagnosis;
    assert_eq!(diagnosis.category, replayed.diagnosis.category);
    let plan = &record.plans.last().expect("planned").plan;
    assert_eq!(plan.is_mutating(), replayed.plan.is_mutating());
    assert!(
        record.actions.is_empty(),
        "an investigation executes nothing"
    );
    let state = record.incident.state.as_str();
    assert!(
        ["escalated", "awaiting_approval"].contains(&state),
        "{state}"
    );
    let asked = record
        .audit
        .iter()
        .find(|row| row.kind == kinds::INVESTIGATION_ASKED)
        .expect("the question is recorded");
    assert_eq!(asked.detail["question"], question);
    let report =
        nightshift::report::render(record, nightshift::report::Format::Markdown).expect("report");
    assert!(report.contains(question), "{report}");
    let stored = store.load(&record.incident.id).await.expect("load");
    assert!(stored.is_some(), "in the store like any other incident");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asking_about_a_workload_with_an_open_incident_answers_with_that_incident() {
    let case = load(CRASHING);
    let sim = sim_harness::for_case(&case).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let (investigator, store) = investigator(&sim, dir.path(), case.file.now).await;
    let ask = |q: &str| {
        Request::parse(
            "deployment/payments-api",
            Some("payments".into()),
            Some(q.into()),
        )
        .expect("request")
    };
    let first = investigator.investigate(ask("why?")).await.expect("first");
    assert!(first.opened);
    assert_eq!(
        first.record.incident.rule, "crash-loop",
        "the detectors' signal comes first"
    );
    let second = investigator
        .investigate(ask("and now?"))
        .await
        .expect("second");
    assert!(!second.opened);
    assert_eq!(second.record.incident.id, first.record.incident.id);
    assert_eq!(store.list_incidents(10).await.expect("list").len(), 1);
    let questions: Vec<_> = second
        .record
        .audit
        .iter()
        .filter(|row| row.kind == kinds::INVESTIGATION_ASKED)
        .map(|row| row.detail["question"].clone())
        .collect();
    assert_eq!(questions, ["why?", "and now?"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_object_that_does_not_exist_is_not_found_and_opens_nothing() {
    let case = load(ASKED);
    let sim = sim_harness::for_case(&case).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let (investigator, store) = investigator(&sim, dir.path(), case.file.now).await;
    let request = Request::parse("deploy/no-such-thing", Some("shop".into()), None).expect("ok");
    let err = investigator.investigate(request).await.expect_err("absent");
    assert!(matches!(err, InvestigateError::NotFound(_)), "{err}");
    assert!(
        err.to_string().contains("Deployment/shop/no-such-thing"),
        "{err}"
    );
    assert!(store.list_incidents(10).await.expect("list").is_empty());
}

async fn post(router: axum::Router, body: &str) -> (StatusCode, serde_json::Value) {
    let request = HttpRequest::post("/api/v1/investigations")
        .header("content-type", "application/json")
        .body(Body::from(body.to_owned()))
        .expect("request");
    let response = router.oneshot(request).await.expect("answer");
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("body");
    (status, serde_json::from_slice(&bytes).expect("JSON body"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http_handler_answers_201_with_the_incident_404_for_an_absent_object_400_naming_the_field()
 {
    let case = load(ASKED);
    let sim = sim_harness::for_case(&case).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let (investigator, _store) = investigator(&sim, dir.path(), case.file.now).await;
    let router = http::router(investigator);
    let (status, body) = post(
        router.clone(),
        r#"{"kind":"deploy","namespace":"shop","name":"customer-orders","question":"slow?"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(
        body["incident"]["signal"]["target"]["name"], "customer-orders",
        "{body}"
    );
    let (status, body) = post(
        router.clone(),
        r#"{"kind":"pod","namespace":"shop","name":"gone"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(
        body["error"].as_str().expect("error").contains("gone"),
        "{body}"
    );
    let (status, body) = post(router.clone(), r#"{"kind":"pod","namespace":"shop"}"#).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["error"].as_str().expect("error").contains("name"),
        "{body}"
    );
    let (status, body) = post(
        router.clone(),
        r#"{"kind":"service","namespace":"shop","name":"x"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["error"].as_str().expect("error").starts_with("kind:"),
        "{body}"
    );
    let (status, _) = post(router, "not json").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_prints_the_report_with_the_question_and_exits_1_for_an_object_that_does_not_exist()
{
    let case = load(ASKED);
    let sim = sim_harness::for_case(&case).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = format!("sqlite://{}", dir.path().join("cli.db").display());
    let nightshift = |object: &str| {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_nightshift"));
        command
            .current_dir(dir.path())
            .env_remove("NIGHTSHIFT_CONFIG")
            .env_remove("NIGHTSHIFT_RULES")
            .env_remove("NIGHTSHIFT_PLAYBOOKS")
            .args([
                "investigate",
                object,
                "-n",
                "shop",
                "--question",
                "why slow?",
            ])
            .arg("--kubeconfig")
            .arg(&sim.kubeconfig)
            .args(["--store", &store]);
        command
    };
    let out = nightshift("Deployment/customer-orders")
        .output()
        .await
        .expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("why slow?"), "{stdout}");
    let missing = nightshift("deploy/absent").output().await.expect("runs");
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert_eq!(missing.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("Deployment/shop/absent not found"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healthy_object_is_investigated_under_the_built_in_rule_even_from_rules_without_it() {
    let case = load("fixtures/incidents/invoice-api-investigated-healthy-nothing-found");
    let sim = sim_harness::for_case(&case).await;
    let dir = tempfile::tempdir().expect("tempdir");
    nightshift::rules::defaults::write(&dir.path().join("tuned"), false).expect("init");
    for file in [
        "tuned/rules/investigate.yaml",
        "tuned/playbooks/investigate.yaml",
    ] {
        std::fs::remove_file(dir.path().join(file)).expect("rm");
    }
    let rules = RuleSet::load(
        &dir.path().join("tuned/rules"),
        &dir.path().join("tuned/playbooks"),
    )
    .expect("tuned rules");
    assert!(rules.playbook("investigate").is_none());
    let (investigator, _store) = investigator_with(&sim, dir.path(), case.file.now, rules).await;
    let asked = case
        .file
        .signal
        .investigate
        .as_ref()
        .expect("an investigate: case");
    let request = Request {
        kind: asked.kind.clone(),
        namespace: asked.namespace.clone(),
        name: asked.name.clone(),
        question: asked.question.clone(),
    };
    let answer = investigator
        .investigate(request)
        .await
        .expect("investigated");
    assert_eq!(answer.record.incident.rule, "investigate");
    assert_eq!(answer.record.incident.playbook, "investigate");
    assert!(
        answer.record.diagnosis.is_some(),
        "decided, not escalated for a missing playbook"
    );
    assert!(answer.record.actions.is_empty());
}
