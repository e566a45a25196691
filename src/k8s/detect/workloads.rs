//! Detectors for workload objects: Jobs, Deployments and ReplicaSets.

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::batch::v1::Job;

use super::{signal, target};
use crate::domain::signal::{ObjectRef, Signal};
use crate::k8s::facts;

/// Signals a Job raises: failed with BackoffLimitExceeded or DeadlineExceeded.
pub fn job(job: &Job, workload: Option<ObjectRef>, now: Timestamp) -> Vec<Signal> {
    let facts = facts::job(job);
    facts
        .conditions
        .iter()
        .filter(|c| (c.kind == "Failed" || c.kind == "FailureTarget") && c.is_true())
        .take(1)
        .map(|c| {
            let reason = c.reason.clone().unwrap_or_else(|| "JobFailed".into());
            let mut s = signal(
                target("Job", &job.metadata),
                &job.metadata,
                &reason,
                c.message.clone(),
                now,
            );
            s.workload = workload.clone();
            s
        })
        .collect()
}

/// How long a Deployment may have fewer available replicas than desired before that is a
/// signal of its own: every rollout and every pod restart is briefly short, and what is really
/// wrong (a crash loop, an image that will not pull) shows on the pods first.
pub const REPLICAS_SHORT_AFTER: jiff::SignedDuration = jiff::SignedDuration::from_mins(5);

/// Whether the Deployment has fewer available replicas than it wants.
pub fn replicas_short(deployment: &Deployment) -> bool {
    let available = deployment
        .status
        .as_ref()
        .and_then(|s| s.available_replicas)
        .unwrap_or(0);
    available < deployment.spec.replicas.unwrap_or(1)
}

/// Signals a Deployment raises: ProgressDeadlineExceeded, FailedCreate, too few replicas (for
/// an unknown time, which counts as long enough).
pub fn deployment(deployment: &Deployment, now: Timestamp) -> Vec<Signal> {
    deployment_short_since(deployment, None, now)
}

/// [`deployment`], knowing since when it has been short of replicas: too few replicas is raised
/// only once that has lasted [`REPLICAS_SHORT_AFTER`].
pub fn deployment_short_since(
    deployment: &Deployment,
    short_since: Option<Timestamp>,
    now: Timestamp,
) -> Vec<Signal> {
    let status = deployment.status.clone().unwrap_or_default();
    let me = target("Deployment", &deployment.metadata);
    let mut out = Vec::new();
    for c in status.conditions.unwrap_or_default() {
        let kind = c.type_.as_deref().unwrap_or("");
        let status = c.status.as_deref().unwrap_or("");
        let failed_progress = kind == "Progressing" && status == "False";
        let failed_create = kind == "ReplicaFailure" && status == "True";
        if failed_progress || failed_create {
            let reason = c.reason.clone().unwrap_or_else(|| kind.to_owned());
            let mut s = signal(
                me.clone(),
                &deployment.metadata,
                &reason,
                c.message.clone(),
                now,
            );
            s.workload = Some(me.clone());
            out.push(s);
        }
    }
    let desired = deployment.spec.replicas.unwrap_or(1);
    let long_enough = short_since.is_none_or(|at| now.duration_since(at) >= REPLICAS_SHORT_AFTER);
    if out.is_empty() && replicas_short(deployment) && long_enough {
        let message = format!(
            "{} of {desired} replicas available",
            status.available_replicas.unwrap_or(0)
        );
        let mut s = signal(
            me.clone(),
            &deployment.metadata,
            "ReplicasUnavailable",
            Some(message),
            now,
        );
        s.workload = Some(me);
        out.push(s);
    }
    out
}

/// Signals a ReplicaSet raises: FailedCreate (quota, LimitRange, admission).
pub fn replica_set(rs: &ReplicaSet, workload: Option<ObjectRef>, now: Timestamp) -> Vec<Signal> {
    let status = rs.status.clone().unwrap_or_default();
    status
        .conditions
        .unwrap_or_default()
        .into_iter()
        .filter(|c| {
            c.type_.as_deref() == Some("ReplicaFailure") && c.status.as_deref() == Some("True")
        })
        .map(|c| {
            let reason = c.reason.unwrap_or_else(|| "FailedCreate".into());
            let mut s = signal(
                target("ReplicaSet", &rs.metadata),
                &rs.metadata,
                &reason,
                c.message,
                now,
            );
            s.workload = workload.clone();
            s
        })
        .collect()
}
