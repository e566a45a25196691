//! The engine as the corpus drives it: a real engine over a SQLite store, evidence fixed in
//! advance, a verifier that always passes, an executor whose cluster is unreachable; and a
//! tracing writer that keeps everything logged.

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use jiff::Timestamp;
use nightshift::domain::evidence::Evidence;
use nightshift::domain::incident::Incident;
use nightshift::domain::plan::{CheckKind, Plan};
use nightshift::domain::playbook::EvidenceSpec;
use nightshift::domain::policy::Policy;
use nightshift::domain::signal::Signal;
use nightshift::domain::verdict::{CheckResult, Verdict};
use nightshift::engine::{Engine, EngineSettings, Gathered, Gatherer, Parts, Verifier};
use nightshift::k8s::execute::Executor;
use nightshift::rules::RuleSet;
use nightshift::store::Store;
use tokio::task::JoinSet;

/// A tracing writer into a shared buffer.
#[derive(Clone)]
pub struct Capture(pub Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("capture").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Capture {
    type Writer = Capture;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

struct Fixed(Evidence);

impl Gatherer for Fixed {
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

struct Healthy;

impl Verifier for Healthy {
    fn verify<'a>(
        &'a self,
        _: &'a Incident,
        _: &'a Plan,
        _: &'a Evidence,
    ) -> BoxFuture<'a, Verdict> {
        Box::pin(async move {
            let result = CheckResult {
                check: CheckKind::RolloutComplete,
                passed: true,
                observed: "test verdict".into(),
            };
            Verdict::decide(vec![result], Timestamp::now())
        })
    }
}

/// Opens the incident of `signal` in a real engine over a SQLite store at `db`, with
/// `evidence` as what it gathers, and waits until the engine is done with it (it awaits an
/// approval, or was escalated). The executor's cluster is unreachable: nothing executes.
pub async fn run_engine(
    db: &Path,
    rules: &Arc<RuleSet>,
    policy: Policy,
    evidence: Evidence,
    signal: Signal,
    now: Timestamp,
) {
    let store = Store::connect(&format!("sqlite://{}", db.display()))
        .await
        .expect("store");
    let config = kube::Config::new("http://127.0.0.1:9".parse().expect("uri"));
    let client = kube::Client::try_from(config).expect("client");
    let engine = Engine::new(Parts {
        store: store.clone(),
        rules: Arc::new(Mutex::new(rules.clone())),
        policy,
        executor: Executor::new(client),
        gatherer: Arc::new(Fixed(evidence)),
        verifier: Arc::new(Healthy),
        settings: EngineSettings {
            poll_millis: 20,
            ..EngineSettings::default()
        },
        clock: Arc::new(move || now),
        metrics: nightshift::telemetry::Metrics::default(),
    });
    let mut tasks = JoinSet::new();
    engine.intake(signal, now, &mut tasks).await;
    while tasks.join_next().await.is_some() {}
    let listed = store.list_incidents(5).await.expect("list");
    assert!(!listed.is_empty(), "the engine opened an incident");
    store.close().await;
}
