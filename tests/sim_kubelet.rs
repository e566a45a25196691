//! The kubelet, scheduler and node models of the simulated cluster, stepped
//! deterministically: image pulls, OOM kills, config errors, failing probes, scheduling
//! failures and lost nodes, with the statuses and events the real components write.

mod common;

use common::{BASE, container_status, world};
use serde_json::Value;

fn with_image(image: &str) -> String {
    BASE.replace("image: shop/api:v1", &format!("image: '{image}'"))
}

fn pods(w: &common::World) -> Vec<Value> {
    w.cluster.list("pods", Some("shop"))
}

#[test]
fn an_unknown_image_fails_to_pull_then_backs_off() {
    let mut w = world(&with_image("shop/api:v9"));
    w.run(1);
    let pod = &pods(&w)[0];
    let c = container_status(pod);
    assert_eq!(c["state"]["waiting"]["reason"], "ErrImagePull", "{c}");
    let not_found = "rpc error: code = NotFound desc = failed to pull and unpack image \"docker.io/shop/api:v9\": \
                     failed to resolve reference \"docker.io/shop/api:v9\": docker.io/shop/api:v9: not found";
    assert_eq!(c["state"]["waiting"]["message"], not_found);
    assert_eq!(c["imageID"], "");
    assert_eq!(pod["status"]["phase"], "Pending");
    w.run(1);
    let pod = &pods(&w)[0];
    assert_eq!(
        container_status(pod)["state"]["waiting"]["reason"],
        "ImagePullBackOff"
    );
    let failed: Vec<String> = w
        .events("Failed")
        .iter()
        .map(|e| e["message"].as_str().unwrap_or_default().into())
        .collect();
    assert!(
        failed.contains(&format!(
            "Failed to pull image \"shop/api:v9\": {not_found}"
        )),
        "{failed:?}"
    );
    assert!(failed.contains(&"Error: ErrImagePull".to_string()));
    assert!(failed.contains(&"Error: ImagePullBackOff".to_string()));
    let back_off = w.events("BackOff");
    assert_eq!(
        back_off[0]["message"],
        "Back-off pulling image \"shop/api:v9\""
    );
    w.run(30);
    let pulling = w.events("Pulling");
    let name = pods(&w)[0]["metadata"]["name"].clone();
    let count = pulling
        .iter()
        .find(|e| e["involvedObject"]["name"] == name)
        .map(|e| e["count"].clone());
    assert_eq!(
        count,
        Some(serde_json::json!(3)),
        "pulls retried after 10s and 20s"
    );
}

#[test]
fn an_image_that_exceeds_its_memory_is_oom_killed_with_137() {
    let mut w = world(&with_image("shop/api:oom"));
    w.run(6);
    let pod = &pods(&w)[0];
    let c = container_status(pod);
    assert_eq!(c["lastState"]["terminated"]["reason"], "OOMKilled", "{c}");
    assert_eq!(c["lastState"]["terminated"]["exitCode"], 137);
    assert!(c["restartCount"].as_i64().is_some_and(|n| n >= 1));
    let t = &c["lastState"]["terminated"];
    assert!(
        t["startedAt"].is_string() && t["finishedAt"].is_string() && t["containerID"].is_string()
    );
}

#[test]
fn a_crash_looping_containers_current_log_is_its_crash_while_it_waits() {
    let mut w = world(&with_image("shop/api:v2"));
    w.run(13);
    let pod = &pods(&w)[0];
    assert_eq!(
        container_status(pod)["state"]["waiting"]["reason"],
        "CrashLoopBackOff"
    );
    assert!(w.log(pod, false).contains("Application run failed"));
    assert!(w.log(pod, true).contains("Application run failed"));
}

#[test]
fn a_missing_secret_is_a_create_container_config_error_until_it_exists() {
    let env = "              env: [{name: DB_URL, valueFrom: {secretKeyRef: {name: db-credentials, key: url}}}]\n";
    let yaml = BASE.replace(
        "              resources:",
        &format!("{env}              resources:"),
    );
    let mut w = world(&yaml);
    w.run(3);
    let c = container_status(&pods(&w)[0]).clone();
    assert_eq!(
        c["state"]["waiting"]["reason"],
        "CreateContainerConfigError"
    );
    assert_eq!(
        c["state"]["waiting"]["message"],
        "secret \"db-credentials\" not found"
    );
    let failed = w.events("Failed");
    assert!(
        failed
            .iter()
            .any(|e| e["message"] == "Error: secret \"db-credentials\" not found")
    );
    w.act("apply: [{apiVersion: v1, kind: Secret, metadata: {name: db-credentials, namespace: shop}, data: {url: cG9zdGdyZXM6Ly8=}}]");
    w.run(12);
    assert!(
        pods(&w)
            .iter()
            .all(|p| container_status(p)["ready"] == true)
    );
}

#[test]
fn a_failing_readiness_probe_keeps_the_pod_unready_and_reports_unhealthy() {
    let mut w = world(&with_image("shop/api:slow"));
    w.run(25);
    let pod = &pods(&w)[0];
    let c = container_status(pod);
    assert_eq!(
        (c["ready"].as_bool(), c["started"].as_bool()),
        (Some(false), Some(true))
    );
    assert!(c["state"]["running"].is_object());
    let ready = w.condition(pod, "Ready");
    assert_eq!(ready["reason"], "ContainersNotReady");
    assert_eq!(ready["message"], "containers with unready status: [api]");
    let unhealthy: Vec<Value> = w
        .events("Unhealthy")
        .into_iter()
        .filter(|e| e["involvedObject"]["name"] == pod["metadata"]["name"])
        .collect();
    assert_eq!(
        unhealthy[0]["message"],
        "Readiness probe failed: HTTP probe failed with statuscode: 503"
    );
    assert!(
        unhealthy[0]["count"].as_i64().is_some_and(|n| n >= 2),
        "{}",
        unhealthy[0]
    );
}

#[test]
fn a_pod_that_fits_nowhere_is_unschedulable_with_the_schedulers_message() {
    let yaml = BASE
        .replace(
            "{requests: {cpu: 100m, memory: 256Mi}, limits: {memory: 512Mi}}",
            "{requests: {cpu: 100m, memory: 12Gi}}",
        )
        .replace(
            "  - {name: worker-1, cpu: '4', memory: 8Gi}",
            "  - {name: worker-1, cpu: '4', memory: 64Gi, unschedulable: true}",
        );
    let mut w = world(&yaml);
    w.run(2);
    let pod = &pods(&w)[0];
    let scheduled = w.condition(pod, "PodScheduled");
    let message = "0/3 nodes are available: 1 node(s) were unschedulable, 2 Insufficient memory. preemption: \
                   0/3 nodes are available: 1 Preemption is not helpful for scheduling, 2 No preemption victims \
                   found for incoming pod.";
    assert_eq!(
        (scheduled["status"].as_str(), scheduled["reason"].as_str()),
        (Some("False"), Some("Unschedulable"))
    );
    assert_eq!(scheduled["message"], message);
    let failed = w.events("FailedScheduling");
    assert_eq!(failed.len(), 3, "one event per pod");
    assert_eq!(failed[0]["message"], message);
    assert_eq!(failed[0]["reportingComponent"], "default-scheduler");
    assert!(pods(&w).iter().all(|p| p["spec"].get("nodeName").is_none()));
}

#[test]
fn pods_are_scheduled_across_nodes_with_a_scheduled_event() {
    let mut w = world(BASE);
    w.run(1);
    let mut nodes: Vec<String> = pods(&w)
        .iter()
        .map(|p| p["spec"]["nodeName"].as_str().unwrap_or_default().into())
        .collect();
    nodes.sort();
    assert_eq!(nodes, ["worker-1", "worker-2", "worker-3"]);
    let scheduled = w.events("Scheduled");
    let pod = &pods(&w)[0];
    let expected = format!(
        "Successfully assigned shop/{} to {}",
        pod["metadata"]["name"].as_str().unwrap_or_default(),
        pod["spec"]["nodeName"].as_str().unwrap_or_default()
    );
    assert!(
        scheduled.iter().any(|e| e["message"] == expected.as_str()),
        "{expected}"
    );
}

#[test]
fn a_lost_node_is_tainted_its_pods_turn_unready_and_are_evicted_after_their_toleration() {
    let yaml = BASE.replace("seed: 7}", "seed: 7, eviction_after: 20s}")
        + "timeline:\n  - {at: 5s, node-not-ready: worker-1}\n  - {at: 60s, node-ready: worker-1}\n";
    let mut w = world(&yaml);
    w.run(6);
    let node = w.cluster.get("nodes", "", "worker-1").expect("node");
    assert_eq!(w.condition(&node, "Ready")["status"], "Unknown");
    assert_eq!(w.condition(&node, "Ready")["reason"], "NodeStatusUnknown");
    let taints: Vec<(String, String)> = node["spec"]["taints"]
        .as_array()
        .expect("taints")
        .iter()
        .map(|t| {
            (
                t["key"].as_str().unwrap_or_default().into(),
                t["effect"].as_str().unwrap_or_default().into(),
            )
        })
        .collect();
    assert!(
        taints.contains(&("node.kubernetes.io/unreachable".into(), "NoSchedule".into())),
        "{taints:?}"
    );
    assert!(
        taints.contains(&("node.kubernetes.io/unreachable".into(), "NoExecute".into())),
        "{taints:?}"
    );
    let lost: Vec<Value> = pods(&w)
        .into_iter()
        .filter(|p| p["spec"]["nodeName"] == "worker-1")
        .collect();
    assert_eq!(lost.len(), 1);
    assert_eq!(w.condition(&lost[0], "Ready")["status"], "False");
    assert!(
        w.events("NodeNotReady")
            .iter()
            .any(|e| e["message"] == "Node worker-1 status is now: NodeNotReady")
    );
    assert_eq!(w.deployment()["status"]["availableReplicas"], 2);
    w.run(25);
    assert!(
        pods(&w).iter().all(|p| p["spec"]["nodeName"] != "worker-1"),
        "evicted after 20s"
    );
    assert_eq!(pods(&w).len(), 3);
    assert_eq!(w.deployment()["status"]["availableReplicas"], 3);
    assert!(!w.events("TaintManagerEviction").is_empty());
    w.run(30);
    let node = w.cluster.get("nodes", "", "worker-1").expect("node");
    assert_eq!(w.condition(&node, "Ready")["status"], "True");
    assert!(node["spec"].get("taints").is_none(), "{}", node["spec"]);
}

#[test]
fn a_scenario_without_nodes_gets_a_default_ready_node() {
    let yaml = BASE.replace("nodes:\n  - {name: worker-1, cpu: '4', memory: 8Gi}\n  - {name: worker-2, cpu: '4', memory: 8Gi}\n  - {name: worker-3, cpu: '4', memory: 8Gi}\n", "");
    let mut w = world(&yaml);
    w.run(3);
    let nodes = w.cluster.list("nodes", None);
    assert_eq!(nodes.len(), 1);
    assert!(
        pods(&w)
            .iter()
            .all(|p| container_status(p)["ready"] == true)
    );
}

#[test]
fn a_node_under_memory_pressure_stays_ready_and_is_tainted_so_new_pods_go_elsewhere() {
    let yaml = BASE.to_owned()
        + "timeline:\n  - {at: 1s, node-pressure: {node: worker-1, condition: MemoryPressure}}\n";
    let mut w = world(&yaml);
    w.run(2);
    let node = w.cluster.get("nodes", "", "worker-1").expect("node");
    let pressure = w.condition(&node, "MemoryPressure");
    assert_eq!(pressure["status"], "True");
    assert_eq!(pressure["reason"], "KubeletHasInsufficientMemory");
    assert_eq!(w.condition(&node, "Ready")["status"], "True");
    let tainted = node["spec"]["taints"].as_array().is_some_and(|ts| {
        ts.iter().any(|t| {
            t["key"] == "node.kubernetes.io/memory-pressure" && t["effect"] == "NoSchedule"
        })
    });
    assert!(tainted, "{:?}", node["spec"]);
    w.act("scale: {deployment: api, namespace: shop, replicas: 6}");
    w.run(5);
    let placed: Vec<Value> = pods(&w)
        .into_iter()
        .filter(|p| p["spec"]["nodeName"] == "worker-1")
        .collect();
    assert_eq!(placed.len(), 1, "only the pod placed before the pressure");
    w.act("node-ready: worker-1");
    w.run(1);
    let node = w.cluster.get("nodes", "", "worker-1").expect("node");
    assert_eq!(w.condition(&node, "MemoryPressure")["status"], "False");
    assert!(node["spec"]["taints"].is_null(), "{:?}", node["spec"]);
}

#[test]
fn a_claim_is_provisioned_and_bound_unless_it_asks_for_no_class_and_then_its_pod_waits() {
    let yaml = BASE.to_owned()
        + "  - apiVersion: v1\n    kind: PersistentVolumeClaim\n    metadata: {name: data, namespace: shop}\n    spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 10Gi}}}\n"
        + "  - apiVersion: v1\n    kind: PersistentVolumeClaim\n    metadata: {name: static, namespace: shop}\n    spec: {storageClassName: '', accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}\n"
        + "  - apiVersion: v1\n    kind: Pod\n    metadata: {name: db-0, namespace: shop}\n    spec:\n      containers: [{name: db, image: 'shop/api:v1'}]\n      volumes: [{name: data, persistentVolumeClaim: {claimName: data}}]\n"
        + "  - apiVersion: v1\n    kind: Pod\n    metadata: {name: legacy-0, namespace: shop}\n    spec:\n      containers: [{name: db, image: 'shop/api:v1'}]\n      volumes: [{name: data, persistentVolumeClaim: {claimName: static}}]\n"
        + "  - apiVersion: v1\n    kind: Pod\n    metadata: {name: orphan-0, namespace: shop}\n    spec:\n      containers: [{name: db, image: 'shop/api:v1'}]\n      volumes: [{name: data, persistentVolumeClaim: {claimName: gone}}]\n";
    let mut w = world(&yaml);
    w.run(3);
    let data = w
        .cluster
        .get("persistentvolumeclaims", "shop", "data")
        .expect("claim");
    assert_eq!(data["status"]["phase"], "Bound");
    assert_eq!(data["status"]["capacity"]["storage"], "10Gi");
    assert!(
        data["spec"]["volumeName"]
            .as_str()
            .is_some_and(|v| v.starts_with("pvc-"))
    );
    let fixed = w
        .cluster
        .get("persistentvolumeclaims", "shop", "static")
        .expect("claim");
    assert_eq!(fixed["status"]["phase"], "Pending");
    assert!(!w.events("FailedBinding").is_empty());
    let pod = |name: &str| w.cluster.get("pods", "shop", name).expect("pod");
    assert!(
        pod("db-0")["spec"]["nodeName"].is_string(),
        "a bound claim lets it schedule"
    );
    let waiting = w.condition(&pod("legacy-0"), "PodScheduled");
    assert_eq!(waiting["status"], "False");
    assert_eq!(
        waiting["message"],
        "0/3 nodes are available: pod has unbound immediate PersistentVolumeClaims. preemption: \
         0/3 nodes are available: 3 Preemption is not helpful for scheduling."
    );
    let orphan = w.condition(&pod("orphan-0"), "PodScheduled");
    assert!(
        orphan["message"]
            .as_str()
            .is_some_and(|m| m.contains("persistentvolumeclaim \"gone\" not found")),
        "{orphan}"
    );
}

#[test]
fn a_slow_starting_container_runs_unready_until_its_readiness_delay_has_passed() {
    let yaml = BASE.replace(
        "              image: shop/api:v1\n",
        "              image: shop/api:v1\n              readinessProbe: {httpGet: {path: /ready, port: 8080}, initialDelaySeconds: 20}\n",
    );
    let mut w = world(&yaml);
    w.run(10);
    let starting = pods(&w);
    assert_eq!(starting.len(), 3);
    for pod in &starting {
        assert!(
            container_status(pod)["state"]["running"].is_object(),
            "{pod}"
        );
        assert_eq!(container_status(pod)["ready"], false);
        assert_eq!(w.condition(pod, "Ready")["status"], "False");
    }
    assert_eq!(
        w.deployment()["status"]["availableReplicas"],
        serde_json::Value::Null
    );
    w.run(15);
    for pod in pods(&w) {
        assert_eq!(container_status(&pod)["ready"], true, "{pod}");
        assert_eq!(container_status(&pod)["restartCount"], 0);
    }
    assert_eq!(w.deployment()["status"]["availableReplicas"], 3);
}
