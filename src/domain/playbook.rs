//! Playbooks: per kind of incident, what evidence to gather, extra diagnosis heuristics, which
//! actions are allowed for which diagnosis (with bounds), when a human must approve, and how to
//! verify. Loading and validation live in `crate::rules`.

use jiff::SignedDuration;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::domain::catalog::Tool;
use crate::domain::pattern::{Glob, Pattern, any_match};
use crate::domain::plan::CheckKind;
use crate::domain::taxonomy::Category;

/// A playbook file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Playbook {
    /// Unique name; rules refer to it.
    pub name: String,
    /// What it handles.
    #[serde(default)]
    pub description: Option<String>,
    /// What evidence to gather.
    #[serde(default)]
    pub evidence: EvidenceSpec,
    /// Extra log/event patterns that point at a category, on top of the built-in diagnoser.
    #[serde(default)]
    pub heuristics: Vec<Heuristic>,
    /// The ceiling: tools any remedy of this playbook may use. Nothing else can run.
    pub allowed_actions: Vec<Tool>,
    /// What to do per diagnosed category; the first remedy naming the category wins. A category
    /// with no remedy gets `notify`.
    #[serde(default)]
    pub remedies: Vec<Remedy>,
    /// Who approves.
    #[serde(default)]
    pub approval: ApprovalSpec,
    /// Checks run after any mutating remedy that does not list its own.
    #[serde(default)]
    pub verification: Vec<CheckSpec>,
    /// What may be done to Deployments that Argo CD or Flux reconciles from Git.
    #[serde(default)]
    pub gitops: GitOpsSpec,
}

/// Deployments that Argo CD or Flux manages (their tracking labels or annotation): a rollback,
/// resource change or scale made in the cluster is undone by the next sync, so by default the
/// plan is `notify`, saying what to change in Git.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct GitOpsSpec {
    /// Tools that may act on a GitOps-managed Deployment anyway: list one only where sync is
    /// suspended or self-heal is off for what this playbook handles (`deployment.rollback`,
    /// `deployment.set_resources`, `deployment.scale`).
    pub allow: Vec<Tool>,
}

/// Bounds on evidence gathering.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct EvidenceSpec {
    /// Log lines kept per container log.
    pub log_tail_lines: usize,
    /// Bytes kept per container log.
    pub log_max_bytes: usize,
    /// Whether to read the previous (crashed) container's log.
    pub previous_logs: bool,
    /// How many ReplicaSet revisions of rollout history to read.
    pub rollout_history: usize,
    /// Prometheus queries to run, by name.
    pub metrics: Vec<MetricQuery>,
}

impl Default for EvidenceSpec {
    fn default() -> Self {
        Self {
            log_tail_lines: 200,
            log_max_bytes: 64 * 1024,
            previous_logs: true,
            rollout_history: 5,
            metrics: Vec::new(),
        }
    }
}

/// A named PromQL query; `{{ namespace }}`, `{{ pod }}`, `{{ container }}`, `{{ node }}` are
/// filled in from the incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MetricQuery {
    /// The query's name (the fixture file name under `metrics/`).
    pub name: String,
    /// The PromQL.
    pub query: String,
    /// Run as a range query over `prometheus.range_minutes` (the series' shape over time: what
    /// it was before the newest rollout and after), not at one instant.
    #[serde(default)]
    pub range: bool,
}

/// A pattern that, when found in the logs or events, adds weight to a category.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Heuristic {
    /// Regex over log lines and event messages.
    pub pattern: Pattern,
    /// The category it points at.
    pub category: Category,
    /// How strongly (the built-in signals weigh 0.3 – 1.0).
    #[serde(default = "default_weight")]
    pub weight: f64,
}

fn default_weight() -> f64 {
    0.5
}

/// What to do for a diagnosed category.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Remedy {
    /// The categories this remedy answers.
    pub categories: Vec<Category>,
    /// Actions in order. Parameters are derived from the incident and evidence.
    pub actions: Vec<RemedyAction>,
    /// Checks for this remedy (else the playbook's).
    #[serde(default)]
    pub verification: Vec<CheckSpec>,
}

/// One action of a remedy, with its bounds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RemedyAction {
    /// The catalog tool.
    pub tool: Tool,
    /// For `deployment.set_resources`: multiply the current memory limit by this (1.0 – 4.0).
    #[serde(default)]
    pub memory_growth: Option<f64>,
    /// For `deployment.set_resources`: multiply the current CPU limit by this.
    #[serde(default)]
    pub cpu_growth: Option<f64>,
    /// For `deployment.scale`: the replica count.
    #[serde(default)]
    pub replicas: Option<i64>,
}

/// Who approves what.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ApprovalSpec {
    /// Low-risk actions that run without a human, in the named namespaces only.
    pub auto_approve: Vec<AutoApprove>,
    /// How long a page waits for an answer before the incident expires.
    #[schemars(with = "String")]
    pub timeout: SignedDuration,
}

impl Default for ApprovalSpec {
    fn default() -> Self {
        Self {
            auto_approve: Vec::new(),
            timeout: SignedDuration::from_mins(30),
        }
    }
}

impl ApprovalSpec {
    /// Whether `tool` in `namespace` is auto-approved. Never a cluster-scoped tool: no
    /// namespace bounds a node action, whatever the playbook's `namespaces` say.
    pub fn auto_approves(&self, tool: Tool, namespace: Option<&str>) -> bool {
        if tool.is_cluster_scoped() {
            return false;
        }
        self.auto_approve.iter().any(|rule| {
            rule.tool == tool && namespace.is_some_and(|ns| any_match(&rule.namespaces, ns))
        })
    }
}

/// One auto-approval: a tool, in namespaces.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AutoApprove {
    /// The tool (must be low-risk: `deployment.restart`, `pod.delete`).
    pub tool: Tool,
    /// Namespace globs where it is auto-approved; at least one.
    pub namespaces: Vec<Glob>,
}

/// A verification check and its timing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckSpec {
    /// Which check.
    pub check: CheckKind,
    /// Give up after this long.
    #[serde(default = "default_check_timeout")]
    #[schemars(with = "String")]
    pub timeout: SignedDuration,
    /// Observation window (for `no-new-restarts`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub window: Option<SignedDuration>,
}

fn default_check_timeout() -> SignedDuration {
    SignedDuration::from_mins(5)
}

impl Playbook {
    /// The remedy for a category, if the playbook has one.
    pub fn remedy_for(&self, category: Category) -> Option<&Remedy> {
        self.remedies
            .iter()
            .find(|r| r.categories.contains(&category))
    }
}
