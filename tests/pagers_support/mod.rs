//! The pagers' test world: a real store (SQLite in a temp dir), incidents recorded from a
//! fixture, and local HTTP receivers (real axum servers on 127.0.0.1:0) that record every
//! request and answer with statuses each test scripts.
#![allow(dead_code)]

use std::collections::{BTreeMap, VecDeque};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use jiff::Timestamp;
use nightshift::domain::incident::{Incident, IncidentState, Severity};
use nightshift::domain::policy::Policy;
use nightshift::engine::Clock;
use nightshift::pagers::{Dispatcher, IncidentLinksOnly, Pager, PagingSettings};
use nightshift::replay::{Case, Replayed, run};
use nightshift::rules::RuleSet;
use nightshift::store::{PageRecord, PageStatus, Store};
use nightshift::telemetry::Metrics;
use serde_json::Value;
use tokio::sync::Notify;

pub const CASE: &str = "fixtures/incidents/payments-api-missing-deploy-env-after-v2-3-1";

/// One request a receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

#[derive(Default)]
struct Inner {
    script: VecDeque<u16>,
    fallback: u16,
    got: Vec<Received>,
}

/// A local HTTP receiver.
#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    inner: Arc<Mutex<Inner>>,
    arrived: Arc<Notify>,
}

impl Receiver {
    /// Answers `script` in order, then `fallback` forever.
    pub async fn start(script: &[u16], fallback: u16) -> Receiver {
        let inner = Arc::new(Mutex::new(Inner {
            script: script.iter().copied().collect(),
            fallback,
            got: Vec::new(),
        }));
        let arrived = Arc::new(Notify::new());
        let state = (inner.clone(), arrived.clone());
        let app = Router::new()
            .route("/{*path}", post(receive))
            .with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
        Receiver {
            url: format!("http://{addr}/v2/enqueue"),
            inner,
            arrived,
        }
    }

    /// Every request so far.
    pub fn got(&self) -> Vec<Received> {
        self.inner.lock().expect("receiver").got.clone()
    }

    /// Waits (at most 20 s) until `n` requests arrived; all of them.
    pub async fn wait_for(&self, n: usize) -> Vec<Received> {
        let waiting = async {
            loop {
                let notified = self.arrived.notified();
                if self.got().len() >= n {
                    return self.got();
                }
                notified.await;
            }
        };
        match tokio::time::timeout(Duration::from_secs(20), waiting).await {
            Ok(got) => got,
            Err(_) => panic!("{} requests arrived within 20 s, not {n}", self.got().len()),
        }
    }
}

type Shared = (Arc<Mutex<Inner>>, Arc<Notify>);

async fn receive(
    State((inner, arrived)): State<Shared>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let status = {
        let mut inner = inner.lock().expect("receiver");
        inner.got.push(Received { headers, body });
        inner.script.pop_front().unwrap_or(inner.fallback)
    };
    arrived.notify_waiters();
    StatusCode::from_u16(status).expect("status")
}

pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The fixture's decided incident.
pub fn replayed() -> Replayed {
    let rules = RuleSet::load(&root().join("rules"), &root().join("playbooks")).expect("rules");
    let case = Case::load(&root().join(CASE)).expect("case");
    run(&case, &rules, &Policy::default())
        .incident
        .expect("the fixture opens an incident")
}

/// A store in a temporary directory.
pub async fn store() -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("nightshift.db").display());
    (Store::connect(&url).await.expect("store"), dir)
}

/// Records incident `n` of the fixture (its own id and fingerprint) in `namespace` with
/// `severity` and `labels`, diagnosed and planned, awaiting approval.
pub async fn awaiting(
    store: &Store,
    n: usize,
    severity: Severity,
    namespace: &str,
    labels: &[(&str, &str)],
) -> String {
    let r = replayed();
    let mut signal = r.signal.clone();
    signal.target.namespace = Some(namespace.to_owned());
    signal.labels = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect::<BTreeMap<_, _>>();
    let fingerprint = format!("{}/{n}", r.fingerprint);
    let incident = Incident {
        id: Incident::id_for(&fingerprint, r.now),
        rule: r.rule.clone(),
        severity,
        fingerprint,
        target: signal.target.clone(),
        playbook: r.playbook.clone(),
        state: IncidentState::Open,
        opened_at: r.now,
        signal,
    };
    store.insert_incident(&incident).await.expect("insert");
    store
        .record_diagnosis(&incident.id, &r.diagnosis, r.now)
        .await
        .expect("diagnosis");
    store
        .record_plan(&incident.id, &r.plan, r.now)
        .await
        .expect("plan");
    for to in [IncidentState::Diagnosed, IncidentState::AwaitingApproval] {
        store
            .transition(&incident.id, to, "nightshift", r.now)
            .await
            .expect("transition");
    }
    incident.id
}

/// A clock a test moves.
pub fn clock() -> (Clock, Arc<Mutex<Timestamp>>) {
    let now = Arc::new(Mutex::new(Timestamp::now()));
    let read = now.clone();
    (Arc::new(move || *read.lock().expect("clock")), now)
}

/// Paging settings fit for tests: quick retries, grouping off.
pub fn settings() -> PagingSettings {
    let mut s = PagingSettings {
        attempts: 3,
        max_backoff_seconds: 1,
        ..PagingSettings::default()
    };
    s.group.threshold = 0;
    s
}

pub fn dispatcher(
    store: &Store,
    pagers: Vec<Arc<dyn Pager>>,
    settings: PagingSettings,
    metrics: &Metrics,
    clock: Clock,
) -> Arc<Dispatcher> {
    let links = IncidentLinksOnly::new(Some("https://ns.example.org"));
    let list = links.at("/incidents?state=awaiting-approval");
    Dispatcher::new(
        store.clone(),
        pagers,
        settings,
        Arc::new(links),
        list,
        metrics.clone(),
        clock,
    )
}

/// Waits (at most 20 s) until the incident's delivery `n` (in queue order) has `status`.
pub async fn wait_page(store: &Store, incident: &str, n: usize, status: PageStatus) -> PageRecord {
    wait_page_until(store, incident, n, |p| p.status == status).await
}

/// Waits (at most 20 s) until the incident's delivery `n` (in queue order) satisfies `done`.
pub async fn wait_page_until(
    store: &Store,
    incident: &str,
    n: usize,
    done: impl Fn(&PageRecord) -> bool,
) -> PageRecord {
    for _ in 0..2000 {
        let pages = store.pages_of(incident).await.expect("pages");
        if let Some(p) = pages.get(n).filter(|p| done(p)) {
            return p.clone();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let pages = store.pages_of(incident).await.expect("pages");
    panic!("page {n} of {incident} is not as expected after 20 s: {pages:#?}");
}

/// A series' value in the `/metrics` text.
pub fn series(metrics: &Metrics, name: &str, labels: &[(&str, &str)]) -> f64 {
    let text = metrics.encode().expect("encode");
    let lines = text.lines().map(|l| Ok(l.to_owned()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("parse");
    scrape
        .samples
        .iter()
        .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            _ => f64::NAN,
        })
        .unwrap_or_else(|| panic!("no series {name}{labels:?} in:\n{text}"))
}
