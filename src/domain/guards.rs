//! Plans the cluster would undo, or that would hurt. Before an action is proposed, what else
//! controls its target is asked, from the facts in evidence:
//!
//! - a Deployment that Argo CD or Flux reconciles from Git is not rolled back, resized or scaled
//!   behind their back (self-heal undoes it within minutes): the plan says what to change in Git,
//!   unless the playbook lists the tool under `gitops.allow` (sync suspended, self-heal off);
//! - `deployment.scale` on a Deployment a HorizontalPodAutoscaler scales is refused: the HPA's
//!   bounds are what to change;
//! - `pod.delete` of a pod a PodDisruptionBudget protects is refused when the eviction API would
//!   refuse it. `node.cordon` evicts nothing, so no budget can forbid it; nightshift never drains.

use serde_json::Value;

use crate::domain::catalog::Tool;
use crate::domain::evidence::{Evidence, RevisionFacts, RolloutFacts};
use crate::domain::plan::Action;
use crate::domain::playbook::Playbook;

/// Tools that change what a GitOps source declares (image and template, resources, replicas).
const DECLARED_BY_GIT: [Tool; 3] = [
    Tool::DeploymentRollback,
    Tool::DeploymentSetResources,
    Tool::DeploymentScale,
];

fn param<'a>(action: &'a Action, key: &str) -> Option<&'a str> {
    action.params.get(key).and_then(Value::as_str)
}

fn rollout<'a>(action: &Action, evidence: &'a Evidence) -> Option<&'a RolloutFacts> {
    let name = param(action, "name")?;
    let ns = param(action, "namespace")?;
    evidence
        .rollouts()
        .map(|(_, r)| r)
        .find(|r| r.deployment.name == name && r.deployment.namespace.as_deref() == Some(ns))
}

/// Why `action` must not be proposed, if something else controls its target.
pub fn refusal(action: &Action, playbook: &Playbook, evidence: &Evidence) -> Option<String> {
    let tool = action.tool;
    if DECLARED_BY_GIT.contains(&tool)
        && !playbook.gitops.allow.contains(&tool)
        && let Some(reason) = gitops(action, evidence)
    {
        return Some(reason);
    }
    match tool {
        Tool::DeploymentScale => autoscaled(action, evidence),
        Tool::PodDelete => disruption(action, evidence),
        _ => None,
    }
}

fn gitops(action: &Action, evidence: &Evidence) -> Option<String> {
    let r = rollout(action, evidence)?;
    let g = r.gitops.as_ref()?;
    let name = &r.deployment.name;
    let what = match action.tool {
        Tool::DeploymentRollback => {
            let change = match (r.previous(), r.newest()) {
                (Some(old), Some(new)) => format!(
                    "revert in Git the change that made revision {} ({}), back to revision {}",
                    new.revision,
                    change_of(old, new),
                    old.revision
                ),
                _ => "revert the newest change in Git".to_owned(),
            };
            format!("a rollback would be undone by its next sync: {change}")
        }
        Tool::DeploymentSetResources => {
            "a resource change would be undone by its next sync: change the limit in Git".into()
        }
        _ => "a scale would be undone by its next sync: change the replicas in Git".into(),
    };
    Some(format!(
        "Deployment {name} is managed by {} ({}, {}); {what}. To let nightshift act anyway, \
         suspend sync and list {} under the playbook's gitops.allow",
        g.tool, g.owner, g.marker, action.tool
    ))
}

/// What a revision changed, in a few words: its images, else its change-cause.
fn change_of(old: &RevisionFacts, new: &RevisionFacts) -> String {
    let images = |rev: &RevisionFacts| -> Vec<String> {
        rev.containers.iter().map(|c| c.image.clone()).collect()
    };
    if images(old) != images(new) {
        return format!(
            "images {} → {}",
            images(old).join(", "),
            images(new).join(", ")
        );
    }
    match &new.change_cause {
        Some(cause) => format!("change-cause: {cause}"),
        None => format!(
            "same images {}; its pod template changed",
            images(new).join(", ")
        ),
    }
}

fn autoscaled(action: &Action, evidence: &Evidence) -> Option<String> {
    let r = rollout(action, evidence)?;
    let hpa = r.autoscaler.as_ref()?;
    let now = hpa
        .current_replicas
        .map(|n| format!(", {n} now"))
        .unwrap_or_default();
    Some(format!(
        "HorizontalPodAutoscaler {} scales Deployment {} (min {}, max {}{now}) and would undo a \
         scale: change the HPA's minReplicas/maxReplicas instead",
        hpa.name, r.deployment.name, hpa.min_replicas, hpa.max_replicas
    ))
}

fn disruption(action: &Action, evidence: &Evidence) -> Option<String> {
    let name = param(action, "name")?;
    let ns = param(action, "namespace")?;
    let (_, pod) = evidence
        .pods()
        .find(|(_, p)| p.name == name && p.namespace == ns)?;
    let ready = pod.condition("Ready").is_some_and(|c| c.is_true());
    evidence
        .disruption_budgets()
        .filter(|(_, b)| b.protects(ns, &pod.labels))
        .find_map(|(_, b)| b.refuses(ready))
        .map(|why| format!("pod {name} may not be deleted: {why}"))
}
