//! The front door's contract, driven with `oneshot` against the real router over a real store:
//! authentication (bearer, basic, a trusted proxy's header, explicitly off, nothing configured),
//! the probes without credentials, the webhook's 400/413/503 answers, and its promise that a
//! 2xx means the alert is in the store — opened, deduplicated, or resolved in the timeline.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode, header};
use base64::Engine as _;
use nightshift::domain::incident::IncidentState;
use nightshift::domain::scope::NamespaceScope;
use nightshift::engine::Engine;
use nightshift::http::alertmanager::{PATH, Webhooks};
use nightshift::http::health::Health;
use nightshift::http::{Auth, AuthMode, HttpSettings, Parts};
use nightshift::store::kinds;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

mod engine_support;
mod sim_harness;

use engine_support::{World, waiting_without_a_loop, world};

const TOKEN: &str = "s3cret-token";

fn app(engine: &Engine, auth: Auth, max_body_bytes: usize) -> Router {
    nightshift::http::app(Parts {
        auth: Arc::new(auth),
        max_body_bytes,
        health: Health {
            synced: Default::default(),
            draining: CancellationToken::new(),
        },
        webhooks: Webhooks {
            engine: engine.clone(),
            watch: serde_yaml_ng::from_str::<NamespaceScope>("exclude: [kube-system]")
                .expect("scope"),
        },
        investigator: None,
    })
}

fn alert(status: &str, labels: Value) -> Value {
    json!({"status": status, "labels": labels, "annotations": {"summary": "it broke"},
        "startsAt": "2026-11-20T02:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prom/graph", "fingerprint": "f1"})
}

fn payload(alerts: Vec<Value>) -> Vec<u8> {
    let hook = json!({"version": "4", "groupKey": "g", "truncatedAlerts": 0, "status": "firing",
        "receiver": "nightshift", "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
        "externalURL": "http://am:9093", "alerts": alerts, "someNewerField": [1, 2]});
    serde_json::to_vec(&hook).expect("json")
}

fn latency_alert() -> Value {
    alert(
        "firing",
        json!({"alertname": "CheckoutLatencyHigh", "namespace": "payments", "service": "checkout"}),
    )
}

fn post(body: Vec<u8>, auth: Option<&str>) -> Request<Body> {
    let mut request = Request::post(PATH).header(header::CONTENT_TYPE, "application/json");
    if let Some(auth) = auth {
        request = request.header(header::AUTHORIZATION, auth);
    }
    request.body(Body::from(body)).expect("request")
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

async fn incidents(w: &World) -> usize {
    w.store.list_incidents(1000).await.expect("list").len()
}

#[tokio::test]
async fn a_webhook_without_credentials_is_401_and_stores_nothing() {
    let w = world().await;
    let app = app(&w.engine(), Auth::bearer(TOKEN), 1 << 20);
    let (status, body) = call(&app, post(payload(vec![latency_alert()]), None)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(
        body["error"]
            .as_str()
            .expect("error")
            .contains("authentication")
    );
    let (status, _) = call(
        &app,
        post(payload(vec![latency_alert()]), Some("Bearer wrong")),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(incidents(&w).await, 0);
}

#[tokio::test]
async fn a_daemon_with_no_credential_configured_answers_401_but_probes_answer() {
    let w = world().await;
    let auth = Auth::load(&HttpSettings::default(), |_| None).expect("loads");
    assert!(!auth.has_credentials());
    assert!(auth.describe().contains("401"), "{}", auth.describe());
    let app = app(&w.engine(), auth, 1 << 20);
    let (status, _) = call(&app, post(payload(vec![latency_alert()]), Some("Bearer "))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let health = Request::get("/healthz")
        .body(Body::empty())
        .expect("request");
    assert_eq!(call(&app, health).await.0, StatusCode::OK);
    let ready = Request::get("/readyz")
        .body(Body::empty())
        .expect("request");
    // Not ready (no watcher listed), but answered without credentials: not 401.
    assert_eq!(call(&app, ready).await.0, StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn an_accepted_alert_is_in_the_store_when_the_200_arrives_and_a_resend_is_deduplicated() {
    let w = world().await;
    let app = app(&w.engine(), Auth::bearer(TOKEN), 1 << 20);
    let bearer = format!("Bearer {TOKEN}");
    let (status, body) = call(&app, post(payload(vec![latency_alert()]), Some(&bearer))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let opened = body["opened"][0]
        .as_str()
        .expect("an incident opened")
        .to_owned();
    let record = w
        .store
        .load(&opened)
        .await
        .expect("load")
        .expect("persisted");
    assert_eq!(record.incident.state, IncidentState::Open);
    assert_eq!(
        record.incident.signal.alertname.as_deref(),
        Some("CheckoutLatencyHigh")
    );
    assert_eq!(record.incident.rule, "alert-catch-all");
    let (status, body) = call(&app, post(payload(vec![latency_alert()]), Some(&bearer))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["known"], 1, "{body}");
    assert_eq!(incidents(&w).await, 1);
}

#[tokio::test]
async fn basic_auth_and_a_trusted_proxy_header_let_a_caller_in_and_an_untrusted_one_does_not() {
    let w = world().await;
    let settings: HttpSettings =
        serde_yaml_ng::from_str("{user_header: X-Forwarded-User, trusted_proxies: ['10.0.0.7']}")
            .expect("settings");
    let env = |k: &str| (k == "NIGHTSHIFT_API_BASIC").then(|| "am:hunter2".to_owned());
    let app = app(
        &w.engine(),
        Auth::load(&settings, env).expect("auth"),
        1 << 20,
    );
    let basic = |pair: &str| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        )
    };
    let good = post(payload(vec![]), Some(&basic("am:hunter2")));
    assert_eq!(call(&app, good).await.0, StatusCode::OK);
    let bad = post(payload(vec![]), Some(&basic("am:hunter3")));
    assert_eq!(call(&app, bad).await.0, StatusCode::UNAUTHORIZED);
    let from = |ip: &str| {
        let mut request = post(payload(vec![]), None);
        request
            .headers_mut()
            .insert("x-forwarded-user", "alice".parse().expect("value"));
        let ip: IpAddr = ip.parse().expect("ip");
        request
            .extensions_mut()
            .insert(ConnectInfo(SocketAddr::new(ip, 4711)));
        request
    };
    assert_eq!(call(&app, from("10.0.0.7")).await.0, StatusCode::OK);
    assert_eq!(
        call(&app, from("10.0.0.8")).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn auth_none_must_be_said_explicitly_and_then_lets_anyone_in() {
    let w = world().await;
    let settings = HttpSettings {
        auth: AuthMode::None,
        ..HttpSettings::default()
    };
    let auth = Auth::load(&settings, |_| None).expect("auth");
    assert!(auth.describe().contains("OFF"), "{}", auth.describe());
    let app = app(&w.engine(), auth, 1 << 20);
    assert_eq!(
        call(&app, post(payload(vec![]), None)).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn bad_bodies_are_400_naming_the_field_and_oversized_ones_413() {
    let w = world().await;
    let app = app(&w.engine(), Auth::bearer(TOKEN), 4096);
    let bearer = format!("Bearer {TOKEN}");
    let mut wrong = serde_json::from_slice::<Value>(&payload(vec![latency_alert()])).expect("json");
    wrong["alerts"][0]["startsAt"] = json!(42);
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (
            serde_json::to_vec(&wrong).expect("json"),
            "alerts[0].startsAt",
        ),
        // Cut short: the field where the body stops.
        (
            payload(vec![latency_alert()])[..40].to_vec(),
            "alerts[0].annotations.summary",
        ),
        (
            b"{\"version\":\"4\",\"alerts\":[],\"receiver\":\"\xff\xfe\"}".to_vec(),
            "receiver",
        ),
        (
            payload(vec![alert("firing", json!({"namespace": "x"}))]),
            "alerts[0].labels.alertname",
        ),
        (
            payload(vec![]).iter().copied().chain(*b"garbage").collect(),
            "(body)",
        ),
    ];
    for (body, field) in cases {
        let (status, answer) = call(&app, post(body, Some(&bearer))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
        assert_eq!(answer["field"], field, "{answer}");
    }
    let huge = payload(vec![latency_alert(); 40]);
    let (status, answer) = call(&app, post(huge, Some(&bearer))).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .expect("error")
            .contains("max_alerts")
    );
    assert_eq!(incidents(&w).await, 0);
}

#[tokio::test]
async fn an_alert_about_an_unwatched_namespace_is_answered_as_ignored_with_the_reason() {
    let w = world().await;
    let app = app(&w.engine(), Auth::bearer(TOKEN), 1 << 20);
    let system = alert(
        "firing",
        json!({"alertname": "KubePodCrashLooping", "namespace": "kube-system", "pod": "coredns-1"}),
    );
    let (status, body) = call(
        &app,
        post(payload(vec![system]), Some(&format!("Bearer {TOKEN}"))),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let reason = body["ignored"][0]["reason"].as_str().expect("reason");
    assert!(reason.contains("kube-system"), "{reason}");
    assert_eq!(incidents(&w).await, 0);
}

#[tokio::test]
async fn a_store_that_is_down_is_a_503_so_alertmanager_retries() {
    let w = world().await;
    let app = app(&w.engine(), Auth::bearer(TOKEN), 1 << 20);
    w.store.close().await;
    let (status, body) = call(
        &app,
        post(
            payload(vec![latency_alert()]),
            Some(&format!("Bearer {TOKEN}")),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(
        body["error"].as_str().expect("error").contains("retry"),
        "{body}"
    );
}

#[tokio::test]
async fn a_resolved_alert_is_recorded_and_closes_an_incident_only_awaiting_approval() {
    let w = world().await;
    let (id, _) = waiting_without_a_loop(&w).await;
    let app = app(&w.engine(), Auth::bearer(TOKEN), 1 << 20);
    let target = w
        .store
        .load(&id)
        .await
        .expect("load")
        .expect("record")
        .incident;
    let workload = target
        .signal
        .workload
        .clone()
        .expect("the fixture names its workload");
    let labels = json!({"alertname": "KubeDeploymentReplicasMismatch",
        "namespace": workload.namespace, "deployment": workload.name});
    let (status, body) = call(
        &app,
        post(
            payload(vec![alert("resolved", labels)]),
            Some(&format!("Bearer {TOKEN}")),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["closed"][0], id.as_str(), "{body}");
    let record = w.store.load(&id).await.expect("load").expect("record");
    assert_eq!(record.incident.state, IncidentState::Resolved);
    let resolved = record
        .audit
        .iter()
        .find(|a| a.kind == kinds::ALERT_RESOLVED)
        .expect("audited");
    assert_eq!(resolved.actor, "alertmanager");
}
