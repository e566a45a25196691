//! Policy: the ceiling on what any plan may do, whatever the diagnosis or the LLM said. A plan
//! that breaks policy is downgraded to `notify` with the reason recorded — never silently
//! changed into a different mutation.
//!
//! Namespaces bound namespaced actions, and the namespace of the signal bounds every action
//! taken on its behalf (a pod in `kube-system` never leads to a cordon). Node actions have
//! their own limits ([`nodes`]); the cluster-wide [`budget`] caps what all incidents together
//! may change per window.

pub mod budget;
mod downgrade;
pub mod nodes;
mod recheck;

pub use downgrade::{downgrade, notify_instead, truncate};
pub use recheck::{Escalation, recheck_before_execution};

use jiff::{SignedDuration, Timestamp};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::domain::catalog::{Tool, validate_params};
use crate::domain::pattern::{Glob, any_match};
use crate::domain::plan::{Action, Plan};
use crate::domain::quantity::{parse_cpu, parse_memory};

use budget::ActionBudget;
use nodes::{NodePolicy, NodeView};

/// Limits every action must respect. Defaults are conservative.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    /// Namespaces nightshift may act in.
    pub allowed_namespaces: Vec<Glob>,
    /// Namespaces nightshift never mutates, even when allowed (kube-system and nightshift's
    /// own namespace by default).
    pub protected_namespaces: Vec<Glob>,
    /// Fewest replicas a scale may leave.
    pub min_replicas: i64,
    /// Most replicas a scale may ask for.
    pub max_replicas: i64,
    /// How many times larger a memory limit may grow in one action.
    pub max_memory_growth: f64,
    /// How many times larger a CPU limit may grow in one action.
    pub max_cpu_growth: f64,
    /// The largest memory limit any action may set.
    pub max_memory_limit: String,
    /// Mutating actions allowed per target within `action_window`.
    pub max_actions_per_target: usize,
    /// The window for `max_actions_per_target`.
    #[schemars(with = "String")]
    pub action_window: SignedDuration,
    /// Limits on `node.cordon` and `node.uncordon`, which no namespace bounds.
    pub nodes: NodePolicy,
    /// The most mutating actions nightshift may carry out across the cluster per window.
    pub budget: ActionBudget,
}

impl Default for Policy {
    fn default() -> Self {
        let glob = |s: &str| Glob::new(s).unwrap_or_else(|e| panic!("{e}"));
        Self {
            allowed_namespaces: vec![glob("*")],
            protected_namespaces: vec![glob("kube-system"), glob("nightshift")],
            min_replicas: 1,
            max_replicas: 50,
            max_memory_growth: 2.0,
            max_cpu_growth: 2.0,
            max_memory_limit: "16Gi".into(),
            max_actions_per_target: 3,
            action_window: SignedDuration::from_hours(1),
            nodes: NodePolicy::default(),
            budget: ActionBudget::default(),
        }
    }
}

/// A mutating action already carried out, for rate limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PastAction {
    /// The tool.
    pub tool: Tool,
    /// The target key (see [`target_key`]).
    pub target: String,
    /// When it ran.
    pub at: Timestamp,
}

/// What policy needs to know about the world, gathered by the caller.
#[derive(Debug, Clone, Default)]
pub struct PolicyContext<'a> {
    /// Mutating actions already carried out.
    pub recent: &'a [PastAction],
    /// The Deployment's current replicas, for scale bounds.
    pub current_replicas: Option<i64>,
    /// The container's current memory limit in bytes, for growth bounds.
    pub current_memory_limit: Option<u64>,
    /// The container's current CPU limit in millicores.
    pub current_cpu_limit: Option<u64>,
    /// The namespace of the signal the plan answers (none for a node or a cluster-wide alert).
    pub signal_namespace: Option<String>,
    /// The nodes known, for node actions.
    pub nodes: NodeView,
}

/// Why policy refused an action.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Violation {
    /// The params do not satisfy the tool's schema.
    #[error("{tool}: parameters invalid: {}", .errors.join("; "))]
    Schema {
        /// The tool.
        tool: Tool,
        /// Every schema error.
        errors: Vec<String>,
    },
    /// The namespace is protected.
    #[error("{tool}: namespace `{namespace}` is protected")]
    Protected {
        /// The tool.
        tool: Tool,
        /// The namespace.
        namespace: String,
    },
    /// The namespace is not in the allowed list.
    #[error("{tool}: namespace `{namespace}` is not in allowed_namespaces")]
    NotAllowed {
        /// The tool.
        tool: Tool,
        /// The namespace.
        namespace: String,
    },
    /// A numeric bound was exceeded.
    #[error("{tool}: {what}")]
    Bound {
        /// The tool.
        tool: Tool,
        /// What was exceeded.
        what: String,
    },
    /// The signal came from a namespace nightshift may not act for.
    #[error(
        "{tool}: the signal came from namespace `{namespace}`, which {why}; nightshift takes no action on its behalf"
    )]
    SignalNamespace {
        /// The tool.
        tool: Tool,
        /// The signal's namespace.
        namespace: String,
        /// `is protected` or `is not in allowed_namespaces`.
        why: &'static str,
    },
    /// Node policy refuses the action.
    #[error("{tool} on node {node}: {why}")]
    Node {
        /// The tool.
        tool: Tool,
        /// The node.
        node: String,
        /// Why.
        why: String,
    },
    /// The cluster-wide action budget would be overspent.
    #[error(
        "the cluster-wide action budget is spent: {spent} mutating action(s) in the last {window} and {planned} more planned, limit {limit}; humans decide what else changes"
    )]
    Budget {
        /// Mutating actions already carried out within the window.
        spent: usize,
        /// Mutating actions the plan adds.
        planned: usize,
        /// `policy.budget.max_actions`.
        limit: usize,
        /// `policy.budget.window`.
        window: String,
    },
    /// Too many actions on this target recently.
    #[error("{tool}: {count} actions on {target} in the last {window}, limit {limit}")]
    RateLimited {
        /// The tool.
        tool: Tool,
        /// The target.
        target: String,
        /// Actions counted.
        count: usize,
        /// The limit.
        limit: usize,
        /// The window.
        window: String,
    },
}

/// The key that identifies what an action acts on (`shop/payments-api`, `node/worker-3`).
pub fn target_key(action: &Action) -> String {
    let field = |key: &str| action.params.get(key).and_then(Value::as_str).unwrap_or("");
    if action.tool.is_cluster_scoped() {
        format!("node/{}", field("name"))
    } else {
        format!("{}/{}", field("namespace"), field("name"))
    }
}

impl Policy {
    /// Checks one action; `Ok` means it may proceed to the server-side dry run.
    pub fn check(
        &self,
        action: &Action,
        ctx: &PolicyContext<'_>,
        now: Timestamp,
    ) -> Result<(), Violation> {
        let tool = action.tool;
        validate_params(tool, &action.params)
            .map_err(|errors| Violation::Schema { tool, errors })?;
        if !tool.is_mutating() {
            return Ok(());
        }
        if let Some(namespace) = action.params.get("namespace").and_then(Value::as_str) {
            if any_match(&self.protected_namespaces, namespace) {
                return Err(Violation::Protected {
                    tool,
                    namespace: namespace.into(),
                });
            }
            if !any_match(&self.allowed_namespaces, namespace) {
                return Err(Violation::NotAllowed {
                    tool,
                    namespace: namespace.into(),
                });
            }
        }
        if let Some(namespace) = ctx.signal_namespace.as_deref()
            && let Some(why) = self.refuses_namespace(namespace)
        {
            return Err(Violation::SignalNamespace {
                tool,
                namespace: namespace.into(),
                why,
            });
        }
        if tool.is_cluster_scoped() {
            let node = action
                .params
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("");
            self.nodes
                .check(tool, node, &ctx.nodes)
                .map_err(|why| Violation::Node {
                    tool,
                    node: node.into(),
                    why,
                })?;
        }
        self.check_bounds(action, ctx)?;
        self.check_rate(action, ctx.recent, now)
    }

    /// Why nightshift may not act in `namespace`, if it may not.
    fn refuses_namespace(&self, namespace: &str) -> Option<&'static str> {
        if any_match(&self.protected_namespaces, namespace) {
            Some("is protected")
        } else if !any_match(&self.allowed_namespaces, namespace) {
            Some("is not in allowed_namespaces")
        } else {
            None
        }
    }

    /// Checks a whole plan: every action, then the cluster-wide budget.
    pub fn check_plan(
        &self,
        plan: &Plan,
        ctx: &PolicyContext<'_>,
        now: Timestamp,
    ) -> Result<(), Violation> {
        for action in &plan.actions {
            self.check(action, ctx, now)?;
        }
        self.budget
            .check(plan, ctx.recent, now)
            .map_err(|over| Violation::Budget {
                spent: over.spent,
                planned: over.planned,
                limit: self.budget.max_actions,
                window: format!("{:#}", self.budget.window),
            })
    }

    /// How far back the actions in [`PolicyContext::recent`] must reach for every window here.
    pub fn lookback(&self) -> SignedDuration {
        self.action_window.max(self.budget.window)
    }

    fn check_bounds(&self, action: &Action, ctx: &PolicyContext<'_>) -> Result<(), Violation> {
        let tool = action.tool;
        let bound = |what: String| Err(Violation::Bound { tool, what });
        match tool {
            Tool::DeploymentScale => {
                let replicas = action
                    .params
                    .get("replicas")
                    .and_then(Value::as_i64)
                    .unwrap_or(-1);
                if replicas < self.min_replicas || replicas > self.max_replicas {
                    return bound(format!(
                        "replicas {replicas} outside [{}, {}]",
                        self.min_replicas, self.max_replicas
                    ));
                }
                if let Some(current) = ctx.current_replicas.filter(|c| *c > 0)
                    && replicas > current * 2
                {
                    return bound(format!("replicas {replicas} more than doubles {current}"));
                }
                Ok(())
            }
            Tool::DeploymentSetResources => {
                if let Some(text) = action.params.get("memory_limit").and_then(Value::as_str) {
                    let asked = parse_memory(text).unwrap_or(u64::MAX);
                    let ceiling = parse_memory(&self.max_memory_limit).unwrap_or(0);
                    if asked > ceiling {
                        return bound(format!(
                            "memory_limit {text} above max_memory_limit {}",
                            self.max_memory_limit
                        ));
                    }
                    match ctx.current_memory_limit {
                        Some(current) if asked as f64 > current as f64 * self.max_memory_growth => {
                            return bound(format!(
                                "memory_limit {text} grows the limit more than {}x",
                                self.max_memory_growth
                            ));
                        }
                        None => {
                            return bound(
                                "current memory limit unknown; growth cannot be bounded".into(),
                            );
                        }
                        _ => {}
                    }
                }
                if let Some(text) = action.params.get("cpu_limit").and_then(Value::as_str) {
                    let asked = parse_cpu(text).unwrap_or(u64::MAX);
                    match ctx.current_cpu_limit {
                        Some(current) if asked as f64 > current as f64 * self.max_cpu_growth => {
                            return bound(format!(
                                "cpu_limit {text} grows the limit more than {}x",
                                self.max_cpu_growth
                            ));
                        }
                        None => {
                            return bound(
                                "current cpu limit unknown; growth cannot be bounded".into(),
                            );
                        }
                        _ => {}
                    }
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn check_rate(
        &self,
        action: &Action,
        recent: &[PastAction],
        now: Timestamp,
    ) -> Result<(), Violation> {
        let target = target_key(action);
        let since = now - self.action_window;
        let count = recent
            .iter()
            .filter(|past| past.target == target && past.at > since && past.at <= now)
            .count();
        if count >= self.max_actions_per_target {
            return Err(Violation::RateLimited {
                tool: action.tool,
                target,
                count,
                limit: self.max_actions_per_target,
                window: format!("{:#}", self.action_window),
            });
        }
        Ok(())
    }

    /// Applies policy to a whole plan: if any action is refused, the plan becomes a single
    /// `notify` that says what was proposed and why it was refused.
    pub fn enforce(&self, plan: Plan, ctx: &PolicyContext<'_>, now: Timestamp) -> Plan {
        match self.check_plan(&plan, ctx, now) {
            Ok(()) => plan,
            Err(violation) => downgrade(plan, violation.to_string()),
        }
    }
}
