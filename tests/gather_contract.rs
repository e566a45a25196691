//! Contract tests for the live gatherer, against a fake apiserver (tower-test): the exact method
//! and URI (labelSelector, fieldSelector, limit, tailLines, limitBytes, previous) of every call
//! for each kind of target, that Secrets are never requested, that a failed or refused request
//! degrades the evidence instead of failing (more in tests/gather_degrades.rs), and that the
//! calls are exactly the gatherer's declared API access (`k8s::access::GATHERER`).

use nightshift::domain::playbook::EvidenceSpec;
use nightshift::domain::signal::ObjectRef;
use nightshift::k8s::access::GATHERER;
use nightshift::k8s::collect::{GatherError, GatherLimits};
use serde_json::{Value, json};

mod apiserver;
mod gather_support;
mod rbac;

use apiserver::{Call, Reply, Seen, get, list};
use gather_support::objects as obj;
use gather_support::{
    APPS, BATCH, SHOP, controls, empty, events_uri, gather_with, ids, log_uri, namespace_limits,
};

static SEEN: Seen = Seen::new(Vec::new());

fn crash_loop_calls() -> Vec<Call> {
    let (target, sibling) = (obj::TARGET, obj::SIBLING);
    let mut calls = vec![
        get(
            format!("{SHOP}/pods/{target}"),
            Reply::Json(obj::crashing_pod()),
        ),
        get(
            format!("{APPS}/replicasets/api-7d9f8c6b5"),
            Reply::Json(obj::replica_set(2, "7d9f8c6b5", "v2")),
        ),
        get(
            format!("{APPS}/deployments/api"),
            Reply::Json(obj::deployment()),
        ),
        get(
            format!("{APPS}/replicasets?&labelSelector=app%3Dapi&limit=50"),
            Reply::Json(list(
                "ReplicaSetList",
                vec![
                    obj::replica_set(1, "5b7f8c9d4", "v1"),
                    obj::replica_set(2, "7d9f8c6b5", "v2"),
                ],
            )),
        ),
        get(
            format!("{SHOP}/pods?&labelSelector=app%3Dapi&limit=50"),
            Reply::Json(list(
                "PodList",
                vec![obj::crashing_pod(), obj::healthy_pod(sibling)],
            )),
        ),
        get(
            events_uri(Some("shop"), "Deployment", "api"),
            empty("EventList"),
        ),
        get(
            events_uri(Some("default"), "Node", "worker-1"),
            Reply::Status(500),
        ),
        get(
            events_uri(Some("shop"), "PersistentVolumeClaim", "data"),
            empty("EventList"),
        ),
        get(events_uri(Some("shop"), "Pod", sibling), empty("EventList")),
        get(
            events_uri(Some("shop"), "Pod", target),
            Reply::Json(list("EventList", vec![obj::back_off_event()])),
        ),
        get(
            events_uri(Some("shop"), "ReplicaSet", "api-5b7f8c9d4"),
            empty("EventList"),
        ),
        get(
            events_uri(Some("shop"), "ReplicaSet", "api-7d9f8c6b5"),
            empty("EventList"),
        ),
        get(
            log_uri(target, true, 201, 131072),
            Reply::Text(obj::STACK_TRACE.into()),
        ),
        get(
            log_uri(sibling, false, 201, 131072),
            Reply::Text("started\n".into()),
        ),
        get("/api/v1/nodes/worker-1", Reply::Json(obj::node())),
        get(
            format!("{SHOP}/persistentvolumeclaims/data"),
            Reply::Json(obj::claim()),
        ),
        get(format!("{SHOP}/configmaps/api-env"), Reply::Status(404)),
    ];
    calls.extend(namespace_limits(
        Reply::Json(list("ResourceQuotaList", vec![obj::quota()])),
        Reply::Status(403),
    ));
    calls.extend(controls(
        Some(Reply::Json(list(
            "HorizontalPodAutoscalerList",
            vec![
                obj::autoscaler("other", "web"),
                obj::autoscaler("api", "api"),
            ],
        ))),
        Reply::Json(list(
            "PodDisruptionBudgetList",
            vec![
                obj::disruption_budget("web", "web"),
                obj::disruption_budget("api", "api"),
            ],
        )),
    ));
    calls
}

async fn contract_a_crash_looping_pod_is_gathered_with_its_owners_siblings_events_and_logs() {
    let target = ObjectRef::namespaced("Pod", "shop", obj::TARGET);
    let workload = ObjectRef::namespaced("Deployment", "shop", "api");
    let gathered = gather_with(
        &SEEN,
        GatherLimits::default(),
        target,
        Some(workload.clone()),
        EvidenceSpec::default(),
        crash_loop_calls(),
    )
    .await;
    let ids = ids(&gathered);
    for id in [
        "pod/shop/api-7d9f8c6b5-x2k4q",
        "pod/shop/api-5b7f8c9d4-h7gkl",
        "rollout/shop/api",
        "node/worker-1",
        "pvc/shop/data",
        "quota/shop/compute",
        "event/shop/api-7d9f8c6b5-x2k4q.18e99e8fd10329b7",
        "log/api-7d9f8c6b5-x2k4q/api/previous",
        "log/api-5b7f8c9d4-h7gkl/api",
        "pdb/shop/api",
    ] {
        assert!(ids.contains(&id), "{id} missing from {ids:?}");
    }
    assert!(
        !ids.iter()
            .any(|id| id.starts_with("configmap/") || id.starts_with("secret/")),
        "{ids:?}"
    );
    assert!(!ids.contains(&"pdb/shop/web"), "a budget over other pods");
    let (_, rollout) = gathered.evidence.rollouts().next().expect("rollout");
    assert_eq!(rollout.revisions.len(), 2);
    let hpa = rollout.autoscaler.as_ref().expect("the autoscaler of api");
    assert_eq!((hpa.name.as_str(), hpa.max_replicas), ("api", 10));
    assert_eq!(gathered.workload, Some(workload));
    let labels: Vec<&str> = gathered
        .errors
        .iter()
        .map(GatherError::metric_label)
        .collect();
    assert_eq!(labels, vec!["api", "forbidden"], "{:?}", gathered.errors);
    assert!(gathered.errors[0].to_string().contains("list events"));
    assert!(!gathered.timed_out());
}

#[tokio::test]
async fn a_crash_looping_pod_is_gathered_with_its_owners_siblings_events_and_logs() {
    contract_a_crash_looping_pod_is_gathered_with_its_owners_siblings_events_and_logs().await;
}

#[tokio::test]
async fn secrets_are_never_requested_even_when_the_pod_references_them() {
    let pod = obj::crashing_pod();
    let text = pod.to_string();
    assert!(text.contains("secretKeyRef") && text.contains("imagePullSecrets"));
    contract_a_crash_looping_pod_is_gathered_with_its_owners_siblings_events_and_logs().await;
    let seen = SEEN.lock().expect("lock").clone();
    assert!(
        !seen.iter().any(|(_, path)| path.contains("/secrets")),
        "{seen:?}"
    );
}

async fn contract_a_failed_job_of_a_cronjob_is_gathered_with_the_cronjobs_recent_runs() {
    let mut calls = vec![
        get(
            format!("{BATCH}/jobs/sync-2901"),
            Reply::Json(obj::job("sync-2901", true)),
        ),
        get(
            format!("{BATCH}/cronjobs/sync"),
            Reply::Json(obj::cron_job()),
        ),
        get(
            format!("{BATCH}/jobs?&limit=50"),
            Reply::Json(list(
                "JobList",
                vec![
                    obj::job("sync-2900", true),
                    obj::job("sync-2901", true),
                    obj::job("other-1", false),
                ],
            )),
        ),
        get(
            format!(
                "{SHOP}/pods?&labelSelector=batch.kubernetes.io%2Fcontroller-uid%3Duid-sync-2901&limit=50"
            ),
            Reply::Json(list("PodList", vec![obj::job_pod()])),
        ),
        get(
            events_uri(Some("shop"), "CronJob", "sync"),
            empty("EventList"),
        ),
        get(
            events_uri(Some("shop"), "Job", "sync-2900"),
            empty("EventList"),
        ),
        get(
            events_uri(Some("shop"), "Job", "sync-2901"),
            empty("EventList"),
        ),
        get(
            events_uri(Some("shop"), "Pod", "sync-2901-q7x2p"),
            empty("EventList"),
        ),
        get(
            format!(
                "{SHOP}/pods/sync-2901-q7x2p/log?&container=sync&limitBytes=131072&tailLines=201"
            ),
            Reply::Text("psycopg.OperationalError: connection refused\n".into()),
        ),
    ];
    calls.extend(namespace_limits(
        empty("ResourceQuotaList"),
        empty("LimitRangeList"),
    ));
    calls.extend(controls(None, empty("PodDisruptionBudgetList")));
    let target = ObjectRef::namespaced("Job", "shop", "sync-2901");
    let gathered = gather_with(
        &SEEN,
        GatherLimits::default(),
        target,
        None,
        EvidenceSpec::default(),
        calls,
    )
    .await;
    let ids = ids(&gathered);
    for id in [
        "job/shop/sync-2901",
        "job/shop/sync-2900",
        "cronjob/shop/sync",
        "log/sync-2901-q7x2p/sync",
    ] {
        assert!(ids.contains(&id), "{id} missing from {ids:?}");
    }
    assert!(
        !ids.contains(&"job/shop/other-1"),
        "a Job of no CronJob of ours"
    );
    assert_eq!(
        gathered.workload,
        Some(ObjectRef::namespaced("CronJob", "shop", "sync"))
    );
    assert!(gathered.errors.is_empty(), "{:?}", gathered.errors);
}

#[tokio::test]
async fn a_failed_job_of_a_cronjob_is_gathered_with_the_cronjobs_recent_runs() {
    contract_a_failed_job_of_a_cronjob_is_gathered_with_the_cronjobs_recent_runs().await;
}

async fn contract_a_node_is_gathered_with_the_pods_on_it_across_namespaces() {
    let calls = vec![
        get("/api/v1/nodes/worker-1", Reply::Json(obj::node())),
        get(
            "/api/v1/pods?&fieldSelector=spec.nodeName%3Dworker-1&limit=50",
            Reply::Json(list("PodList", vec![obj::bare_pod()])),
        ),
        get(
            events_uri(Some("default"), "Node", "worker-1"),
            empty("EventList"),
        ),
        get(events_uri(None, "Pod", "cache-0"), empty("EventList")),
        get(
            log_uri("cache-0", false, 201, 131072),
            Reply::Text("ready\n".into()),
        ),
    ];
    let target = ObjectRef::cluster("Node", "worker-1");
    let gathered = gather_with(
        &SEEN,
        GatherLimits::default(),
        target,
        None,
        EvidenceSpec::default(),
        calls,
    )
    .await;
    assert_eq!(
        ids(&gathered),
        vec!["pod/shop/cache-0", "node/worker-1", "log/cache-0/api"]
    );
    assert!(gathered.errors.is_empty(), "{:?}", gathered.errors);
}

#[tokio::test]
async fn a_node_is_gathered_with_the_pods_on_it_across_namespaces() {
    contract_a_node_is_gathered_with_the_pods_on_it_across_namespaces().await;
}

async fn contract_a_statefulset_pod_is_gathered_with_its_controller_revisions() {
    let mut calls = vec![
        get(
            format!("{SHOP}/pods/db-1"),
            Reply::Json(obj::stateful_pod("db-1")),
        ),
        get(
            format!("{APPS}/statefulsets/db"),
            Reply::Json(obj::stateful_set()),
        ),
        get(
            format!("{APPS}/controllerrevisions?&labelSelector=app%3Ddb&limit=50"),
            Reply::Json(list(
                "ControllerRevisionList",
                vec![
                    obj::controller_revision("db", "sts-1", "5c7d8e9f6", 1, "postgres:15"),
                    obj::controller_revision("db", "sts-1", "6d4f7b9c8", 2, "postgres:16"),
                    obj::controller_revision("db", "sts-other", "7e8f9a0b1", 3, "postgres:17"),
                ],
            )),
        ),
        get(
            format!("{SHOP}/pods?&labelSelector=app%3Ddb&limit=50"),
            Reply::Json(list(
                "PodList",
                vec![obj::stateful_pod("db-0"), obj::stateful_pod("db-1")],
            )),
        ),
        get(events_uri(Some("shop"), "Pod", "db-0"), empty("EventList")),
        get(events_uri(Some("shop"), "Pod", "db-1"), empty("EventList")),
        get(
            events_uri(Some("shop"), "StatefulSet", "db"),
            empty("EventList"),
        ),
        get(
            log_uri("db-1", false, 201, 131072),
            Reply::Text("ready\n".into()),
        ),
        get(log_uri("db-0", false, 201, 131072), Reply::Text("".into())),
    ];
    calls.extend(namespace_limits(
        empty("ResourceQuotaList"),
        empty("LimitRangeList"),
    ));
    calls.extend(controls(None, empty("PodDisruptionBudgetList")));
    let target = ObjectRef::namespaced("Pod", "shop", "db-1");
    let gathered = gather_with(
        &SEEN,
        GatherLimits::default(),
        target,
        None,
        EvidenceSpec::default(),
        calls,
    )
    .await;
    assert_eq!(
        ids(&gathered),
        vec![
            "pod/shop/db-1",
            "pod/shop/db-0",
            "rollout/shop/db",
            "log/db-1/api"
        ]
    );
    let rollout = gathered.evidence.rollouts().next().expect("rollout").1;
    let revisions: Vec<_> = rollout.revisions.iter().map(|r| r.revision).collect();
    assert_eq!(
        revisions,
        vec![1, 2],
        "another StatefulSet's revision is not this one's"
    );
    assert_eq!(rollout.in_progress, Some(false));
    assert!(gathered.errors.is_empty(), "{:?}", gathered.errors);
}

async fn contract_a_daemonset_that_is_gone_leaves_its_pod_gathered_by_shared_labels() {
    let mut pod = obj::stateful_pod("agent-x1");
    pod["metadata"]["labels"] = json!({"app": "agent", "controller-revision-hash": "6c9f8d7b5",
        "pod-template-generation": "2"});
    pod["metadata"]["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": "DaemonSet",
        "name": "agent", "uid": "ds-1", "controller": true}]);
    let mut calls = vec![
        get(format!("{SHOP}/pods/agent-x1"), Reply::Json(pod.clone())),
        get(format!("{APPS}/daemonsets/agent"), Reply::Status(404)),
        get(
            format!("{SHOP}/pods?&labelSelector=app%3Dagent&limit=50"),
            Reply::Json(list("PodList", vec![pod])),
        ),
        get(
            events_uri(Some("shop"), "DaemonSet", "agent"),
            empty("EventList"),
        ),
        get(
            events_uri(Some("shop"), "Pod", "agent-x1"),
            empty("EventList"),
        ),
        get(
            log_uri("agent-x1", false, 201, 131072),
            Reply::Text("ok\n".into()),
        ),
    ];
    calls.extend(namespace_limits(
        empty("ResourceQuotaList"),
        empty("LimitRangeList"),
    ));
    calls.extend(controls(None, empty("PodDisruptionBudgetList")));
    let target = ObjectRef::namespaced("Pod", "shop", "agent-x1");
    let gathered = gather_with(
        &SEEN,
        GatherLimits::default(),
        target,
        None,
        EvidenceSpec::default(),
        calls,
    )
    .await;
    assert_eq!(
        ids(&gathered),
        vec!["pod/shop/agent-x1", "log/agent-x1/api"]
    );
    assert!(
        gathered.errors.is_empty(),
        "a 404 is missing evidence: {:?}",
        gathered.errors
    );
}

#[tokio::test]
async fn a_daemonset_that_is_gone_leaves_its_pod_gathered_by_shared_labels() {
    contract_a_daemonset_that_is_gone_leaves_its_pod_gathered_by_shared_labels().await;
}

#[tokio::test]
async fn a_statefulset_pod_is_gathered_with_its_controller_revisions() {
    contract_a_statefulset_pod_is_gathered_with_its_controller_revisions().await;
}

#[tokio::test]
async fn pods_of_a_statefulset_that_cannot_be_read_are_listed_by_the_labels_its_pods_share() {
    let mut calls = vec![
        get(
            format!("{SHOP}/pods/db-1"),
            Reply::Json(obj::stateful_pod("db-1")),
        ),
        get(format!("{APPS}/statefulsets/db"), Reply::Status(404)),
        get(
            format!("{SHOP}/pods?&labelSelector=app%3Ddb&limit=50"),
            Reply::Json(list(
                "PodList",
                vec![obj::stateful_pod("db-0"), obj::stateful_pod("db-1")],
            )),
        ),
        get(events_uri(Some("shop"), "Pod", "db-0"), empty("EventList")),
        get(events_uri(Some("shop"), "Pod", "db-1"), empty("EventList")),
        get(
            events_uri(Some("shop"), "StatefulSet", "db"),
            empty("EventList"),
        ),
        get(
            log_uri("db-1", false, 201, 131072),
            Reply::Text("ready\n".into()),
        ),
        get(log_uri("db-0", false, 201, 131072), Reply::Text("".into())),
    ];
    calls.extend(namespace_limits(
        empty("ResourceQuotaList"),
        empty("LimitRangeList"),
    ));
    calls.extend(controls(None, empty("PodDisruptionBudgetList")));
    let target = ObjectRef::namespaced("Pod", "shop", "db-1");
    let gathered = gather_with(
        &SEEN,
        GatherLimits::default(),
        target,
        None,
        EvidenceSpec::default(),
        calls,
    )
    .await;
    assert_eq!(
        ids(&gathered),
        vec!["pod/shop/db-1", "pod/shop/db-0", "log/db-1/api"],
        "an empty log is no evidence"
    );
    assert_eq!(
        gathered.workload,
        Some(ObjectRef::namespaced("StatefulSet", "shop", "db"))
    );
}

async fn contract_a_pending_pod_is_gathered_with_the_nodes_it_might_go_to() {
    let mut bound = obj::bare_pod();
    bound["spec"]["containers"][0]["resources"] = json!({"requests": {"cpu": "3"}});
    let calls = vec![
        get(
            format!("{SHOP}/pods/trainer-0"),
            Reply::Json(obj::gpu_pending_pod()),
        ),
        get(
            "/api/v1/nodes?&limit=100",
            Reply::Json(list(
                "NodeList",
                vec![obj::worker("worker-1"), obj::worker("worker-2")],
            )),
        ),
        get(
            "/api/v1/pods?&fieldSelector=spec.nodeName%21%3D%2Cstatus.phase%21%3DSucceeded%2Cstatus.phase%21%3DFailed&limit=1000",
            Reply::Json(list("PodList", vec![bound])),
        ),
        get(
            events_uri(Some("shop"), "Pod", "trainer-0"),
            empty("EventList"),
        ),
    ];
    let mut calls = calls;
    calls.extend(namespace_limits(
        empty("ResourceQuotaList"),
        empty("LimitRangeList"),
    ));
    calls.extend(controls(None, empty("PodDisruptionBudgetList")));
    let target = ObjectRef::namespaced("Pod", "shop", "trainer-0");
    let gathered = gather_with(
        &SEEN,
        GatherLimits::default(),
        target,
        None,
        EvidenceSpec::default(),
        calls,
    )
    .await;
    assert_eq!(
        ids(&gathered),
        vec!["pod/shop/trainer-0", "node/worker-1", "node/worker-2"]
    );
    let nodes: Vec<_> = gathered.evidence.nodes().map(|(_, n)| n).collect();
    assert!(nodes.iter().all(|n| n.candidate));
    assert_eq!(
        nodes[0].requested.get("cpu"),
        Some(&3000),
        "cache-0 runs on worker-1"
    );
    assert_eq!(nodes[1].pods_counted, 0);
    assert!(gathered.errors.is_empty(), "{:?}", gathered.errors);
}

#[tokio::test]
async fn a_pending_pod_is_gathered_with_the_nodes_it_might_go_to() {
    contract_a_pending_pod_is_gathered_with_the_nodes_it_might_go_to().await;
}

#[tokio::test]
async fn a_quota_alert_is_gathered_with_the_creations_its_quota_refused() {
    let refused = |name: &str, quota: &str| {
        json!({"apiVersion": "v1", "kind": "Event",
            "metadata": {"name": format!("{name}.1"), "namespace": "shop"},
            "involvedObject": {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": name, "namespace": "shop"},
            "reason": "FailedCreate", "type": "Warning", "count": 3,
            "message": format!("Error creating: pods \"{name}-x\" is forbidden: exceeded quota: {quota}, requested: requests.memory=1Gi, used: requests.memory=8Gi, limited: requests.memory=8Gi")})
    };
    let mut calls = vec![
        get(
            events_uri(Some("shop"), "ResourceQuota", "compute"),
            empty("EventList"),
        ),
        get(
            format!("{SHOP}/events?&fieldSelector=reason%3DFailedCreate&limit=50"),
            Reply::Json(list(
                "EventList",
                vec![
                    refused("api-7d9f8c6b5", "compute"),
                    refused("web-5b7f8c9d4", "other"),
                ],
            )),
        ),
    ];
    calls.extend(namespace_limits(
        Reply::Json(list("ResourceQuotaList", vec![obj::quota()])),
        empty("LimitRangeList"),
    ));
    calls.extend(controls(None, empty("PodDisruptionBudgetList")));
    let target = ObjectRef::namespaced("ResourceQuota", "shop", "compute");
    let gathered = gather_with(
        &SEEN,
        GatherLimits::default(),
        target,
        None,
        EvidenceSpec::default(),
        calls,
    )
    .await;
    assert_eq!(
        ids(&gathered),
        vec!["quota/shop/compute", "event/shop/api-7d9f8c6b5.1"],
        "a refusal by another quota is not this one's"
    );
    assert!(gathered.errors.is_empty(), "{:?}", gathered.errors);
}

#[tokio::test]
async fn every_call_the_gatherer_makes_is_declared_and_every_declared_access_is_exercised() {
    // Run the contracts here too, so this test does not depend on test order.
    contract_a_crash_looping_pod_is_gathered_with_its_owners_siblings_events_and_logs().await;
    contract_a_failed_job_of_a_cronjob_is_gathered_with_the_cronjobs_recent_runs().await;
    contract_a_node_is_gathered_with_the_pods_on_it_across_namespaces().await;
    contract_a_pending_pod_is_gathered_with_the_nodes_it_might_go_to().await;
    contract_a_statefulset_pod_is_gathered_with_its_controller_revisions().await;
    contract_a_daemonset_that_is_gone_leaves_its_pod_gathered_by_shared_labels().await;
    let seen = SEEN.lock().expect("lock").clone();
    rbac::assert_declared("gatherer", &seen, GATHERER);
    rbac::assert_exercised("gatherer", &seen, GATHERER);
}

#[test]
fn the_fixture_objects_parse_as_kubernetes_objects() {
    let docs: Vec<Value> = vec![
        obj::crashing_pod(),
        obj::healthy_pod(obj::SIBLING),
        obj::deployment(),
        obj::replica_set(1, "5b7f8c9d4", "v1"),
        obj::job("sync-2901", true),
        obj::cron_job(),
        obj::job_pod(),
        obj::node(),
        obj::claim(),
        obj::quota(),
        obj::back_off_event(),
        json!({"kind": "List", "items": [obj::bare_pod(), obj::bare_pod_restarted()]}),
    ];
    let mut set = nightshift::k8s::objects::ObjectSet::default();
    for (i, doc) in docs.into_iter().enumerate() {
        set.add(doc, "contract", i + 1).expect("a valid object");
    }
    assert_eq!(set.pods.len(), 5);
}
