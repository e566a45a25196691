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
