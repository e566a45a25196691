//! Corroboration: a mutating action needs a structural fact from the objects themselves — what
//! the kubelet, the node controller and the Deployment controller recorded in status — never
//! only what a log line or an Event says. Logs and Events can be written by anyone who can make
//! an app log a request path or create an Event; status cannot.
//!
//! | action | supported by | vetoed by |
//! |---|---|---|
//! | `deployment.set_resources` (memory) | the container's latest termination was `OOMKilled` | it was for another reason (exit 137 alone is any SIGKILL) |
//! | `node.cordon` | the Node is not Ready, or has a pressure condition | Ready=True with no pressure |
//! | `node.uncordon` | the Node is Ready with no pressure | it is not |
//! | `deployment.rollback` | the failing pods all run the newest revision, rolled out within [`ROLLOUT_WINDOW`], and an older one exists | a failing pod of an older revision, or a newest revision older than that: the failure did not begin with the rollout |
//! | `deployment.restart` | a pod of the Deployment is not Ready or not running | every pod is Ready and running |
//! | `deployment.scale` | the Deployment's replica count is known | it already has that many |
//! | `pod.delete` | the pod is not Ready, not running, or failed | it is Ready and running, or already terminating |
//! | `cronjob.suspend` | two or more of its Jobs have `Failed=True` | — |

use jiff::{SignedDuration, Timestamp};
use serde_json::Value;

use crate::domain::catalog::Tool;
use crate::domain::evidence::{ContainerState, Evidence, NodeFacts, PodFacts, RevisionFacts};
use crate::domain::plan::Action;

/// What the structure says about an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// A structural fact supports it.
    Supported,
    /// A structural fact contradicts it.
    Vetoed,
    /// No structural fact supports it (only logs or events, or nothing at all).
    Unsupported,
}

/// The verdict on one action and the fact it rests on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Corroboration {
    /// The action's tool.
    pub tool: Tool,
    /// Supported, vetoed or unsupported.
    pub verdict: Verdict,
    /// The fact, in words a human can check.
    pub fact: String,
    /// The evidence item the fact comes from, when there is one.
    pub evidence: Option<String>,
}

impl Corroboration {
    /// Whether the action may be proposed.
    pub fn allows(&self) -> bool {
        self.verdict == Verdict::Supported
    }

    /// One line for `--explain` and plan rationales.
    pub fn describe(&self) -> String {
        let verdict = match self.verdict {
            Verdict::Supported => "supported",
            Verdict::Vetoed => "vetoed",
            Verdict::Unsupported => "not corroborated",
        };
        let cite = self
            .evidence
            .as_ref()
            .map(|id| format!(" [{id}]"))
            .unwrap_or_default();
        format!("{} {verdict}: {}{cite}", self.tool, self.fact)
    }
}

fn verdict(tool: Tool, verdict: Verdict, fact: String, evidence: Option<&str>) -> Corroboration {
    Corroboration {
        tool,
        verdict,
        fact,
        evidence: evidence.map(str::to_owned),
    }
}

fn param<'a>(action: &'a Action, key: &str) -> Option<&'a str> {
    action.params.get(key).and_then(Value::as_str)
}

/// Whether a pod is failing by its status: not done, and a container is not Ready or not running.
pub fn failing(pod: &PodFacts) -> bool {
    match pod.phase.as_deref() {
        Some("Succeeded") => false,
        Some("Pending" | "Failed" | "Unknown") => true,
        _ => pod
            .containers
            .iter()
            .any(|c| !c.ready || !matches!(c.state, Some(ContainerState::Running { .. }))),
    }
}

/// The pods of Deployment `namespace/name` in evidence (with their ids).
fn pods_of<'a>(evidence: &'a Evidence, action: &Action) -> Vec<(&'a str, &'a PodFacts)> {
    let name = param(action, "name").unwrap_or_default();
    let namespace = param(action, "namespace").unwrap_or_default();
    evidence
        .pods()
        .filter(|(_, p)| {
            p.namespace == namespace
                && p.workload
                    .as_ref()
                    .is_some_and(|w| w.kind == "Deployment" && w.name == name)
        })
        .collect()
}

/// How long after a rollout a failure can still be said to have begun with it (the rollout
/// analysis blames nothing older either).
pub const ROLLOUT_WINDOW: SignedDuration = SignedDuration::from_hours(48);

/// Assesses one action against the evidence at `now`. `notify` is always supported.
pub fn assess(action: &Action, evidence: &Evidence, now: Timestamp) -> Corroboration {
    let tool = action.tool;
    let name = param(action, "name").unwrap_or_default();
    match tool {
        Tool::DeploymentSetResources => memory(action, evidence),
        Tool::NodeCordon | Tool::NodeUncordon => node(tool, name, evidence),
        Tool::DeploymentRollback => rollback(action, evidence, now),
        Tool::DeploymentRestart => restart(action, evidence),
        Tool::DeploymentScale => scale(action, name, evidence),
        Tool::PodDelete => pod_delete(action, name, evidence),
        Tool::CronjobSuspend => suspend(name, evidence),
        Tool::Notify => verdict(tool, Verdict::Supported, "changes nothing".into(), None),
    }
}

fn terminated_reason(state: Option<&ContainerState>) -> Option<(String, i32)> {
    match state? {
        ContainerState::Terminated {
            reason, exit_code, ..
        } => Some((reason.clone().unwrap_or_else(|| "-".into()), *exit_code)),
        _ => None,
    }
}

fn memory(action: &Action, evidence: &Evidence) -> Corroboration {
    let tool = action.tool;
    let name = param(action, "name").unwrap_or_default();
    let container = param(action, "container").unwrap_or_default();
    if action.params.get("memory_limit").is_none() {
        return verdict(
            tool,
            Verdict::Unsupported,
            "no structural fact shows CPU starvation; only a memory change is corroborated".into(),
            None,
        );
    }
    let mut last = None;
    for (id, pod) in pods_of(evidence, action) {
        for c in pod.containers.iter().filter(|c| c.name == container) {
            // The latest termination: the current state when terminated, else the previous one.
            let latest = terminated_reason(c.state.as_ref())
                .or_else(|| terminated_reason(c.last_state.as_ref()));
            let Some((reason, code)) = latest else {
                continue;
            };
            if reason == "OOMKilled" {
                let fact = format!(
                    "container {container} of pod {} terminated OOMKilled (exit {code})",
                    pod.name
                );
                return verdict(tool, Verdict::Supported, fact, Some(id));
            }
            last.get_or_insert((id, pod.name.clone(), reason, code));
        }
    }
    match last {
        Some((id, pod, reason, code)) => verdict(
            tool,
            Verdict::Vetoed,
            format!(
                "container {container} of pod {pod} last terminated {reason} (exit {code}), not \
                 OOMKilled: its memory limit did not kill it"
            ),
            Some(id),
        ),
        None => verdict(
            tool,
            Verdict::Unsupported,
            format!(
                "no container {container} of Deployment {name} terminated OOMKilled; logs and \
                 events alone do not raise a memory limit"
            ),
            None,
        ),
    }
}

fn pressure(node: &NodeFacts) -> Vec<&str> {
    node.conditions
        .iter()
        .filter(|c| c.kind.ends_with("Pressure") && c.is_true())
        .map(|c| c.kind.as_str())
        .collect()
}

fn node(tool: Tool, name: &str, evidence: &Evidence) -> Corroboration {
    let Some((id, node)) = evidence.nodes().find(|(_, n)| n.name == name) else {
        let fact = format!("the conditions of node {name} were not read");
        return verdict(tool, Verdict::Unsupported, fact, None);
    };
    let ready = node.condition("Ready");
    let not_ready = ready.filter(|c| !c.is_true()).map(|c| {
        let reason = c.reason.as_deref().unwrap_or("-");
        format!("node {name} is Ready={} ({reason})", c.status)
    });
    let pressure = pressure(node);
    let sick = not_ready.clone().or_else(|| {
        (!pressure.is_empty()).then(|| format!("node {name} has {}", pressure.join(", ")))
    });
    match (tool, sick) {
        (Tool::NodeCordon, Some(fact)) => verdict(tool, Verdict::Supported, fact, Some(id)),
        (Tool::NodeCordon, None) => {
            let fact = match ready {
                Some(_) => format!("node {name} is Ready=True with no pressure condition"),
                None => format!("node {name} reports no Ready condition and no pressure"),
            };
            verdict(tool, Verdict::Vetoed, fact, Some(id))
        }
        (_, Some(fact)) => verdict(tool, Verdict::Vetoed, fact, Some(id)),
        (_, None) if ready.is_some() => {
            let fact = format!("node {name} is Ready=True with no pressure condition");
            verdict(tool, Verdict::Supported, fact, Some(id))
        }
        (_, None) => {
            let fact = format!("node {name} reports no Ready condition");
            verdict(tool, Verdict::Unsupported, fact, Some(id))
        }
    }
}

/// Why the newest revision cannot be the one the failure began with: its rollout time is unknown,
/// or it is older than [`ROLLOUT_WINDOW`].
fn too_old(newest: &RevisionFacts, now: Timestamp) -> Option<(Verdict, String)> {
    let Some(created) = newest.created_at else {
        let fact = format!(
            "when revision {} was rolled out is unknown",
            newest.revision
        );
        return Some((Verdict::Unsupported, fact));
    };
    let age = now.duration_since(created);
    (age > ROLLOUT_WINDOW).then(|| {
        let fact = format!(
            "revision {} was rolled out {:#} ago: a failure now did not begin with it",
            newest.revision,
            age.round(jiff::Unit::Hour).unwrap_or(age)
        );
        (Verdict::Vetoed, fact)
    })
}

fn rollback(action: &Action, evidence: &Evidence, now: Timestamp) -> Corroboration {
    let tool = Tool::DeploymentRollback;
    let name = param(action, "name").unwrap_or_default();
    let Some((id, rollout)) = evidence.rollouts().find(|(_, r)| r.deployment.name == name) else {
        let fact = format!("the revisions of Deployment {name} were not read");
        return verdict(tool, Verdict::Unsupported, fact, None);
    };
    let (Some(newest), Some(previous)) = (rollout.newest(), rollout.previous()) else {
        let fact = format!("Deployment {name} has no older revision");
        return verdict(tool, Verdict::Unsupported, fact, Some(id));
    };
    if let Some((verdict_, fact)) = too_old(newest, now) {
        return verdict(tool, verdict_, fact, Some(id));
    }
    let failing: Vec<&PodFacts> = pods_of(evidence, action)
        .into_iter()
        .map(|(_, p)| p)
        .filter(|p| failing(p))
        .collect();
    if let Some(old) = failing
        .iter()
        .find(|p| p.template_hash.is_some() && p.template_hash != newest.template_hash)
    {
        let fact = format!(
            "pod {} of an older revision (template {}) fails too: the failure did not begin with \
             revision {}",
            old.name,
            old.template_hash.as_deref().unwrap_or("-"),
            newest.revision
        );
        return verdict(tool, Verdict::Vetoed, fact, Some(id));
    }
    let in_newest: Vec<&str> = failing
        .iter()
        .filter(|p| p.template_hash.is_some())
        .map(|p| p.name.as_str())
        .collect();
    if in_newest.is_empty() {
        let fact =
            format!("no failing pod of Deployment {name} is known to run its newest revision");
        return verdict(tool, Verdict::Unsupported, fact, Some(id));
    }
    let fact = format!(
        "the failing pods ({}) all run revision {} ({}), newer than revision {}",
        in_newest.join(", "),
        newest.revision,
        newest.replica_set,
        previous.revision
    );
    verdict(tool, Verdict::Supported, fact, Some(id))
}

fn restart(action: &Action, evidence: &Evidence) -> Corroboration {
    let tool = Tool::DeploymentRestart;
    let name = param(action, "name").unwrap_or_default();
    let pods = pods_of(evidence, action);
    match pods.iter().find(|(_, p)| failing(p)) {
        Some((id, p)) => {
            let fact = format!(
                "pod {} of Deployment {name} is not Ready or not running",
                p.name
            );
            verdict(tool, Verdict::Supported, fact, Some(id))
        }
        None if pods.is_empty() => {
            let fact = format!("no pod of Deployment {name} was read");
            verdict(tool, Verdict::Unsupported, fact, None)
        }
        None => {
            let fact = format!("every pod of Deployment {name} is Ready and running");
            verdict(tool, Verdict::Vetoed, fact, Some(pods[0].0))
        }
    }
}

fn scale(action: &Action, name: &str, evidence: &Evidence) -> Corroboration {
    let tool = Tool::DeploymentScale;
    let wanted = action.params.get("replicas").and_then(Value::as_i64);
    let Some((id, r)) = evidence.rollouts().find(|(_, r)| r.deployment.name == name) else {
        let fact = format!("Deployment {name} was not read");
        return verdict(tool, Verdict::Unsupported, fact, None);
    };
    if wanted == Some(i64::from(r.replicas)) {
        let fact = format!("Deployment {name} already wants {} replicas", r.replicas);
        return verdict(tool, Verdict::Vetoed, fact, Some(id));
    }
    let fact = format!(
        "Deployment {name} wants {} replicas, {} available",
        r.replicas, r.available_replicas
    );
    verdict(tool, Verdict::Supported, fact, Some(id))
}

fn pod_delete(action: &Action, name: &str, evidence: &Evidence) -> Corroboration {
    let tool = Tool::PodDelete;
    let ns = param(action, "namespace").unwrap_or_default();
    let Some((id, pod)) = evidence
        .pods()
        .find(|(_, p)| p.name == name && p.namespace == ns)
    else {
        let fact = format!("pod {ns}/{name} was not read");
        return verdict(tool, Verdict::Unsupported, fact, None);
    };
    if pod.terminating {
        let fact = format!("pod {name} is already terminating");
        return verdict(tool, Verdict::Vetoed, fact, Some(id));
    }
    if failing(pod) {
        let fact = format!("pod {name} is not Ready or not running");
        return verdict(tool, Verdict::Supported, fact, Some(id));
    }
    let fact = format!("pod {name} is Ready and every container runs");
    verdict(tool, Verdict::Vetoed, fact, Some(id))
}

fn suspend(name: &str, evidence: &Evidence) -> Corroboration {
    let tool = Tool::CronjobSuspend;
    let failed: Vec<(&str, &str)> = evidence
        .jobs()
        .filter(|(_, j)| j.owner.as_ref().is_some_and(|o| o.name == name))
        .filter(|(_, j)| {
            j.conditions
                .iter()
                .any(|c| c.kind == "Failed" && c.is_true())
        })
        .map(|(id, j)| (id, j.name.as_str()))
        .collect();
    if failed.len() < 2 {
        let fact = format!(
            "{} Job(s) of CronJob {name} have Failed=True; suspending needs two or more",
            failed.len()
        );
        return verdict(tool, Verdict::Unsupported, fact, None);
    }
    let names: Vec<&str> = failed.iter().map(|(_, n)| *n).collect();
    let fact = format!(
        "Jobs {} of CronJob {name} have Failed=True",
        names.join(", ")
    );
    verdict(tool, Verdict::Supported, fact, Some(failed[0].0))
}

/// The verdict on every mutating action a plan holds or had proposed before it was downgraded,
/// for `replay --explain` and reports.
pub fn assess_plan(
    plan: &crate::domain::plan::Plan,
    evidence: &Evidence,
    now: Timestamp,
) -> Vec<Corroboration> {
    let proposed = plan.downgraded.iter().flat_map(|d| d.proposed.iter());
    plan.actions
        .iter()
        .chain(proposed)
        .filter(|a| a.tool.is_mutating())
        .map(|a| assess(a, evidence, now))
        .collect()
}
