//! ResourceQuota: the admission check pod creations go through (`exceeded quota: compute,
//! requested: limits.memory=1Gi, used: limits.memory=3Gi, limited: limits.memory=4Gi`)
//! and the quota controller that keeps `status.used` current.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde_json::{Value, json};

use super::api;
use crate::domain::quantity::{parse_cpu, parse_memory};
use crate::sim::writes::UpdateMode;
use crate::sim::{SimCluster, meta};

/// Usage per quota resource name, in base units (millicores, bytes, count).
type Usage = BTreeMap<&'static str, u64>;

/// The resource names the simulated quota understands.
const TRACKED: &[&str] = &[
    "pods",
    "cpu",
    "memory",
    "requests.cpu",
    "requests.memory",
    "limits.cpu",
    "limits.memory",
];

fn tracked(name: &str) -> Option<&'static str> {
    TRACKED.iter().copied().find(|t| *t == name)
}

fn is_cpu(resource: &str) -> bool {
    resource.ends_with("cpu")
}

/// Parses a quantity of a quota resource into base units.
fn parse(resource: &str, text: &str) -> Option<u64> {
    match resource {
        "pods" => text.parse().ok(),
        r if is_cpu(r) => parse_cpu(text),
        _ => parse_memory(text),
    }
}

/// Formats base units as the canonical quantity (`1Gi`, `500m`, `2`).
pub fn format(resource: &str, value: u64) -> String {
    if resource == "pods" {
        return value.to_string();
    }
    if is_cpu(resource) {
        return if value.is_multiple_of(1000) {
            (value / 1000).to_string()
        } else {
            format!("{value}m")
        };
    }
    for (suffix, unit) in [
        ("Ti", 1u64 << 40),
        ("Gi", 1 << 30),
        ("Mi", 1 << 20),
        ("Ki", 1 << 10),
    ] {
        if value >= unit && value.is_multiple_of(unit) {
            return format!("{}{suffix}", value / unit);
        }
    }
    value.to_string()
}

/// A container's amount of a resource (requests default to limits, as the apiserver does).
fn container_amount(c: &Value, resource: &str) -> Option<u64> {
    let (section, name) = match resource.split_once('.') {
        Some((s, n)) => (s, n),
        None => ("requests", resource),
    };
    let get = |s: &str| {
        c["resources"][s][name]
            .as_str()
            .map(str::to_string)
            .or_else(|| c["resources"][s][name].as_f64().map(|v| v.to_string()))
    };
    let text = get(section).or_else(|| (section == "requests").then(|| get("limits")).flatten())?;
    parse(resource, &text)
}

/// What one pod counts against each tracked resource.
fn pod_usage(pod: &Value) -> Usage {
    let containers = pod["spec"]["containers"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let mut usage = Usage::new();
    usage.insert("pods", 1);
    for resource in TRACKED.iter().filter(|r| **r != "pods") {
        let total = containers
            .iter()
            .filter_map(|c| container_amount(c, resource))
            .sum();
        usage.insert(resource, total);
    }
    usage
}

/// Whether a pod still counts against quota.
pub fn counts(pod: &Value) -> bool {
    !matches!(
        pod["status"]["phase"].as_str(),
        Some("Succeeded" | "Failed")
    ) && !api::deleting(pod)
}

/// Quotas and their usage per namespace during one pass.
pub struct Tracker {
    quotas: HashMap<String, Vec<Arc<Value>>>,
    used: HashMap<String, Usage>,
}

impl Tracker {
    /// Usage from the given pods, quotas from the cluster.
    pub fn new(cluster: &SimCluster, pods: &[Arc<Value>]) -> Self {
        let mut quotas: HashMap<String, Vec<Arc<Value>>> = HashMap::new();
        for q in api::list(cluster, "resourcequotas", None) {
            quotas
                .entry(meta::namespace(&q).to_string())
                .or_default()
                .push(q);
        }
        let mut used: HashMap<String, Usage> = HashMap::new();
        for pod in pods.iter().filter(|p| counts(p)) {
            let ns = meta::namespace(pod);
            if !quotas.contains_key(ns) {
                continue;
            }
            let total = used.entry(ns.to_string()).or_default();
            for (k, v) in pod_usage(pod) {
                *total.entry(k).or_default() += v;
            }
        }
        Tracker { quotas, used }
    }

    /// Admits a new pod against every quota of its namespace, counting it when admitted.
    /// The error is the apiserver's reason after `pods "<name>" is forbidden: `.
    pub fn admit(&mut self, pod: &Value) -> Result<(), String> {
        let ns = meta::namespace(pod);
        let Some(quotas) = self.quotas.get(ns) else {
            return Ok(());
        };
        let requested = pod_usage(pod);
        let used = self.used.entry(ns.to_string()).or_default();
        for quota in quotas {
            check(quota, pod, &requested, used)?;
        }
        for (k, v) in requested {
            *used.entry(k).or_default() += v;
        }
        Ok(())
    }

    /// Writes `status.hard` and `status.used` of every quota.
    pub fn write_status(&self, cluster: &SimCluster) {
        for (ns, quotas) in &self.quotas {
            let used = self.used.get(ns).cloned().unwrap_or_default();
            for quota in quotas {
                let hard = quota["spec"]["hard"].clone();
                let mut shown = serde_json::Map::new();
                for key in hard.as_object().into_iter().flat_map(|h| h.keys()) {
                    if let Some(r) = tracked(key) {
                        let value = used.get(r).copied().unwrap_or(0);
                        shown.insert(key.clone(), json!(format(r, value)));
                    }
                }
                let status = json!({"hard": hard, "used": shown});
                if quota.get("status") == Some(&status) {
                    continue;
                }
                let target = ("resourcequotas", ns.as_str(), meta::name(quota));
                api::modify(
                    cluster,
                    target,
                    Some(api::uid(quota)),
                    UpdateMode::Status,
                    "kube-controller-manager",
                    |q| {
                        q["status"] = status;
                        true
                    },
                );
            }
        }
    }
}

/// Containers lacking a resource the quota constrains (`limits.memory for: api`).
fn unspecified(pod: &Value, key: &str, resource: &str) -> Vec<String> {
    if resource == "pods" {
        return Vec::new();
    }
    let containers = pod["spec"]["containers"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    containers
        .iter()
        .filter(|c| container_amount(c, resource).is_none())
        .map(|c| format!("{key} for: {}", c["name"].as_str().unwrap_or_default()))
        .collect()
}

/// One quota's verdict on a pod, worded like the apiserver's quota admission.
fn check(quota: &Value, pod: &Value, requested: &Usage, used: &Usage) -> Result<(), String> {
    let quota_name = meta::name(quota);
    let Some(hard) = quota["spec"]["hard"].as_object() else {
        return Ok(());
    };
    let mut missing = Vec::new();
    let mut exceeded: Vec<[String; 3]> = Vec::new();
    for (key, limit) in hard {
        let Some(resource) = tracked(key) else {
            continue;
        };
        let limit = limit
            .as_str()
            .and_then(|l| parse(resource, l))
            .or_else(|| limit.as_u64());
        let Some(limit) = limit else {
            continue;
        };
        missing.extend(unspecified(pod, key, resource));
        let want = requested.get(resource).copied().unwrap_or(0);
        let have = used.get(resource).copied().unwrap_or(0);
        if want > 0 && have + want > limit {
            let pair = |v| format!("{key}={}", format(resource, v));
            exceeded.push([pair(want), pair(have), pair(limit)]);
        }
    }
    if !missing.is_empty() {
        return Err(format!(
            "failed quota: {quota_name}: must specify {}",
            missing.join("; ")
        ));
    }
    if exceeded.is_empty() {
        return Ok(());
    }
    let join = |i: usize| {
        exceeded
            .iter()
            .map(|e| e[i].as_str())
            .collect::<Vec<_>>()
            .join(",")
    };
    Err(format!(
        "exceeded quota: {quota_name}, requested: {}, used: {}, limited: {}",
        join(0),
        join(1),
        join(2)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(memory: &str) -> Value {
        json!({"metadata": {"name": "api-1", "namespace": "shop"}, "spec": {"containers": [
            {"name": "api", "resources": {"limits": {"memory": memory, "cpu": "500m"}}}]}})
    }

    fn quota() -> Value {
        json!({"metadata": {"name": "compute", "namespace": "shop"},
               "spec": {"hard": {"limits.memory": "4Gi", "pods": "10"}}})
    }

    #[test]
    fn a_pod_over_the_memory_limit_is_refused_with_the_apiservers_message() {
        let mut used = Usage::new();
        used.insert("limits.memory", 3 << 30);
        used.insert("pods", 3);
        let requested = pod_usage(&pod("1536Mi"));
        let err = check(&quota(), &pod("1536Mi"), &requested, &used);
        assert_eq!(
            err,
            Err(
                "exceeded quota: compute, requested: limits.memory=1536Mi, used: \
                 limits.memory=3Gi, limited: limits.memory=4Gi"
                    .into()
            )
        );
        let fits = pod_usage(&pod("1Gi"));
        assert_eq!(check(&quota(), &pod("1Gi"), &fits, &used), Ok(()));
    }

    #[test]
    fn a_container_without_the_constrained_resource_must_specify_it() {
        let bare = json!({"spec": {"containers": [{"name": "api"}]}});
        let err = check(&quota(), &bare, &pod_usage(&bare), &Usage::new());
        assert_eq!(
            err,
            Err("failed quota: compute: must specify limits.memory for: api".into())
        );
    }

    #[test]
    fn quantities_print_in_canonical_form() {
        assert_eq!(format("limits.memory", 3 << 30), "3Gi");
        assert_eq!(format("requests.cpu", 1500), "1500m");
        assert_eq!(format("cpu", 2000), "2");
        assert_eq!(format("pods", 7), "7");
    }
}
