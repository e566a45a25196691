//! Nodes: the status a kubelet posts (capacity, conditions, addresses, nodeInfo) for nodes
//! that have none, and the changes a lost or recovered kubelet makes to its node's conditions.

use jiff::Timestamp;
use serde_json::{Value, json};

use crate::sim::meta;

/// Whether the node's Ready condition is True.
pub fn node_ready(node: &Value) -> bool {
    node["status"]["conditions"].as_array().is_some_and(|cs| {
        cs.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    })
}

/// Whether any toleration tolerates the taint (`Toleration.ToleratesTaint`).
pub fn taint_tolerated(taint: &Value, tolerations: &[Value]) -> bool {
    tolerations.iter().any(|t| {
        let effect_ok = t["effect"]
            .as_str()
            .is_none_or(|e| e.is_empty() || Some(e) == taint["effect"].as_str());
        let key = t["key"].as_str().unwrap_or_default();
        let key_ok = key.is_empty() || Some(key) == taint["key"].as_str();
        let value_ok = match t["operator"].as_str() {
            Some("Exists") => true,
            _ => {
                t["value"].as_str().unwrap_or_default()
                    == taint["value"].as_str().unwrap_or_default()
            }
        };
        effect_ok && key_ok && value_ok && (!key.is_empty() || t["operator"] == "Exists")
    })
}

/// A Node as a kubeadm worker registers it, Ready, with the given capacity.
pub fn node_object(name: &str, cpu: &str, memory: &str, index: usize) -> Value {
    let mut node = json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {
            "kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64", "beta.kubernetes.io/os": "linux",
            "beta.kubernetes.io/arch": "amd64"},
            "annotations": {"node.alpha.kubernetes.io/ttl": "0",
                            "volumes.kubernetes.io/controller-managed-attach-detach": "true"}},
        "spec": {"podCIDR": format!("10.244.{index}.0/24"), "podCIDRs": [format!("10.244.{index}.0/24")]},
        "status": {"capacity": {"cpu": cpu, "memory": memory, "pods": "110",
                                "ephemeral-storage": "102626232Ki", "hugepages-2Mi": "0"},
                   "allocatable": {"cpu": cpu, "memory": memory, "pods": "110",
                                   "ephemeral-storage": "94580335255", "hugepages-2Mi": "0"}},
    });
    fill_status(&mut node, index, Timestamp::UNIX_EPOCH);
    node
}

fn healthy_conditions(now: &str) -> Value {
    let c = |kind: &str, status: &str, reason: &str, message: &str| {
        json!({"type": kind, "status": status, "reason": reason, "message": message,
               "lastHeartbeatTime": now, "lastTransitionTime": now})
    };
    json!([
        c(
            "MemoryPressure",
            "False",
            "KubeletHasSufficientMemory",
            "kubelet has sufficient memory available"
        ),
        c(
            "DiskPressure",
            "False",
            "KubeletHasNoDiskPressure",
            "kubelet has no disk pressure"
        ),
        c(
            "PIDPressure",
            "False",
            "KubeletHasSufficientPID",
            "kubelet has sufficient PID available"
        ),
        c(
            "Ready",
            "True",
            "KubeletReady",
            "kubelet is posting ready status"
        ),
    ])
}

/// Fills what a kubelet posts about its node, keeping what is already there.
pub(super) fn fill_status(node: &mut Value, index: usize, now: Timestamp) {
    let name = meta::name(node).to_string();
    let now = meta::format_time(now);
    let status = meta::object_mut(node, "status");
    let defaults = [
        (
            "capacity",
            json!({"cpu": "4", "memory": "16374584Ki", "pods": "110"}),
        ),
        (
            "allocatable",
            json!({"cpu": "4", "memory": "16272184Ki", "pods": "110"}),
        ),
        ("conditions", healthy_conditions(&now)),
        (
            "addresses",
            json!([{"type": "InternalIP", "address": format!("10.0.0.{}", index + 10)},
                             {"type": "Hostname", "address": name}]),
        ),
        (
            "daemonEndpoints",
            json!({"kubeletEndpoint": {"Port": 10250}}),
        ),
        (
            "nodeInfo",
            json!({"architecture": "amd64", "bootID": "", "containerRuntimeVersion": "containerd://1.7.22",
            "kernelVersion": "6.8.0-1015-aws", "kubeProxyVersion": "v1.32.0", "kubeletVersion": "v1.32.0",
            "machineID": "", "operatingSystem": "linux", "osImage": "Ubuntu 24.04.1 LTS", "systemUUID": ""}),
        ),
    ];
    for (key, value) in defaults {
        meta::default_field(status, key, value);
    }
}

/// The node's InternalIP.
pub fn internal_ip(node: &Value) -> String {
    node["status"]["addresses"]
        .as_array()
        .and_then(|a| a.iter().find(|a| a["type"] == "InternalIP"))
        .and_then(|a| a["address"].as_str())
        .unwrap_or("10.0.0.10")
        .to_string()
}

/// Marks a node as lost, as the node lifecycle controller does when its kubelet stops
/// posting: every condition Unknown with `NodeStatusUnknown`.
pub fn set_not_ready(node: &mut Value, now: Timestamp) -> bool {
    let now = meta::format_time(now);
    let Some(conditions) = node["status"]["conditions"].as_array_mut() else {
        return false;
    };
    for c in conditions.iter_mut() {
        c["status"] = json!("Unknown");
        c["reason"] = json!("NodeStatusUnknown");
        c["message"] = json!("Kubelet stopped posting node status.");
        c["lastTransitionTime"] = json!(now);
    }
    true
}

/// Turns a pressure condition True with the reason and message the kubelet writes; `false`
/// when the node has no such condition.
pub fn set_pressure(node: &mut Value, kind: &str, now: Timestamp) -> bool {
    let (reason, message) = match kind {
        "MemoryPressure" => (
            "KubeletHasInsufficientMemory",
            "kubelet has insufficient memory available",
        ),
        "DiskPressure" => ("KubeletHasDiskPressure", "kubelet has disk pressure"),
        "PIDPressure" => (
            "KubeletHasInsufficientPID",
            "kubelet has insufficient PID available",
        ),
        _ => return false,
    };
    let now = meta::format_time(now);
    let Some(conditions) = node["status"]["conditions"].as_array_mut() else {
        return false;
    };
    let Some(c) = conditions.iter_mut().find(|c| c["type"] == kind) else {
        return false;
    };
    c["status"] = json!("True");
    c["reason"] = json!(reason);
    c["message"] = json!(message);
    c["lastHeartbeatTime"] = json!(now);
    c["lastTransitionTime"] = json!(now);
    true
}

/// Marks a node healthy again, as its kubelet posts on recovery.
pub fn set_ready(node: &mut Value, now: Timestamp) -> bool {
    node["status"]["conditions"] = healthy_conditions(&meta::format_time(now));
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tolerations_match_taints_by_key_effect_and_operator() {
        let taint = json!({"key": "dedicated", "value": "gpu", "effect": "NoSchedule"});
        let eq = json!({"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"});
        let exists = json!({"key": "dedicated", "operator": "Exists"});
        let other = json!({"key": "dedicated", "value": "cpu"});
        let all = json!({"operator": "Exists"});
        assert!(taint_tolerated(&taint, &[eq]));
        assert!(taint_tolerated(&taint, &[exists]));
        assert!(!taint_tolerated(&taint, &[other]));
        assert!(taint_tolerated(&taint, &[all]));
        assert!(!taint_tolerated(&taint, &[]));
    }

    #[test]
    fn pressure_turns_its_condition_true_as_the_kubelet_reports_it() {
        let mut node = node_object("worker-1", "4", "16Gi", 1);
        assert!(set_pressure(
            &mut node,
            "DiskPressure",
            Timestamp::UNIX_EPOCH
        ));
        let disk = node["status"]["conditions"]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["type"] == "DiskPressure"))
            .cloned()
            .expect("DiskPressure");
        assert_eq!(disk["status"], "True");
        assert_eq!(disk["reason"], "KubeletHasDiskPressure");
        assert!(node_ready(&node), "pressure alone leaves the node Ready");
        assert!(!set_pressure(&mut node, "Hunger", Timestamp::UNIX_EPOCH));
    }

    #[test]
    fn a_new_node_object_is_ready_with_its_capacity() {
        let node = node_object("worker-1", "4", "16Gi", 1);
        assert!(node_ready(&node));
        assert_eq!(node["status"]["allocatable"]["memory"], "16Gi");
        assert_eq!(internal_ip(&node), "10.0.0.11");
    }
}
