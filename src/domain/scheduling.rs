//! Where could this Pending pod go? The scheduler's filters replayed over the nodes in evidence,
//! for a pod no scheduler event explains: cordoned nodes, taints it does not tolerate, its node
//! selector and required node affinity against node labels, its requests (cpu, memory,
//! ephemeral-storage, extended resources such as `nvidia.com/gpu`) against what each node has
//! left, and the claims it waits for. The answer names the specific thing that rules each node
//! out, the way `0/3 nodes are available: ...` does, and what an SRE would say next.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::domain::evidence::{ClaimFacts, NodeFacts, PodFacts};
use crate::domain::quantity::{format_cpu, format_memory, parse_cpu, parse_memory};
use crate::domain::taxonomy::Category;

/// A pod's toleration.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Toleration {
    /// The taint key; empty with `Exists` tolerates every taint.
    pub key: String,
    /// `Equal` (the default) or `Exists`.
    pub operator: String,
    /// The value, for `Equal`.
    pub value: String,
    /// `NoSchedule`, `PreferNoSchedule`, `NoExecute`, or empty for all.
    pub effect: String,
}

/// One requirement of a required node-affinity term (`matchExpressions`, or `matchFields` on
/// `metadata.name`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct NodeRequirement {
    /// The label key (`metadata.name` for a `matchFields` requirement).
    pub key: String,
    /// `In`, `NotIn`, `Exists`, `DoesNotExist`, `Gt`, `Lt`.
    pub operator: String,
    /// The values.
    pub values: Vec<String>,
}

impl std::fmt::Display for NodeRequirement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.operator.as_str() {
            "Exists" | "DoesNotExist" => write!(f, "{} {}", self.key, self.operator),
            op => write!(f, "{} {op} [{}]", self.key, self.values.join(",")),
        }
    }
}

/// A resource amount in the unit [`amount`] uses: millicores for `cpu`, bytes or counts for
/// everything else.
pub fn amount(resource: &str, quantity: &str) -> Option<u64> {
    if resource == "cpu" {
        parse_cpu(quantity)
    } else {
        parse_memory(quantity)
    }
}

/// An amount as a person writes it (`1500m`, `4Gi`, `2`).
pub fn show(resource: &str, amount: u64) -> String {
    let bytes =
        ["memory", "ephemeral-storage"].contains(&resource) || resource.starts_with("hugepages-");
    if resource == "cpu" {
        format_cpu(amount)
    } else if bytes && amount >= 1024 * 1024 {
        format_memory(amount)
    } else {
        amount.to_string()
    }
}

/// A node's taint (`key=value:Effect`) split into key, value and effect.
fn taint_parts(taint: &str) -> (&str, &str, &str) {
    let (kv, effect) = taint.rsplit_once(':').unwrap_or((taint, ""));
    let (key, value) = kv.split_once('=').unwrap_or((kv, ""));
    (key, value, effect)
}

/// Whether `toleration` tolerates `taint` (as `kubectl describe` prints it, `key=value:Effect`).
pub fn tolerates(toleration: &Toleration, taint: &str) -> bool {
    let (key, value, effect) = taint_parts(taint);
    let effect_ok = toleration.effect.is_empty() || toleration.effect == effect;
    let key_ok =
        (toleration.key.is_empty() && toleration.operator == "Exists") || toleration.key == key;
    let value_ok = toleration.operator == "Exists" || toleration.value == value;
    effect_ok && key_ok && value_ok
}

/// Whether a taint keeps new pods off a node (`NoSchedule`, `NoExecute`).
fn repels(taint: &str) -> bool {
    matches!(taint_parts(taint).2, "NoSchedule" | "NoExecute")
}

fn requirement_matches(req: &NodeRequirement, node: &NodeFacts) -> bool {
    let value = if req.key == "metadata.name" {
        Some(&node.name)
    } else {
        node.labels.get(&req.key)
    };
    let number = |v: &str| v.parse::<i64>().ok();
    match req.operator.as_str() {
        "In" => value.is_some_and(|v| req.values.contains(v)),
        "NotIn" => value.is_none_or(|v| !req.values.contains(v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        "Gt" | "Lt" => {
            let (Some(have), Some(bound)) = (
                value.and_then(|v| number(v)),
                req.values.first().and_then(|v| number(v)),
            ) else {
                return false;
            };
            if req.operator == "Gt" {
                have > bound
            } else {
                have < bound
            }
        }
        _ => false,
    }
}

fn selector_matches(term: &str, node: &NodeFacts) -> bool {
    let (key, value) = term.split_once('=').unwrap_or((term, ""));
    node.labels.get(key).is_some_and(|v| v == value)
}

fn affinity_matches(terms: &[Vec<NodeRequirement>], node: &NodeFacts) -> bool {
    terms.is_empty()
        || terms
            .iter()
            .any(|term| term.iter().all(|r| requirement_matches(r, node)))
}

/// Why one node cannot take the pod: the first filter that fails, as the scheduler stops there.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Rejection {
    Cordoned,
    NotReady,
    Taint(String),
    Selector,
    Affinity,
    Insufficient(Vec<String>),
}

fn reject(pod: &PodFacts, node: &NodeFacts) -> Option<Rejection> {
    let tolerated = |taint: &str| pod.tolerations.iter().any(|t| tolerates(t, taint));
    if node.unschedulable && !tolerated("node.kubernetes.io/unschedulable:NoSchedule") {
        return Some(Rejection::Cordoned);
    }
    if let Some(taint) = node
        .taints
        .iter()
        .find(|t| repels(t) && !tolerated(t.as_str()))
    {
        return Some(Rejection::Taint(taint.clone()));
    }
    let ready = node.condition("Ready").is_none_or(|c| c.is_true());
    if !ready && !tolerated("node.kubernetes.io/not-ready:NoSchedule") {
        return Some(Rejection::NotReady);
    }
    if !pod.node_selector.iter().all(|s| selector_matches(s, node)) {
        return Some(Rejection::Selector);
    }
    if !affinity_matches(&pod.node_affinity, node) {
        return Some(Rejection::Affinity);
    }
    let short = short_resources(pod, node);
    (!short.is_empty()).then_some(Rejection::Insufficient(short))
}

/// What is left of each resource on a node: allocatable minus what the pods in evidence on it
/// request. `None` when the node's allocatable is not known.
fn free(node: &NodeFacts, resource: &str) -> Option<u64> {
    if node.allocatable.is_empty() {
        return None;
    }
    let have = node.allocatable.get(resource).copied().unwrap_or(0);
    let used = node.requested.get(resource).copied().unwrap_or(0);
    Some(have.saturating_sub(used))
}

fn short_resources(pod: &PodFacts, node: &NodeFacts) -> Vec<String> {
    let mut wants = pod.requests.clone();
    if node.allocatable.contains_key("pods") {
        wants.insert("pods".into(), 1);
    }
    wants
        .iter()
        .filter(|(_, want)| **want > 0)
        .filter(|(resource, want)| free(node, resource).is_some_and(|left| left < **want))
        .map(|(resource, _)| resource.clone())
        .collect()
}

/// Why the pod fits none of the nodes in evidence.
#[derive(Debug, Clone, PartialEq)]
pub struct Unplaceable {
    /// `unschedulable`, or `volume-failure` when a claim it waits for is the reason.
    pub category: Category,
    /// How many nodes were considered.
    pub nodes: usize,
    /// The scheduler-style tally (`0/3 nodes are available: 2 Insufficient nvidia.com/gpu, ...`).
    pub tally: String,
    /// The specific things, in words (`requests nvidia.com/gpu: 1; no node has it`).
    pub specifics: Vec<String>,
}

/// A claim the pod mounts that holds it back: Pending (no volume bound) or Lost.
fn claim_problems(pod: &PodFacts, claims: &[&ClaimFacts]) -> Vec<String> {
    pod.claims
        .iter()
        .filter_map(|name| {
            claims
                .iter()
                .find(|c| &c.name == name && c.namespace == pod.namespace)
        })
        .filter(|c| c.phase.as_deref().is_some_and(|p| p != "Bound"))
        .map(|c| {
            let class = match &c.storage_class {
                Some(class) => format!("storageClassName {class}"),
                None => "no storageClassName (the cluster default, if any)".to_owned(),
            };
            format!(
                "claim {} is {} with {class}",
                c.name,
                c.phase.as_deref().unwrap_or("?")
            )
        })
        .collect()
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn names(nodes: &[&NodeFacts]) -> String {
    let mut listed: Vec<&str> = nodes.iter().take(3).map(|n| n.name.as_str()).collect();
    if nodes.len() > 3 {
        listed.push("…");
    }
    listed.join(", ")
}

/// Replays the scheduler's filters for `pod` over `nodes`. `None` when the pod is not waiting for
/// a node, no node is in evidence, or some node would take it (then evidence does not say why it
/// is Pending).
pub fn place(pod: &PodFacts, nodes: &[&NodeFacts], claims: &[&ClaimFacts]) -> Option<Unplaceable> {
    if pod.phase.as_deref() != Some("Pending") || pod.node.is_some() || pod.terminating {
        return None;
    }
    let waiting_claims = claim_problems(pod, claims);
    if !waiting_claims.is_empty() {
        return Some(Unplaceable {
            category: Category::VolumeFailure,
            nodes: nodes.len(),
            tally: format!(
                "pod has unbound PersistentVolumeClaims ({})",
                pod.claims.join(", ")
            ),
            specifics: waiting_claims,
        });
    }
    if nodes.is_empty() {
        return None;
    }
    let mut rejected: Vec<(&NodeFacts, Rejection)> = Vec::new();
    for node in nodes {
        rejected.push((node, reject(pod, node)?));
    }
    let mut tally: BTreeMap<String, usize> = BTreeMap::new();
    for (_, r) in &rejected {
        let lines = match r {
            Rejection::Cordoned => vec!["node(s) were unschedulable".to_owned()],
            Rejection::NotReady => vec!["node(s) were not ready".to_owned()],
            Rejection::Taint(t) => vec![format!("node(s) had untolerated taint {{{t}}}")],
            Rejection::Selector | Rejection::Affinity => {
                vec!["node(s) didn't match Pod's node affinity/selector".to_owned()]
            }
            Rejection::Insufficient(resources) => resources
                .iter()
                .map(|r| format!("Insufficient {r}"))
                .collect(),
        };
        for line in lines {
            *tally.entry(line).or_default() += 1;
        }
    }
    let mut counted: Vec<(String, usize)> = tally.into_iter().collect();
    counted.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let tally = format!(
        "0/{} nodes are available: {}",
        nodes.len(),
        counted
            .iter()
            .map(|(what, n)| format!("{n} {what}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    Some(Unplaceable {
        category: Category::Unschedulable,
        nodes: nodes.len(),
        tally,
        specifics: specifics(pod, nodes, &rejected),
    })
}

fn specifics(
    pod: &PodFacts,
    all: &[&NodeFacts],
    rejected: &[(&NodeFacts, Rejection)],
) -> Vec<String> {
    let with = |want: fn(&Rejection) -> bool| -> Vec<&NodeFacts> {
        rejected
            .iter()
            .filter(|(_, r)| want(r))
            .map(|(n, _)| *n)
            .collect()
    };
    let mut out = Vec::new();
    let cordoned = with(|r| *r == Rejection::Cordoned);
    if !cordoned.is_empty() {
        let n = cordoned.len();
        out.push(format!(
            "{n} node{} cordoned ({})",
            plural(n),
            names(&cordoned)
        ));
    }
    let mut taints: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, r) in rejected {
        if let Rejection::Taint(t) = r {
            *taints.entry(t.as_str()).or_default() += 1;
        }
    }
    for (taint, n) in taints {
        out.push(format!(
            "{n} node{} tainted {taint} not tolerated",
            plural(n)
        ));
    }
    let not_ready = with(|r| *r == Rejection::NotReady);
    if !not_ready.is_empty() {
        out.push(format!(
            "{} node{} not Ready ({})",
            not_ready.len(),
            plural(not_ready.len()),
            names(&not_ready)
        ));
    }
    out.extend(selector_specifics(pod, all, rejected));
    out.extend(resource_specifics(pod, rejected));
    out
}

fn selector_specifics(
    pod: &PodFacts,
    all: &[&NodeFacts],
    rejected: &[(&NodeFacts, Rejection)],
) -> Vec<String> {
    let mut out = Vec::new();
    if rejected.iter().any(|(_, r)| *r == Rejection::Selector) {
        let unmatched: Vec<&String> = pod
            .node_selector
            .iter()
            .filter(|s| !all.iter().any(|n| selector_matches(s, n)))
            .collect();
        if unmatched.is_empty() {
            out.push(format!(
                "node selector {} matches no schedulable node",
                pod.node_selector.join(", ")
            ));
        } else {
            for s in unmatched {
                out.push(format!("node selector {s} matches no node"));
            }
        }
    }
    if rejected.iter().any(|(_, r)| *r == Rejection::Affinity) {
        let terms: Vec<String> = pod
            .node_affinity
            .iter()
            .map(|term| {
                term.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(" and ")
            })
            .collect();
        out.push(format!(
            "required node affinity {} matches no node",
            terms.join(" or ")
        ));
    }
    out
}

fn resource_specifics(pod: &PodFacts, rejected: &[(&NodeFacts, Rejection)]) -> Vec<String> {
    let mut short: Vec<&String> = rejected
        .iter()
        .filter_map(|(_, r)| match r {
            Rejection::Insufficient(list) => Some(list.iter()),
            _ => None,
        })
        .flatten()
        .collect();
    short.sort();
    short.dedup();
    let fitting: Vec<&NodeFacts> = rejected
        .iter()
        .filter(|(_, r)| matches!(r, Rejection::Insufficient(_)))
        .map(|(n, _)| *n)
        .collect();
    let mut out = Vec::new();
    for resource in short {
        let Some(want) = pod.requests.get(resource).copied().or(
            // The pod count is the one implicit request.
            (resource == "pods").then_some(1),
        ) else {
            continue;
        };
        if resource == "pods" {
            out.push("the nodes hold as many pods as they allow".to_owned());
            continue;
        }
        let has_any = fitting
            .iter()
            .any(|n| n.allocatable.get(resource).is_some_and(|a| *a > 0));
        let wants = format!("requests {resource}: {}", show(resource, want));
        if !has_any {
            out.push(format!("{wants}; no node has it"));
            continue;
        }
        let best = fitting
            .iter()
            .filter_map(|n| free(n, resource).map(|f| (f, *n)))
            .max_by(|a, b| a.0.cmp(&b.0).then(b.1.name.cmp(&a.1.name)));
        if let Some((left, node)) = best {
            let counted = if node.pods_counted > 0 {
                format!(" after the {} pods in evidence on it", node.pods_counted)
            } else {
                String::new()
            };
            out.push(format!(
                "{wants}; the most any node has free is {} on {} (allocatable {}{counted})",
                show(resource, left),
                node.name,
                show(
                    resource,
                    node.allocatable.get(resource).copied().unwrap_or(0)
                ),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests;
