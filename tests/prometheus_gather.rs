//! Metric gathering for an incident's pods, against local HTTP servers: with `prometheus.url` the
//! playbook's queries are rendered for each pod (deduplicated) and sent to the Prometheus API; a
//! query that fails is a recorded problem while the others still become evidence. Without it, the
//! annotated pods are scraped at their pod IP; a pod whose endpoint does not answer is a recorded
//! problem.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::{Form, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use jiff::Timestamp;
use nightshift::domain::playbook::{EvidenceSpec, MetricQuery};
use nightshift::domain::signal::ObjectRef;
use nightshift::k8s::collect::metrics::gather;
use nightshift::k8s::collect::prometheus::{MetricsClient, MetricsError, PrometheusSettings};
use nightshift::k8s::gather::LogSet;
use nightshift::k8s::objects::ObjectSet;
use serde_json::json;

type Seen = Arc<Mutex<Vec<(String, String)>>>;

async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// A Prometheus API that records each query and answers a one-series vector, or 503 for a
/// query that mentions `broken`.
async fn fake_prometheus(seen: Seen) -> SocketAddr {
    async fn answer(
        path: &'static str,
        State(seen): State<Seen>,
        Form(form): Form<Vec<(String, String)>>,
    ) -> axum::response::Response {
        let query = form
            .iter()
            .find(|(k, _)| k == "query")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        seen.lock()
            .expect("lock")
            .push((path.to_owned(), query.clone()));
        if query.contains("broken") {
            return (StatusCode::SERVICE_UNAVAILABLE, "query queue full").into_response();
        }
        Json(
            json!({"status": "success", "data": {"resultType": "vector", "result": [
                {"metric": {"namespace": "shop", "pod": "api-7d9f-a", "container": "api"},
                 "value": [1764676800, "1"]}
            ]}}),
        )
        .into_response()
    }
    let app = Router::new()
        .route(
            "/api/v1/query",
            post(|s: State<Seen>, f: Form<Vec<(String, String)>>| answer("query", s, f)),
        )
        .route(
            "/api/v1/query_range",
            post(|s: State<Seen>, f: Form<Vec<(String, String)>>| answer("range", s, f)),
        )
        .with_state(seen);
    serve(app).await
}

fn pod(name: &str, annotations: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  namespace: shop\n  creationTimestamp: '2026-12-02T09:00:00Z'\n  labels: {{app: api, pod-template-hash: 7d9f}}\n  annotations: {{{annotations}}}\n  ownerReferences: [{{apiVersion: apps/v1, kind: ReplicaSet, name: api-7d9f, uid: rs-1, controller: true}}]\n\
         spec:\n  nodeName: worker-1\n  containers:\n  - name: api\n    image: shop/api:v2\n\
         status:\n  phase: Running\n  podIP: 127.0.0.1\n  containerStatuses:\n  - name: api\n    image: shop/api:v2\n    imageID: ''\n    ready: true\n    restartCount: 0\n    state: {{running: {{startedAt: '2026-12-02T09:00:05Z'}}}}\n"
    )
}

const OWNERS: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: api, namespace: shop, uid: d-1}\n\
    spec: {replicas: 3, selector: {matchLabels: {app: api}}, template: {metadata: {labels: {app: api}}, spec: {containers: [{name: api, image: shop/api:v2}]}}}\n\
    status: {replicas: 3}\n---\n\
    apiVersion: apps/v1\nkind: ReplicaSet\nmetadata: {name: api-7d9f, namespace: shop, uid: rs-1, labels: {app: api, pod-template-hash: 7d9f}, annotations: {deployment.kubernetes.io/revision: '1'}, ownerReferences: [{apiVersion: apps/v1, kind: Deployment, name: api, uid: d-1, controller: true}]}\n\
    spec: {replicas: 3, selector: {matchLabels: {app: api}}, template: {metadata: {labels: {app: api}}, spec: {containers: [{name: api, image: shop/api:v2}]}}}\n\
    status: {replicas: 3}\n";

fn objects(pods: &[String]) -> ObjectSet {
    let all = std::iter::once(OWNERS.to_owned()).chain(pods.iter().cloned());
    ObjectSet::parse(&all.collect::<Vec<_>>().join("---\n"), "test").expect("objects")
}

fn query(name: &str, promql: &str, range: bool) -> MetricQuery {
    MetricQuery {
        name: name.into(),
        query: promql.into(),
        range,
    }
}

fn client(settings: PrometheusSettings) -> MetricsClient {
    settings.validate().expect("valid");
    MetricsClient::new(settings).expect("client")
}

#[tokio::test]
async fn playbook_queries_run_per_pod_and_a_failing_query_is_recorded_not_fatal() {
    let seen: Seen = Arc::default();
    let prometheus = fake_prometheus(seen.clone()).await;
    let set = objects(&[pod("api-7d9f-a", ""), pod("api-7d9f-b", "")]);
    let deployment = ObjectRef::namespaced("Deployment", "shop", "api");
    let spec = EvidenceSpec {
        metrics: vec![
            query(
                "container_memory_working_set_bytes",
                r#"container_memory_working_set_bytes{namespace="{{ namespace }}", pod="{{ pod }}"}"#,
                false,
            ),
            query(
                "http_5xx_ratio",
                r#"sum(rate(http_requests_total{namespace="{{ namespace }}", pod=~"{{ workload }}-.*"}[5m]))"#,
                true,
            ),
            query("broken", "broken_metric", false),
        ],
        ..EvidenceSpec::default()
    };
    let evidence = nightshift::k8s::gather::gather(
        &set,
        &deployment,
        Some(&deployment),
        &spec,
        &LogSet::new(),
    );
    assert_eq!(evidence.pods().count(), 2);
    let metrics = client(PrometheusSettings {
        url: Some(format!("http://{prometheus}")),
        ..PrometheusSettings::default()
    });
    let gathered = gather(
        &metrics,
        &set,
        &evidence,
        Some(&deployment),
        &spec,
        Timestamp::now(),
    )
    .await;

    let ids: Vec<&str> = gathered.items.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "metric/container_memory_working_set_bytes",
            "metric/http_5xx_ratio"
        ]
    );
    // One query per pod, merged into one result.
    assert_eq!(gathered.items[0].1.series.len(), 2);
    let seen = seen.lock().expect("lock").clone();
    let memory: Vec<&str> = seen
        .iter()
        .filter(|(_, q)| q.starts_with("container_memory"))
        .map(|(_, q)| q.as_str())
        .collect();
    assert_eq!(
        memory,
        [
            r#"container_memory_working_set_bytes{namespace="shop", pod="api-7d9f-a"}"#,
            r#"container_memory_working_set_bytes{namespace="shop", pod="api-7d9f-b"}"#,
        ]
    );
    // The workload-level query renders the same for both pods: run once, as a range query.
    let ratio: Vec<&(String, String)> = seen.iter().filter(|(_, q)| q.contains("5m")).collect();
    assert_eq!(ratio.len(), 1);
    assert_eq!(ratio[0].0, "range");
    assert!(ratio[0].1.contains(r#"pod=~"api-.*""#), "{}", ratio[0].1);

    // The failing query names no pod: sent once, failed once, recorded with Prometheus' words.
    assert_eq!(gathered.errors.len(), 1, "{:?}", gathered.errors);
    assert!(gathered.errors.iter().all(|e| matches!(
        e,
        MetricsError::Status { status: 503, body, .. } if body.contains("queue full")
    )));
}

const SCRAPE: &str = "# TYPE hikaricp_connections_pending gauge\nhikaricp_connections_pending{pool=\"HikariPool-1\"} 46\n";

#[tokio::test]
async fn without_prometheus_annotated_pods_are_scraped_at_their_pod_ip() {
    let app = Router::new().route("/actuator/prometheus", get(|| async { SCRAPE }));
    let endpoint = serve(app).await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let set = objects(&[
        pod(
            "api-7d9f-a",
            &format!(
                "prometheus.io/scrape: 'true', prometheus.io/port: '{}', prometheus.io/path: /actuator/prometheus",
                endpoint.port()
            ),
        ),
        pod(
            "api-7d9f-b",
            &format!("prometheus.io/scrape: 'true', prometheus.io/port: '{closed}'"),
        ),
        pod("api-7d9f-c", ""),
    ]);
    let deployment = ObjectRef::namespaced("Deployment", "shop", "api");
    let spec = EvidenceSpec::default();
    let evidence = nightshift::k8s::gather::gather(
        &set,
        &deployment,
        Some(&deployment),
        &spec,
        &LogSet::new(),
    );
    let scraper = client(PrometheusSettings::default());
    let gathered = gather(
        &scraper,
        &set,
        &evidence,
        Some(&deployment),
        &spec,
        Timestamp::now(),
    )
    .await;
    let ids: Vec<&str> = gathered.items.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids, ["metric/api-7d9f-a/hikaricp_connections_pending"]);
    let series = &gathered.items[0].1.series[0];
    assert_eq!(series.labels["pod"], "api-7d9f-a");
    assert_eq!(series.labels["namespace"], "shop");
    assert_eq!(gathered.errors.len(), 1, "{:?}", gathered.errors);
    let problem = gathered.errors[0].to_string();
    assert!(
        problem.contains(&format!("127.0.0.1:{closed}/metrics")),
        "{problem}"
    );

    let off = client(PrometheusSettings {
        scrape_pods: false,
        ..PrometheusSettings::default()
    });
    let nothing = gather(&off, &set, &evidence, None, &spec, Timestamp::now()).await;
    assert!(nothing.items.is_empty() && nothing.errors.is_empty());
}
