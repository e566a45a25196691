//! The watchers' workload resolution against a fake apiserver (tower-test): exact requests,
//! and what a signal about a pod the caches do not know ends up naming.

use http::{Request, Response, StatusCode};
use jiff::Timestamp;
use kube::client::Body;
use serde_json::{Value, json};
use tower_test::mock::Handle;

use super::Watch;
use crate::domain::scope::NamespaceScope;
use crate::domain::signal::{ObjectRef, Signal, SignalSource};

fn watch() -> (Watch, Handle<Request<Body>, Response<Body>>) {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = kube::Client::new(service, "default");
    let (sink, _) = tokio::sync::mpsc::channel(1);
    let watch = Watch {
        client,
        scope: std::sync::Arc::new(NamespaceScope::default()),
        replica_sets: Default::default(),
        jobs: Default::default(),
        pods: Default::default(),
        answers: Default::default(),
        rechecks: Default::default(),
        claim_rechecks: Default::default(),
        short: Default::default(),
        stateful_sets: Default::default(),
        daemon_sets: Default::default(),
        set_grace: crate::k8s::detect::REPLICAS_SHORT_AFTER,
        sink,
    };
    (watch, handle)
}

fn back_off(pod: &str) -> Signal {
    Signal {
        source: SignalSource::Kubernetes,
        target: ObjectRef::namespaced("Pod", "shop", pod),
        workload: None,
        reason: "BackOff".into(),
        container: None,
        container_state: None,
        labels: Default::default(),
        alertname: None,
        message: None,
        observed_at: Timestamp::UNIX_EPOCH,
    }
}

/// Answers each expected GET in order: (path, status, body).
async fn serve(mut handle: Handle<Request<Body>, Response<Body>>, calls: Vec<(&str, u16, Value)>) {
    serve_some(&mut handle, calls).await;
}

fn owned_by(kind: &str, name: &str) -> Value {
    json!([{"apiVersion": "apps/v1", "kind": kind, "name": name, "uid": "u", "controller": true}])
}

fn not_found() -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404})
}

#[tokio::test]
async fn a_pod_not_yet_listed_is_named_by_its_owner_chain_read_from_the_apiserver() {
    let (watch, handle) = watch();
    let pod = "checkout-6b496ddd89-x2k4q";
    let server = tokio::spawn(serve(
        handle,
        vec![
            (
                "/api/v1/namespaces/shop/pods/checkout-6b496ddd89-x2k4q",
                200,
                json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": pod, "namespace": "shop",
                "ownerReferences": owned_by("ReplicaSet", "checkout-6b496ddd89")}}),
            ),
            (
                "/apis/apps/v1/namespaces/shop/replicasets/checkout-6b496ddd89",
                200,
                json!({
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": "checkout-6b496ddd89", "namespace": "shop",
                "labels": {"pod-template-hash": "6b496ddd89"},
                "ownerReferences": owned_by("Deployment", "checkout")},
            "spec": {"selector": {}}}),
            ),
        ],
    ));
    let mut signal = back_off(pod);
    watch.complete(&mut signal).await;
    server.await.expect("two reads");
    assert_eq!(
        signal.workload,
        Some(ObjectRef::namespaced("Deployment", "shop", "checkout"))
    );
}

#[tokio::test]
async fn a_deleted_pod_whose_name_matches_no_readable_object_is_left_about_the_pod() {
    let (watch, handle) = watch();
    let server = tokio::spawn(serve(
        handle,
        vec![
            (
                "/api/v1/namespaces/shop/pods/checkout-x2k4q",
                404,
                not_found(),
            ),
            (
                "/apis/apps/v1/namespaces/shop/replicasets/checkout",
                404,
                not_found(),
            ),
            (
                "/apis/batch/v1/namespaces/shop/jobs/checkout",
                404,
                not_found(),
            ),
        ],
    ));
    let mut signal = back_off("checkout-x2k4q");
    watch.complete(&mut signal).await;
    server.await.expect("three reads");
    assert_eq!(signal.workload, None, "never guessed from the name");
}

#[tokio::test]
async fn a_known_bare_pod_costs_no_request() {
    let (watch, mut handle) = watch();
    watch
        .pods
        .lock()
        .expect("pods")
        .insert(("shop".into(), "debug".into()), None);
    let silence = tokio::spawn(async move {
        let request = handle.next_request().await;
        assert!(
            request.is_none(),
            "a request was made: {:?}",
            request.map(|(r, _)| r.uri().clone())
        );
    });
    let mut signal = back_off("debug");
    watch.complete(&mut signal).await;
    assert_eq!(signal.workload, None);
    drop(watch);
    silence.await.expect("no request");
}

#[tokio::test]
async fn forged_events_about_one_missing_pod_cost_the_apiserver_one_lookup() {
    let (watch, mut handle) = watch();
    let pod = "ghost-x2k4q";
    let mut signal = back_off(pod);
    let calls = vec![
        ("/api/v1/namespaces/shop/pods/ghost-x2k4q", 404, not_found()),
        (
            "/apis/apps/v1/namespaces/shop/replicasets/ghost",
            404,
            not_found(),
        ),
        (
            "/apis/batch/v1/namespaces/shop/jobs/ghost",
            404,
            not_found(),
        ),
    ];
    futures::join!(watch.complete(&mut signal), serve_some(&mut handle, calls));
    let silence = tokio::spawn(async move {
        let request = handle.next_request().await;
        assert!(
            request.is_none(),
            "asked again: {:?}",
            request.map(|(r, _)| r.uri().clone())
        );
    });
    for _ in 0..100 {
        let mut again = back_off(pod);
        watch.complete(&mut again).await;
        assert_eq!(again.workload, None);
    }
    drop(watch);
    silence.await.expect("no further request");
}

/// Answers each expected GET in order, borrowing the handle.
async fn serve_some(
    handle: &mut Handle<Request<Body>, Response<Body>>,
    calls: Vec<(&str, u16, Value)>,
) {
    for (path, status, body) in calls {
        let (request, send) = handle.next_request().await.expect("the expected request");
        assert_eq!(request.method().as_str(), "GET");
        assert_eq!(request.uri().path(), path);
        let response = Response::builder()
            .status(StatusCode::from_u16(status).expect("status"))
            .body(Body::from(serde_json::to_vec(&body).expect("json")))
            .expect("response");
        send.send_response(response);
    }
}
