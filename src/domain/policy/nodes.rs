//! Node policy. `node.cordon` and `node.uncordon` are cluster-scoped: no namespace bounds them,
//! so they get limits of their own. nightshift never touches a control-plane node, touches only
//! the nodes its selector admits (the pool), and keeps at most `max_cordoned` nodes — and at most
//! `max_cordoned_fraction` of the pool — cordoned at once, counting nodes that were already
//! unschedulable whoever cordoned them.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::domain::catalog::Tool;
use crate::domain::evidence::NodeFacts;
use crate::domain::pattern::Glob;

/// The label (or taint) keys that mark a control-plane node: the current one and the one
/// Kubernetes used before 1.24.
pub const CONTROL_PLANE_KEYS: &[&str] = &[
    "node-role.kubernetes.io/control-plane",
    "node-role.kubernetes.io/master",
];

/// Limits on node actions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct NodePolicy {
    /// Labels a node must carry for nightshift to cordon or uncordon it, each value a glob
    /// (`"*"`: any value). Empty: every node that is not part of the control plane. Control-plane
    /// nodes are never touched, whatever the selector says.
    pub selector: BTreeMap<String, Glob>,
    /// The most nodes of the pool that may be cordoned at once, counting those already
    /// cordoned (by anyone) and the one about to be.
    pub max_cordoned: usize,
    /// The largest fraction of the pool (the nodes the selector admits) that may be cordoned at
    /// once, counted the same way. 0.34 lets one node of three be cordoned.
    pub max_cordoned_fraction: f64,
}

impl Default for NodePolicy {
    fn default() -> Self {
        Self {
            selector: BTreeMap::new(),
            max_cordoned: 2,
            max_cordoned_fraction: 0.34,
        }
    }
}

/// What is known about the cluster's nodes when a node action is checked.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NodeView {
    /// The nodes known.
    pub nodes: Vec<NodeFacts>,
    /// Whether `nodes` is every node of the cluster (read live right before execution). When
    /// planning, only the nodes the evidence holds are known: what cannot be judged from them is
    /// judged before execution, where a missing node or an unread pool refuses the action.
    pub complete: bool,
}

impl NodeView {
    /// Every node of the cluster, as read right before execution.
    pub fn complete(nodes: Vec<NodeFacts>) -> Self {
        Self {
            nodes,
            complete: true,
        }
    }

    /// Only some nodes (those the evidence holds).
    pub fn partial(nodes: Vec<NodeFacts>) -> Self {
        Self {
            nodes,
            complete: false,
        }
    }
}

/// Whether a node is part of the control plane: it carries a control-plane role label or taint.
pub fn is_control_plane(node: &NodeFacts) -> bool {
    let labelled = CONTROL_PLANE_KEYS
        .iter()
        .any(|key| node.labels.contains_key(*key));
    // Taints are `key=value:Effect` or `key:Effect`.
    let tainted = node.taints.iter().any(|taint| {
        let key = taint.split(['=', ':']).next().unwrap_or("");
        CONTROL_PLANE_KEYS.contains(&key)
    });
    labelled || tainted
}

impl NodePolicy {
    /// Whether the selector admits `node` (control plane aside).
    pub fn admits(&self, node: &NodeFacts) -> bool {
        self.selector.iter().all(|(key, value)| {
            node.labels
                .get(key)
                .is_some_and(|actual| value.is_match(actual))
        })
    }

    /// Checks `tool` on node `name` against what `view` knows; `Err` says why it may not run.
    pub fn check(&self, tool: Tool, name: &str, view: &NodeView) -> Result<(), String> {
        let Some(node) = view.nodes.iter().find(|n| n.name == name) else {
            return if view.complete {
                Err("no such node in the cluster".into())
            } else {
                Ok(())
            };
        };
        if is_control_plane(node) {
            return Err(
                "it is a control-plane node; nightshift never touches the control plane".into(),
            );
        }
        if !self.admits(node) {
            return Err(format!(
                "its labels do not match policy.nodes.selector ({})",
                self.selector_text()
            ));
        }
        if tool == Tool::NodeCordon && view.complete {
            self.check_capacity(name, &view.nodes)?;
        }
        Ok(())
    }

    /// The pool after cordoning `name` stays within both limits.
    fn check_capacity(&self, name: &str, nodes: &[NodeFacts]) -> Result<(), String> {
        let pool: Vec<&NodeFacts> = nodes
            .iter()
            .filter(|n| !is_control_plane(n) && self.admits(n))
            .collect();
        let cordoned = pool
            .iter()
            .filter(|n| n.unschedulable || n.name == name)
            .count();
        if cordoned > self.max_cordoned {
            return Err(format!(
                "{cordoned} nodes of the pool would be cordoned at once, more than \
                 policy.nodes.max_cordoned ({})",
                self.max_cordoned
            ));
        }
        let share = cordoned as f64 / pool.len().max(1) as f64;
        if share > self.max_cordoned_fraction + f64::EPSILON {
            return Err(format!(
                "{cordoned} of the {} nodes of the pool would be cordoned at once, more than \
                 policy.nodes.max_cordoned_fraction ({})",
                pool.len(),
                self.max_cordoned_fraction
            ));
        }
        Ok(())
    }

    fn selector_text(&self) -> String {
        let terms: Vec<String> = self
            .selector
            .iter()
            .map(|(k, v)| format!("{k}={}", v.as_str()))
            .collect();
        terms.join(",")
    }
}
