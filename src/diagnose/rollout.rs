//! Did the failure begin with the newest rollout? Compares the failing pods with the workload's
//! revisions (a Deployment's ReplicaSets, a StatefulSet's or DaemonSet's ControllerRevisions)
//! and says what changed between the previous revision and the newest.

use jiff::{SignedDuration, Timestamp};

use crate::domain::evidence::{
    ContainerState, PodFacts, RevisionFacts, RolloutFacts, TemplateContainer,
};

/// A rollout is "recent" for this long after its ReplicaSet was created.
pub const RECENT: SignedDuration = SignedDuration::from_hours(6);

/// What the rollout history says about the failure.
#[derive(Debug, Clone, PartialEq)]
pub struct RolloutFinding {
    /// The newest revision number.
    pub revision: u64,
    /// The previous revision number.
    pub previous: u64,
    /// How long before `now` the newest revision was created.
    pub age: SignedDuration,
    /// Whether old pods are still running (the rollout has not finished).
    pub incomplete: bool,
    /// Whether the failing pods belong to the newest revision.
    pub failing_in_newest: bool,
    /// Whether the previous revision's pods were (or are) healthy.
    pub previous_healthy: bool,
    /// What changed, in words (`image api:v1 → api:v2`, `env DEPLOY_ENV removed`).
    pub changes: Vec<String>,
    /// Env var names the newest revision removed.
    pub removed_env: Vec<String>,
    /// Whether the change touched images.
    pub image_changed: bool,
    /// Whether the change lowered a memory limit.
    pub memory_lowered: bool,
    /// Strength of the evidence that the rollout caused the failure, 0 – 1.
    pub score: f64,
}

fn diff_container(old: &TemplateContainer, new: &TemplateContainer, out: &mut RolloutFinding) {
    let c = &new.name;
    if old.image != new.image {
        out.image_changed = true;
        out.changes
            .push(format!("container {c} image {} → {}", old.image, new.image));
    }
    if old.command != new.command {
        out.changes.push(format!(
            "container {c} command changed to {:?}",
            new.command
        ));
    }
    if old.args != new.args {
        out.changes.push(format!(
            "container {c} args {}",
            list_diff(&old.args, &new.args)
        ));
    }
    for (name, value) in &old.env {
        match new.env.get(name) {
            None => {
                out.removed_env.push(name.clone());
                out.changes
                    .push(format!("container {c} env {name} removed"));
            }
            Some(v) if v != value => out
                .changes
                .push(format!("container {c} env {name} changed")),
            _ => {}
        }
    }
    for name in new.env.keys().filter(|n| !old.env.contains_key(*n)) {
        out.changes.push(format!("container {c} env {name} added"));
    }
    if old.env_from != new.env_from {
        out.changes.push(format!(
            "container {c} envFrom {:?} → {:?}",
            old.env_from, new.env_from
        ));
    }
    if old.memory_limit != new.memory_limit {
        if let (Some(a), Some(b)) = (old.memory_limit, new.memory_limit)
            && b < a
        {
            out.memory_lowered = true;
        }
        out.changes
            .push(format!("container {c} memory limit changed"));
    }
    if old.cpu_limit != new.cpu_limit {
        out.changes.push(format!("container {c} cpu limit changed"));
    }
    if old.probes != new.probes {
        out.changes.push(format!("container {c} probes changed"));
    }
    if old.ports != new.ports {
        out.changes.push(format!(
            "container {c} ports {:?} → {:?}",
            old.ports, new.ports
        ));
    }
}

/// What changed in a list (args, command): the items added and removed when the rest stayed,
/// else the whole lists, so a long command line still shows the flag that changed.
fn list_diff(old: &[String], new: &[String]) -> String {
    let added: Vec<&String> = new.iter().filter(|a| !old.contains(a)).collect();
    let removed: Vec<&String> = old.iter().filter(|a| !new.contains(a)).collect();
    if added.is_empty() && removed.is_empty() {
        return format!("reordered {old:?} → {new:?}");
    }
    let mut parts = Vec::new();
    if !added.is_empty() {
        parts.push(format!("added {added:?}"));
    }
    if !removed.is_empty() {
        parts.push(format!("removed {removed:?}"));
    }
    parts.join(", ")
}

fn diff(old: &RevisionFacts, new: &RevisionFacts, out: &mut RolloutFinding) {
    for container in &new.containers {
        match old.containers.iter().find(|o| o.name == container.name) {
            Some(previous) => diff_container(previous, container, out),
            None => out
                .changes
                .push(format!("container {} added", container.name)),
        }
    }
    for (key, value) in &new.pod_fields {
        if old.pod_fields.get(key) != Some(value) {
            out.changes.push(format!("pod {key} changed"));
        }
    }
}

/// A pod is failing when it is not done and a container is not Ready or not running.
fn unhealthy(pod: &PodFacts) -> bool {
    if pod.phase.as_deref() == Some("Succeeded") {
        return false;
    }
    pod.phase.as_deref() == Some("Pending")
        || pod
            .containers
            .iter()
            .any(|c| !c.ready || !matches!(c.state, Some(ContainerState::Running { .. })))
}

/// Analyses `rollout` against the pods in evidence. `None` when there is no previous revision
/// to compare with.
pub fn analyse(
    rollout: &RolloutFacts,
    pods: &[&PodFacts],
    now: Timestamp,
) -> Option<RolloutFinding> {
    let newest = rollout.newest()?;
    let previous = rollout.previous()?;
    let age = newest
        .created_at
        .map_or(SignedDuration::MAX, |t| now.duration_since(t));
    // A StatefulSet's pods carry their ControllerRevision's name, a DaemonSet's its hash.
    let in_rev = |pod: &PodFacts, rev: &RevisionFacts| {
        pod.template_hash.is_some()
            && (pod.template_hash == rev.template_hash
                || pod.template_hash.as_deref() == Some(rev.replica_set.as_str()))
    };
    let failing: Vec<&&PodFacts> = pods.iter().filter(|p| unhealthy(p)).collect();
    let failing_in_newest = !failing.is_empty() && failing.iter().all(|p| in_rev(p, newest));
    let old_pods: Vec<&&PodFacts> = pods.iter().filter(|p| in_rev(p, previous)).collect();
    let previous_healthy = if old_pods.is_empty() {
        previous.ready_replicas > 0 || previous.replicas == 0
    } else {
        old_pods.iter().all(|p| !unhealthy(p))
    };
    let progressing = rollout.conditions.iter().find(|c| c.kind == "Progressing");
    let finished =
        progressing.is_some_and(|c| c.reason.as_deref() == Some("NewReplicaSetAvailable"));
    let incomplete = previous.replicas > 0
        || previous.ready_replicas > 0
        || rollout.updated_replicas < rollout.replicas
        || !rollout.in_progress.map_or(finished, |moving| !moving);
    let mut finding = RolloutFinding {
        revision: newest.revision,
        previous: previous.revision,
        age,
        incomplete,
        failing_in_newest,
        previous_healthy,
        changes: Vec::new(),
        removed_env: Vec::new(),
        image_changed: false,
        memory_lowered: false,
        score: 0.0,
    };
    diff(previous, newest, &mut finding);
    finding.score = score(&finding);
    Some(finding)
}

fn score(f: &RolloutFinding) -> f64 {
    if !f.failing_in_newest || f.changes.is_empty() || f.age > SignedDuration::from_hours(48) {
        return 0.0;
    }
    let mut score: f64 = if f.age <= RECENT { 0.6 } else { 0.35 };
    if f.incomplete {
        score += 0.25;
    }
    if f.previous_healthy {
        score += 0.1;
    }
    score.min(1.0)
}
