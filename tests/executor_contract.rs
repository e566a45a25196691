//! Contract tests for the executor, against a fake apiserver (tower-test): for each catalog
//! action, the exact method, URI (with dryRun and fieldManager) and body; a refused plan makes
//! no call at all; a paused Deployment is not rolled back; the node pool is listed whole, page by
//! page; and the calls the executor makes are exactly its declared API access
//! (`k8s::access::EXECUTOR`), which deploy/rbac.yaml must grant (tests/rbac_role.rs).

use std::sync::Mutex;

use http::{Request, Response};
use jiff::{SignedDuration, Timestamp};
use kube::client::Body;
use nightshift::domain::approval::authorize;
use nightshift::domain::approval::{Approval, Decision};
use nightshift::domain::catalog::Tool;
use nightshift::domain::plan::{Action, Plan, Risk};
use nightshift::k8s::access::EXECUTOR;
use nightshift::k8s::execute::{Clearance, Executor, Observed, Outcome, RunError, run_plan};
use serde_json::{Value, json};
use tower_test::mock::Handle;

mod rbac;

/// One expected call and the object the fake apiserver answers with.
struct Call {
    method: &'static str,
    uri: String,
    body: Option<Value>,
    reply: Value,
}

/// Every (method, path) any test saw, for the RBAC check.
static SEEN: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());

async fn serve(mut handle: Handle<Request<Body>, Response<Body>>, calls: Vec<Call>) {
    for call in calls {
        let (request, send) = handle
            .next_request()
            .await
            .expect("the executor made the expected call");
        let uri = request.uri().to_string();
        SEEN.lock().expect("lock").push((
            request.method().to_string(),
            request.uri().path().to_owned(),
        ));
        assert_eq!(request.method().as_str(), call.method, "method of {uri}");
        assert_eq!(uri, call.uri);
        let bytes = request.into_body().collect_bytes().await.expect("body");
        if let Some(expected) = call.body {
            let got: Value = serde_json::from_slice(&bytes).expect("JSON body");
            assert_eq!(got, expected, "body of {uri}");
        }
        let reply = serde_json::to_vec(&call.reply).expect("reply");
        send.send_response(
            Response::builder()
                .body(Body::from(reply))
                .expect("response"),
        );
    }
}

fn executor() -> (Executor, Handle<Request<Body>, Response<Body>>) {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    (Executor::new(kube::Client::new(service, "default")), handle)
}

fn now() -> Timestamp {
    "2026-11-20T02:30:00.318Z".parse().expect("timestamp")
}

fn plan(tool: Tool, params: Value) -> Plan {
    Plan {
        actions: vec![Action { tool, params }],
        requires_approval: true,
        risk: Risk::Medium,
        rationale: String::new(),
        downgraded: None,
        verification: vec![],
    }
}

fn approved(plan: &Plan) -> Approval {
    Approval {
        plan_hash: plan.hash(),
        decision: Decision::Approved,
        actor: "oncall@example.com".into(),
        at: now(),
        expires_at: now() + SignedDuration::from_mins(30),
    }
}

const DRY: &str = "dryRun=All&fieldManager=nightshift";
const REAL: &str = "fieldManager=nightshift";

/// Runs `plan` approved; expects each call twice (dry run, then real) with the same body.
async fn expect_calls(plan: Plan, calls: impl Fn(&str) -> Vec<Call>) -> Vec<Outcome> {
    let (executor, handle) = executor();
    let mut all = calls(DRY);
    all.extend(calls(REAL));
    let server = tokio::spawn(serve(handle, all));
    let approval = approved(&plan);
    let clearance = Clearance {
        approval: Some(&approval),
        auto: None,
        namespace: Some("shop"),
    };
    let outcomes = run_plan(&executor, &plan, &clearance, now())
        .await
        .expect("plan ran");
    server.await.expect("fake apiserver saw every call");
    outcomes
}

fn deployment() -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "api", "namespace": "shop", "uid": "d-1", "annotations": {
            "deployment.kubernetes.io/revision": "2", "kubernetes.io/change-cause": "deploy shop/api:v2"}},
        "spec": {"selector": {"matchLabels": {"app": "api"}},
            "template": {"metadata": {"labels": {"app": "api"}}, "spec": {"containers": [{"name": "api", "image": "shop/api:v2"}]}}}})
}

fn replica_set(revision: u32, image: &str, hash: &str) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": format!("api-{hash}"), "namespace": "shop",
            "annotations": {"deployment.kubernetes.io/revision": revision.to_string(),
                "deployment.kubernetes.io/desired-replicas": "2",
                "kubernetes.io/change-cause": format!("deploy {image}")},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "api", "uid": "d-1", "controller": true}]},
        "spec": {"selector": {"matchLabels": {"app": "api", "pod-template-hash": hash}},
            "template": {"metadata": {"labels": {"app": "api", "pod-template-hash": hash}}, "spec": {"containers": [{"name": "api", "image": image}]}}}})
}

async fn contract_rollback_replaces_the_template_with_the_target_revision_minus_its_hash() {
    for params in [
        json!({"namespace": "shop", "name": "api", "to_revision": 1}),
        // No revision named: the one before the newest, as kubectl rollout undo.
        json!({"namespace": "shop", "name": "api"}),
    ] {
        contract_rollback_to_revision_1(params).await;
    }
}

async fn contract_rollback_to_revision_1(params: Value) {
    let p = plan(Tool::DeploymentRollback, params);
    let outcomes = expect_calls(p, |params| {
        vec![
            Call { method: "GET", uri: "/apis/apps/v1/namespaces/shop/deployments/api".into(), body: None, reply: deployment() },
            Call {
                method: "GET",
                uri: "/apis/apps/v1/namespaces/shop/replicasets?&labelSelector=app%3Dapi&limit=500"
                    .into(),
                body: None,
                reply: json!({"apiVersion": "apps/v1", "kind": "ReplicaSetList", "metadata": {},
                    "items": [replica_set(1, "shop/api:v1", "aaa"), replica_set(2, "shop/api:v2", "bbb")]}),
            },
            Call {
                method: "PATCH",
                uri: format!("/apis/apps/v1/namespaces/shop/deployments/api?&{params}"),
                body: Some(json!([
                    {"op": "replace", "path": "/spec/template", "value":
                        {"metadata": {"labels": {"app": "api"}}, "spec": {"containers": [{"name": "api", "image": "shop/api:v1"}]}}},
                    // The revision's annotations, but the controller's bookkeeping stays.
                    {"op": "add", "path": "/metadata/annotations", "value": {
                        "deployment.kubernetes.io/revision": "2", "kubernetes.io/change-cause": "deploy shop/api:v1"}},
                ])),
                reply: deployment(),
            },
        ]
    })
    .await;
    assert_eq!(
        outcomes,
        vec![Outcome::Done("rolled back shop/api to revision 1".into())]
    );
}

async fn contract_restart_stamps_the_template_like_kubectl_rollout_restart() {
    let p = plan(
        Tool::DeploymentRestart,
        json!({"namespace": "shop", "name": "api"}),
    );
    expect_calls(p, |params| {
        vec![Call {
            method: "PATCH",
            uri: format!("/apis/apps/v1/namespaces/shop/deployments/api?&{params}"),
            body: Some(json!({"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": "2026-11-20T02:30:00Z"}}}}})),
            reply: deployment(),
        }]
    })
    .await;
}

async fn contract_scale_patches_the_scale_subresource() {
    let p = plan(
        Tool::DeploymentScale,
        json!({"namespace": "shop", "name": "api", "replicas": 4}),
    );
    expect_calls(p, |params| {
        vec![Call {
            method: "PATCH",
            uri: format!("/apis/apps/v1/namespaces/shop/deployments/api/scale?&{params}"),
            body: Some(json!({"spec": {"replicas": 4}})),
            reply: json!({"apiVersion": "autoscaling/v1", "kind": "Scale", "metadata": {"name": "api"}, "spec": {"replicas": 4}}),
        }]
    })
    .await;
}

async fn contract_set_resources_patches_only_the_named_container_limit() {
    let p = plan(
        Tool::DeploymentSetResources,
        json!({"namespace": "shop", "name": "api", "container": "api", "memory_limit": "768Mi"}),
    );
    expect_calls(p, |params| {
        vec![Call {
            method: "PATCH",
            uri: format!("/apis/apps/v1/namespaces/shop/deployments/api?&{params}"),
            body: Some(json!({"spec": {"template": {"spec": {"containers": [{"name": "api", "resources": {"limits": {"memory": "768Mi"}}}]}}}})),
            reply: deployment(),
        }]
    })
    .await;
}

async fn contract_pod_delete_cordon_and_suspend_call_their_objects() {
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "api-1", "namespace": "shop"}, "spec": {"containers": [{"name": "api", "image": "x"}]}});
    expect_calls(
        plan(
            Tool::PodDelete,
            json!({"namespace": "shop", "name": "api-1"}),
        ),
        |params| {
            // kube-rs sends a delete's dry run in the DeleteOptions body, which the apiserver honours
            // like the query parameter.
            let body = if params == DRY {
                json!({"dryRun": ["All"]})
            } else {
                json!({})
            };
            vec![Call {
                method: "DELETE",
                uri: "/api/v1/namespaces/shop/pods/api-1?".into(),
                body: Some(body),
                reply: pod.clone(),
            }]
        },
    )
    .await;
    let node = json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "worker-3"}});
    expect_calls(
        plan(Tool::NodeCordon, json!({"name": "worker-3"})),
        |params| {
            vec![Call {
                method: "PATCH",
                uri: format!("/api/v1/nodes/worker-3?&{params}"),
                body: Some(json!({"spec": {"unschedulable": true}})),
                reply: node.clone(),
            }]
        },
    )
    .await;
    expect_calls(
        plan(Tool::NodeUncordon, json!({"name": "worker-3"})),
        |params| {
            // As kubectl uncordon: the field is removed, not set to false.
            vec![Call {
                method: "PATCH",
                uri: format!("/api/v1/nodes/worker-3?&{params}"),
                body: Some(json!({"spec": {"unschedulable": null}})),
                reply: node.clone(),
            }]
        },
    )
    .await;
    let cron = json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "sync", "namespace": "shop"}, "spec": {"schedule": "*/5 * * * *", "jobTemplate": {}}});
    expect_calls(
        plan(
            Tool::CronjobSuspend,
            json!({"namespace": "shop", "name": "sync"}),
        ),
        |params| {
            vec![Call {
                method: "PATCH",
                uri: format!("/apis/batch/v1/namespaces/shop/cronjobs/sync?&{params}"),
                body: Some(json!({"spec": {"suspend": true}})),
                reply: cron.clone(),
            }]
        },
    )
    .await;
}

async fn contract_the_node_pool_is_listed_whole_in_bounded_pages() {
    let node = |name: &str, labels: Value| {
        json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels},
               "spec": {"unschedulable": name == "worker-2"}})
    };
    let page = |items: Vec<Value>, next: Option<&str>| json!({"apiVersion": "v1", "kind": "NodeList", "metadata": {"continue": next}, "items": items});
    let (executor, handle) = executor();
    let calls = vec![
        Call {
            method: "GET",
            uri: "/api/v1/nodes?&limit=500".into(),
            body: None,
            reply: page(
                vec![
                    node("cp-1", json!({"node-role.kubernetes.io/control-plane": ""})),
                    node("worker-1", json!({"pool": "general"})),
                ],
                Some("page-2"),
            ),
        },
        Call {
            method: "GET",
            uri: "/api/v1/nodes?&limit=500&continue=page-2".into(),
            body: None,
            reply: page(vec![node("worker-2", json!({}))], None),
        },
    ];
    let server = tokio::spawn(serve(handle, calls));
    let nodes = executor.nodes().await.expect("the pool");
    server.await.expect("both pages were asked for");
    let names: Vec<&str> = nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["cp-1", "worker-1", "worker-2"]);
    assert!(
        nodes[0]
            .labels
            .contains_key("node-role.kubernetes.io/control-plane")
    );
    assert!(nodes[2].unschedulable);
}

/// After a restart, an action in doubt is looked up in the cluster: one read, nothing sent.
async fn contract_observe_after_a_restart_only_reads() {
    let meta = |kind: &str, name: &str| {
        json!({"name": name, "namespace": "shop",
        "creationTimestamp": "2026-11-20T01:00:00Z", "uid": format!("{kind}-1")})
    };
    let cases = [
        (
            Tool::PodDelete,
            json!({"namespace": "shop", "name": "api-1"}),
            "/api/v1/namespaces/shop/pods/api-1",
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta("pod", "api-1")}),
            false,
        ),
        (
            Tool::NodeCordon,
            json!({"name": "worker-3"}),
            "/api/v1/nodes/worker-3",
            json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "worker-3"},
                "spec": {"unschedulable": true}}),
            true,
        ),
        (
            Tool::CronjobSuspend,
            json!({"namespace": "shop", "name": "sync"}),
            "/apis/batch/v1/namespaces/shop/cronjobs/sync",
            json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": meta("cj", "sync"),
                "spec": {"schedule": "*/5 * * * *", "suspend": false,
                    "jobTemplate": {"spec": {"template": {}}}}}),
            false,
        ),
    ];
    for (tool, params, uri, reply, applied) in cases {
        let (executor, handle) = executor();
        let call = Call {
            method: "GET",
            uri: uri.into(),
            body: None,
            reply,
        };
        let server = tokio::spawn(serve(handle, vec![call]));
        let p = plan(tool, params);
        let authorized =
            authorize(&p, Some(&approved(&p)), None, Some("shop"), now()).expect("authorized");
        let observed = executor
            .observe(&authorized, 0, now())
            .await
            .expect("observed");
        server.await.expect("one read");
        assert_eq!(
            matches!(observed, Observed::Applied(_)),
            applied,
            "{tool}: {observed:?}"
        );
    }
}

/// Asserts the fake apiserver receives nothing.
async fn radio_silence(mut handle: Handle<Request<Body>, Response<Body>>) {
    let waited =
        tokio::time::timeout(std::time::Duration::from_millis(200), handle.next_request()).await;
    assert!(
        waited.is_err() || waited.as_ref().is_ok_and(Option::is_none),
        "a refused plan made an API call"
    );
}

#[tokio::test]
async fn a_denied_unapproved_or_mismatched_plan_makes_no_api_call() {
    let p = plan(
        Tool::DeploymentRollback,
        json!({"namespace": "shop", "name": "api"}),
    );
    let other = plan(
        Tool::DeploymentRollback,
        json!({"namespace": "shop", "name": "payments"}),
    );
    let mut denied = approved(&p);
    denied.decision = Decision::Denied;
    let for_other = approved(&other);
    for approval in [None, Some(&denied), Some(&for_other)] {
        let (executor, handle) = executor();
        let silence = tokio::spawn(radio_silence(handle));
        let clearance = Clearance {
            approval,
            auto: None,
            namespace: Some("shop"),
        };
        let result = run_plan(&executor, &p, &clearance, now()).await;
        assert!(matches!(result, Err(RunError::Refused(_))), "{result:?}");
        drop(executor);
        silence.await.expect("no call");
    }
}

#[tokio::test]
async fn every_call_the_executor_makes_is_declared_and_every_declared_access_is_exercised() {
    // Run the other contracts' calls here too, so this test does not depend on test order.
    contract_rollback_replaces_the_template_with_the_target_revision_minus_its_hash().await;
    contract_restart_stamps_the_template_like_kubectl_rollout_restart().await;
    contract_scale_patches_the_scale_subresource().await;
    contract_set_resources_patches_only_the_named_container_limit().await;
    contract_pod_delete_cordon_and_suspend_call_their_objects().await;
    contract_the_node_pool_is_listed_whole_in_bounded_pages().await;
    contract_observe_after_a_restart_only_reads().await;
    let seen = SEEN.lock().expect("lock").clone();
    // deploy/rbac.yaml grants exactly the union of all declarations: tests/rbac_role.rs.
    rbac::assert_declared("executor", &seen, EXECUTOR);
    rbac::assert_exercised("executor", &seen, EXECUTOR);
}

#[tokio::test]
async fn rollback_replaces_the_template_with_the_target_revision_minus_its_hash() {
    contract_rollback_replaces_the_template_with_the_target_revision_minus_its_hash().await;
}

#[tokio::test]
async fn restart_stamps_the_template_like_kubectl_rollout_restart() {
    contract_restart_stamps_the_template_like_kubectl_rollout_restart().await;
}

#[tokio::test]
async fn scale_patches_the_scale_subresource() {
    contract_scale_patches_the_scale_subresource().await;
}

#[tokio::test]
async fn set_resources_patches_only_the_named_container_limit() {
    contract_set_resources_patches_only_the_named_container_limit().await;
}

#[tokio::test]
async fn pod_delete_cordon_and_suspend_call_their_objects() {
    contract_pod_delete_cordon_and_suspend_call_their_objects().await;
}

#[tokio::test]
async fn the_node_pool_node_policy_judges_is_listed_whole_in_bounded_pages() {
    contract_the_node_pool_is_listed_whole_in_bounded_pages().await;
}

#[tokio::test]
async fn an_action_in_doubt_after_a_restart_is_only_read_back_from_the_cluster() {
    contract_observe_after_a_restart_only_reads().await;
}

#[tokio::test]
async fn a_paused_deployment_is_not_rolled_back_and_nothing_is_patched() {
    let p = plan(
        Tool::DeploymentRollback,
        json!({"namespace": "shop", "name": "api"}),
    );
    let (executor, handle) = executor();
    let mut paused = deployment();
    paused["spec"]["paused"] = json!(true);
    let server = tokio::spawn(serve(
        handle,
        vec![Call {
            method: "GET",
            uri: "/apis/apps/v1/namespaces/shop/deployments/api".into(),
            body: None,
            reply: paused,
        }],
    ));
    let approval = approved(&p);
    let clearance = Clearance {
        approval: Some(&approval),
        auto: None,
        namespace: Some("shop"),
    };
    let result = run_plan(&executor, &p, &clearance, now()).await;
    let err = result.expect_err("a paused deployment is refused");
    assert!(err.to_string().contains("paused"), "{err}");
    server.await.expect("only the GET");
    drop(executor);
}

#[tokio::test]
async fn a_rollback_lists_replicasets_by_the_full_selector_and_refuses_a_partial_list() {
    let p = plan(
        Tool::DeploymentRollback,
        json!({"namespace": "shop", "name": "api", "to_revision": 1}),
    );
    let (executor, handle) = executor();
    let mut selected = deployment();
    selected["spec"]["selector"]["matchExpressions"] =
        json!([{"key": "tier", "operator": "In", "values": ["web", "edge"]}]);
    let uri = "/apis/apps/v1/namespaces/shop/replicasets?&labelSelector=app%3Dapi%2Ctier+in+%28web%2Cedge%29&limit=500";
    let server = tokio::spawn(serve(
        handle,
        vec![
            Call {
                method: "GET",
                uri: "/apis/apps/v1/namespaces/shop/deployments/api".into(),
                body: None,
                reply: selected,
            },
            Call {
                method: "GET",
                uri: uri.into(),
                body: None,
                reply: json!({"apiVersion": "apps/v1", "kind": "ReplicaSetList",
                    "metadata": {"continue": "more"}, "items": [replica_set(2, "shop/api:v2", "bbb")]}),
            },
        ],
    ));
    let approval = approved(&p);
    let clearance = Clearance {
        approval: Some(&approval),
        auto: None,
        namespace: Some("shop"),
    };
    let err = run_plan(&executor, &p, &clearance, now())
        .await
        .expect_err("a partial list is refused");
    assert!(
        err.to_string().contains("more than 500 ReplicaSets"),
        "{err}"
    );
    server.await.expect("only the two reads");
    drop(executor);
}
