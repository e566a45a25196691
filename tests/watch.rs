//! The watchers against the simulated cluster over HTTP: a crash-looping pod raises a signal
//! naming its Deployment (through the cached ReplicaSet); namespaces outside the scope raise
//! nothing; Warning events older than the freshness window are history, not signals; a pod that
//! waits on the clock is looked at again when its time comes.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig};
use nightshift::domain::pattern::Glob;
use nightshift::domain::scope::NamespaceScope;
use nightshift::domain::signal::Signal;
use nightshift::k8s::access::WATCHERS;
use nightshift::k8s::watch;
use nightshift::sim::{SimCluster, serve, write_kubeconfig};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

mod rbac;

const CASE: &str = "fixtures/incidents/payments-api-missing-deploy-env-after-v2-3-1";

struct Running {
    signals: mpsc::Receiver<Signal>,
    /// Every request the watchers sent: (method, path and query).
    seen: Arc<Mutex<Vec<(String, String)>>>,
    shutdown: CancellationToken,
    _dir: tempfile::TempDir,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn watching(cluster: SimCluster, scope: NamespaceScope) -> Running {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("kubeconfig");
    write_kubeconfig(&path, &url).expect("kubeconfig");
    let shutdown = CancellationToken::new();
    tokio::spawn(serve(cluster, listener, shutdown.clone()));
    let file = Kubeconfig::read_from(&path).expect("kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(file, &KubeConfigOptions::default())
        .await
        .expect("config");
    let seen: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let record = seen.clone();
    let layer = tower::util::MapRequestLayer::new(move |req: http::Request<kube::client::Body>| {
        let target = req
            .uri()
            .path_and_query()
            .map(ToString::to_string)
            .unwrap_or_default();
        record
            .lock()
            .expect("seen")
            .push((req.method().to_string(), target));
        req
    });
    let client = kube::client::ClientBuilder::try_from(config)
        .expect("client")
        .with_layer(&layer)
        .build();
    let (tx, signals) = mpsc::channel(1024);
    tokio::spawn(watch::run(client, scope, tx, shutdown.clone()));
    Running {
        signals,
        seen,
        shutdown,
        _dir: dir,
    }
}

fn fixture_cluster() -> SimCluster {
    let cluster = SimCluster::new();
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(CASE)
        .join("objects.yaml");
    let objects = std::fs::read_to_string(path).expect("objects");
    cluster.apply_yaml(&objects).expect("objects load");
    cluster
}

/// Every signal that arrives within `wait`.
async fn collect(running: &mut Running, wait: Duration) -> Vec<Signal> {
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + wait;
    while let Ok(Some(s)) = tokio::time::timeout_at(deadline, running.signals.recv()).await {
        out.push(s);
    }
    out
}

#[tokio::test]
async fn a_crash_looping_pod_raises_a_signal_that_names_its_deployment() {
    let mut running = watching(fixture_cluster(), NamespaceScope::default()).await;
    let signals = collect(&mut running, Duration::from_secs(2)).await;
    let crash = signals
        .iter()
        .find(|s| s.reason == "CrashLoopBackOff" && s.target.name == "payments-api-7d9f8c6b5-x2k4q")
        .unwrap_or_else(|| panic!("no CrashLoopBackOff signal in {signals:#?}"));
    let workload = crash.workload.as_ref().expect("workload");
    assert_eq!(
        (workload.kind.as_str(), workload.name.as_str()),
        ("Deployment", "payments-api")
    );
    assert!(
        signals.iter().all(|s| s.reason != "BackOff"),
        "the fixture's events are two days old: history, not signals"
    );
}

#[tokio::test]
async fn namespaces_outside_the_scope_raise_nothing() {
    let cluster = fixture_cluster();
    // The same broken workload again in a namespace the scope keeps.
    let objects = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(CASE)
            .join("objects.yaml"),
    )
    .expect("objects");
    cluster
        .apply_yaml(&objects.replace("namespace: payments", "namespace: ledger"))
        .expect("objects load");
    let scope = NamespaceScope {
        include: vec![Glob::new("*").expect("glob")],
        exclude: vec![Glob::new("pay*").expect("glob")],
    };
    let mut running = watching(cluster, scope).await;
    let signals = collect(&mut running, Duration::from_secs(2)).await;
    assert!(
        signals
            .iter()
            .any(|s| s.reason == "CrashLoopBackOff"
                && s.target.namespace.as_deref() == Some("ledger")),
        "the namespace in scope is watched: {signals:#?}"
    );
    assert!(
        signals
            .iter()
            .all(|s| s.target.namespace.as_deref() != Some("payments")),
        "{signals:#?}"
    );
}

#[tokio::test]
async fn a_pod_that_stays_not_ready_past_its_start_up_time_is_raised_without_another_update() {
    let cluster = SimCluster::new();
    // Its start-up time runs out 8 s from now: after the first look, before the last.
    let started = (jiff::Timestamp::now() - jiff::SignedDuration::from_secs(112)).to_string();
    let pod = serde_json::json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "api-0", "namespace": "shop", "creationTimestamp": started},
        "spec": {"nodeName": "worker-1", "containers": [{"name": "api", "image": "shop/api:1"}]},
        "status": {
            "phase": "Running",
            "conditions": [{"type": "PodScheduled", "status": "True"}, {"type": "Ready", "status": "False"}],
            "containerStatuses": [{"name": "api", "image": "shop/api:1", "imageID": "", "ready": false,
                "restartCount": 0, "state": {"running": {"startedAt": started}}}]
        }
    });
    cluster.apply(pod).expect("pod");
    let mut running = watching(cluster, NamespaceScope::default()).await;
    let early = collect(&mut running, Duration::from_millis(500)).await;
    assert!(
        early.iter().all(|s| s.reason != "ContainerNotReady"),
        "still within its start-up time: {early:#?}"
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut later = Vec::new();
    while !later
        .iter()
        .any(|s: &Signal| s.reason == "ContainerNotReady")
    {
        match tokio::time::timeout_at(deadline, running.signals.recv()).await {
            Ok(Some(s)) => later.push(s),
            _ => break,
        }
    }
    assert!(
        later.iter().any(|s| s.reason == "ContainerNotReady"),
        "the pod never changed, yet its start-up time ran out: {later:#?}"
    );
}

#[tokio::test]
async fn a_fresh_warning_event_about_a_pod_is_tied_to_the_pods_workload() {
    let cluster = fixture_cluster();
    let mut running = watching(cluster.clone(), NamespaceScope::default()).await;
    collect(&mut running, Duration::from_millis(800)).await;
    let now = jiff::Timestamp::now().to_string();
    let event = serde_json::json!({
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": "ledger.fresh", "namespace": "payments"},
        "involvedObject": {"kind": "Pod", "namespace": "payments", "name": "payments-api-7d9f8c6b5-x2k4q"},
        "reason": "FailedMount", "type": "Warning",
        "message": "MountVolume.SetUp failed for volume \"certs\" : secret \"tls\" not found",
        "firstTimestamp": now, "lastTimestamp": now, "count": 1,
        "source": {"component": "kubelet", "host": "worker-1"}
    });
    cluster.apply(event).expect("event");
    let signals = collect(&mut running, Duration::from_secs(2)).await;
    let mount = signals
        .iter()
        .find(|s| s.reason == "FailedMount")
        .unwrap_or_else(|| panic!("no FailedMount signal in {signals:#?}"));
    assert_eq!(
        mount.workload.as_ref().map(|w| w.name.as_str()),
        Some("payments-api"),
        "an event about a pod is tied to the pod's workload"
    );
}

/// A fresh Warning `BackOff` event about pod `pod` in `payments`.
fn back_off(pod: &str) -> serde_json::Value {
    let now = jiff::Timestamp::now().to_string();
    serde_json::json!({
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": format!("{pod}.backoff"), "namespace": "payments"},
        "involvedObject": {"kind": "Pod", "namespace": "payments", "name": pod},
        "reason": "BackOff", "type": "Warning",
        "message": "Back-off restarting failed container",
        "firstTimestamp": now, "lastTimestamp": now, "count": 1,
        "source": {"component": "kubelet", "host": "worker-1"}
    })
}

/// Waits (at most 10 s) for the watchers' signal about `pod`.
async fn signal_about(running: &mut Running, pod: &str) -> Signal {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match tokio::time::timeout_at(deadline, running.signals.recv()).await {
            Ok(Some(s)) if s.target.name == pod => return s,
            Ok(Some(_)) => {}
            _ => panic!("no signal about {pod} within 10 s"),
        }
    }
}

#[tokio::test]
async fn an_event_about_a_deleted_pod_is_tied_to_the_deployment_its_replicaset_confirms() {
    let cluster = fixture_cluster();
    let pod = "payments-api-7d9f8c6b5-x2k4q";
    cluster.delete("Pod", "payments", pod).expect("deleted");
    cluster.apply(back_off(pod)).expect("event");
    let mut running = watching(cluster, NamespaceScope::default()).await;
    let signal = signal_about(&mut running, pod).await;
    let workload = signal
        .workload
        .expect("named by the ReplicaSet the apiserver returned");
    assert_eq!(
        (workload.kind.as_str(), workload.name.as_str()),
        ("Deployment", "payments-api")
    );
}

#[tokio::test]
async fn an_event_about_a_pod_whose_name_no_object_confirms_names_no_workload() {
    let cluster = fixture_cluster();
    // `payments-api` is a Deployment, not a ReplicaSet or Job: the name alone proves nothing.
    let pod = "payments-api-zq7xk";
    cluster.apply(back_off(pod)).expect("event");
    let mut running = watching(cluster, NamespaceScope::default()).await;
    let signal = signal_about(&mut running, pod).await;
    assert_eq!(signal.workload, None, "never guessed from a name");
}

#[tokio::test]
async fn every_call_the_watchers_make_is_declared_and_every_declared_access_is_exercised() {
    let cluster = fixture_cluster();
    // A pod nobody has: its workload is asked of the apiserver (pod, ReplicaSet, Job).
    cluster.apply(back_off("ghost-x2k4q")).expect("event");
    let mut running = watching(cluster, NamespaceScope::default()).await;
    signal_about(&mut running, "ghost-x2k4q").await;
    collect(&mut running, Duration::from_secs(2)).await;
    let seen = running.seen.lock().expect("seen").clone();
    rbac::assert_declared("watchers", &seen, WATCHERS);
    rbac::assert_exercised("watchers", &seen, WATCHERS);
}
