//! Live alerts carry the signals their objects raise, as replay does: each recorded case whose
//! signal is an Alertmanager alert is loaded into the simulated cluster, its firing alerts are
//! sent to a running engine with the live gatherer, and the incident they open is diagnosed
//! with the category (and the same kind of plan) `replay` gives the same case, both without
//! the case's metrics, which the simulated cluster cannot serve.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use nightshift::domain::policy::Policy;
use nightshift::domain::signal::Signal;
use nightshift::engine::live::{LiveGatherer, LiveVerifier};
use nightshift::engine::progress::Progress;
use nightshift::engine::{Clock, Engine, EngineSettings, Parts};
use nightshift::k8s::execute::Executor;
use nightshift::k8s::{collect, verify};
use nightshift::replay::{Case, run};
use nightshift::rules::RuleSet;
use nightshift::store::{Store, kinds};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

mod sim_harness;

/// How long an incident may take to be decided before the test gives up.
const DECIDED_WITHIN: Duration = Duration::from_secs(60);

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn engine(sim: &sim_harness::Sim, store: &Store, now: Timestamp) -> Engine {
    let rules = RuleSet::load_from(None, None).expect("built-in rules");
    let clock: Clock = Arc::new(move || now);
    let client = sim.client.clone();
    Engine::new(Parts {
        store: store.clone(),
        rules: Arc::new(std::sync::Mutex::new(Arc::new(rules))),
        policy: Policy::default(),
        executor: Executor::new(client.clone()),
        gatherer: Arc::new(LiveGatherer(collect::Gatherer::new(client.clone()))),
        verifier: Arc::new(LiveVerifier(verify::Verifier::new(client))),
        settings: EngineSettings::default(),
        clock,
        metrics: nightshift::telemetry::Metrics::new(std::iter::empty::<&str>()),
    })
}

/// The alert cases among the recorded fixtures, each also with its alerts renamed to a name no
/// rule knows (a team's own alert about the same object): that one opens under the catch-all
/// rule, and only the signals its objects raise can tell what is wrong.
fn alert_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for entry in std::fs::read_dir(root().join("fixtures/incidents")).expect("fixtures") {
        let mut case = Case::load(&entry.expect("entry").path()).expect("case");
        // The simulated cluster has no Prometheus and its pods serve no metrics: replay is
        // compared on what the live gatherer can see (tests/prometheus_gather.rs proves metric
        // gathering on its own).
        case.metrics.clear();
        if let Some(hook) = &case.alert {
            let mut renamed = case.clone();
            let mut hook = hook.clone();
            for alert in &mut hook.alerts {
                alert
                    .labels
                    .insert("alertname".into(), "TeamServiceUnhappy".into());
            }
            renamed.alert = Some(hook);
            renamed.name = format!("{} (renamed alert)", case.name);
            cases.push(case);
            cases.push(renamed);
        }
    }
    cases.sort_by(|a, b| a.name.cmp(&b.name));
    cases
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_opened_incident_is_diagnosed_as_replay_diagnoses_the_same_case() {
    let cases = alert_cases();
    assert!(cases.len() >= 3, "the fixtures hold alert cases");
    let rules = RuleSet::load_from(None, None).expect("rules");
    let mut considered = 0;
    for case in &cases {
        let replayed = run(case, &rules, &Policy::default())
            .incident
            .unwrap_or_else(|| panic!("{}: replay opens an incident", case.name));
        let sim = sim_harness::for_case(case).await;
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::connect(&format!("sqlite://{}", dir.path().join("n.db").display()))
            .await
            .expect("store");
        let now = case.file.now;
        let engine = engine(&sim, &store, now);
        let mut progress = engine.subscribe();
        let (signals, receiver) = mpsc::channel(16);
        let shutdown = CancellationToken::new();
        let running = tokio::spawn(engine.clone().run(receiver, shutdown.clone()));
        let hook = case.alert.as_ref().expect("an alert case");
        let firing: Vec<Signal> = hook
            .alerts
            .iter()
            .filter(|a| a.status == "firing")
            .map(|a| a.signal(now))
            .collect();
        for signal in firing {
            signals.send(signal).await.expect("the engine runs");
        }
        let decided = tokio::time::timeout(DECIDED_WITHIN, async {
            loop {
                if let Ok(Progress::Decided { incident, .. }) = progress.recv().await {
                    return incident;
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("{}: no incident decided within a minute", case.name));
        shutdown.cancel();
        running.await.expect("the engine stops");
        let record = store
            .load(&decided)
            .await
            .expect("load")
            .expect("the incident is stored");
        let diagnosis = &record.diagnosis.as_ref().expect("diagnosed").diagnosis;
        assert_eq!(
            diagnosis.category, replayed.diagnosis.category,
            "{}: live {:?} vs replay {:?}",
            case.name, diagnosis.summary, replayed.diagnosis.summary
        );
        let plan = &record.plans.first().expect("planned").plan;
        assert_eq!(
            plan.is_mutating(),
            replayed.plan.is_mutating(),
            "{}",
            case.name
        );
        if record
            .audit
            .iter()
            .any(|row| row.kind == kinds::SIGNAL_CONSIDERED)
        {
            considered += 1;
        }
    }
    assert!(
        considered > 0,
        "no alert case needed its objects' signals: the test proves nothing"
    );
}
