//! Contract tests for the Kubernetes Events nightshift records on the objects it acts on, against
//! a fake apiserver (tower-test): the exact method, path and body of each call (an
//! events.k8s.io/v1 Event in the object's namespace, reporting controller `nightshift`, naming
//! the incident), a repeat patched into its series, a refused Event counted and not fatal, no
//! call for `notify`, and the calls are exactly the recorder's declared API access
//! (`k8s::access::EVENTS`), which deploy/rbac.yaml grants only per namespace
//! (tests/rbac_role.rs).

use std::time::Duration;

use http::{Request, Response, StatusCode};
use kube::client::Body;
use nightshift::domain::catalog::Tool;
use nightshift::domain::plan::Action;
use nightshift::k8s::access::EVENTS;
use nightshift::telemetry::Metrics;
use nightshift::telemetry::events::{ActionEvent, EventRecorder};
use serde_json::{Value, json};
use tower_test::mock::Handle;

mod rbac;

type Apiserver = Handle<Request<Body>, Response<Body>>;

fn recorder() -> (EventRecorder, Metrics, Apiserver) {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let metrics = Metrics::default();
    let client = kube::Client::new(service, "default");
    (EventRecorder::new(client, metrics.clone()), metrics, handle)
}

fn rollback() -> Action {
    Action {
        tool: Tool::DeploymentRollback,
        params: json!({"namespace": "payments", "name": "payments-api"}),
    }
}

fn what(ok: bool) -> ActionEvent {
    ActionEvent {
        incident: "inc-0307ede6a0c3".into(),
        rule: "crash-loop".into(),
        plan: "3f2a9c1e0b7d".into(),
        authorized_by: "alice".into(),
        ok,
    }
}

/// The next call: its method, path and JSON body, answered with `status` and the body echoed.
async fn next(handle: &mut Apiserver, status: StatusCode) -> (String, String, Value) {
    let (request, send) = tokio::time::timeout(Duration::from_secs(5), handle.next_request())
        .await
        .expect("a call within 5 s")
        .expect("the recorder made a call");
    let (method, path) = (
        request.method().to_string(),
        request.uri().path().to_owned(),
    );
    let bytes = request.into_body().collect_bytes().await.expect("body");
    let body: Value = serde_json::from_slice(&bytes).expect("JSON body");
    let reply = if status.is_success() {
        body.clone()
    } else {
        json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
            "message": "events.events.k8s.io is forbidden", "reason": "Forbidden", "code": 403})
    };
    let response = Response::builder()
        .status(status)
        .body(Body::from(serde_json::to_vec(&reply).expect("reply")))
        .expect("response");
    send.send_response(response);
    (method, path, body)
}

fn counted(metrics: &Metrics, outcome: &str) -> bool {
    let text = metrics.encode().expect("encode");
    text.contains(&format!(
        "nightshift_kubernetes_events_total{{outcome=\"{outcome}\"}} 1"
    ))
}

#[tokio::test]
async fn a_rollback_is_recorded_as_an_event_on_its_deployment_and_a_repeat_is_patched() {
    let (recorder, metrics, mut handle) = recorder();
    let mut seen = Vec::new();
    let first = tokio::spawn({
        let recorder = recorder.clone();
        async move { recorder.acted(&rollback(), &what(true)).await }
    });
    let (method, path, body) = next(&mut handle, StatusCode::CREATED).await;
    first.await.expect("recorded");
    assert_eq!(method, "POST");
    assert_eq!(path, "/apis/events.k8s.io/v1/namespaces/payments/events");
    assert_eq!(body["regarding"]["kind"], "Deployment");
    assert_eq!(body["regarding"]["apiVersion"], "apps/v1");
    assert_eq!(body["regarding"]["name"], "payments-api");
    assert_eq!(body["reportingController"], "nightshift");
    assert_eq!(body["type"], "Normal");
    assert_eq!(body["reason"], "NightshiftActed");
    assert_eq!(body["action"], "DeploymentRollback");
    let note = body["note"].as_str().expect("note");
    assert!(
        note.contains("inc-0307ede6a0c3") && note.contains("rule crash-loop"),
        "{note}"
    );
    seen.push((method, path));
    assert!(counted(&metrics, "ok"));

    let again = tokio::spawn({
        let recorder = recorder.clone();
        async move { recorder.acted(&rollback(), &what(true)).await }
    });
    let (method, path, body) = next(&mut handle, StatusCode::OK).await;
    again.await.expect("recorded");
    assert_eq!(method, "PATCH");
    assert!(
        path.starts_with("/apis/events.k8s.io/v1/namespaces/payments/events/"),
        "{path}"
    );
    assert_eq!(body["series"]["count"], 2);
    seen.push((method, path));
    rbac::assert_declared("event recorder", &seen, EVENTS);
    rbac::assert_exercised("event recorder", &seen, EVENTS);
}

#[tokio::test]
async fn a_refused_event_is_counted_and_does_not_fail() {
    let (recorder, metrics, mut handle) = recorder();
    let call = tokio::spawn(async move { recorder.acted(&rollback(), &what(false)).await });
    let (_, _, body) = next(&mut handle, StatusCode::FORBIDDEN).await;
    assert_eq!(body["type"], "Warning");
    assert_eq!(body["reason"], "NightshiftActionFailed");
    call.await
        .expect("a refused Event returns, it does not panic");
    assert!(counted(&metrics, "failed"));
    assert!(!counted(&metrics, "ok"));
}

#[tokio::test]
async fn notify_touches_no_object_and_records_no_event() {
    let (recorder, metrics, mut handle) = recorder();
    let notify = Action {
        tool: Tool::Notify,
        params: json!({}),
    };
    recorder.acted(&notify, &what(true)).await;
    drop(recorder);
    assert!(
        handle.next_request().await.is_none(),
        "no call reached the apiserver"
    );
    assert!(!counted(&metrics, "ok") && !counted(&metrics, "failed"));
}
