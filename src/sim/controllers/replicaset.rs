//! The ReplicaSet controller: keeps as many active pods as `spec.replicas` (creating them
//! from the template through quota admission, deleting not-ready ones first), adopts
//! matching orphans, and reports replicas, ready and available counts and `ReplicaFailure`.

use std::cmp::Reverse;
use std::collections::HashMap;
use std::sync::Arc;

use jiff::Timestamp;
use serde_json::{Value, json};

use super::Ctx;
use super::api;
use super::events::{Event, Kind, Source};
use super::quota::{self, Tracker};
use crate::sim::meta;
use crate::sim::writes::UpdateMode;

/// How many pods one pass creates for one ReplicaSet at most (the real `burstReplicas`).
const BURST: usize = 500;

/// Memory of failed creations, so retries reuse the pod name and the event aggregates.
#[derive(Debug, Default)]
pub struct ReplicaSets {
    failures: HashMap<String, (String, Timestamp)>,
}

/// Whether the pod is an active replica (not finished, not being deleted).
fn active(pod: &Value) -> bool {
    quota::counts(pod)
}

/// Whether the pod's Ready condition is True.
pub fn is_ready(pod: &Value) -> bool {
    pod["status"]["conditions"].as_array().is_some_and(|cs| {
        cs.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    })
}

/// Whether the pod's Ready condition is True, and since when.
pub fn ready_since(pod: &Value) -> Option<Timestamp> {
    let conditions = pod["status"]["conditions"].as_array()?;
    let ready = conditions
        .iter()
        .find(|c| c["type"] == "Ready" && c["status"] == "True")?;
    ready["lastTransitionTime"]
        .as_str()
        .and_then(|t| t.parse().ok())
        .or(Some(Timestamp::UNIX_EPOCH))
}

impl ReplicaSets {
    /// Runs the controller over every ReplicaSet.
    pub fn reconcile(&mut self, ctx: &mut Ctx) {
        let pods = api::list(ctx.cluster, "pods", None);
        let mut owned: HashMap<&str, Vec<Arc<Value>>> = HashMap::new();
        let mut orphans: HashMap<&str, Vec<Arc<Value>>> = HashMap::new();
        for pod in pods.iter().filter(|p| active(p)) {
            match api::controller_uid(pod) {
                Some(uid) => owned.entry(uid).or_default().push(pod.clone()),
                None => orphans
                    .entry(meta::namespace(pod))
                    .or_default()
                    .push(pod.clone()),
            }
        }
        let mut tracker = Tracker::new(ctx.cluster, &pods);
        for rs in api::list(ctx.cluster, "replicasets", None) {
            if api::deleting(&rs) {
                continue;
            }
            let mut mine = owned.remove(api::uid(&rs)).unwrap_or_default();
            if let Some(candidates) = orphans.get_mut(meta::namespace(&rs)) {
                mine.extend(adopt(ctx, &rs, candidates));
            }
            self.sync(ctx, &rs, mine, &mut tracker);
        }
        tracker.write_status(ctx.cluster);
    }

    fn sync(
        &mut self,
        ctx: &mut Ctx,
        rs: &Arc<Value>,
        mut pods: Vec<Arc<Value>>,
        quota: &mut Tracker,
    ) {
        let want = api::int(rs, &["spec", "replicas"]).max(0) as usize;
        let mut failure = None;
        if pods.len() < want {
            for _ in 0..(want - pods.len()).min(BURST) {
                match self.create_pod(ctx, rs, quota) {
                    Ok(pod) => pods.push(pod),
                    Err(message) => {
                        failure = Some(message);
                        break;
                    }
                }
            }
        } else if pods.len() > want {
            pods.sort_by_key(deletion_rank);
            for pod in pods.drain(..pods.len() - want).collect::<Vec<_>>() {
                if api::delete(ctx.cluster, "pods", meta::namespace(&pod), meta::name(&pod)) {
                    let message = format!("Deleted pod: {}", meta::name(&pod));
                    emit(ctx, rs, Kind::Normal, "SuccessfulDelete", message);
                }
            }
        }
        if failure.is_none() {
            self.failures.remove(api::uid(rs));
        }
        write_status(ctx, rs, &pods, failure);
    }

    fn create_pod(
        &mut self,
        ctx: &mut Ctx,
        rs: &Value,
        quota: &mut Tracker,
    ) -> Result<Arc<Value>, String> {
        let uid = api::uid(rs).to_string();
        let name = match self.failures.get(&uid) {
            Some((name, _)) => name.clone(),
            None => fresh_name(ctx, rs),
        };
        let pod = new_pod(rs, &name, ctx.settings.eviction_after.as_secs());
        if let Err(reason) = quota.admit(&pod) {
            let message = format!("pods \"{name}\" is forbidden: {reason}");
            let due = self.failures.get(&uid).is_none_or(|(_, at)| {
                *at + super::durations::signed(ctx.settings.backoff_base) <= ctx.now
            });
            if due {
                emit(
                    ctx,
                    rs,
                    Kind::Warning,
                    "FailedCreate",
                    format!("Error creating: {message}"),
                );
                self.failures.insert(uid, (name, ctx.now));
            }
            return Err(message);
        }
        let created = api::create(ctx.cluster, "pods", pod, "kube-controller-manager")
            .ok_or_else(|| format!("pods \"{name}\" could not be created"))?;
        self.failures.remove(&uid);
        emit(
            ctx,
            rs,
            Kind::Normal,
            "SuccessfulCreate",
            format!("Created pod: {name}"),
        );
        Ok(created)
    }
}

fn emit(ctx: &mut Ctx, rs: &Value, kind: Kind, reason: &'static str, message: String) {
    let event = Event {
        object: rs,
        field_path: None,
        kind,
        reason,
        message,
    };
    let source = Source::controller("replicaset-controller");
    ctx.events.emit(ctx.cluster, ctx.now, &source, event);
}

fn fresh_name(ctx: &mut Ctx, rs: &Value) -> String {
    let base: String = meta::name(rs).chars().take(57).collect();
    loop {
        let candidate = format!("{base}-{}", ctx.ids.suffix(5));
        if api::get(ctx.cluster, "pods", meta::namespace(rs), &candidate).is_none() {
            return candidate;
        }
    }
}

/// The pod a ReplicaSet creates: its template plus what admission adds (service account,
/// default NoExecute tolerations, the API access volume).
pub fn new_pod(rs: &Value, name: &str, toleration_seconds: u64) -> Value {
    let template = &rs["spec"]["template"];
    let mut spec = template["spec"].clone();
    let tolerations = spec["tolerations"].as_array().cloned().unwrap_or_default();
    let mut tolerations = tolerations;
    for key in [
        "node.kubernetes.io/not-ready",
        "node.kubernetes.io/unreachable",
    ] {
        if !tolerations.iter().any(|t| t["key"] == key) {
            tolerations.push(
                json!({"key": key, "operator": "Exists", "effect": "NoExecute",
                                    "tolerationSeconds": toleration_seconds}),
            );
        }
    }
    spec["tolerations"] = json!(tolerations);
    let account = spec["serviceAccountName"]
        .as_str()
        .unwrap_or("default")
        .to_string();
    spec["serviceAccountName"] = json!(account);
    spec["serviceAccount"] = json!(account);
    spec["enableServiceLinks"] = spec
        .get("enableServiceLinks")
        .cloned()
        .unwrap_or(json!(true));
    spec["priority"] = json!(0);
    spec["preemptionPolicy"] = json!("PreemptLowerPriority");
    let mut metadata = json!({
        "name": name, "generateName": format!("{}-", meta::name(rs)),
        "namespace": meta::namespace(rs),
        "labels": template["metadata"]["labels"],
        "ownerReferences": [api::controller_ref(rs)],
    });
    if let Some(annotations) = template["metadata"]
        .get("annotations")
        .filter(|a| a.is_object())
    {
        metadata["annotations"] = annotations.clone();
    }
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec})
}

/// Orders pods so the first are deleted first (`ActivePodsWithRanks`): unscheduled,
/// pending, not ready, ready for less time, more restarts, newer.
fn deletion_rank(pod: &Arc<Value>) -> impl Ord + use<> {
    let assigned = pod["spec"]["nodeName"]
        .as_str()
        .is_some_and(|n| !n.is_empty());
    let phase = match pod["status"]["phase"].as_str() {
        Some("Pending") | None => 0,
        Some("Running") => 2,
        _ => 1,
    };
    let ready = ready_since(pod);
    let restarts: i64 = pod["status"]["containerStatuses"]
        .as_array()
        .map(|cs| cs.iter().map(|c| api::int(c, &["restartCount"])).sum())
        .unwrap_or(0);
    let created = meta::str_at(pod, &["metadata", "creationTimestamp"])
        .unwrap_or_default()
        .to_string();
    (
        assigned,
        phase,
        ready.is_some(),
        Reverse(ready),
        Reverse(restarts),
        Reverse(created),
    )
}

/// Adopts orphan pods the ReplicaSet's selector matches; returns them.
fn adopt(ctx: &mut Ctx, rs: &Arc<Value>, orphans: &mut Vec<Arc<Value>>) -> Vec<Arc<Value>> {
    let Some(selector) = api::selector(rs) else {
        return Vec::new();
    };
    let (matching, rest): (Vec<_>, Vec<_>) = orphans.drain(..).partition(|p| selector.matches(p));
    *orphans = rest;
    let owner = api::controller_ref(rs);
    matching
        .iter()
        .filter_map(|pod| {
            let target = ("pods", meta::namespace(pod), meta::name(pod));
            api::modify(
                ctx.cluster,
                target,
                Some(api::uid(pod)),
                UpdateMode::Direct,
                "kube-controller-manager",
                |p| {
                    meta::metadata_mut(p).insert("ownerReferences".into(), json!([owner]));
                    true
                },
            )
        })
        .collect()
}

fn write_status(ctx: &mut Ctx, rs: &Arc<Value>, pods: &[Arc<Value>], failure: Option<String>) {
    let min_ready = jiff::SignedDuration::from_secs(api::int(rs, &["spec", "minReadySeconds"]));
    let template_labels = &rs["spec"]["template"]["metadata"]["labels"];
    let fully_labeled = pods
        .iter()
        .filter(|p| {
            template_labels.as_object().is_none_or(|l| {
                l.iter()
                    .all(|(k, v)| p["metadata"]["labels"].get(k) == Some(v))
            })
        })
        .count();
    let ready: Vec<&Arc<Value>> = pods.iter().filter(|p| is_ready(p)).collect();
    let available = if min_ready.is_zero() {
        ready.len()
    } else {
        let since = ready.iter().filter_map(|p| ready_since(p));
        since.filter(|t| *t + min_ready <= ctx.now).count()
    };
    let mut status = json!({"replicas": pods.len()});
    let counts = [
        ("fullyLabeledReplicas", fully_labeled),
        ("readyReplicas", ready.len()),
        ("availableReplicas", available),
    ];
    for (key, value) in counts.into_iter().filter(|(_, v)| *v > 0) {
        status[key] = json!(value);
    }
    let generation = api::int(rs, &["metadata", "generation"]);
    if generation > 0 {
        status["observedGeneration"] = json!(generation);
    }
    if let Some(message) = failure {
        status["conditions"] = json!([failure_condition(rs, message, ctx.now)]);
    }
    if rs.get("status") == Some(&status) {
        return;
    }
    let target = ("replicasets", meta::namespace(rs), meta::name(rs));
    api::modify(
        ctx.cluster,
        target,
        Some(api::uid(rs)),
        UpdateMode::Status,
        "kube-controller-manager",
        |o| {
            o["status"] = status;
            true
        },
    );
}

/// `ReplicaFailure` (FailedCreate), keeping the transition time while the message stays.
fn failure_condition(rs: &Value, message: String, now: Timestamp) -> Value {
    let old = rs["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == "ReplicaFailure"));
    let since = old
        .filter(|o| o["message"] == message.as_str())
        .and_then(|o| o["lastTransitionTime"].as_str().map(str::to_string));
    let time = since.unwrap_or_else(|| meta::format_time(now));
    json!({"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate",
           "message": message, "lastTransitionTime": time})
}
