//! Rules: which signals open an incident, how urgent it is, what makes two signals the same
//! incident (the fingerprint), how long to stay quiet after one closes, and which playbook
//! handles it. Loading and file-level validation live in `crate::rules`.

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::domain::incident::{IncidentState, Severity};
use crate::domain::pattern::{Glob, Pattern, any_match};
use crate::domain::signal::{ContainerStateKind, Signal, SignalSource};

/// A rule file: `rules: [...]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleFile {
    /// The rules, tried in order; the first match wins.
    pub rules: Vec<Rule>,
}

/// One rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Unique name across all rule files.
    pub name: String,
    /// What the rule is for.
    #[serde(default)]
    pub description: Option<String>,
    /// What a signal must look like.
    #[serde(rename = "match")]
    pub matcher: Match,
    /// The incident's severity.
    pub severity: Severity,
    /// A MiniJinja template over the signal (`namespace`, `kind`, `name`, `workload`,
    /// `workload_kind`, `reason`, `container`, `alertname`, `labels`, `rule`). Signals with the
    /// same rendered fingerprint are one incident.
    #[serde(default = "default_fingerprint")]
    pub fingerprint: String,
    /// After an incident with this fingerprint ends, new signals are ignored for this long.
    #[serde(default = "default_cooldown")]
    #[schemars(with = "String")]
    pub cooldown: SignedDuration,
    /// Signals arriving this soon after the incident opened are grouped into it as evidence.
    #[serde(default = "default_group_window")]
    #[schemars(with = "String")]
    pub group_window: SignedDuration,
    /// The playbook that handles the incident.
    pub playbook: String,
    /// Set to false to keep a rule in the file but off.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// A catch-all: tried only when no other rule matches any of the incident's signals (an
    /// alert no specific rule names, an investigation nothing else explains).
    #[serde(default)]
    pub fallback: bool,
}

fn default_fingerprint() -> String {
    "{{ rule }}/{{ namespace }}/{{ workload }}".into()
}

fn default_cooldown() -> SignedDuration {
    SignedDuration::from_mins(30)
}

fn default_group_window() -> SignedDuration {
    SignedDuration::from_mins(5)
}

fn yes() -> bool {
    true
}

/// What a signal must look like. Every field present must match; lists match any element.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Match {
    /// `kubernetes`, `alert` or `manual`.
    #[serde(default)]
    pub source: Option<SignalSource>,
    /// Object kinds (`Pod`, `Node`, `Job`...).
    #[serde(default)]
    pub kind: Vec<String>,
    /// Reasons, as globs (`CrashLoopBackOff`, `*PullBackOff`).
    #[serde(default)]
    pub reason: Vec<Glob>,
    /// The container's state.
    #[serde(default)]
    pub container_state: Option<ContainerStateKind>,
    /// Namespaces, as globs; empty means every namespace.
    #[serde(default)]
    pub namespaces: Vec<Glob>,
    /// Namespaces never matched.
    #[serde(default)]
    pub exclude_namespaces: Vec<Glob>,
    /// Label globs the target (or alert) must carry.
    #[serde(default)]
    pub labels: BTreeMap<String, Glob>,
    /// Alert names, as globs.
    #[serde(default)]
    pub alertname: Vec<Glob>,
    /// A regex the signal's message must contain.
    #[serde(default)]
    pub message: Option<Pattern>,
}

impl Match {
    /// Whether `signal` satisfies every condition.
    pub fn matches(&self, signal: &Signal) -> bool {
        let namespace = signal.namespace().unwrap_or("");
        self.source.is_none_or(|s| s == signal.source)
            && (self.kind.is_empty()
                || self
                    .kind
                    .iter()
                    .any(|k| k.eq_ignore_ascii_case(&signal.target.kind)))
            && (self.reason.is_empty() || any_match(&self.reason, &signal.reason))
            && self
                .container_state
                .is_none_or(|s| signal.container_state == Some(s))
            && (self.namespaces.is_empty() || any_match(&self.namespaces, namespace))
            && !any_match(&self.exclude_namespaces, namespace)
            && self
                .labels
                .iter()
                .all(|(key, glob)| signal.labels.get(key).is_some_and(|v| glob.is_match(v)))
            && (self.alertname.is_empty()
                || signal
                    .alertname
                    .as_deref()
                    .is_some_and(|name| any_match(&self.alertname, name)))
            && self
                .message
                .as_ref()
                .is_none_or(|p| signal.message.as_deref().is_some_and(|m| p.is_match(m)))
    }
}

/// The variables a fingerprint template sees.
pub fn fingerprint_context(rule: &str, signal: &Signal) -> serde_json::Value {
    let workload = signal.workload.as_ref().unwrap_or(&signal.target);
    serde_json::json!({
        "rule": rule,
        "source": signal.source.as_str(),
        "kind": signal.target.kind,
        "namespace": signal.namespace().unwrap_or("_cluster"),
        "name": signal.target.name,
        "workload": workload.name,
        "workload_kind": workload.kind,
        "reason": signal.reason,
        "container": signal.container.as_deref().unwrap_or(""),
        "alertname": signal.alertname.as_deref().unwrap_or(""),
        "labels": signal.labels,
    })
}

/// Renders a fingerprint template for a signal.
pub fn render_fingerprint(template: &str, rule: &str, signal: &Signal) -> Result<String, String> {
    let env = minijinja::Environment::new();
    env.render_str(template, fingerprint_context(rule, signal))
        .map(|s| s.trim().to_owned())
        .map_err(|err| format!("fingerprint template: {err}"))
}

/// What is known about the latest incident with the same fingerprint.
#[derive(Debug, Clone, PartialEq)]
pub struct Existing {
    /// Its id.
    pub id: String,
    /// Its state.
    pub state: IncidentState,
    /// When it opened.
    pub opened_at: Timestamp,
    /// When it ended, if it has.
    pub closed_at: Option<Timestamp>,
}

/// What to do with a matched signal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// Open a new incident.
    Open,
    /// Add the signal to the incident as evidence (within the group window).
    Group(String),
    /// The same incident is still open; count the signal, do nothing else.
    Duplicate(String),
    /// An incident with this fingerprint ended recently; stay quiet until then.
    Cooldown(Timestamp),
}

/// An open incident that has not changed state for this long may be stuck: signals of other
/// rules about its workload open their own incident instead of joining it.
pub const JOIN_STALE_AFTER: SignedDuration = SignedDuration::from_hours(1);

/// Whether a signal that its own fingerprint would open as a new incident joins the open
/// incident already about the same workload instead (one broken rollout, one page): yes, unless
/// it is more severe than that incident (it must page at its own severity) or that incident has
/// not moved for [`JOIN_STALE_AFTER`].
pub fn joins_open_sibling(
    severity: Severity,
    sibling_severity: Severity,
    sibling_updated_at: Timestamp,
    now: Timestamp,
) -> bool {
    severity <= sibling_severity && now < sibling_updated_at + JOIN_STALE_AFTER
}

/// Decides whether a matched signal opens an incident, joins one, or is held by cooldown.
pub fn admit(rule: &Rule, existing: Option<&Existing>, now: Timestamp) -> Admission {
    let Some(existing) = existing else {
        return Admission::Open;
    };
    if !existing.state.is_terminal() {
        return if now < existing.opened_at + rule.group_window {
            Admission::Group(existing.id.clone())
        } else {
            Admission::Duplicate(existing.id.clone())
        };
    }
    let ended = existing.closed_at.unwrap_or(existing.opened_at);
    let quiet_until = ended + rule.cooldown;
    if now < quiet_until {
        Admission::Cooldown(quiet_until)
    } else {
        Admission::Open
    }
}
