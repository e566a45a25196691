//! Objects the gatherer contract tests serve, as the apiserver returns them.

use serde_json::{Value, json};

/// The crash-looping pod of revision 2.
pub const TARGET: &str = "api-7d9f8c6b5-x2k4q";
/// A healthy pod of revision 1.
pub const SIBLING: &str = "api-5b7f8c9d4-h7gkl";

/// The previous instance's log of the target.
pub const STACK_TRACE: &str = "Starting PaymentsApiApplication v2.3.1\n\
Exception in thread \"main\" java.lang.IllegalStateException: DEPLOY_ENV is not set\n\
\tat com.example.payments.Config.load(Config.java:42)\n\
\tat com.example.payments.PaymentsApiApplication.main(PaymentsApiApplication.java:17)\n";

fn owner(kind: &str, name: &str, uid: &str) -> Value {
    let api = match kind {
        "ReplicaSet" | "Deployment" | "StatefulSet" | "ControllerRevision" => "apps/v1",
        _ => "batch/v1",
    };
    json!([{"apiVersion": api, "kind": kind, "name": name, "uid": uid, "controller": true}])
}

pub fn crashing_pod() -> Value {
    json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": TARGET, "namespace": "shop", "uid": "pod-2",
            "creationTimestamp": "2026-11-20T02:05:00Z",
            "labels": {"app": "api", "pod-template-hash": "7d9f8c6b5"},
            "ownerReferences": owner("ReplicaSet", "api-7d9f8c6b5", "rs-2")},
        "spec": {"nodeName": "worker-1",
            "imagePullSecrets": [{"name": "regcred"}],
            "containers": [{"name": "api", "image": "shop/api:v2",
                "envFrom": [{"configMapRef": {"name": "api-env"}}],
                "env": [{"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db-creds", "key": "password"}}}]}],
            "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}},
                        {"name": "tls", "secret": {"secretName": "api-tls"}}]},
        "status": {"phase": "Running",
            "containerStatuses": [{"name": "api", "image": "shop/api:v2", "imageID": "", "ready": false,
                "restartCount": 5,
                "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s restarting failed container"}},
                "lastState": {"terminated": {"exitCode": 1, "reason": "Error",
                    "startedAt": "2026-11-20T02:10:54Z", "finishedAt": "2026-11-20T02:11:02Z"}}}]}})
}

pub fn healthy_pod(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "shop", "uid": "pod-1",
            "creationTimestamp": "2026-11-19T10:00:00Z",
            "labels": {"app": "api", "pod-template-hash": "5b7f8c9d4"},
            "ownerReferences": owner("ReplicaSet", "api-5b7f8c9d4", "rs-1")},
        "spec": {"nodeName": "worker-1", "containers": [{"name": "api", "image": "shop/api:v1"}]},
        "status": {"phase": "Running",
            "containerStatuses": [{"name": "api", "image": "shop/api:v1", "imageID": "", "ready": true,
                "restartCount": 0, "state": {"running": {"startedAt": "2026-11-19T10:00:05Z"}}}]}})
}

pub fn deployment() -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "api", "namespace": "shop", "uid": "d-1", "generation": 2},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "api"}},
            "template": {"metadata": {"labels": {"app": "api"}},
                "spec": {"containers": [{"name": "api", "image": "shop/api:v2"}]}}},
        "status": {"observedGeneration": 2, "replicas": 2, "updatedReplicas": 1, "readyReplicas": 1, "availableReplicas": 1}})
}

pub fn replica_set(revision: u32, hash: &str, version: &str) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": format!("api-{hash}"), "namespace": "shop", "uid": format!("rs-{revision}"),
            "creationTimestamp": format!("2026-11-{}T02:00:00Z", 18 + revision),
            "labels": {"app": "api", "pod-template-hash": hash},
            "annotations": {"deployment.kubernetes.io/revision": revision.to_string()},
            "ownerReferences": owner("Deployment", "api", "d-1")},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "api", "pod-template-hash": hash}},
            "template": {"metadata": {"labels": {"app": "api", "pod-template-hash": hash}},
                "spec": {"containers": [{"name": "api", "image": format!("shop/api:{version}")}]}}},
        "status": {"replicas": 1, "readyReplicas": if revision == 1 { 1 } else { 0 }}})
}

pub fn back_off_event() -> Value {
    json!({"apiVersion": "v1", "kind": "Event",
        "metadata": {"name": format!("{TARGET}.18e99e8fd10329b7"), "namespace": "shop"},
        "involvedObject": {"kind": "Pod", "namespace": "shop", "name": TARGET, "fieldPath": "spec.containers{api}"},
        "reason": "BackOff", "type": "Warning", "count": 12,
        "message": "Back-off restarting failed container api in pod api-7d9f8c6b5-x2k4q_shop",
        "firstTimestamp": "2026-11-20T02:06:00Z", "lastTimestamp": "2026-11-20T02:12:40Z",
        "source": {"component": "kubelet", "host": "worker-1"}})
}

pub fn job(name: &str, of_cron: bool) -> Value {
    let mut job = json!({"apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": name, "namespace": "shop", "uid": format!("uid-{name}")},
        "spec": {"backoffLimit": 2,
            "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": format!("uid-{name}")}},
            "template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "sync", "image": "shop/sync:v1"}]}}},
        "status": {"failed": 3, "startTime": "2026-11-20T02:00:00Z",
            "conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
                "message": "Job has reached the specified backoff limit"}]}});
    if of_cron {
        job["metadata"]["ownerReferences"] = owner("CronJob", "sync", "cron-1");
    }
    job
}

pub fn cron_job() -> Value {
    json!({"apiVersion": "batch/v1", "kind": "CronJob",
        "metadata": {"name": "sync", "namespace": "shop", "uid": "cron-1"},
        "spec": {"schedule": "*/5 * * * *", "jobTemplate": {"spec": {"template": {"spec": {
            "restartPolicy": "Never", "containers": [{"name": "sync", "image": "shop/sync:v1"}]}}}}}})
}

pub fn job_pod() -> Value {
    json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "sync-2901-q7x2p", "namespace": "shop",
            "labels": {"batch.kubernetes.io/controller-uid": "uid-sync-2901"},
            "ownerReferences": owner("Job", "sync-2901", "uid-sync-2901")},
        "spec": {"restartPolicy": "Never", "containers": [{"name": "sync", "image": "shop/sync:v1"}]},
        "status": {"phase": "Failed",
            "containerStatuses": [{"name": "sync", "image": "shop/sync:v1", "imageID": "", "ready": false,
                "restartCount": 0, "state": {"terminated": {"exitCode": 1, "reason": "Error"}}}]}})
}

pub fn node() -> Value {
    json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "worker-1"},
        "spec": {},
        "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}]}})
}

pub fn claim() -> Value {
    json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {"name": "data", "namespace": "shop"},
        "spec": {"storageClassName": "standard", "volumeName": "pv-1", "accessModes": ["ReadWriteOnce"]},
        "status": {"phase": "Bound"}})
}

pub fn quota() -> Value {
    json!({"apiVersion": "v1", "kind": "ResourceQuota",
        "metadata": {"name": "compute", "namespace": "shop"},
        "spec": {"hard": {"limits.memory": "8Gi"}},
        "status": {"hard": {"limits.memory": "8Gi"}, "used": {"limits.memory": "6Gi"}}})
}

/// An autoscaler of Deployment `target`.
pub fn autoscaler(name: &str, target: &str) -> Value {
    json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name, "namespace": "shop"},
        "spec": {"minReplicas": 2, "maxReplicas": 10,
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target}},
        "status": {"currentReplicas": 2, "desiredReplicas": 2}})
}

/// A budget over pods labelled `app: <app>` that allows no disruption.
pub fn disruption_budget(name: &str, app: &str) -> Value {
    json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
        "metadata": {"name": name, "namespace": "shop"},
        "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": app}}},
        "status": {"currentHealthy": 1, "desiredHealthy": 2, "disruptionsAllowed": 0, "expectedPods": 2}})
}

/// A pod of no workload, running on worker-1.
pub fn bare_pod() -> Value {
    json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "cache-0", "namespace": "shop"},
        "spec": {"nodeName": "worker-1", "containers": [{"name": "api", "image": "redis:7"}]},
        "status": {"phase": "Running",
            "containerStatuses": [{"name": "api", "image": "redis:7", "imageID": "", "ready": true,
                "restartCount": 0, "state": {"running": {}}}]}})
}

/// A pod of no workload, not yet placed on a node's books, that restarted once.
pub fn bare_pod_restarted() -> Value {
    json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "cache-0", "namespace": "shop"},
        "spec": {"containers": [{"name": "api", "image": "redis:7"}]},
        "status": {"phase": "Running",
            "containerStatuses": [{"name": "api", "image": "redis:7", "imageID": "", "ready": true,
                "restartCount": 1, "state": {"running": {}},
                "lastState": {"terminated": {"exitCode": 137, "reason": "Error"}}}]}})
}

/// A running pod of the StatefulSet `db`.
pub fn stateful_pod(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "shop",
            "labels": {"app": "db", "controller-revision-hash": "db-6d4f7b9c8",
                       "statefulset.kubernetes.io/pod-name": name},
            "ownerReferences": owner("StatefulSet", "db", "sts-1")},
        "spec": {"containers": [{"name": "api", "image": "postgres:16"}]},
        "status": {"phase": "Running",
            "containerStatuses": [{"name": "api", "image": "postgres:16", "imageID": "", "ready": true,
                "restartCount": 0, "state": {"running": {}}}]}})
}

/// A pod of no workload that asks for a GPU and waits for a node: no scheduler has looked at it.
pub fn gpu_pending_pod() -> Value {
    json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "trainer-0", "namespace": "shop"},
        "spec": {"containers": [{"name": "api", "image": "trainer:1",
            "resources": {"requests": {"cpu": "2", "nvidia.com/gpu": "1"},
                          "limits": {"nvidia.com/gpu": "1"}}}]},
        "status": {"phase": "Pending"}})
}

/// A Ready worker with 4 CPUs and no GPU.
pub fn worker(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name},
        "spec": {},
        "status": {"allocatable": {"cpu": "4", "memory": "16Gi", "pods": "110"},
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}]}})
}

/// The StatefulSet `db`, mid-rollout from revision 1 to 2.
pub fn stateful_set() -> Value {
    json!({"apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": "db", "namespace": "shop", "uid": "sts-1"},
        "spec": {"replicas": 2, "serviceName": "db", "selector": {"matchLabels": {"app": "db"}},
            "template": {"metadata": {"labels": {"app": "db"}},
                "spec": {"containers": [{"name": "api", "image": "postgres:16"}]}}},
        "status": {"replicas": 2, "readyReplicas": 2, "updatedReplicas": 2,
            "currentRevision": "db-6d4f7b9c8", "updateRevision": "db-6d4f7b9c8"}})
}

/// A ControllerRevision of `owner` (uid `owner_uid`) recording `image`.
pub fn controller_revision(
    owner: &str,
    owner_uid: &str,
    hash: &str,
    revision: i64,
    image: &str,
) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "ControllerRevision",
        "metadata": {"name": format!("{owner}-{hash}"), "namespace": "shop",
            "labels": {"app": owner, "controller.kubernetes.io/hash": hash},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": owner,
                "uid": owner_uid, "controller": true}]},
        "revision": revision,
        "data": {"spec": {"template": {"$patch": "replace", "metadata": {"labels": {"app": owner}},
            "spec": {"containers": [{"name": "api", "image": image}]}}}}})
}
