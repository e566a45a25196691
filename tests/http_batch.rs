//! The webhook under concurrent deliveries, on both store backends (SQLite, and PostgreSQL from
//! `NIGHTSHIFT_TEST_POSTGRES_URL` as in tests/store.rs): concurrent requests share commits, yet
//! every 200 means each of its firing alerts is in the store, the same alert sent by many
//! requests at once — even at two replicas on one database — opens exactly one incident, SQLite never answers "database is locked", and
//! a store failure in the middle of a batch answers 503 and leaves nothing of it behind.

use std::collections::{BTreeSet, HashMap};
use std::io::Write;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use nightshift::domain::policy::Policy;
use nightshift::domain::scope::NamespaceScope;
use nightshift::engine::live::{LiveGatherer, LiveVerifier};
use nightshift::engine::{Engine, EngineSettings, Parts};
use nightshift::http::alertmanager::{PATH, Webhooks};
use nightshift::http::health::Health;
use nightshift::http::{Auth, Parts as HttpParts};
use nightshift::k8s::execute::Executor;
use nightshift::k8s::{collect, verify};
use nightshift::rules::RuleSet;
use nightshift::store::Store;
use nightshift::telemetry::Metrics;
use serde_json::{Value, json};
use sqlx::{AnyPool, Executor as _};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

const TOKEN: &str = "batch-token";

/// A store on a fresh database, and the URL to reach it raw.
struct TestDb {
    store: Store,
    url: String,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    /// A second store on the same database, as another replica of the daemon opens it.
    async fn reconnect(&self) -> Store {
        Store::connect(&self.url).await.expect("reconnect")
    }

    async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("nightshift.db").display());
        TestDb {
            store: Store::connect(&url).await.expect("connect to SQLite"),
            url,
            _dir: Some(dir),
        }
    }

    /// `None` only when the PostgreSQL half is explicitly skipped.
    async fn postgres(test: &str) -> Option<TestDb> {
        let Ok(base) = std::env::var("NIGHTSHIFT_TEST_POSTGRES_URL") else {
            if std::env::var("NIGHTSHIFT_SKIP_POSTGRES").as_deref() == Ok("1") {
                let _ = writeln!(
                    std::io::stderr(),
                    "!!!!!!!! SKIPPED the PostgreSQL half of `{test}`: NIGHTSHIFT_SKIP_POSTGRES=1 !!!!!!!!"
                );
                return None;
            }
            panic!(
                "NIGHTSHIFT_TEST_POSTGRES_URL is not set, so the PostgreSQL half cannot run. Start \
                 a throwaway server with `eval \"$(scripts/services.sh)\"`, or set \
                 NIGHTSHIFT_SKIP_POSTGRES=1 to skip it on purpose."
            );
        };
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let mut schema = format!(
            "b{}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            test
        );
        schema.truncate(63);
        let admin = sqlx::PgPool::connect(&base)
            .await
            .expect("connect to PostgreSQL");
        admin
            .execute(format!("CREATE SCHEMA \"{schema}\"").as_str())
            .await
            .expect("create schema");
        admin.close().await;
        let separator = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{separator}options=-c%20search_path%3D{schema}");
        Some(TestDb {
            store: Store::connect(&url).await.expect("connect to PostgreSQL"),
            url,
            _dir: None,
        })
    }

    /// Makes the database refuse to store an incident about a pod named `poison`, the way a
    /// failing disk or a dropped connection would refuse a write: in the middle of a batch.
    async fn poison(&self) {
        let raw = AnyPool::connect(&self.url).await.expect("raw pool");
        let statements: &[&str] = match self.store.backend() {
            nightshift::store::Backend::Sqlite => &[
                "CREATE TRIGGER poison BEFORE INSERT ON incidents WHEN NEW.target_name = 'poison' \
                 BEGIN SELECT RAISE(ABORT, 'the disk is poisoned'); END",
            ],
            nightshift::store::Backend::Postgres => &[
                "CREATE FUNCTION poison() RETURNS trigger AS $$ BEGIN \
                 IF NEW.target_name = 'poison' THEN RAISE EXCEPTION 'the disk is poisoned'; END IF; \
                 RETURN NEW; END $$ LANGUAGE plpgsql",
                "CREATE TRIGGER poison BEFORE INSERT ON incidents FOR EACH ROW \
                 EXECUTE FUNCTION poison()",
            ],
        };
        for statement in statements {
            raw.execute(*statement).await.expect("install the poison");
        }
        raw.close().await;
    }
}

/// Runs each named `async fn(&TestDb)` as `sqlite::<name>` and `postgres::<name>`.
macro_rules! suite {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let db = super::TestDb::sqlite().await;
                    super::$name(&db).await;
                    db.store.close().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let Some(db) = super::TestDb::postgres(stringify!($name)).await else {
                        return;
                    };
                    super::$name(&db).await;
                    db.store.close().await;
                }
            )*
        }
    };
}

suite!(
    concurrent_deliveries_share_commits_yet_every_200_is_persisted_and_an_alert_opens_one_incident,
    a_store_failure_in_the_middle_of_a_delivery_is_a_503_and_stores_none_of_it,
);

/// The webhook over `store` with the built-in rules; the engine loop is not run.
fn app(store: &Store) -> (Router, Metrics) {
    let rules = RuleSet::load_from(None, None).expect("built-in rules");
    let config = kube::Config::new("http://127.0.0.1:9".parse().expect("url"));
    let client = kube::Client::try_from(config).expect("a client that is never used");
    let metrics = Metrics::new(rules.rules.iter().map(|r| r.rule.name.as_str()));
    let engine = Engine::new(Parts {
        store: store.clone(),
        rules: Arc::new(Mutex::new(Arc::new(rules))),
        policy: Policy::default(),
        executor: Executor::new(client.clone()),
        gatherer: Arc::new(LiveGatherer(collect::Gatherer::new(client.clone()))),
        verifier: Arc::new(LiveVerifier(verify::Verifier::new(client))),
        settings: EngineSettings::default(),
        clock: nightshift::engine::system_clock(),
        metrics: metrics.clone(),
    });
    let app = nightshift::http::app(HttpParts {
        auth: Arc::new(Auth::bearer(TOKEN)),
        max_body_bytes: 1 << 20,
        health: Health {
            synced: Default::default(),
            draining: CancellationToken::new(),
        },
        webhooks: Webhooks {
            engine,
            watch: NamespaceScope::default(),
        },
        investigator: None,
    });
    (app, metrics)
}

fn delivery(pods: &[String]) -> Request<Body> {
    let alerts: Vec<Value> = pods
        .iter()
        .map(|pod| {
            json!({"status": "firing", "labels": {"alertname": "BatchAlert", "namespace": "batch",
                "pod": pod}, "annotations": {"summary": "it broke"},
                "startsAt": "2026-11-20T02:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
                "fingerprint": pod})
        })
        .collect();
    let hook = json!({"version": "4", "groupKey": "g", "truncatedAlerts": 0, "status": "firing",
        "receiver": "nightshift", "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
        "externalURL": "", "alerts": alerts});
    Request::post(PATH)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .body(Body::from(serde_json::to_vec(&hook).expect("json")))
        .expect("request")
}

async fn call(app: &Router, request: Request<Body>) -> (StatusCode, Value) {
    let response = app.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body");
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    (status, body)
}

/// The stored incidents by the pod they are about.
async fn incidents_by_pod(store: &Store) -> HashMap<String, usize> {
    let mut by_pod = HashMap::new();
    for incident in store.list_incidents(10_000).await.expect("list") {
        *by_pod.entry(incident.target.name).or_default() += 1;
    }
    by_pod
}

const CLIENTS: usize = 24;
const REQUESTS_PER_CLIENT: usize = 8;
const GROUP: usize = 5;
const PODS: usize = 30;

async fn concurrent_deliveries_share_commits_yet_every_200_is_persisted_and_an_alert_opens_one_incident(
    db: &TestDb,
) {
    let (app, metrics) = app(&db.store);
    // A second daemon on the same database (its own writer): the database's index decides
    // between them.
    let (replica, replica_metrics) = self::app(&db.reconnect().await);
    // Every client sends groups drawn from the same 30 pods: the same alert arrives in many
    // concurrent requests, most of them in the same batch, some at the other replica.
    let mut clients = tokio::task::JoinSet::new();
    for client in 0..CLIENTS {
        let app = if client % 3 == 0 {
            replica.clone()
        } else {
            app.clone()
        };
        clients.spawn(async move {
            let mut answers = Vec::new();
            for request in 0..REQUESTS_PER_CLIENT {
                let pods: Vec<String> = (0..GROUP)
                    .map(|a| format!("pod-{}", (client * 7 + request * 3 + a) % PODS))
                    .collect();
                let (status, body) = call(&app, delivery(&pods)).await;
                answers.push((pods, status, body));
            }
            answers
        });
    }
    let mut opened = Vec::new();
    let mut acknowledged = BTreeSet::new();
    while let Some(answers) = clients.join_next().await {
        for (pods, status, body) in answers.expect("a client panicked") {
            assert_eq!(status, StatusCode::OK, "{body}");
            assert_eq!(body["alerts"], GROUP, "{body}");
            let ids = body["opened"].as_array().expect("opened");
            assert_eq!(
                ids.len() + body["known"].as_u64().expect("known") as usize,
                GROUP,
                "every alert is opened or known: {body}"
            );
            opened.extend(ids.iter().map(|id| id.as_str().expect("id").to_owned()));
            acknowledged.extend(pods);
        }
    }
    // Every alert a 200 acknowledged is in the store, each pod under exactly one incident,
    // and each incident was reported opened to exactly one request.
    let stored = incidents_by_pod(&db.store).await;
    for pod in &acknowledged {
        assert_eq!(stored.get(pod), Some(&1), "{pod}: {stored:?}");
    }
    assert_eq!(stored.len(), acknowledged.len(), "{stored:?}");
    let distinct: BTreeSet<&String> = opened.iter().collect();
    assert_eq!(distinct.len(), opened.len(), "an incident reported twice");
    assert_eq!(opened.len(), acknowledged.len());
    for id in &opened {
        assert!(db.store.load(id).await.expect("load").is_some(), "{id}");
    }
    // One audit row per opened incident, the chain unbroken by batched appends.
    let audit = db.store.verify_audit().await.expect("verify");
    assert!(audit.is_intact(), "{audit:?}");
    assert_eq!(audit.rows as usize, opened.len());
    let accepted = |metrics: &Metrics| {
        let scrape = metrics.encode().expect("metrics encode");
        let line = scrape
            .lines()
            .find(|l| l.starts_with("nightshift_webhook_requests_total{outcome=\"accepted\"}"))
            .unwrap_or_else(|| panic!("no accepted series: {scrape}"))
            .to_owned();
        line.rsplit(' ')
            .next()
            .expect("value")
            .parse::<usize>()
            .expect("a count")
    };
    assert_eq!(
        accepted(&metrics) + accepted(&replica_metrics),
        CLIENTS * REQUESTS_PER_CLIENT
    );
}

async fn a_store_failure_in_the_middle_of_a_delivery_is_a_503_and_stores_none_of_it(db: &TestDb) {
    let (app, metrics) = app(&db.store);
    db.poison().await;
    // The first alert is written, the second fails: the whole batch rolls back.
    let pods = ["healthy-1".to_owned(), "poison".to_owned()];
    let (status, body) = call(&app, delivery(&pods)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    let error = body["error"].as_str().expect("error");
    assert!(error.contains("retry"), "{error}");
    assert!(error.contains("poisoned"), "{error}");
    assert!(incidents_by_pod(&db.store).await.is_empty());
    let audit = db.store.verify_audit().await.expect("verify");
    assert!(audit.is_intact(), "{audit:?}");
    assert_eq!(audit.rows, 0, "nothing of the failed batch is audited");
    // A failed batch is not remembered as seen: the re-send without the poison is judged and
    // stored.
    let (status, body) = call(&app, delivery(&pods[..1])).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["opened"].as_array().expect("opened").len(),
        1,
        "{body}"
    );
    assert_eq!(incidents_by_pod(&db.store).await.get("healthy-1"), Some(&1));
    let scrape = metrics.encode().expect("metrics encode");
    assert!(
        scrape.contains("nightshift_webhook_requests_total{outcome=\"failed\"} 1"),
        "{scrape}"
    );
}
