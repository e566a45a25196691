//! For each catalog action, doing it with the real kubectl and doing it with nightshift's
//! executor, on two identical simulated clusters, leaves the same cluster state. Without
//! kubectl the tests fail, unless NIGHTSHIFT_SKIP_KUBECTL=1 skips them on purpose.

use std::path::PathBuf;

use jiff::Timestamp;
use nightshift::domain::catalog::Tool;
use nightshift::sim::SimCluster;
use serde_json::{Value, json};

mod kubectl;
mod sim_harness;

const OBJECTS: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
  namespace: shop
  uid: 0d2c0a5e-0000-4000-8000-000000000001
  generation: 2
  annotations:
    deployment.kubernetes.io/revision: "2"
    kubernetes.io/change-cause: kubectl set image deployment/api api=shop/api:v2
    team.example.com/owner: payments
spec:
  replicas: 2
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      containers:
      - name: api
        image: shop/api:v2
        env: [{name: MODE, value: strict}]
        resources: {limits: {memory: 512Mi}}
---
apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: api-5b7f8c9d4
  namespace: shop
  annotations:
    deployment.kubernetes.io/revision: "1"
    deployment.kubernetes.io/desired-replicas: "2"
    deployment.kubernetes.io/max-replicas: "3"
    kubernetes.io/change-cause: release v1
    team.example.com/owner: payments
  labels: {app: api, pod-template-hash: 5b7f8c9d4}
  ownerReferences: [{apiVersion: apps/v1, kind: Deployment, name: api, uid: 0d2c0a5e-0000-4000-8000-000000000001, controller: true, blockOwnerDeletion: true}]
spec:
  replicas: 0
  selector: {matchLabels: {app: api, pod-template-hash: 5b7f8c9d4}}
  template:
    metadata: {labels: {app: api, pod-template-hash: 5b7f8c9d4}}
    spec:
      containers:
      - name: api
        image: shop/api:v1
        resources: {limits: {memory: 512Mi}}
---
apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: api-6c8d9e7f5
  namespace: shop
  annotations:
    deployment.kubernetes.io/revision: "2"
    deployment.kubernetes.io/desired-replicas: "2"
    deployment.kubernetes.io/max-replicas: "3"
    kubernetes.io/change-cause: kubectl set image deployment/api api=shop/api:v2
    team.example.com/owner: payments
  labels: {app: api, pod-template-hash: 6c8d9e7f5}
  ownerReferences: [{apiVersion: apps/v1, kind: Deployment, name: api, uid: 0d2c0a5e-0000-4000-8000-000000000001, controller: true, blockOwnerDeletion: true}]
spec:
  replicas: 2
  selector: {matchLabels: {app: api, pod-template-hash: 6c8d9e7f5}}
  template:
    metadata: {labels: {app: api, pod-template-hash: 6c8d9e7f5}}
    spec:
      containers:
      - name: api
        image: shop/api:v2
        env: [{name: MODE, value: strict}]
        resources: {limits: {memory: 512Mi}}
---
apiVersion: v1
kind: Pod
metadata: {name: api-6c8d9e7f5-x2k4q, namespace: shop, labels: {app: api, pod-template-hash: 6c8d9e7f5}}
spec:
  nodeName: worker-1
  containers: [{name: api, image: shop/api:v2}]
---
apiVersion: v1
kind: Node
metadata: {name: worker-1}
spec: {}
---
apiVersion: v1
kind: Node
metadata: {name: worker-2}
spec: {unschedulable: true, taints: [{key: node.kubernetes.io/unschedulable, effect: NoSchedule}]}
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: sync, namespace: shop}
spec:
  schedule: "*/5 * * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers: [{name: sync, image: shop/sync:v1}]
"#;

/// A served cluster holding [`OBJECTS`], and the kubectl to drive it with.
struct Sim {
    kubectl: kubectl::Kubectl,
    sim: sim_harness::Sim,
}

async fn start(path: PathBuf) -> Sim {
    let cluster = SimCluster::new();
    cluster.apply_yaml(OBJECTS).expect("objects load");
    let sim = sim_harness::start(cluster).await;
    Sim {
        kubectl: kubectl::Kubectl::new(path, &sim.kubeconfig),
        sim,
    }
}

async fn execute(sim: &Sim, tool: Tool, params: Value) {
    sim_harness::run_approved(&sim.sim.client, tool, params, "shop", "fidelity-test").await;
}

/// The object without what legitimately differs between two clusters: bookkeeping, and the
/// restart time's value (not its form: kubectl writes whole seconds, RFC 3339).
fn comparable(object: Option<Value>) -> Option<Value> {
    let mut object = object?;
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        for key in [
            "resourceVersion",
            "managedFields",
            "creationTimestamp",
            "uid",
        ] {
            meta.remove(key);
        }
        if let Some(annotations) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
            annotations.remove("kubectl.kubernetes.io/last-applied-configuration");
        }
    }
    if let Some(stamp) =
        object.pointer_mut("/spec/template/metadata/annotations/kubectl.kubernetes.io~1restartedAt")
    {
        let whole_seconds = stamp.as_str().is_some_and(|s| {
            s.parse::<Timestamp>()
                .is_ok_and(|t| t.subsec_nanosecond() == 0 && !s.contains('.'))
        });
        if whole_seconds {
            *stamp = json!("<restart time, whole seconds>");
        }
    }
    Some(object)
}

/// Does `kubectl args` on one cluster and `tool params` on another, then compares `kind/name`.
async fn same_state(
    kubectl_args: &[&str],
    tool: Tool,
    params: Value,
    kind: &str,
    namespace: Option<&str>,
    name: &str,
) {
    let Some(path) = kubectl::kubectl(&format!("{tool} vs kubectl {kubectl_args:?}")) else {
        return;
    };
    let (by_kubectl, by_nightshift) = (start(path.clone()).await, start(path).await);
    let before = comparable(
        by_kubectl
            .sim
            .cluster
            .get(kind, namespace.unwrap_or(""), name),
    );
    by_kubectl.kubectl.ok(kubectl_args).await;
    execute(&by_nightshift, tool, params).await;
    let a = comparable(
        by_kubectl
            .sim
            .cluster
            .get(kind, namespace.unwrap_or(""), name),
    );
    let raw = by_nightshift
        .sim
        .cluster
        .get(kind, namespace.unwrap_or(""), name);
    if let Some(object) = &raw {
        let managers: Vec<&str> = object["metadata"]["managedFields"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| m["manager"].as_str())
            .collect();
        assert!(
            managers.contains(&"nightshift"),
            "{tool} wrote as field manager nightshift: {managers:?}"
        );
    }
    let b = comparable(raw);
    assert_eq!(
        a, b,
        "kubectl {kubectl_args:?} and {tool} left different {kind}/{name}"
    );
    assert_ne!(
        before, a,
        "kubectl {kubectl_args:?} changed nothing: the comparison proves nothing"
    );
}

#[tokio::test]
async fn rollback_leaves_the_same_deployment_as_kubectl_rollout_undo() {
    same_state(
        &[
            "rollout",
            "undo",
            "deployment/api",
            "-n",
            "shop",
            "--to-revision=1",
        ],
        Tool::DeploymentRollback,
        json!({"namespace": "shop", "name": "api", "to_revision": 1}),
        "Deployment",
        Some("shop"),
        "api",
    )
    .await;
}

#[tokio::test]
async fn rollback_to_the_previous_revision_leaves_the_same_deployment_as_kubectl_rollout_undo() {
    same_state(
        &["rollout", "undo", "deployment/api", "-n", "shop"],
        Tool::DeploymentRollback,
        json!({"namespace": "shop", "name": "api"}),
        "Deployment",
        Some("shop"),
        "api",
    )
    .await;
}

#[tokio::test]
async fn restart_leaves_the_same_deployment_as_kubectl_rollout_restart() {
    same_state(
        &["rollout", "restart", "deployment/api", "-n", "shop"],
        Tool::DeploymentRestart,
        json!({"namespace": "shop", "name": "api"}),
        "Deployment",
        Some("shop"),
        "api",
    )
    .await;
}

#[tokio::test]
async fn scale_leaves_the_same_deployment_as_kubectl_scale() {
    same_state(
        &["scale", "deployment/api", "-n", "shop", "--replicas=4"],
        Tool::DeploymentScale,
        json!({"namespace": "shop", "name": "api", "replicas": 4}),
        "Deployment",
        Some("shop"),
        "api",
    )
    .await;
}

#[tokio::test]
async fn set_resources_leaves_the_same_deployment_as_kubectl_set_resources() {
    same_state(
        &[
            "set",
            "resources",
            "deployment/api",
            "-n",
            "shop",
            "-c",
            "api",
            "--limits=memory=768Mi",
        ],
        Tool::DeploymentSetResources,
        json!({"namespace": "shop", "name": "api", "container": "api", "memory_limit": "768Mi"}),
        "Deployment",
        Some("shop"),
        "api",
    )
    .await;
}

#[tokio::test]
async fn pod_delete_leaves_the_same_state_as_kubectl_delete_pod() {
    same_state(
        &["delete", "pod", "api-6c8d9e7f5-x2k4q", "-n", "shop"],
        Tool::PodDelete,
        json!({"namespace": "shop", "name": "api-6c8d9e7f5-x2k4q"}),
        "Pod",
        Some("shop"),
        "api-6c8d9e7f5-x2k4q",
    )
    .await;
}

#[tokio::test]
async fn cordon_leaves_the_same_node_as_kubectl_cordon() {
    same_state(
        &["cordon", "worker-1"],
        Tool::NodeCordon,
        json!({"name": "worker-1"}),
        "Node",
        None,
        "worker-1",
    )
    .await;
}

#[tokio::test]
async fn uncordon_leaves_the_same_node_as_kubectl_uncordon() {
    same_state(
        &["uncordon", "worker-2"],
        Tool::NodeUncordon,
        json!({"name": "worker-2"}),
        "Node",
        None,
        "worker-2",
    )
    .await;
}

#[tokio::test]
async fn suspend_leaves_the_same_cronjob_as_kubectl_patch() {
    same_state(
        &[
            "patch",
            "cronjob/sync",
            "-n",
            "shop",
            "-p",
            r#"{"spec":{"suspend":true}}"#,
        ],
        Tool::CronjobSuspend,
        json!({"namespace": "shop", "name": "sync"}),
        "CronJob",
        Some("shop"),
        "sync",
    )
    .await;
}
