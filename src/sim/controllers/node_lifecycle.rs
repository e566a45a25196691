//! The node lifecycle controller: a node whose Ready condition is not True gets the
//! `unreachable` (Unknown) or `not-ready` (False) taints, its pods turn not Ready, and after
//! their toleration runs out they are evicted; a cordoned node gets the `unschedulable`
//! taint, a node under memory, disk or PID pressure the matching NoSchedule taint. Nodes without status get what a kubelet posts.

use std::collections::HashSet;

use jiff::Timestamp;
use serde_json::{Value, json};

use super::Ctx;
use super::api;
use super::events::{Event, Kind, Source};
use super::nodes::{fill_status, node_object, node_ready, taint_tolerated};
use crate::sim::meta;
use crate::sim::writes::UpdateMode;

const UNREACHABLE: &str = "node.kubernetes.io/unreachable";
const NOT_READY: &str = "node.kubernetes.io/not-ready";
const UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";
/// Pressure conditions and the NoSchedule taint each brings (`TaintNodesByCondition`).
const PRESSURE: &[(&str, &str)] = &[
    ("MemoryPressure", "node.kubernetes.io/memory-pressure"),
    ("DiskPressure", "node.kubernetes.io/disk-pressure"),
    ("PIDPressure", "node.kubernetes.io/pid-pressure"),
];

/// Node lifecycle state: which nodes were seen down, to report transitions once.
#[derive(Debug, Default)]
pub struct Nodes {
    down: HashSet<String>,
}

impl Nodes {
    /// Posts missing node status, creates a default node in an empty cluster (first pass
    /// only), and runs the lifecycle rules.
    pub fn reconcile(&mut self, ctx: &mut Ctx, first: bool) {
        let mut nodes = api::list(ctx.cluster, "nodes", None);
        if nodes.is_empty() && first {
            let node = node_object("sim-worker-1", "8", "32Gi", 1);
            nodes.extend(ctx.cluster.apply(node).ok().map(std::sync::Arc::new));
        }
        for (index, node) in nodes.iter().enumerate() {
            let name = meta::name(node).to_string();
            if node["status"]["conditions"]
                .as_array()
                .is_none_or(Vec::is_empty)
            {
                let now = ctx.now;
                api::modify(
                    ctx.cluster,
                    ("nodes", "", &name),
                    None,
                    UpdateMode::Direct,
                    "kubelet",
                    |n| {
                        fill_status(n, index + 1, now);
                        true
                    },
                );
                continue;
            }
            self.sync_taints(ctx, node);
            let ready = node_ready(node);
            if !ready && self.down.insert(name.clone()) {
                node_event(
                    ctx,
                    node,
                    "NodeNotReady",
                    format!("Node {name} status is now: NodeNotReady"),
                );
            } else if ready && self.down.remove(&name) {
                node_event(
                    ctx,
                    node,
                    "NodeReady",
                    format!("Node {name} status is now: NodeReady"),
                );
            }
        }
        self.pods_on_down_nodes(ctx);
    }

    fn sync_taints(&mut self, ctx: &mut Ctx, node: &Value) {
        let Some(next) = next_taints(node, ctx.now) else {
            return;
        };
        let target = ("nodes", "", meta::name(node));
        let manager = "kube-controller-manager";
        api::modify(
            ctx.cluster,
            target,
            Some(api::uid(node)),
            UpdateMode::Main,
            manager,
            |n| {
                if next.is_empty() {
                    n["spec"].as_object_mut().map(|s| s.remove("taints"));
                } else {
                    n["spec"]["taints"] = json!(next);
                }
                true
            },
        );
    }

    /// Pods on nodes that are down: Ready turns False once; evicted after their toleration.
    fn pods_on_down_nodes(&mut self, ctx: &mut Ctx) {
        if self.down.is_empty() {
            return;
        }
        let nodes: Vec<_> = api::list(ctx.cluster, "nodes", None)
            .into_iter()
            .filter(|n| self.down.contains(meta::name(n)))
            .collect();
        for pod in api::list(ctx.cluster, "pods", None) {
            let Some(node) = nodes
                .iter()
                .find(|n| pod["spec"]["nodeName"].as_str() == Some(meta::name(n)))
            else {
                continue;
            };
            if self.evict_if_due(ctx, &pod, node) {
                continue;
            }
            if super::replicaset::ready_since(&pod).is_some() {
                mark_not_ready(ctx, &pod);
            }
        }
    }

    fn evict_if_due(&mut self, ctx: &mut Ctx, pod: &Value, node: &Value) -> bool {
        let taints = node["spec"]["taints"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        let tolerations = pod["spec"]["tolerations"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        let due = taints
            .iter()
            .filter(|t| t["effect"] == "NoExecute")
            .any(|taint| {
                let added: Option<Timestamp> =
                    taint["timeAdded"].as_str().and_then(|t| t.parse().ok());
                let tolerating = tolerations
                    .iter()
                    .find(|t| taint_tolerated(taint, std::slice::from_ref(t)));
                match (tolerating, added) {
                    (None, _) => true,
                    (Some(t), Some(added)) => t["tolerationSeconds"]
                        .as_i64()
                        .is_some_and(|s| added + jiff::SignedDuration::from_secs(s) <= ctx.now),
                    (Some(_), None) => false,
                }
            });
        if !due {
            return false;
        }
        let (ns, name) = (meta::namespace(pod), meta::name(pod));
        let event = Event {
            object: pod,
            field_path: None,
            kind: Kind::Normal,
            reason: "TaintManagerEviction",
            message: format!("Marking for deletion Pod {ns}/{name}"),
        };
        ctx.events.emit(
            ctx.cluster,
            ctx.now,
            &Source::controller("taint-eviction-controller"),
            event,
        );
        api::delete(ctx.cluster, "pods", ns, name)
    }
}

fn mark_not_ready(ctx: &mut Ctx, pod: &Value) {
    let now = meta::format_time(ctx.now);
    let target = ("pods", meta::namespace(pod), meta::name(pod));
    let written = api::modify(
        ctx.cluster,
        target,
        Some(api::uid(pod)),
        UpdateMode::Status,
        "kube-controller-manager",
        |p| {
            let Some(conditions) = p["status"]["conditions"].as_array_mut() else {
                return false;
            };
            let mut changed = false;
            for c in conditions
                .iter_mut()
                .filter(|c| c["type"] == "Ready" && c["status"] != "False")
            {
                c["status"] = json!("False");
                c["lastTransitionTime"] = json!(now);
                changed = true;
            }
            changed
        },
    );
    if let Some(pod) = written {
        let event = Event {
            object: &pod,
            field_path: None,
            kind: Kind::Warning,
            reason: "NodeNotReady",
            message: "Node is not ready".into(),
        };
        ctx.events.emit(
            ctx.cluster,
            ctx.now,
            &Source::controller("node-controller"),
            event,
        );
    }
}

fn node_event(ctx: &mut Ctx, node: &Value, reason: &'static str, message: String) {
    let event = Event {
        object: node,
        field_path: None,
        kind: Kind::Normal,
        reason,
        message,
    };
    ctx.events.emit(
        ctx.cluster,
        ctx.now,
        &Source::controller("node-controller"),
        event,
    );
}

/// The lifecycle taints a node should carry: `(key, effect)`.
fn wanted_taints(node: &Value) -> Vec<(&'static str, &'static str)> {
    let ready = node["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"))
        .and_then(|c| c["status"].as_str())
        .unwrap_or("Unknown");
    let mut wanted = match ready {
        "True" => Vec::new(),
        "False" => vec![(NOT_READY, "NoSchedule"), (NOT_READY, "NoExecute")],
        _ => vec![(UNREACHABLE, "NoSchedule"), (UNREACHABLE, "NoExecute")],
    };
    if node["spec"]["unschedulable"].as_bool() == Some(true) {
        wanted.push((UNSCHEDULABLE, "NoSchedule"));
    }
    let conditions = node["status"]["conditions"].as_array();
    for (kind, taint) in PRESSURE {
        let under = conditions.is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == *kind && c["status"] == "True")
        });
        if under {
            wanted.push((taint, "NoSchedule"));
        }
    }
    wanted
}

/// The node's taints with the lifecycle ones made right, or `None` when they already are.
fn next_taints(node: &Value, now: Timestamp) -> Option<Vec<Value>> {
    let wanted = wanted_taints(node);
    let ours: Vec<&str> = [UNREACHABLE, NOT_READY, UNSCHEDULABLE]
        .into_iter()
        .chain(PRESSURE.iter().map(|(_, taint)| *taint))
        .collect();
    let taints = node["spec"]["taints"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let is_wanted = |t: &Value| {
        wanted
            .iter()
            .any(|(k, e)| t["key"] == *k && t["effect"] == *e)
    };
    let is_ours = |t: &Value| ours.iter().any(|k| t["key"] == *k);
    let stale = taints.iter().any(|t| is_ours(t) && !is_wanted(t));
    let missing: Vec<_> = wanted
        .iter()
        .filter(|(k, e)| !taints.iter().any(|t| t["key"] == *k && t["effect"] == *e))
        .collect();
    if !stale && missing.is_empty() {
        return None;
    }
    let mut next: Vec<Value> = taints
        .into_iter()
        .filter(|t| !is_ours(t) || is_wanted(t))
        .collect();
    for (key, effect) in missing {
        let mut taint = json!({"key": key, "effect": effect});
        if *effect == "NoExecute" {
            taint["timeAdded"] = json!(meta::format_time(now));
        }
        next.push(taint);
    }
    Some(next)
}
