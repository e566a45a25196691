//! StatefulSets and DaemonSets through the real watchers and the engine, on the simulated
//! cluster (which serves them as written: no controllers, so the status shows the problem): a
//! StatefulSet short of ready replicas opens a `replicas-unavailable` incident about it, a
//! DaemonSet whose rollout stands still opens a `rollout-stuck` one, a healthy StatefulSet opens
//! none. The grace is zero here so the test need not wait five minutes; the clocks themselves
//! are unit-tested (src/k8s/watch/sets.rs).

use std::time::Duration;

use jiff::SignedDuration;
use nightshift::domain::scope::NamespaceScope;
use nightshift::k8s::watch::{self, Synced};
use nightshift::store::IncidentSummary;

mod engine_support;
mod sim_harness;

use engine_support::world;

fn stateful_set(ns: &str, name: &str, ready: u32) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": name, "namespace": ns, "uid": format!("{name}-uid"), "labels": {"app": name}},
        "spec": {"replicas": 3, "serviceName": name,
                 "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": "db", "image": "postgres:16.4"}]}}},
        "status": {"replicas": 3, "readyReplicas": ready, "currentReplicas": 3, "updatedReplicas": 3,
                   "currentRevision": format!("{name}-6c8f9d7b5"), "updateRevision": format!("{name}-6c8f9d7b5")},
    })
}

fn daemon_set_mid_rollout(ns: &str, name: &str) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": {"name": name, "namespace": ns, "uid": format!("{name}-uid"), "generation": 7},
        "spec": {"selector": {"matchLabels": {"app": name}},
                 "updateStrategy": {"type": "RollingUpdate"},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": "agent", "image": "fluent/fluent-bit:3.1"}]}}},
        "status": {"desiredNumberScheduled": 3, "currentNumberScheduled": 3, "numberMisscheduled": 0,
                   "numberReady": 3, "numberAvailable": 3, "updatedNumberScheduled": 1,
                   "observedGeneration": 7},
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_stateful_set_and_a_stalled_daemon_set_open_incidents_about_themselves() {
    let w = world().await;
    let ns = w
        .signal
        .target
        .namespace
        .clone()
        .expect("the fixture is namespaced");
    w.cluster
        .apply(stateful_set(&ns, "ledger", 1))
        .expect("statefulset");
    w.cluster
        .apply(stateful_set(&ns, "healthy-ledger", 3))
        .expect("statefulset");
    w.cluster
        .apply(daemon_set_mid_rollout(&ns, "log-agent"))
        .expect("daemonset");

    let shutdown = w.shutdown.child_token();
    let (tx, rx) = tokio::sync::mpsc::channel(1024);
    tokio::spawn(watch::run_with_grace(
        w.client.clone(),
        NamespaceScope::default(),
        tx,
        shutdown.clone(),
        Synced::default(),
        SignedDuration::ZERO,
    ));
    tokio::spawn(w.engine().run(rx, shutdown.clone()));

    let about = |incidents: &[IncidentSummary], kind: &str, name: &str| {
        incidents
            .iter()
            .find(|i| i.target.kind == kind && i.target.name == name)
            .cloned()
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let incidents = loop {
        let incidents = w.store.list_incidents(50).await.expect("list");
        let both = about(&incidents, "StatefulSet", "ledger").is_some()
            && about(&incidents, "DaemonSet", "log-agent").is_some();
        if both || tokio::time::Instant::now() > deadline {
            break incidents;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    shutdown.cancel();
    let listed: Vec<_> = incidents
        .iter()
        .map(|i| (i.rule.clone(), i.target.kind.clone(), i.target.name.clone()))
        .collect();
    let ledger = about(&incidents, "StatefulSet", "ledger")
        .unwrap_or_else(|| panic!("no incident about the StatefulSet within 30s: {listed:?}"));
    assert_eq!(ledger.rule, "replicas-unavailable");
    assert_eq!(ledger.target.namespace.as_deref(), Some(ns.as_str()));
    assert_eq!(ledger.playbook, "workload");
    let record = w.record(&ledger.id).await;
    assert_eq!(record.incident.signal.reason, "ReplicasUnavailable");
    assert_eq!(
        record.incident.signal.message.as_deref(),
        Some("1 of 3 replicas ready")
    );
    let agent = about(&incidents, "DaemonSet", "log-agent")
        .unwrap_or_else(|| panic!("no incident about the DaemonSet within 30s: {listed:?}"));
    assert_eq!(agent.rule, "rollout-stuck");
    assert_eq!(
        w.record(&agent.id).await.incident.signal.message.as_deref(),
        Some("DaemonSet rollout to generation 7 stalled: 1 of 3 pods updated")
    );
    assert!(
        about(&incidents, "StatefulSet", "healthy-ledger").is_none(),
        "a StatefulSet with every replica ready opens nothing: {listed:?}"
    );
}
