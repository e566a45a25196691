//! Detectors: pure functions from a Kubernetes object to the signals it raises. A healthy object
//! raises none. Signals are ordered most specific first (an OOMKilled last state before the
//! CrashLoopBackOff it causes), so the first rule that matches sees the best one.

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Event, Node, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::domain::evidence::{ContainerState, PodFacts};
use crate::domain::redact;
use crate::domain::signal::{ContainerStateKind, ObjectRef, Signal, SignalSource};
use crate::k8s::facts;

mod claims;
mod sets;
mod workloads;

pub use claims::{CLAIM_PENDING_AFTER, claim, claim_recheck_at};
pub use sets::{Rollout, Set, SetState, Since, daemon_set, set_signals, stateful_set};
pub use workloads::{
    REPLICAS_SHORT_AFTER, deployment, deployment_short_since, job, replica_set, replicas_short,
};

/// Waiting reasons that mean the container cannot run.
const BAD_WAITING: &[&str] = &[
    "CrashLoopBackOff",
    "ImagePullBackOff",
    "ErrImagePull",
    "InvalidImageName",
    "ErrImageNeverPull",
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
];

pub(super) fn signal(
    target: ObjectRef,
    meta: &ObjectMeta,
    reason: &str,
    message: Option<String>,
    now: Timestamp,
) -> Signal {
    let mut signal = Signal {
        source: SignalSource::Kubernetes,
        target,
        workload: None,
        reason: reason.to_owned(),
        container: None,
        container_state: None,
        labels: meta.labels.clone().unwrap_or_default(),
        alertname: None,
        message,
        observed_at: now,
    };
    // Messages are termination messages, event and condition text: untrusted, masked here.
    redact::signal(&mut signal);
    signal
}

pub(super) fn target(kind: &str, meta: &ObjectMeta) -> ObjectRef {
    ObjectRef {
        kind: kind.to_owned(),
        namespace: meta.namespace.clone(),
        name: meta.name.clone().unwrap_or_default(),
    }
}

/// Signals a pod raises: bad container states, OOM kills, unschedulable, evicted, not ready.
pub fn pod(pod: &Pod, workload: Option<ObjectRef>, now: Timestamp) -> Vec<Signal> {
    let facts = facts::pod(pod, workload.clone());
    pod_signals(pod, &facts, workload, now)
}

/// [`pod`] and [`pod_recheck_at`] together, reading the pod once: what a watcher needs on each
/// update.
pub fn pod_watched(
    pod: &Pod,
    workload: Option<ObjectRef>,
    now: Timestamp,
) -> (Vec<Signal>, Option<Timestamp>) {
    let facts = facts::pod(pod, workload.clone());
    let again = recheck_at(&facts, now);
    (pod_signals(pod, &facts, workload, now), again)
}

fn pod_signals(
    pod: &Pod,
    facts: &PodFacts,
    workload: Option<ObjectRef>,
    now: Timestamp,
) -> Vec<Signal> {
    let base = |reason: &str, message: Option<String>| {
        let mut s = signal(
            target("Pod", &pod.metadata),
            &pod.metadata,
            reason,
            message,
            now,
        );
        s.workload = workload.clone();
        s
    };
    let mut oom = Vec::new();
    let mut waiting = Vec::new();
    let mut not_ready = Vec::new();
    for c in facts.all_containers() {
        let with = |mut s: Signal, state: ContainerStateKind| {
            s.container = Some(c.name.clone());
            s.container_state = Some(state);
            s
        };
        let oom_state = [&c.state, &c.last_state].into_iter().flatten().find(
            |s| matches!(s, ContainerState::Terminated { reason: Some(r), .. } if r == "OOMKilled"),
        );
        if let Some(s) = oom_state {
            oom.push(with(
                base("OOMKilled", s.message().map(str::to_owned)),
                ContainerStateKind::Terminated,
            ));
        }
        match &c.state {
            Some(ContainerState::Waiting {
                reason: Some(reason),
                message,
            }) if BAD_WAITING.contains(&reason.as_str()) => {
                waiting.push(with(
                    base(reason, message.clone()),
                    ContainerStateKind::Waiting,
                ));
            }
            Some(ContainerState::Terminated {
                reason,
                exit_code,
                message,
                ..
            }) if *exit_code != 0 && c.restart_count > 0 => {
                let reason = reason.clone().unwrap_or_else(|| "Error".into());
                waiting.push(with(
                    base(&reason, message.clone()),
                    ContainerStateKind::Terminated,
                ));
            }
            Some(ContainerState::Running { .. }) if restarting_recently(c, now) => {
                let message = c
                    .last_state
                    .as_ref()
                    .and_then(|s| s.message().map(str::to_owned));
                waiting.push(with(
                    base("ContainerRestarting", message),
                    ContainerStateKind::Running,
                ));
            }
            Some(ContainerState::Running { started_at })
                if !c.ready
                    && facts.phase.as_deref() == Some("Running")
                    && not_ready_long_enough(*started_at, now) =>
            {
                not_ready.push(with(
                    base("ContainerNotReady", None),
                    ContainerStateKind::Running,
                ));
            }
            _ => {}
        }
    }
    let mut out = oom;
    out.append(&mut waiting);
    if let Some(c) = facts.condition("PodScheduled").filter(|c| !c.is_true()) {
        out.push(base("FailedScheduling", c.message.clone()));
    } else if never_looked_at(facts, now) {
        out.push(base("FailedScheduling", None));
    }
    out.extend(stuck_pending(facts, now).map(|(reason, container)| {
        let mut s = base(reason, None);
        s.container = container;
        s
    }));
    if facts.reason.as_deref() == Some("Evicted") {
        out.push(base("Evicted", facts.message.clone()));
    }
    out.append(&mut not_ready);
    out
}

/// Whether a Pending pod is bound to no node and, after [`STUCK_AFTER`], no scheduler has even
/// recorded a PodScheduled condition on it (its `schedulerName` runs nowhere, or the scheduler
/// is down): the evidence, not the scheduler, must say where it could go.
fn never_looked_at(pod: &PodFacts, now: Timestamp) -> bool {
    pod.phase.as_deref() == Some("Pending")
        && pod.node.is_none()
        && !pod.terminating
        && pod.condition("PodScheduled").is_none()
        && pod
            .created_at
            .is_some_and(|t| now.duration_since(t) > STUCK_AFTER)
}

/// How long a pod may stay Pending, scheduled, before it is stuck.
pub const STUCK_AFTER: jiff::SignedDuration = jiff::SignedDuration::from_mins(10);

/// A scheduled pod that has been Pending longer than [`STUCK_AFTER`]: stuck in its init
/// containers (`InitStuck`) or in creating its containers (`ContainerCreatingStuck`).
fn stuck_pending(
    pod: &crate::domain::evidence::PodFacts,
    now: Timestamp,
) -> Option<(&'static str, Option<String>)> {
    let scheduled = pod.condition("PodScheduled").is_some_and(|c| c.is_true());
    let old = pod
        .created_at
        .is_some_and(|t| now.duration_since(t) > STUCK_AFTER);
    if pod.phase.as_deref() != Some("Pending") || !scheduled || !old {
        return None;
    }
    if pod.condition("Initialized").is_some_and(|c| !c.is_true()) {
        let waiting_on = pod
            .init_containers
            .iter()
            .find(|c| !c.ready)
            .map(|c| c.name.clone());
        return Some(("InitStuck", waiting_on));
    }
    let creating = pod.containers.iter().find(|c| {
        matches!(&c.state, Some(ContainerState::Waiting { reason: Some(r), .. }) if r == "ContainerCreating")
    });
    creating.map(|c| ("ContainerCreatingStuck", Some(c.name.clone())))
}

/// Restarts that matter: at least [`RESTARTS_THAT_MATTER`], the last one a failure that ended
/// within the past hour.
fn restarting_recently(c: &crate::domain::evidence::ContainerFacts, now: Timestamp) -> bool {
    let recent_failure = matches!(
        &c.last_state,
        Some(ContainerState::Terminated { exit_code, finished_at: Some(at), .. })
            if *exit_code != 0 && now.duration_since(*at) <= jiff::SignedDuration::from_hours(1)
    );
    c.restart_count >= RESTARTS_THAT_MATTER && recent_failure
}

/// A running container that is not Ready is starting up, not failing, until this long after it
/// started (every rollout has not-ready pods for a while; kube-prometheus waits 15 minutes).
pub const NOT_READY_AFTER: jiff::SignedDuration = jiff::SignedDuration::from_mins(2);

/// Whether a container started at `started_at` has been not Ready for long enough to matter. An
/// unknown start time counts as long enough: the status is all there is.
fn not_ready_long_enough(started_at: Option<Timestamp>, now: Timestamp) -> bool {
    started_at.is_none_or(|at| now.duration_since(at) >= NOT_READY_AFTER)
}

/// When `pod`, unchanged, would next raise a signal that [`pod`] does not raise at `now`: a
/// container not Ready once it has had [`NOT_READY_AFTER`] to start, a scheduled pod still
/// Pending once [`STUCK_AFTER`] has passed. A stuck pod's status may not change again for hours,
/// so whoever watches it must look again then. `None`: nothing waits on the clock.
pub fn pod_recheck_at(pod: &Pod, now: Timestamp) -> Option<Timestamp> {
    recheck_at(&facts::pod(pod, None), now)
}

fn recheck_at(facts: &PodFacts, now: Timestamp) -> Option<Timestamp> {
    let running = facts.phase.as_deref() == Some("Running");
    let not_ready = facts.all_containers().filter_map(|c| match &c.state {
        Some(ContainerState::Running {
            started_at: Some(at),
        }) if running && !c.ready => at.checked_add(NOT_READY_AFTER).ok(),
        _ => None,
    });
    let scheduled = facts.condition("PodScheduled").is_some_and(|c| c.is_true());
    let unlooked = facts.node.is_none() && facts.condition("PodScheduled").is_none();
    let pending = facts
        .created_at
        .filter(|_| facts.phase.as_deref() == Some("Pending") && (scheduled || unlooked))
        // stuck_pending wants strictly more than STUCK_AFTER.
        .and_then(|at| {
            at.checked_add(STUCK_AFTER + jiff::SignedDuration::from_secs(1))
                .ok()
        });
    not_ready.chain(pending).filter(|at| *at > now).min()
}

/// How many restarts make a running container worth an incident.
pub const RESTARTS_THAT_MATTER: i32 = 3;

/// Signals a node raises: NotReady, and memory/disk/PID pressure.
pub fn node(node: &Node, now: Timestamp) -> Vec<Signal> {
    let facts = facts::node(node);
    let mut out = Vec::new();
    let target = ObjectRef::cluster("Node", &facts.name);
    if let Some(ready) = facts.condition("Ready").filter(|c| !c.is_true()) {
        let message = ready.message.clone().or_else(|| ready.reason.clone());
        out.push(signal(
            target.clone(),
            &node.metadata,
            "NotReady",
            message,
            now,
        ));
    }
    for pressure in [
        "MemoryPressure",
        "DiskPressure",
        "PIDPressure",
        "NetworkUnavailable",
    ] {
        if let Some(c) = facts.condition(pressure).filter(|c| c.is_true()) {
            out.push(signal(
                target.clone(),
                &node.metadata,
                pressure,
                c.message.clone(),
                now,
            ));
        }
    }
    out
}

/// A Warning event as a signal about the object it concerns. An event about a Node recorded
/// anywhere but `default` (where the kubelet and node controller record them) is not one.
pub fn event(event: &Event, now: Timestamp) -> Option<Signal> {
    let facts = crate::k8s::events::facts(event);
    if !facts.is_warning() || facts.reason.is_empty() {
        return None;
    }
    let namespace = event.metadata.namespace.as_deref();
    if facts.object.kind == "Node" && namespace != Some(crate::k8s::gather::NODE_EVENTS_NAMESPACE) {
        return None;
    }
    let mut s = signal(
        facts.object.clone(),
        &ObjectMeta::default(),
        &facts.reason,
        Some(facts.message),
        now,
    );
    if facts.object.kind == "Deployment" {
        s.workload = Some(facts.object);
    }
    Some(s)
}
