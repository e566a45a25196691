//! The verifier over HTTP against the simulated cluster, every check kind at once: it passes on
//! healthy objects, fails with what it observed on unhealthy ones when the timeout elapses,
//! passes as soon as the cluster recovers while it polls, and its verdict is what the store
//! records and loads back.

use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Pod;
use nightshift::domain::evidence::PodFacts;
use nightshift::domain::incident::{Incident, IncidentState, Severity};
use nightshift::domain::plan::{Check, CheckKind};
use nightshift::domain::signal::{ObjectRef, Signal, SignalSource};
use nightshift::domain::verdict::Verdict;
use nightshift::k8s::facts;
use nightshift::k8s::verify::{Subject, Verifier};
use nightshift::sim::SimCluster;
use nightshift::store::Store;
use serde_json::{Value, json};

mod sim_harness;

/// The objects every check looks at; `healthy` picks their state.
fn objects(healthy: bool) -> String {
    let updated = if healthy { 2 } else { 1 };
    let (waiting, ready) = if healthy {
        ("running: {startedAt: '2026-11-20T02:20:00Z'}", true)
    } else {
        ("waiting: {reason: CrashLoopBackOff}", false)
    };
    format!(
        r#"
apiVersion: apps/v1
kind: Deployment
metadata: {{name: api, namespace: shop, generation: 2}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: api}}}}
  template:
    metadata: {{labels: {{app: api}}}}
    spec: {{containers: [{{name: api, image: shop/api:v1}}]}}
status: {{observedGeneration: 2, replicas: 2, updatedReplicas: {updated}, readyReplicas: {updated}, availableReplicas: {updated}}}
---
apiVersion: v1
kind: Pod
metadata: {{name: api-0, namespace: shop, labels: {{app: api}}}}
spec: {{containers: [{{name: api, image: shop/api:v1}}]}}
status:
  phase: Running
  containerStatuses: [{{name: api, image: shop/api:v1, imageID: '', ready: true, restartCount: 0, state: {{running: {{}}}}}}]
---
apiVersion: v1
kind: Pod
metadata: {{name: api-1, namespace: shop, labels: {{app: api}}}}
spec: {{containers: [{{name: api, image: shop/api:v1}}]}}
status:
  phase: Running
  containerStatuses: [{{name: api, image: shop/api:v1, imageID: '', ready: {ready}, restartCount: 5, state: {{{waiting}}}}}]
---
apiVersion: v1
kind: Node
metadata: {{name: worker-1}}
spec: {{unschedulable: {healthy}}}
status: {{conditions: [{{type: Ready, status: 'True'}}]}}
---
apiVersion: batch/v1
kind: CronJob
metadata: {{name: sync, namespace: shop}}
spec:
  schedule: '*/5 * * * *'
  suspend: {healthy}
  jobTemplate: {{spec: {{template: {{spec: {{restartPolicy: Never, containers: [{{name: sync, image: shop/sync:v1}}]}}}}}}}}
"#
    )
}

fn checks(timeout: u64, window: u64) -> Vec<Check> {
    let deployment = json!({"kind": "Deployment", "namespace": "shop", "name": "api"});
    let node = json!({"kind": "Node", "name": "worker-1"});
    let cron = json!({"kind": "CronJob", "namespace": "shop", "name": "sync"});
    let with = |check, target: &Value| Check {
        check,
        params: json!({"target": target, "timeout_seconds": timeout, "window_seconds": window}),
    };
    vec![
        with(CheckKind::RolloutComplete, &deployment),
        with(CheckKind::PodsReady, &deployment),
        with(CheckKind::NoNewRestarts, &deployment),
        with(CheckKind::ConditionCleared, &deployment),
        with(CheckKind::NodeCordoned, &node),
        with(CheckKind::CronjobSuspended, &cron),
    ]
}

fn subject() -> Subject {
    Subject {
        target: ObjectRef::namespaced("Pod", "shop", "api-1"),
        workload: Some(ObjectRef::namespaced("Deployment", "shop", "api")),
        reason: "CrashLoopBackOff".into(),
    }
}

/// The pods as the gatherer saw them before the plan ran.
fn before(cluster: &SimCluster) -> Vec<PodFacts> {
    cluster
        .list("pods", Some("shop"))
        .into_iter()
        .map(|p| facts::pod(&serde_json::from_value::<Pod>(p).expect("pod"), None))
        .collect()
}

async fn sim(healthy: bool) -> sim_harness::Sim {
    let cluster = SimCluster::new();
    cluster.apply_yaml(&objects(healthy)).expect("objects load");
    sim_harness::start(cluster).await
}

fn verifier(sim: &sim_harness::Sim) -> Verifier {
    Verifier::new(sim.client.clone()).with_poll_interval(Duration::from_millis(100))
}

fn observed(verdict: &Verdict) -> Vec<(CheckKind, bool, String)> {
    let results = verdict.results.iter();
    results
        .map(|r| (r.check, r.passed, r.observed.clone()))
        .collect()
}

#[tokio::test]
async fn every_check_passes_on_a_healthy_cluster() {
    let sim = sim(true).await;
    let before = before(&sim.cluster);
    let verdict = verifier(&sim)
        .verify(&checks(10, 1), &subject(), &before, Timestamp::now())
        .await;
    assert!(verdict.healthy, "{:#?}", observed(&verdict));
    let texts: Vec<String> = verdict.results.iter().map(|r| r.observed.clone()).collect();
    assert_eq!(
        texts,
        vec![
            "generation 2/2, 2 desired, 2 updated, 2 ready, 2 available".to_owned(),
            "2 of 2 pod(s) ready".to_owned(),
            "0 new restart(s) across 2 pod(s); no restart for 1s of a 1s window".to_owned(),
            "CrashLoopBackOff no longer raised on Pod/shop/api-1".to_owned(),
            "node worker-1 unschedulable=true".to_owned(),
            "cronjob shop/sync suspended=true".to_owned(),
        ]
    );
}

#[tokio::test]
async fn every_check_fails_at_its_timeout_on_an_unhealthy_cluster_saying_what_it_saw() {
    let sim = sim(false).await;
    let before = before(&sim.cluster);
    // The crash-looping container keeps restarting while the verifier watches.
    let cluster = sim.cluster.clone();
    let restarts = tokio::spawn(async move {
        for n in 6..40 {
            tokio::time::sleep(Duration::from_millis(150)).await;
            let bump =
                |pod: &mut Value| pod["status"]["containerStatuses"][0]["restartCount"] = json!(n);
            cluster
                .update_with("pods", "shop", "api-1", bump)
                .expect("restart");
        }
    });
    let started = std::time::Instant::now();
    let verdict = verifier(&sim)
        .verify(&checks(1, 1), &subject(), &before, Timestamp::now())
        .await;
    restarts.abort();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "checks run concurrently"
    );
    assert!(!verdict.healthy);
    let results = observed(&verdict);
    assert!(results.iter().all(|(_, passed, _)| !passed), "{results:#?}");
    let texts: Vec<&str> = results.iter().map(|(_, _, t)| t.as_str()).collect();
    assert_eq!(
        texts[0],
        "timed out after 1s: generation 2/2, 2 desired, 1 updated, 1 ready, 1 available"
    );
    assert_eq!(texts[1], "timed out after 1s: 1 of 2 pod(s) ready");
    // Either a restart was just seen, or the pods were clean for less than the window.
    assert!(texts[2].starts_with("timed out after 1s: "), "{}", texts[2]);
    assert!(
        texts[2].contains("restart(s) across 2 pod(s)"),
        "{}",
        texts[2]
    );
    assert_eq!(
        texts[3],
        "timed out after 1s: CrashLoopBackOff still raised on Pod/shop/api-1"
    );
    assert_eq!(
        texts[4],
        "timed out after 1s: node worker-1 unschedulable=false"
    );
    assert_eq!(
        texts[5],
        "timed out after 1s: cronjob shop/sync suspended=false"
    );
}

#[tokio::test]
async fn the_verifier_passes_as_soon_as_the_cluster_recovers() {
    let sim = sim(false).await;
    let before = before(&sim.cluster);
    let cluster = sim.cluster.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(400)).await;
        cluster.apply_yaml(&objects(true)).expect("recovered");
    });
    let checks: Vec<Check> = checks(20, 1)
        .into_iter()
        .filter(|c| c.check != CheckKind::NoNewRestarts)
        .collect();
    let started = std::time::Instant::now();
    let verdict = verifier(&sim)
        .verify(&checks, &subject(), &before, Timestamp::now())
        .await;
    assert!(verdict.healthy, "{:#?}", observed(&verdict));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

fn incident(now: Timestamp) -> Incident {
    let target = ObjectRef::namespaced("Pod", "shop", "api-1");
    Incident {
        id: "inc-1".into(),
        rule: "crash-loop".into(),
        severity: Severity::Critical,
        fingerprint: "crash-loop/shop/api".into(),
        target: target.clone(),
        playbook: "workload".into(),
        state: IncidentState::Open,
        opened_at: now,
        signal: Signal {
            source: SignalSource::Kubernetes,
            target,
            workload: Some(ObjectRef::namespaced("Deployment", "shop", "api")),
            reason: "CrashLoopBackOff".into(),
            container: Some("api".into()),
            container_state: None,
            labels: Default::default(),
            alertname: None,
            message: None,
            observed_at: now,
        },
    }
}

#[tokio::test]
async fn the_verdict_is_what_the_store_records_and_loads_back() {
    let sim = sim(true).await;
    let before = before(&sim.cluster);
    let now = Timestamp::now();
    let verdict = verifier(&sim)
        .verify(&checks(10, 0), &subject(), &before, now)
        .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("nightshift.db").display());
    let store = Store::connect(&url).await.expect("store");
    store
        .insert_incident(&incident(now))
        .await
        .expect("incident");
    store
        .record_verification("inc-1", &verdict.to_record(), now)
        .await
        .expect("recorded");
    let record = store.load("inc-1").await.expect("load").expect("incident");
    let loaded: Verdict =
        serde_json::from_value(record.verifications[0].verdict.clone()).expect("a verdict");
    assert_eq!(loaded, verdict);
    assert!(loaded.healthy);
}

#[tokio::test]
async fn a_cordon_planned_for_an_evicted_pod_is_verified_on_the_node_it_touched() {
    use nightshift::domain::approval::{Approval, Decision};
    use nightshift::domain::policy::Policy;
    use nightshift::k8s::execute::{Clearance, Executor, run_plan};
    use nightshift::replay::{Case, run};
    use nightshift::rules::RuleSet;

    // A pod of a Deployment evicted under node pressure: the plan cordons the pod's node.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("fixtures/incidents/thumbnailer-evicted-node-memory-pid-pressure");
    let rules = RuleSet::load(&root.join("rules"), &root.join("playbooks")).expect("rules");
    let case = Case::load(&dir).expect("case");
    let replayed = run(&case, &rules, &Policy::default())
        .incident
        .expect("an incident");
    let plan = replayed.plan;
    let node = plan.actions[0].params["name"]
        .as_str()
        .expect("node")
        .to_owned();
    assert_eq!(
        plan.actions[0].tool,
        nightshift::domain::catalog::Tool::NodeCordon
    );
    let cluster = SimCluster::new();
    let objects = std::fs::read_to_string(dir.join("objects.yaml")).expect("objects");
    cluster.apply_yaml(&objects).expect("objects load");
    let sim = sim_harness::start(cluster).await;
    let now = Timestamp::now();
    let approval = Approval {
        plan_hash: plan.hash(),
        decision: Decision::Approved,
        actor: "alice".into(),
        at: now,
        expires_at: now + jiff::SignedDuration::from_mins(5),
    };
    let clearance = Clearance {
        approval: Some(&approval),
        auto: None,
        namespace: replayed.signal.namespace(),
    };
    run_plan(&Executor::new(sim.client.clone()), &plan, &clearance, now)
        .await
        .expect("the cordon runs");
    let cordoned: Vec<Check> = plan
        .verification
        .iter()
        .filter(|c| c.check == CheckKind::NodeCordoned)
        .map(|c| c.time_scaled(0.01))
        .collect();
    assert_eq!(cordoned.len(), 1, "{:?}", plan.verification);
    let subject = Subject {
        target: replayed.signal.target.clone(),
        workload: replayed.signal.workload.clone(),
        reason: replayed.signal.reason.clone(),
    };
    let verdict = verifier(&sim).verify(&cordoned, &subject, &[], now).await;
    assert!(verdict.healthy, "{:#?}", observed(&verdict));
    assert_eq!(
        verdict.results[0].observed,
        format!("node {node} unschedulable=true")
    );
}
