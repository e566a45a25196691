//! Contract tests for the verifier, against a fake apiserver (tower-test) on paused time: the
//! exact calls each check makes per observation, that it polls until its check passes or its
//! timeout elapses (reporting what it last observed), that `no-new-restarts` waits a whole
//! window, that a failed observation is retried, and that its calls are exactly the verifier's
//! declared API access (`k8s::access::VERIFIER`).

use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Pod;
use nightshift::domain::evidence::PodFacts;
use nightshift::domain::plan::{Check, CheckKind};
use nightshift::domain::signal::ObjectRef;
use nightshift::domain::verdict::Verdict;
use nightshift::k8s::access::VERIFIER;
use nightshift::k8s::facts;
use nightshift::k8s::verify::{Subject, Verifier};
use serde_json::{Value, json};

mod apiserver;
mod rbac;

use apiserver::{Call, Reply, Seen, get, list};

static SEEN: Seen = Seen::new(Vec::new());

const DEPLOYMENT: &str = "/apis/apps/v1/namespaces/shop/deployments/api";
const PODS: &str = "/api/v1/namespaces/shop/pods?&labelSelector=app%3Dapi&limit=200";

fn now() -> Timestamp {
    "2026-11-20T02:30:00Z".parse().expect("timestamp")
}

fn check(kind: CheckKind, target: Value, timeout: u64, window: Option<u64>) -> Check {
    let mut params = json!({"target": target, "timeout_seconds": timeout});
    if let Some(window) = window {
        params["window_seconds"] = json!(window);
    }
    Check {
        check: kind,
        params,
    }
}

fn deployment_ref() -> Value {
    json!({"kind": "Deployment", "namespace": "shop", "name": "api"})
}

fn subject(kind: &str, name: &str, reason: &str) -> Subject {
    let target = match kind {
        "Node" => ObjectRef::cluster(kind, name),
        _ => ObjectRef::namespaced(kind, "shop", name),
    };
    Subject {
        target,
        workload: Some(ObjectRef::namespaced("Deployment", "shop", "api")),
        reason: reason.into(),
    }
}

fn deployment(updated: i32) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "api", "namespace": "shop", "generation": 3},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "api"}},
            "template": {"spec": {"containers": [{"name": "api", "image": "shop/api:v1"}]}}},
        "status": {"observedGeneration": 3, "replicas": 2, "updatedReplicas": updated,
            "readyReplicas": updated, "availableReplicas": updated}})
}

fn pod(name: &str, ready: bool, restarts: i32) -> Value {
    let state = if ready {
        json!({"running": {"startedAt": "2026-11-20T02:20:00Z"}})
    } else {
        json!({"waiting": {"reason": "CrashLoopBackOff"}})
    };
    json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "shop", "labels": {"app": "api"}},
        "spec": {"containers": [{"name": "api", "image": "shop/api:v1"}]},
        "status": {"phase": "Running", "containerStatuses": [{"name": "api", "image": "shop/api:v1",
            "imageID": "", "ready": ready, "restartCount": restarts, "state": state,
            "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": "2026-11-20T01:00:00Z"}}}]}})
}

fn terminating(mut pod: Value) -> Value {
    pod["metadata"]["deletionTimestamp"] = json!("2026-11-20T02:29:00Z");
    pod
}

fn pod_facts(pod: Value) -> PodFacts {
    let pod: Pod = serde_json::from_value(pod).expect("pod");
    facts::pod(&pod, None)
}

fn pods(items: Vec<Value>) -> Reply {
    Reply::Json(list("PodList", items))
}

/// One observation of the Deployment's pods.
fn pods_observed(items: Vec<Value>) -> Vec<Call> {
    vec![
        get(DEPLOYMENT, Reply::Json(deployment(2))),
        get(PODS, pods(items)),
    ]
}

/// Verifies `checks` against `calls` with a 10 s poll.
async fn verify_with(
    checks: Vec<Check>,
    subject: Subject,
    before: Vec<PodFacts>,
    calls: Vec<Call>,
) -> Verdict {
    let (client, handle) = apiserver::client();
    let server = tokio::spawn(async move { apiserver::serve(handle, calls, &SEEN).await });
    let verifier = Verifier::new(client).with_poll_interval(Duration::from_secs(10));
    let verdict = verifier.verify(&checks, &subject, &before, now()).await;
    drop(verifier);
    server
        .await
        .expect("the fake apiserver saw exactly the expected calls");
    verdict
}

async fn contract_rollout_complete_passes_as_soon_as_the_deployment_has_rolled_out() {
    let checks = vec![check(
        CheckKind::RolloutComplete,
        deployment_ref(),
        600,
        None,
    )];
    let calls = vec![get(DEPLOYMENT, Reply::Json(deployment(2)))];
    let verdict = verify_with(
        checks,
        subject("Pod", "api-1", "CrashLoopBackOff"),
        vec![],
        calls,
    )
    .await;
    assert!(verdict.healthy, "{verdict:?}");
    assert_eq!(
        verdict.results[0].observed,
        "generation 3/3, 2 desired, 2 updated, 2 ready, 2 available"
    );
    assert_eq!(verdict.decided_at, now());
}

#[tokio::test(start_paused = true)]
async fn rollout_complete_passes_as_soon_as_the_deployment_has_rolled_out() {
    contract_rollout_complete_passes_as_soon_as_the_deployment_has_rolled_out().await;
}

#[tokio::test(start_paused = true)]
async fn a_check_that_never_passes_fails_at_its_timeout_with_what_it_last_observed() {
    let checks = vec![check(
        CheckKind::RolloutComplete,
        deployment_ref(),
        30,
        None,
    )];
    // Observed at 0, 10, 20 and 30 seconds.
    let calls = (0..4)
        .map(|_| get(DEPLOYMENT, Reply::Json(deployment(1))))
        .collect();
    let verdict = verify_with(
        checks,
        subject("Pod", "api-1", "CrashLoopBackOff"),
        vec![],
        calls,
    )
    .await;
    assert!(!verdict.healthy);
    assert_eq!(
        verdict.results[0].observed,
        "timed out after 30s: generation 3/3, 2 desired, 1 updated, 1 ready, 1 available"
    );
    assert_eq!(
        verdict.decided_at,
        now() + jiff::SignedDuration::from_secs(30)
    );
}

#[tokio::test(start_paused = true)]
async fn a_last_look_that_fails_still_reports_what_was_last_observed() {
    let checks = vec![check(
        CheckKind::RolloutComplete,
        deployment_ref(),
        20,
        None,
    )];
    // Observed at 0 and 10 seconds; the look at 20 never answers.
    let calls = vec![
        get(DEPLOYMENT, Reply::Json(deployment(1))),
        get(DEPLOYMENT, Reply::Json(deployment(1))),
        get(DEPLOYMENT, Reply::Hang),
    ];
    let verdict = verify_with(
        checks,
        subject("Pod", "api-1", "CrashLoopBackOff"),
        vec![],
        calls,
    )
    .await;
    assert!(!verdict.healthy);
    assert_eq!(
        verdict.results[0].observed,
        "timed out after 20s: generation 3/3, 2 desired, 1 updated, 1 ready, 1 available \
         (then could not observe: get Deployment/shop/api: no answer within 2s)",
        "the look at the deadline still had time to answer"
    );
}

#[tokio::test(start_paused = true)]
async fn a_failed_observation_does_not_fail_the_check_while_time_remains() {
    let checks = vec![check(
        CheckKind::RolloutComplete,
        deployment_ref(),
        60,
        None,
    )];
    let calls = vec![
        get(DEPLOYMENT, Reply::Status(500)),
        get(DEPLOYMENT, Reply::Json(deployment(2))),
    ];
    let verdict = verify_with(
        checks,
        subject("Pod", "api-1", "CrashLoopBackOff"),
        vec![],
        calls,
    )
    .await;
    assert!(verdict.healthy, "{verdict:?}");
}

async fn contract_pods_ready_polls_until_the_workloads_live_pods_are_ready() {
    let checks = vec![check(CheckKind::PodsReady, deployment_ref(), 600, None)];
    let mut calls = pods_observed(vec![pod("api-new-1", true, 0), pod("api-old-1", false, 6)]);
    calls.extend(pods_observed(vec![
        pod("api-new-1", true, 0),
        terminating(pod("api-old-1", false, 7)),
    ]));
    let verdict = verify_with(
        checks,
        subject("Pod", "api-old-1", "CrashLoopBackOff"),
        vec![],
        calls,
    )
    .await;
    assert!(verdict.healthy, "{verdict:?}");
    assert_eq!(verdict.results[0].observed, "1 of 1 pod(s) ready");
}

#[tokio::test(start_paused = true)]
async fn pods_ready_polls_until_the_workloads_live_pods_are_ready() {
    contract_pods_ready_polls_until_the_workloads_live_pods_are_ready().await;
}

#[tokio::test(start_paused = true)]
async fn no_new_restarts_passes_only_after_a_whole_window_without_restarts() {
    let checks = vec![check(
        CheckKind::NoNewRestarts,
        deployment_ref(),
        120,
        Some(20),
    )];
    let before = vec![pod_facts(pod("api-1", true, 5))];
    // 0 s: one more restart since the plan ran; the window starts again from there.
    let mut calls = pods_observed(vec![pod("api-1", true, 6)]);
    for _ in 0..2 {
        calls.extend(pods_observed(vec![pod("api-1", true, 6)])); // 10 and 20 s
    }
    let verdict = verify_with(
        checks,
        subject("Pod", "api-1", "ContainerRestarting"),
        before,
        calls,
    )
    .await;
    assert!(verdict.healthy, "{verdict:?}");
    assert_eq!(
        verdict.results[0].observed,
        "0 new restart(s) across 1 pod(s); no restart for 20s of a 20s window"
    );
    assert_eq!(
        verdict.decided_at,
        now() + jiff::SignedDuration::from_secs(20)
    );
}

async fn contract_node_and_cronjob_checks_read_their_object() {
    let node = json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "worker-3"},
        "spec": {"unschedulable": true}, "status": {"conditions": [{"type": "Ready", "status": "True"}]}});
    let checks = vec![check(
        CheckKind::NodeCordoned,
        json!({"kind": "Node", "name": "worker-3"}),
        60,
        None,
    )];
    let calls = vec![get("/api/v1/nodes/worker-3", Reply::Json(node))];
    let verdict = verify_with(
        checks,
        subject("Node", "worker-3", "NotReady"),
        vec![],
        calls,
    )
    .await;
    assert!(verdict.healthy, "{verdict:?}");
    let cron = json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "sync", "namespace": "shop"},
        "spec": {"schedule": "*/5 * * * *", "suspend": true, "jobTemplate": {}}});
    let target = json!({"kind": "CronJob", "namespace": "shop", "name": "sync"});
    let checks = vec![check(CheckKind::CronjobSuspended, target, 60, None)];
    let calls = vec![get(
        "/apis/batch/v1/namespaces/shop/cronjobs/sync",
        Reply::Json(cron),
    )];
    let verdict = verify_with(
        checks,
        subject("Job", "sync-1", "BackoffLimitExceeded"),
        vec![],
        calls,
    )
    .await;
    assert!(verdict.healthy, "{verdict:?}");
    assert_eq!(
        verdict.results[0].observed,
        "cronjob shop/sync suspended=true"
    );
}

#[tokio::test(start_paused = true)]
async fn node_and_cronjob_checks_read_their_object() {
    contract_node_and_cronjob_checks_read_their_object().await;
}

async fn contract_a_gone_target_pod_is_judged_by_the_pods_that_replaced_it() {
    let checks = vec![check(
        CheckKind::ConditionCleared,
        deployment_ref(),
        60,
        None,
    )];
    let mut calls = vec![get(
        "/api/v1/namespaces/shop/pods/api-old-1",
        Reply::Status(404),
    )];
    calls.extend(pods_observed(vec![
        pod("api-new-1", true, 0),
        pod("api-new-2", true, 0),
    ]));
    let verdict = verify_with(
        checks,
        subject("Pod", "api-old-1", "CrashLoopBackOff"),
        vec![],
        calls,
    )
    .await;
    assert!(verdict.healthy, "{verdict:?}");
    assert_eq!(
        verdict.results[0].observed,
        "CrashLoopBackOff no longer raised on the 2 pod(s) that replaced the target"
    );
}

#[tokio::test(start_paused = true)]
async fn a_gone_target_pod_is_judged_by_the_pods_that_replaced_it() {
    contract_a_gone_target_pod_is_judged_by_the_pods_that_replaced_it().await;
}

#[tokio::test(start_paused = true)]
async fn a_terminating_target_pod_still_crash_looping_is_judged_by_its_replacements() {
    let checks = vec![check(
        CheckKind::ConditionCleared,
        deployment_ref(),
        60,
        None,
    )];
    let mut calls = vec![get(
        "/api/v1/namespaces/shop/pods/api-1",
        Reply::Json(terminating(pod("api-1", false, 7))),
    )];
    calls.extend(pods_observed(vec![
        pod("api-new-1", true, 0),
        pod("api-new-2", true, 0),
    ]));
    let verdict = verify_with(checks, subject("Pod", "api-1", "Error"), vec![], calls).await;
    assert!(verdict.healthy, "{verdict:?}");
    assert_eq!(
        verdict.results[0].observed,
        "Error no longer raised on the 2 pod(s) that replaced the target"
    );
}

#[tokio::test(start_paused = true)]
async fn a_condition_still_raised_fails_with_the_reason_and_where() {
    let checks = vec![check(
        CheckKind::ConditionCleared,
        deployment_ref(),
        0,
        None,
    )];
    let calls = vec![get(
        "/api/v1/namespaces/shop/pods/api-1",
        Reply::Json(pod("api-1", false, 9)),
    )];
    let verdict = verify_with(
        checks,
        subject("Pod", "api-1", "CrashLoopBackOff"),
        vec![],
        calls,
    )
    .await;
    assert!(!verdict.healthy);
    assert_eq!(
        verdict.results[0].observed,
        "timed out after 0s: CrashLoopBackOff still raised on Pod/shop/api-1"
    );
}

async fn contract_condition_cleared_rereads_jobs_replicasets_claims_and_nodes() {
    let cases = [
        (
            "Job",
            "sync-1",
            "BackoffLimitExceeded",
            "/apis/batch/v1/namespaces/shop/jobs/sync-1",
            json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "sync-1", "namespace": "shop"},
                "spec": {"template": {}}, "status": {"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}}),
        ),
        (
            "ReplicaSet",
            "api-7d9f",
            "FailedCreate",
            "/apis/apps/v1/namespaces/shop/replicasets/api-7d9f",
            json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "api-7d9f", "namespace": "shop"},
                "spec": {"selector": {"matchLabels": {"app": "api"}}}, "status": {"replicas": 2}}),
        ),
        (
            "PersistentVolumeClaim",
            "data",
            "ClaimPending",
            "/api/v1/namespaces/shop/persistentvolumeclaims/data",
            json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data", "namespace": "shop"},
                "spec": {}, "status": {"phase": "Bound"}}),
        ),
        (
            "Node",
            "worker-3",
            "NotReady",
            "/api/v1/nodes/worker-3",
            json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "worker-3"},
                "status": {"conditions": [{"type": "Ready", "status": "True"}]}}),
        ),
    ];
    for (kind, name, reason, uri, object) in cases {
        let target = json!({"kind": kind, "namespace": "shop", "name": name});
        let checks = vec![check(CheckKind::ConditionCleared, target, 60, None)];
        let verdict = verify_with(
            checks,
            subject(kind, name, reason),
            vec![],
            vec![get(uri, Reply::Json(object))],
        )
        .await;
        assert!(verdict.healthy, "{kind}: {verdict:?}");
        assert!(
            verdict.results[0]
                .observed
                .starts_with(&format!("{reason} no longer raised"))
        );
    }
}

#[tokio::test(start_paused = true)]
async fn condition_cleared_rereads_jobs_replicasets_claims_and_nodes() {
    contract_condition_cleared_rereads_jobs_replicasets_claims_and_nodes().await;
}

#[tokio::test(start_paused = true)]
async fn no_checks_is_not_healthy_and_makes_no_call() {
    let verdict = verify_with(
        vec![],
        subject("Pod", "api-1", "CrashLoopBackOff"),
        vec![],
        vec![],
    )
    .await;
    assert!(!verdict.healthy);
    assert!(verdict.results.is_empty());
}

#[tokio::test(start_paused = true)]
async fn every_call_the_verifier_makes_is_declared_and_every_declared_access_is_exercised() {
    contract_rollout_complete_passes_as_soon_as_the_deployment_has_rolled_out().await;
    contract_pods_ready_polls_until_the_workloads_live_pods_are_ready().await;
    contract_node_and_cronjob_checks_read_their_object().await;
    contract_a_gone_target_pod_is_judged_by_the_pods_that_replaced_it().await;
    contract_condition_cleared_rereads_jobs_replicasets_claims_and_nodes().await;
    let seen = SEEN.lock().expect("lock").clone();
    rbac::assert_declared("verifier", &seen, VERIFIER);
    rbac::assert_exercised("verifier", &seen, VERIFIER);
}
