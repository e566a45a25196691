//! StatefulSet and DaemonSet rollouts from ControllerRevisions, and the scheduling facts of a
//! pod and a node, from objects as `kubectl get -o yaml` prints them.

use jiff::Timestamp;

use crate::diagnose::rollout;
use crate::domain::evidence::PodFacts;
use crate::k8s::objects::ObjectSet;

const STATEFUL: &str = r#"
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: shop, uid: sts-1, generation: 4}
spec:
  replicas: 3
  serviceName: db
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec: {containers: [{name: db, image: "postgres:16.3", args: ["-c", "max_connections=200"]}]}
status:
  replicas: 3
  readyReplicas: 2
  updatedReplicas: 1
  currentRevision: db-6d4f7b9c8
  updateRevision: db-7b9c8d6f5
---
apiVersion: apps/v1
kind: ControllerRevision
metadata:
  name: db-7b9c8d6f5
  namespace: shop
  creationTimestamp: "2026-11-20T02:00:00Z"
  labels: {app: db, controller.kubernetes.io/hash: 7b9c8d6f5}
  ownerReferences: [{apiVersion: apps/v1, kind: StatefulSet, name: db, uid: sts-1, controller: true}]
revision: 3
data:
  spec:
    template:
      $patch: replace
      metadata: {labels: {app: db}}
      spec: {containers: [{name: db, image: "postgres:16.3", args: ["-c", "max_connections=200"]}]}
---
apiVersion: apps/v1
kind: ControllerRevision
metadata:
  name: db-6d4f7b9c8
  namespace: shop
  creationTimestamp: "2026-10-01T00:00:00Z"
  labels: {app: db, controller.kubernetes.io/hash: 6d4f7b9c8}
  ownerReferences: [{apiVersion: apps/v1, kind: StatefulSet, name: db, uid: sts-1, controller: true}]
revision: 2
data:
  spec:
    template:
      $patch: replace
      metadata: {labels: {app: db}}
      spec: {containers: [{name: db, image: "postgres:16.2"}]}
---
apiVersion: apps/v1
kind: ControllerRevision
metadata:
  name: other-5f5f5f5f5
  namespace: shop
  ownerReferences: [{apiVersion: apps/v1, kind: StatefulSet, name: other, uid: sts-2, controller: true}]
revision: 9
data: {spec: {template: {spec: {containers: [{name: x, image: x}]}}}}
---
apiVersion: v1
kind: Pod
metadata:
  name: db-0
  namespace: shop
  labels: {app: db, controller-revision-hash: db-6d4f7b9c8}
  ownerReferences: [{apiVersion: apps/v1, kind: StatefulSet, name: db, uid: sts-1, controller: true}]
spec: {containers: [{name: db, image: "postgres:16.2"}]}
status:
  phase: Running
  conditions: [{type: Ready, status: "True"}]
  containerStatuses: [{name: db, image: "postgres:16.2", imageID: "", ready: true, restartCount: 0, state: {running: {}}}]
---
apiVersion: v1
kind: Pod
metadata:
  name: db-2
  namespace: shop
  labels: {app: db, controller-revision-hash: db-7b9c8d6f5}
  ownerReferences: [{apiVersion: apps/v1, kind: StatefulSet, name: db, uid: sts-1, controller: true}]
spec: {containers: [{name: db, image: "postgres:16.3"}]}
status:
  phase: Running
  containerStatuses: [{name: db, image: "postgres:16.3", imageID: "", ready: false, restartCount: 4, state: {waiting: {reason: CrashLoopBackOff}}}]
"#;

const DAEMON: &str = r#"
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, namespace: ops, uid: ds-1}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec: {containers: [{name: agent, image: "agent:2", env: [{name: MODE, value: fast}]}]}
status: {currentNumberScheduled: 3, desiredNumberScheduled: 3, numberMisscheduled: 0, numberReady: 3, updatedNumberScheduled: 3, numberAvailable: 3}
---
apiVersion: apps/v1
kind: ControllerRevision
metadata:
  name: agent-59d8c7b6f
  namespace: ops
  ownerReferences: [{apiVersion: apps/v1, kind: DaemonSet, name: agent, uid: ds-1, controller: true}]
revision: 1
data: {spec: {template: {spec: {containers: [{name: agent, image: "agent:1", env: [{name: MODE, value: safe}]}]}}}}
---
apiVersion: apps/v1
kind: ControllerRevision
metadata:
  name: agent-6c9f8d7b5
  namespace: ops
  ownerReferences: [{apiVersion: apps/v1, kind: DaemonSet, name: agent, uid: ds-1, controller: true}]
revision: 2
data: {spec: {template: {spec: {containers: [{name: agent, image: "agent:2", env: [{name: MODE, value: fast}]}]}}}}
---
apiVersion: v1
kind: Pod
metadata:
  name: agent-x1
  namespace: ops
  labels: {app: agent, controller-revision-hash: 6c9f8d7b5}
  ownerReferences: [{apiVersion: apps/v1, kind: DaemonSet, name: agent, uid: ds-1, controller: true}]
spec: {nodeName: n1, containers: [{name: agent, image: "agent:2"}]}
status: {phase: Running, conditions: [{type: Ready, status: "True"}]}
"#;

fn at(t: &str) -> Timestamp {
    t.parse().expect("timestamp")
}

#[test]
fn a_statefulset_rollout_is_read_from_its_own_controller_revisions_oldest_first() {
    let set = ObjectSet::parse(STATEFUL, "test").expect("objects");
    assert_eq!(set.controller_revisions.len(), 3);
    let r = super::stateful_set_rollout(
        &set.stateful_sets[0],
        &set.controller_revisions,
        &set.pods,
        10,
    );
    assert_eq!(r.deployment.kind, "StatefulSet");
    let names: Vec<_> = r
        .revisions
        .iter()
        .map(|v| (v.revision, v.replica_set.as_str()))
        .collect();
    assert_eq!(names, vec![(2, "db-6d4f7b9c8"), (3, "db-7b9c8d6f5")]);
    assert_eq!(r.revisions[0].template_hash.as_deref(), Some("6d4f7b9c8"));
    assert_eq!(
        (r.revisions[0].replicas, r.revisions[0].ready_replicas),
        (1, 1)
    );
    assert_eq!(
        (r.revisions[1].replicas, r.revisions[1].ready_replicas),
        (1, 0)
    );
    assert_eq!(r.revisions[1].containers[0].image, "postgres:16.3");
    assert_eq!(
        r.in_progress,
        Some(true),
        "updateRevision differs from currentRevision"
    );
    assert_eq!(
        (r.replicas, r.updated_replicas, r.ready_replicas),
        (3, 1, 2)
    );
}

#[test]
fn the_statefulset_rollout_diff_blames_the_new_revision_its_failing_pod_runs() {
    let set = ObjectSet::parse(STATEFUL, "test").expect("objects");
    let r = super::stateful_set_rollout(
        &set.stateful_sets[0],
        &set.controller_revisions,
        &set.pods,
        10,
    );
    let pods: Vec<PodFacts> = set.pods.iter().map(|p| super::pod(p, None)).collect();
    assert_eq!(pods[1].template_hash.as_deref(), Some("db-7b9c8d6f5"));
    let refs: Vec<&PodFacts> = pods.iter().collect();
    let f = rollout::analyse(&r, &refs, at("2026-11-20T02:20:00Z")).expect("two revisions");
    assert!(f.failing_in_newest && f.previous_healthy && f.incomplete && f.image_changed);
    assert_eq!(
        f.changes,
        vec![
            "container db image postgres:16.2 → postgres:16.3",
            r#"container db args added ["-c", "max_connections=200"]"#
        ]
    );
    assert!(f.score >= 0.9, "{f:?}");
}

#[test]
fn a_daemonset_rollout_matches_pods_by_hash_and_is_done_when_every_node_is_updated() {
    let set = ObjectSet::parse(DAEMON, "test").expect("objects");
    let r = super::daemon_set_rollout(
        &set.daemon_sets[0],
        &set.controller_revisions,
        &set.pods,
        10,
    );
    assert_eq!(r.in_progress, Some(false));
    assert_eq!(r.revisions.len(), 2);
    assert_eq!(
        r.revisions[1].template_hash.as_deref(),
        Some("6c9f8d7b5"),
        "the name without the owner's"
    );
    assert_eq!(
        (r.revisions[1].replicas, r.revisions[1].ready_replicas),
        (1, 1)
    );
    assert_eq!((r.replicas, r.updated_replicas), (3, 3));
    let mut stalled = set.daemon_sets[0].clone();
    if let Some(s) = stalled.status.as_mut() {
        s.updated_number_scheduled = Some(1);
    }
    let r = super::daemon_set_rollout(&stalled, &set.controller_revisions, &set.pods, 10);
    assert_eq!(r.in_progress, Some(true));
}

#[test]
fn a_pods_requests_sum_its_containers_and_take_the_largest_init_container() {
    let yaml = r#"
apiVersion: v1
kind: Pod
metadata: {name: p, namespace: ml}
spec:
  initContainers:
  - {name: fetch, image: x, resources: {requests: {cpu: "3", memory: 1Gi}}}
  containers:
  - {name: a, image: x, resources: {requests: {cpu: 500m, memory: 2Gi}, limits: {nvidia.com/gpu: "1"}}}
  - {name: b, image: x, resources: {requests: {cpu: 500m, memory: 1Gi, ephemeral-storage: 10Gi}}}
  overhead: {cpu: 250m}
  tolerations: [{key: dedicated, operator: Equal, value: batch, effect: NoSchedule}, {operator: Exists}]
  affinity:
    nodeAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
        nodeSelectorTerms:
        - matchExpressions: [{key: zone, operator: In, values: [a, b]}]
          matchFields: [{key: metadata.name, operator: NotIn, values: [n9]}]
status: {phase: Pending}
"#;
    let pod = serde_yaml_ng::from_str(yaml).expect("pod");
    let f = super::pod(&pod, None);
    let get = |k: &str| f.requests.get(k).copied();
    assert_eq!(
        get("cpu"),
        Some(3250),
        "the init container's 3 cpus, plus overhead"
    );
    assert_eq!(get("memory"), Some(3 << 30));
    assert_eq!(
        get("nvidia.com/gpu"),
        Some(1),
        "a limit alone is the request"
    );
    assert_eq!(get("ephemeral-storage"), Some(10 << 30));
    assert_eq!(f.tolerations.len(), 2);
    assert_eq!(f.tolerations[1].operator, "Exists");
    assert_eq!(f.tolerations[1].key, "");
    assert_eq!(f.node_affinity.len(), 1);
    let keys: Vec<_> = f.node_affinity[0].iter().map(|r| r.to_string()).collect();
    assert_eq!(keys, vec!["zone In [a,b]", "metadata.name NotIn [n9]"]);
}

#[test]
fn a_node_counts_what_the_unfinished_pods_bound_to_it_request() {
    let yaml = r#"
apiVersion: v1
kind: Node
metadata: {name: n1}
status: {allocatable: {cpu: 3920m, memory: 15Gi, pods: "110", nvidia.com/gpu: "1"}}
---
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: x}
spec: {nodeName: n1, containers: [{name: a, image: x, resources: {requests: {cpu: "1"}}}]}
status: {phase: Running}
---
apiVersion: v1
kind: Pod
metadata: {name: done, namespace: x}
spec: {nodeName: n1, containers: [{name: a, image: x, resources: {requests: {cpu: "2"}}}]}
status: {phase: Succeeded}
---
apiVersion: v1
kind: Pod
metadata: {name: elsewhere, namespace: x}
spec: {nodeName: n2, containers: [{name: a, image: x, resources: {requests: {cpu: "2"}}}]}
status: {phase: Running}
"#;
    let set = ObjectSet::parse(yaml, "test").expect("objects");
    let mut n = super::node(&set.nodes[0]);
    assert_eq!(n.allocatable.get("cpu"), Some(&3920));
    assert_eq!(n.allocatable.get("nvidia.com/gpu"), Some(&1));
    super::add_usage(&mut n, &set.pods);
    assert_eq!(n.requested.get("cpu"), Some(&1000));
    assert_eq!(n.requested.get("pods"), Some(&1));
    assert_eq!(n.pods_counted, 1);
}
