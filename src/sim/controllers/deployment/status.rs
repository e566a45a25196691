//! Deployment status: replica counts summed over the ReplicaSets, and the `Available`,
//! `Progressing` and `ReplicaFailure` conditions with the real reasons, messages and
//! transition-time rules (`SetDeploymentCondition`, `syncRolloutStatus`).

use jiff::Timestamp;
use serde_json::{Map, Value, json};

use super::DeploySync;
use crate::sim::controllers::api;
use crate::sim::meta::format_time;

/// The `Progressing` condition type.
pub const PROGRESSING: &str = "Progressing";
const AVAILABLE: &str = "Available";
const REPLICA_FAILURE: &str = "ReplicaFailure";
const NEW_RS_AVAILABLE: &str = "NewReplicaSetAvailable";
const TIMED_OUT: &str = "ProgressDeadlineExceeded";
const PAUSED: &str = "DeploymentPaused";

/// A condition stamped `now` for both update and transition times.
pub fn new_condition(
    kind: &str,
    status: &str,
    reason: &str,
    message: &str,
    now: Timestamp,
) -> Value {
    let now = format_time(now);
    json!({"type": kind, "status": status, "lastUpdateTime": now, "lastTransitionTime": now,
           "reason": reason, "message": message})
}

fn conditions(status: &Value) -> &[Value] {
    status["conditions"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
}

/// One condition of a status by type.
pub fn get_condition<'a>(status: &'a Value, kind: &str) -> Option<&'a Value> {
    conditions(status).iter().find(|c| c["type"] == kind)
}

fn remove_condition(status: &mut Value, kind: &str) {
    if let Some(list) = status.get_mut("conditions").and_then(Value::as_array_mut) {
        list.retain(|c| c["type"] != kind);
    }
}

/// `SetDeploymentCondition`: same status and reason is a no-op; same status keeps the
/// transition time; the condition moves to the end of the list.
pub fn set_condition(status: &mut Value, mut cond: Value) {
    if let Some(current) = get_condition(status, cond["type"].as_str().unwrap_or_default()) {
        if current["status"] == cond["status"] && current["reason"] == cond["reason"] {
            return;
        }
        if current["status"] == cond["status"] {
            cond["lastTransitionTime"] = current["lastTransitionTime"].clone();
        }
    }
    remove_condition(status, cond["type"].as_str().unwrap_or_default());
    if !status.is_object() {
        *status = Value::Object(Map::new());
    }
    match status.get_mut("conditions").and_then(Value::as_array_mut) {
        Some(list) => list.push(cond),
        None => status["conditions"] = json!([cond]),
    }
}

/// Whether `spec.progressDeadlineSeconds` is set (and not "infinite").
pub fn has_progress_deadline(d: &Value) -> bool {
    d["spec"]["progressDeadlineSeconds"]
        .as_i64()
        .is_some_and(|s| s != i64::from(i32::MAX))
}

/// `DeploymentComplete`: every replica updated and available, the spec observed.
pub fn complete(d: &Value, status: &Value) -> bool {
    let replicas = api::int(d, &["spec", "replicas"]);
    let field = |f: &str| api::int(status, &[f]);
    field("updatedReplicas") == replicas
        && field("replicas") == replicas
        && field("availableReplicas") == replicas
        && field("observedGeneration") >= api::int(d, &["metadata", "generation"])
}

/// `DeploymentProgressing`: more updated, ready or available replicas, or fewer old ones.
fn progressing(old: &Value, new: &Value) -> bool {
    let f = |s: &Value, k: &str| api::int(s, &[k]);
    let old_old = f(old, "replicas") - f(old, "updatedReplicas");
    let new_old = f(new, "replicas") - f(new, "updatedReplicas");
    f(new, "updatedReplicas") > f(old, "updatedReplicas")
        || new_old < old_old
        || f(new, "readyReplicas") > f(old, "readyReplicas")
        || f(new, "availableReplicas") > f(old, "availableReplicas")
}

impl DeploySync<'_, '_> {
    /// A condition of the status being computed.
    pub(super) fn condition(&self, kind: &str) -> Option<&Value> {
        get_condition(&self.status, kind)
    }

    /// `checkPausedConditions`.
    pub(super) fn check_paused_conditions(&mut self, paused: bool) {
        if !has_progress_deadline(&self.d) {
            return;
        }
        let reason = self
            .condition(PROGRESSING)
            .and_then(|c| c["reason"].as_str());
        let now = self.ctx.now;
        let cond = match (paused, reason) {
            (true, r) if r != Some(PAUSED) => {
                new_condition(PROGRESSING, "Unknown", PAUSED, "Deployment is paused", now)
            }
            (false, Some(PAUSED)) => new_condition(
                PROGRESSING,
                "Unknown",
                "DeploymentResumed",
                "Deployment is resumed",
                now,
            ),
            _ => return,
        };
        set_condition(&mut self.status, cond);
    }

    /// `calculateStatus`: counts over the ReplicaSets and the `Available` condition.
    pub(super) fn calculate_status(&self) -> Value {
        let sum = |f: fn(&super::Rs) -> i64| self.rss.iter().map(f).sum::<i64>();
        let available = sum(|rs| rs.available);
        let total = sum(|rs| rs.replicas);
        let updated = self.new.map_or(0, |n| self.rss[n].status_replicas);
        let mut status = self.status.clone();
        let generation = api::int(&self.d, &["metadata", "generation"]);
        let counts = [
            ("observedGeneration", generation),
            ("replicas", sum(|rs| rs.status_replicas)),
            ("updatedReplicas", updated),
            ("readyReplicas", sum(|rs| rs.ready)),
            ("availableReplicas", available),
            ("unavailableReplicas", (total - available).max(0)),
        ];
        for (key, value) in counts {
            match (value, status.as_object_mut()) {
                (0, Some(map)) => drop(map.remove(key)),
                (v, Some(map)) => drop(map.insert(key.into(), json!(v))),
                _ => {}
            }
        }
        let now = self.ctx.now;
        let cond = if available >= self.replicas - self.max_unavailable {
            new_condition(
                AVAILABLE,
                "True",
                "MinimumReplicasAvailable",
                "Deployment has minimum availability.",
                now,
            )
        } else {
            new_condition(
                AVAILABLE,
                "False",
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.",
                now,
            )
        };
        set_condition(&mut status, cond);
        status
    }

    /// `syncRolloutStatus`: the status plus the Progressing and ReplicaFailure conditions.
    pub(super) fn sync_rollout_status(&mut self) {
        let mut status = self.calculate_status();
        let d = self.d.clone();
        if !has_progress_deadline(&d) {
            remove_condition(&mut status, PROGRESSING);
        }
        let current = get_condition(&status, PROGRESSING).cloned();
        let reason = current.as_ref().and_then(|c| c["reason"].as_str());
        let is_complete = api::int(&status, &["replicas"])
            == api::int(&status, &["updatedReplicas"])
            && reason == Some(NEW_RS_AVAILABLE);
        if has_progress_deadline(&d) && !is_complete {
            self.progress_condition(&mut status, current.as_ref());
        }
        match self.replica_failure() {
            Some(failure) => set_condition(&mut status, failure),
            None => remove_condition(&mut status, REPLICA_FAILURE),
        }
        self.status = status;
    }

    fn subject(&self) -> String {
        match self.new {
            Some(n) => format!("ReplicaSet \"{}\"", self.rss[n].name),
            None => format!("Deployment \"{}\"", self.name()),
        }
    }

    fn progress_condition(&self, status: &mut Value, current: Option<&Value>) {
        let now = self.ctx.now;
        let old = self.d.get("status").cloned().unwrap_or(Value::Null);
        if complete(&self.d, status) {
            let message = format!("{} has successfully progressed.", self.subject());
            set_condition(
                status,
                new_condition(PROGRESSING, "True", NEW_RS_AVAILABLE, &message, now),
            );
        } else if progressing(&old, status) {
            let message = format!("{} is progressing.", self.subject());
            let mut cond = new_condition(PROGRESSING, "True", "ReplicaSetUpdated", &message, now);
            if let Some(current) = current.filter(|c| c["status"] == "True") {
                cond["lastTransitionTime"] = current["lastTransitionTime"].clone();
                remove_condition(status, PROGRESSING);
            }
            set_condition(status, cond);
        } else if self.timed_out(current) {
            let message = format!("{} has timed out progressing.", self.subject());
            set_condition(
                status,
                new_condition(PROGRESSING, "False", TIMED_OUT, &message, now),
            );
        }
    }

    /// `DeploymentTimedOut`: no progress since the condition's last update for the deadline.
    fn timed_out(&self, current: Option<&Value>) -> bool {
        let Some(cond) = current else { return false };
        match cond["reason"].as_str() {
            Some(NEW_RS_AVAILABLE) => return false,
            Some(TIMED_OUT) => return true,
            _ => {}
        }
        let deadline = api::int(&self.d, &["spec", "progressDeadlineSeconds"]);
        let since = cond["lastUpdateTime"]
            .as_str()
            .and_then(|t| t.parse::<Timestamp>().ok());
        since.is_some_and(|t| t + jiff::SignedDuration::from_secs(deadline) < self.ctx.now)
    }

    /// The ReplicaFailure condition of the new ReplicaSet, else of an old one.
    fn replica_failure(&self) -> Option<Value> {
        let order = self.new.into_iter().chain(self.old());
        order
            .filter_map(|i| get_condition(&self.rss[i].obj["status"], REPLICA_FAILURE))
            .find(|c| c["status"] == "True")
            .map(|c| {
                json!({"type": REPLICA_FAILURE, "status": c["status"], "reason": c["reason"],
                       "message": c["message"], "lastUpdateTime": c["lastTransitionTime"],
                       "lastTransitionTime": c["lastTransitionTime"]})
            })
    }
}
