//! Attack corpus — one broken workload, one incident, also after a restart. A signal about a
//! pod the watchers' caches do not know (an Event handled before the pod watcher's first list,
//! or about a pod already deleted) is named by its workload before it is fingerprinted, so a
//! restarted daemon does not open a second incident — and page again — for one crash loop.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use nightshift::domain::evidence::Evidence;
use nightshift::domain::incident::IncidentState;
use nightshift::domain::playbook::EvidenceSpec;
use nightshift::domain::policy::Policy;
use nightshift::domain::scope::NamespaceScope;
use nightshift::domain::signal::{ObjectRef, Signal};
use nightshift::engine::{EngineSettings, Gathered, Gatherer};
use tokio::task::JoinSet;

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

/// The fixture's evidence, and the workload the owner chain led to (as the live gatherer
/// reports it).
struct ResolvingGatherer(Evidence, ObjectRef);

impl Gatherer for ResolvingGatherer {
    fn gather<'a>(&'a self, _: &'a Signal, _: &'a EvidenceSpec) -> BoxFuture<'a, Gathered> {
        Box::pin(async move {
            Gathered {
                evidence: self.0.clone(),
                problems: vec![],
                workload: Some(self.1.clone()),
            }
        })
    }
}

#[tokio::test]
async fn the_workload_the_gatherer_resolved_is_kept_so_the_plan_can_act_on_it() {
    let w = world().await;
    let deployment = ObjectRef {
        kind: "Deployment".into(),
        namespace: Some("payments".into()),
        name: "payments-api".into(),
    };
    let gatherer = Arc::new(ResolvingGatherer(w.evidence.clone(), deployment.clone()));
    let settings = EngineSettings {
        poll_millis: 20,
        ..EngineSettings::default()
    };
    let engine = w.engine_with_gatherer(Policy::default(), settings, gatherer);
    // A signal the watchers could not name a workload for.
    let mut signal = w.signal.clone();
    signal.workload = None;
    let mut tasks = JoinSet::new();
    engine.intake(signal, w.now, &mut tasks).await;
    let id = w.store.list_incidents(10).await.expect("list")[0]
        .id
        .clone();
    w.wait_for(&id, IncidentState::AwaitingApproval).await;
    let record = w.record(&id).await;
    assert_eq!(record.incident.signal.workload, Some(deployment));
    let plan = &record.plans[0].plan;
    assert!(
        plan.is_mutating(),
        "the plan acts on the workload: {plan:#?}"
    );
    assert!(
        record
            .audit
            .iter()
            .any(|a| a.kind == nightshift::store::kinds::WORKLOAD_RESOLVED),
        "kept, and audited"
    );
}
