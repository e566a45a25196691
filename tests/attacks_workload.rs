//! Attack corpus — one broken workload, one incident, also after a restart. A signal about a
//! pod the watchers' caches do not know (an Event handled before the pod watcher's first list,
//! or about a pod already deleted) is named by its workload before it is fingerprinted, so a
//! restarted daemon does not open a second incident — and page again — for one crash loop.

use std::time::Duration;

use nightshift::domain::scope::NamespaceScope;
use nightshift::domain::signal::Signal;

mod engine_support;
mod sim_harness;

use engine_support::world;

#[tokio::test]
async fn a_crash_loop_seen_again_after_a_restart_through_an_event_about_a_deleted_pod_is_one_incident()
 {
    let w = world().await;
    // Before the restart: the crash loop opened its incident.
    let first = w
        .engine()
        .open(w.signal.clone(), w.now)
        .await
        .expect("open");
    assert!(first.is_some());
    // While the daemon was down, the pod was replaced; a fresh BackOff event about it remains.
    let pod = w.signal.target.name.clone();
    w.cluster.delete("Pod", "payments", &pod).expect("deleted");
    let now = jiff::Timestamp::now().to_string();
    let event = serde_json::json!({
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": format!("{pod}.restart"), "namespace": "payments"},
        "involvedObject": {"kind": "Pod", "namespace": "payments", "name": pod},
        "reason": "BackOff", "type": "Warning",
        "message": "Back-off restarting failed container",
        "firstTimestamp": now, "lastTimestamp": now, "count": 7,
        "source": {"component": "kubelet", "host": "worker-1"}
    });
    w.cluster.apply(event).expect("event");
    // After the restart: fresh watchers, a fresh engine, every signal through intake.
    let shutdown = w.shutdown.child_token();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Signal>(1024);
    let scope = NamespaceScope::default();
    tokio::spawn(nightshift::k8s::watch::run(
        w.client.clone(),
        scope,
        tx,
        shutdown.clone(),
    ));
    let engine = w.engine();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let about_pod = loop {
        let signal = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .expect("the event's signal within 10 s")
            .expect("watchers running");
        let about = signal.target.name == pod && signal.reason == "BackOff";
        let copy = signal.clone();
        engine.open(signal, w.now).await.expect("intake");
        if about {
            break copy;
        }
    };
    shutdown.cancel();
    assert_eq!(
        about_pod.workload.as_ref().map(ToString::to_string),
        Some("Deployment/payments/payments-api".to_owned())
    );
    let incidents = w.store.list_incidents(10).await.expect("list");
    assert_eq!(
        incidents.len(),
        1,
        "one crash loop, one incident: {:#?}",
        incidents.iter().map(|i| &i.fingerprint).collect::<Vec<_>>()
    );
}
