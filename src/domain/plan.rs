//! Plans: the ordered catalog actions nightshift proposes, the checks that will prove them, and
//! a stable hash over their canonical JSON to which an approval is bound.

use jiff::SignedDuration;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::domain::catalog::Tool;
use crate::domain::signal::ObjectRef;

/// One catalog call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Action {
    /// The catalog tool.
    pub tool: Tool,
    /// Its parameters, valid against the tool's schema.
    pub params: Value,
}

/// How much damage a plan could do if the diagnosis were wrong.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Risk {
    /// Nothing changes (notify).
    None,
    /// Reversible, narrow (restart, delete one pod, cordon).
    Low,
    /// Changes what runs (rollback, resources, suspend).
    Medium,
    /// Changes capacity (scale).
    High,
}

impl Risk {
    /// The inherent risk of one tool.
    pub fn of(tool: Tool) -> Risk {
        match tool {
            Tool::Notify => Risk::None,
            Tool::DeploymentRestart | Tool::PodDelete | Tool::NodeCordon | Tool::NodeUncordon => {
                Risk::Low
            }
            Tool::DeploymentRollback | Tool::DeploymentSetResources | Tool::CronjobSuspend => {
                Risk::Medium
            }
            Tool::DeploymentScale => Risk::High,
        }
    }
}

/// A verification check, run as a separate step after execution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum CheckKind {
    /// The Deployment's rollout finished: observedGeneration caught up, all replicas updated,
    /// ready and available.
    RolloutComplete,
    /// The target's containers did not restart during the window.
    NoNewRestarts,
    /// The target's pods are Ready.
    PodsReady,
    /// The condition that opened the incident is gone.
    ConditionCleared,
    /// The node the plan's `node.cordon` touched is cordoned.
    NodeCordoned,
    /// The CronJob is suspended.
    CronjobSuspended,
}

/// A check with its parameters (target, window, timeout).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    /// Which check.
    pub check: CheckKind,
    /// Its parameters: the target, `window_seconds` and `timeout_seconds`.
    pub params: Value,
}

impl Check {
    /// The check with its `timeout_seconds` and `window_seconds` multiplied by `factor` (at
    /// least one second each). For demos and tests that cannot wait minutes; the plan as
    /// approved, and its hash, are unchanged — only how long the verifier watches.
    pub fn time_scaled(&self, factor: f64) -> Check {
        let mut params = self.params.clone();
        for key in ["timeout_seconds", "window_seconds"] {
            if let Some(secs) = params.get(key).and_then(Value::as_f64) {
                let scaled = (secs * factor).ceil().max(1.0) as u64;
                params[key] = Value::from(scaled);
            }
        }
        Check {
            check: self.check,
            params,
        }
    }
}

/// The object a check of `kind` watches: for `node-cordoned`, the node the plan's `node.cordon`
/// touches (a cordon planned for an evicted pod is about the pod's node, not its Deployment);
/// for every other check, `incident` — the incident's workload, or its target.
pub fn check_target(kind: CheckKind, actions: &[Action], incident: &ObjectRef) -> ObjectRef {
    let cordoned = actions
        .iter()
        .filter(|a| a.tool == Tool::NodeCordon)
        .find_map(|a| a.params.get("name").and_then(Value::as_str));
    match (kind, cordoned) {
        (CheckKind::NodeCordoned, Some(node)) => ObjectRef::cluster("Node", node),
        _ => incident.clone(),
    }
}

/// Why a plan was downgraded to `notify`: by policy, because no structural fact supported a
/// mutation, or because something else controlling its target would undo it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Downgrade {
    /// The policy's reason.
    pub reason: String,
    /// The actions the planner had proposed.
    pub proposed: Vec<Action>,
}

/// A plan for one incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// The actions, in order.
    pub actions: Vec<Action>,
    /// Whether a human must approve before anything runs.
    pub requires_approval: bool,
    /// The highest risk of its actions.
    pub risk: Risk,
    /// Why these actions.
    pub rationale: String,
    /// Set when the proposed actions were refused (policy, corroboration, GitOps, autoscaler,
    /// disruption budget) and the plan became `notify`.
    pub downgraded: Option<Downgrade>,
    /// The checks that prove it worked.
    pub verification: Vec<Check>,
}

impl Plan {
    /// The first mutating action, if any.
    pub fn first_mutation(&self) -> Option<&Action> {
        self.actions.iter().find(|a| a.tool.is_mutating())
    }

    /// Whether the plan changes anything.
    pub fn is_mutating(&self) -> bool {
        self.first_mutation().is_some()
    }

    /// A hex SHA-256 over the canonical JSON of the actions and checks: what an approval binds
    /// to. Any change to a tool, a parameter or a check changes the hash.
    pub fn hash(&self) -> String {
        let body = serde_json::json!({
            "actions": self.actions,
            "verification": self.verification,
        });
        let mut hasher = Sha256::new();
        hasher.update(canonical_json(&body).as_bytes());
        hex(&hasher.finalize())
    }
}

/// Serializes with object keys sorted at every depth and no insignificant whitespace, so equal
/// values always give equal bytes whatever order their maps were built in.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(&map[key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A duration as whole seconds, for check parameters.
pub fn seconds(duration: SignedDuration) -> i64 {
    duration.as_secs()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{Action, Check, CheckKind, Plan, Risk, canonical_json};
    use crate::domain::catalog::Tool;

    fn rollback_plan(name: &str) -> Plan {
        Plan {
            actions: vec![Action {
                tool: Tool::DeploymentRollback,
                params: json!({"namespace": "shop", "name": name}),
            }],
            requires_approval: true,
            risk: Risk::Medium,
            rationale: "r".into(),
            downgraded: None,
            verification: vec![Check {
                check: CheckKind::RolloutComplete,
                params: json!({"timeout": 300}),
            }],
        }
    }

    #[test]
    fn canonical_json_sorts_keys_at_every_depth() {
        let a = json!({"b": 1, "a": {"y": [1, {"d": 2, "c": 3}], "x": null}});
        assert_eq!(
            canonical_json(&a),
            r#"{"a":{"x":null,"y":[1,{"c":3,"d":2}]},"b":1}"#
        );
    }

    #[test]
    fn the_plan_hash_is_stable_and_changes_with_any_parameter() {
        let plan = rollback_plan("payments-api");
        assert_eq!(plan.hash(), rollback_plan("payments-api").hash());
        assert_eq!(plan.hash().len(), 64);
        assert_ne!(plan.hash(), rollback_plan("payments-apj").hash());
        let mut other_check = plan.clone();
        other_check.verification[0].params = json!({"timeout": 301});
        assert_ne!(plan.hash(), other_check.hash());
    }

    #[test]
    fn the_rationale_does_not_change_the_hash() {
        let mut plan = rollback_plan("a");
        let before = plan.hash();
        plan.rationale = "different words".into();
        assert_eq!(before, plan.hash());
    }

    #[test]
    fn a_time_scaled_check_waits_less_but_keeps_its_target_and_at_least_a_second() {
        let check = super::Check {
            check: super::CheckKind::NoNewRestarts,
            params: serde_json::json!({"target": {"kind": "Deployment", "name": "api"},
                                       "timeout_seconds": 900, "window_seconds": 30}),
        };
        let fast = check.time_scaled(0.02);
        assert_eq!(fast.params["timeout_seconds"], 18);
        assert_eq!(fast.params["window_seconds"], 1);
        assert_eq!(fast.params["target"], check.params["target"]);
        assert_eq!(check.time_scaled(1.0), check);
    }
}
