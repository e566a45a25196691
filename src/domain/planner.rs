//! The planner: from a diagnosis and the playbook's remedy for it, concrete catalog actions with
//! parameters derived from the evidence, each with a precondition. When a precondition fails
//! (no previous revision to roll back to, no Deployment to resize) the plan is `notify` and the
//! rationale says why. Every mutating action must then be corroborated by a structural fact
//! ([`crate::domain::corroborate`]) and must not be one the cluster would undo or that would hurt
//! ([`crate::domain::guards`]); otherwise the plan is `notify`, the proposed actions and the reason
//! kept in `downgraded`. Policy is applied afterwards by
//! [`crate::domain::policy::Policy::enforce`].

use jiff::Timestamp;
use serde_json::{Value, json};

use crate::domain::catalog::Tool;
use crate::domain::corroborate;
use crate::domain::diagnosis::Diagnosis;
use crate::domain::evidence::{ContainerState, Evidence};
use crate::domain::guards;
use crate::domain::plan::{Action, Check, Downgrade, Plan, Risk, check_target};
use crate::domain::playbook::{CheckSpec, Playbook, Remedy, RemedyAction};
use crate::domain::policy::{PolicyContext, notify_instead, truncate};
use crate::domain::quantity::format_memory;
use crate::domain::signal::{ObjectRef, Signal};
use crate::domain::taxonomy::Category;

/// Why an action could not be planned.
type Refusal = String;

fn deployment(signal: &Signal) -> Result<&ObjectRef, Refusal> {
    match &signal.workload {
        Some(w) if w.kind == "Deployment" && w.namespace.is_some() => Ok(w),
        Some(w) => Err(format!("the workload is a {}, not a Deployment", w.kind)),
        None if signal.target.kind == "Deployment" => Ok(&signal.target),
        None => Err("no owning Deployment is known".into()),
    }
}

fn ns_name(object: &ObjectRef) -> Value {
    json!({"namespace": object.namespace.clone().unwrap_or_default(), "name": object.name})
}

/// The container to resize: the one that was OOMKilled, else the signal's, else the first.
fn oom_container(signal: &Signal, evidence: &Evidence) -> Option<(String, Option<u64>)> {
    let pod = evidence.pods().next().map(|(_, p)| p)?;
    let oom = pod.containers.iter().find(|c| {
        [&c.state, &c.last_state].into_iter().flatten().any(
            |s| matches!(s, ContainerState::Terminated { reason: Some(r), .. } if r == "OOMKilled"),
        )
    });
    let chosen = oom
        .or_else(|| {
            signal
                .container
                .as_ref()
                .and_then(|n| pod.containers.iter().find(|c| &c.name == n))
        })
        .or_else(|| pod.containers.first())?;
    Some((chosen.name.clone(), chosen.memory_limit))
}

fn node_of(signal: &Signal, evidence: &Evidence) -> Option<String> {
    if signal.target.kind == "Node" {
        return Some(signal.target.name.clone());
    }
    evidence.pods().find_map(|(_, p)| p.node.clone())
}

/// Rollback to the revision before the newest, when the diagnosis blames the rollout.
fn rollback(signal: &Signal, diagnosis: &Diagnosis, evidence: &Evidence) -> Result<Value, Refusal> {
    let blamed = diagnosis.category == Category::BadDeploy
        || diagnosis.contributing.contains(&Category::BadDeploy);
    if !blamed {
        return Err("rollback needs a diagnosis that blames the newest rollout".into());
    }
    if let Some(w) = signal
        .workload
        .as_ref()
        .filter(|w| w.kind == "StatefulSet" || w.kind == "DaemonSet")
    {
        return Err(controller_rollback_refusal(w, evidence));
    }
    let target = deployment(signal)?;
    let rollout = evidence
        .rollouts()
        .map(|(_, r)| r)
        .find(|r| r.deployment.name == target.name);
    let previous = rollout
        .and_then(|r| r.previous())
        .ok_or("there is no previous revision to roll back to")?;
    let mut params = ns_name(target);
    params["to_revision"] = json!(previous.revision.max(1));
    Ok(params)
}

/// No catalog action rolls back a StatefulSet or DaemonSet: the refusal names the revision a
/// human would go back to, and how.
fn controller_rollback_refusal(workload: &ObjectRef, evidence: &Evidence) -> Refusal {
    let previous = evidence
        .rollouts()
        .map(|(_, r)| r)
        .find(|r| r.deployment.kind == workload.kind && r.deployment.name == workload.name)
        .and_then(|r| r.previous());
    let kind = workload.kind.to_lowercase();
    match previous {
        Some(p) => format!(
            "no catalog action rolls back a {}; revision {} (ControllerRevision {}) ran before: kubectl -n {} rollout undo {kind}/{} --to-revision={}",
            workload.kind,
            p.revision,
            p.replica_set,
            workload.namespace.as_deref().unwrap_or("default"),
            workload.name,
            p.revision
        ),
        None => format!(
            "no catalog action rolls back a {}, and no earlier revision is in evidence",
            workload.kind
        ),
    }
}

/// Suspend the Job's CronJob after repeated failed runs, unless it already is.
fn suspend(signal: &Signal, evidence: &Evidence) -> Result<Value, Refusal> {
    let cron = signal
        .workload
        .as_ref()
        .filter(|w| w.kind == "CronJob")
        .ok_or("the Job is not owned by a CronJob")?;
    let failed_runs = evidence
        .jobs()
        .filter(|(_, j)| {
            j.conditions
                .iter()
                .any(|c| c.kind == "Failed" && c.is_true())
        })
        .count();
    if failed_runs < 2 {
        return Err(format!(
            "only {failed_runs} failed run(s) of CronJob {}; suspending needs repeated failures",
            cron.name
        ));
    }
    if evidence
        .cronjobs()
        .any(|(_, c)| c.name == cron.name && c.suspended)
    {
        return Err(format!("CronJob {} is already suspended", cron.name));
    }
    Ok(ns_name(cron))
}

fn build(
    action: &RemedyAction,
    signal: &Signal,
    diagnosis: &Diagnosis,
    evidence: &Evidence,
) -> Result<Value, Refusal> {
    match action.tool {
        Tool::DeploymentRollback => rollback(signal, diagnosis, evidence),
        Tool::DeploymentRestart => deployment(signal).map(ns_name),
        Tool::DeploymentScale => {
            let mut params = ns_name(deployment(signal)?);
            params["replicas"] = json!(action.replicas.ok_or("deployment.scale needs replicas")?);
            Ok(params)
        }
        Tool::DeploymentSetResources => {
            let target = deployment(signal)?;
            let (container, limit) =
                oom_container(signal, evidence).ok_or("no container to resize")?;
            let limit = limit
                .ok_or_else(|| format!("container {container} has no memory limit to raise"))?;
            let growth = action.memory_growth.unwrap_or(1.5);
            let mut params = ns_name(target);
            params["container"] = json!(container);
            params["memory_limit"] = json!(format_memory((limit as f64 * growth).ceil() as u64));
            Ok(params)
        }
        Tool::PodDelete => {
            if signal.target.kind != "Pod" {
                return Err("pod.delete needs a Pod target".into());
            }
            Ok(ns_name(&signal.target))
        }
        Tool::NodeCordon | Tool::NodeUncordon => {
            let node = node_of(signal, evidence).ok_or("no node is known")?;
            let cordoned = evidence
                .nodes()
                .any(|(_, n)| n.name == node && n.unschedulable);
            if action.tool == Tool::NodeCordon && cordoned {
                return Err(format!("node {node} is already cordoned"));
            }
            Ok(json!({"name": node}))
        }
        Tool::CronjobSuspend => suspend(signal, evidence),
        Tool::Notify => Ok(json!({"message": truncate(&diagnosis.summary, 4000)})),
    }
}

fn check(spec: &CheckSpec, target: &ObjectRef) -> Check {
    let mut params = json!({
        "target": {"kind": target.kind, "namespace": target.namespace, "name": target.name},
        "timeout_seconds": spec.timeout.as_secs(),
    });
    if let Some(window) = spec.window {
        params["window_seconds"] = json!(window.as_secs());
    }
    Check {
        check: spec.check,
        params,
    }
}

fn notify(diagnosis: &Diagnosis, rationale: String) -> Plan {
    Plan {
        actions: vec![Action {
            tool: Tool::Notify,
            params: json!({"message": truncate(&diagnosis.summary, 4000)}),
        }],
        requires_approval: false,
        risk: Risk::None,
        rationale,
        downgraded: None,
        verification: Vec::new(),
    }
}

/// A `notify` in place of `proposed`, which the structure does not support or something else
/// controlling the target would undo: the message and `downgraded` say why.
fn refused(diagnosis: &Diagnosis, proposed: Vec<Action>, reason: String) -> Plan {
    let tools: Vec<&str> = proposed.iter().map(|a| a.tool.as_str()).collect();
    let message = format!(
        "{}\n\nnightshift did not propose {}: {reason}. A human must look.",
        diagnosis.summary,
        tools.join(", ")
    );
    let rationale = format!(
        "{} (confidence {:.2}) → {}: {reason}",
        diagnosis.category,
        diagnosis.confidence,
        tools.join(", ")
    );
    notify_instead(
        &message,
        rationale,
        Downgrade { reason, proposed },
        Vec::new(),
    )
}

/// The structural fact behind each mutating action, or why one may not be proposed.
fn corroborated(
    actions: &[Action],
    playbook: &Playbook,
    evidence: &Evidence,
    now: Timestamp,
) -> Result<Vec<String>, String> {
    let mut facts = Vec::new();
    for action in actions.iter().filter(|a| a.tool.is_mutating()) {
        let c = corroborate::assess(action, evidence, now);
        if !c.allows() {
            return Err(c.describe());
        }
        if let Some(why) = guards::refusal(action, playbook, evidence) {
            return Err(why);
        }
        facts.push(c.describe());
    }
    Ok(facts)
}

/// The plan of corroborated `actions`: approval, risk, the checks that will prove it, and a
/// rationale citing the fact behind each mutation.
fn proposal(
    signal: &Signal,
    diagnosis: &Diagnosis,
    playbook: &Playbook,
    remedy: &Remedy,
    actions: Vec<Action>,
    support: &[String],
) -> Plan {
    let category = diagnosis.category;
    let namespace = signal.namespace();
    let requires_approval = actions
        .iter()
        .any(|a| a.tool.is_mutating() && !playbook.approval.auto_approves(a.tool, namespace));
    let risk = actions
        .iter()
        .map(|a| Risk::of(a.tool))
        .max()
        .unwrap_or(Risk::None);
    let mutating = actions.iter().any(|a| a.tool.is_mutating());
    let target = signal
        .workload
        .clone()
        .unwrap_or_else(|| signal.target.clone());
    let specs = if remedy.verification.is_empty() {
        &playbook.verification
    } else {
        &remedy.verification
    };
    let verification = if mutating {
        specs
            .iter()
            .map(|s| check(s, &check_target(s.check, &actions, &target)))
            .collect()
    } else {
        Vec::new()
    };
    let tools: Vec<&str> = actions.iter().map(|a| a.tool.as_str()).collect();
    Plan {
        rationale: format!(
            "{category} (confidence {:.2}) → playbook `{}` remedy: {}{}",
            diagnosis.confidence,
            playbook.name,
            tools.join(", "),
            if support.is_empty() {
                String::new()
            } else {
                format!("; {}", support.join("; "))
            }
        ),
        actions,
        requires_approval,
        risk,
        downgraded: None,
        verification,
    }
}

/// Plans the response to a diagnosed incident, judged at `now`.
pub fn plan(
    signal: &Signal,
    diagnosis: &Diagnosis,
    playbook: &Playbook,
    evidence: &Evidence,
    now: Timestamp,
) -> Plan {
    let category = diagnosis.category;
    let Some(remedy) = playbook.remedy_for(category) else {
        return notify(
            diagnosis,
            format!(
                "playbook `{}` has no remedy for {category}: a human must look",
                playbook.name
            ),
        );
    };
    let mut actions = Vec::new();
    for step in &remedy.actions {
        if !playbook.allowed_actions.contains(&step.tool) {
            return notify(
                diagnosis,
                format!(
                    "{} is not in playbook `{}` allowed_actions",
                    step.tool, playbook.name
                ),
            );
        }
        match build(step, signal, diagnosis, evidence) {
            Ok(params) => actions.push(Action {
                tool: step.tool,
                params,
            }),
            Err(why) => {
                return notify(
                    diagnosis,
                    format!("{} was not planned: {why}; a human must look", step.tool),
                );
            }
        }
    }
    if actions.is_empty() {
        return notify(
            diagnosis,
            format!("the remedy for {category} has no actions"),
        );
    }
    let support = match corroborated(&actions, playbook, evidence, now) {
        Ok(facts) => facts,
        Err(reason) => return refused(diagnosis, actions, reason),
    };
    proposal(signal, diagnosis, playbook, remedy, actions, &support)
}

/// What policy needs to know about the targets of `plan`, read from the evidence.
pub fn policy_context<'a>(
    plan: &Plan,
    evidence: &Evidence,
    recent: &'a [crate::domain::policy::PastAction],
) -> PolicyContext<'a> {
    let mut ctx = PolicyContext {
        recent,
        ..PolicyContext::default()
    };
    for action in &plan.actions {
        let name = action.params.get("name").and_then(Value::as_str);
        if let Some(r) = evidence
            .rollouts()
            .map(|(_, r)| r)
            .find(|r| Some(r.deployment.name.as_str()) == name)
        {
            ctx.current_replicas = Some(i64::from(r.replicas));
        }
        if let Some(container) = action.params.get("container").and_then(Value::as_str) {
            let found = evidence
                .pods()
                .flat_map(|(_, p)| p.containers.iter())
                .find(|c| c.name == container);
            ctx.current_memory_limit = found.and_then(|c| c.memory_limit);
            ctx.current_cpu_limit = found.and_then(|c| c.cpu_limit);
        }
    }
    ctx
}
