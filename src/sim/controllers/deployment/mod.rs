//! The deployment controller, after `pkg/controller/deployment`: claims ReplicaSets, finds
//! (or creates) the one whose template is the Deployment's, rolls pods over with the
//! RollingUpdate or Recreate strategy, scales proportionally, keeps the revision
//! annotations and the status conditions, and prunes history beyond the limit.

mod new_rs;
mod rolling;
mod status;

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Value, json};

use super::Ctx;
use super::api;
use super::events::{Event, Kind, Source};
use crate::sim::meta;
use crate::sim::writes::UpdateMode;

/// `deployment.kubernetes.io/revision`.
pub const REVISION: &str = "deployment.kubernetes.io/revision";
/// `deployment.kubernetes.io/revision-history`.
pub const REVISION_HISTORY: &str = "deployment.kubernetes.io/revision-history";
/// `deployment.kubernetes.io/desired-replicas`.
pub const DESIRED_REPLICAS: &str = "deployment.kubernetes.io/desired-replicas";
/// `deployment.kubernetes.io/max-replicas`.
pub const MAX_REPLICAS: &str = "deployment.kubernetes.io/max-replicas";

/// What the controller knows of one ReplicaSet during a pass (spec replicas follow its
/// own writes; status counts are what the ReplicaSet controller last reported).
#[derive(Debug, Clone)]
struct Rs {
    obj: Arc<Value>,
    name: String,
    created: String,
    replicas: i64,
    status_replicas: i64,
    ready: i64,
    available: i64,
}

impl Rs {
    fn of(obj: Arc<Value>) -> Self {
        Rs {
            name: meta::name(&obj).to_string(),
            created: meta::str_at(&obj, &["metadata", "creationTimestamp"])
                .unwrap_or_default()
                .to_string(),
            replicas: api::int(&obj, &["spec", "replicas"]),
            status_replicas: api::int(&obj, &["status", "replicas"]),
            ready: api::int(&obj, &["status", "readyReplicas"]),
            available: api::int(&obj, &["status", "availableReplicas"]),
            obj,
        }
    }

    fn revision(&self) -> i64 {
        annotation(&self.obj, REVISION)
            .and_then(|r| r.parse().ok())
            .unwrap_or(0)
    }

    fn annotation(&self, key: &str) -> Option<i64> {
        annotation(&self.obj, key).and_then(|v| v.parse().ok())
    }
}

fn annotation<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    meta::value_at(obj, &["metadata", "annotations", key]).and_then(Value::as_str)
}

/// Runs the controller over every Deployment.
pub fn reconcile(ctx: &mut Ctx) {
    let deployments = api::list(ctx.cluster, "deployments", None);
    let mut by_namespace: HashMap<String, Vec<Arc<Value>>> = HashMap::new();
    for rs in api::list(ctx.cluster, "replicasets", None) {
        by_namespace
            .entry(meta::namespace(&rs).to_string())
            .or_default()
            .push(rs);
    }
    for d in deployments {
        if api::deleting(&d) {
            continue;
        }
        let candidates = by_namespace
            .get(meta::namespace(&d))
            .map(Vec::as_slice)
            .unwrap_or_default();
        DeploySync::new(ctx, d, candidates).run();
    }
}

/// One pass over one Deployment.
struct DeploySync<'a, 'b> {
    ctx: &'a mut Ctx<'b>,
    d: Arc<Value>,
    replicas: i64,
    max_surge: i64,
    max_unavailable: i64,
    status: Value,
    revision: Option<String>,
    rss: Vec<Rs>,
    new: Option<usize>,
}

impl<'a, 'b> DeploySync<'a, 'b> {
    fn new(ctx: &'a mut Ctx<'b>, d: Arc<Value>, candidates: &[Arc<Value>]) -> Self {
        let replicas = api::int(&d, &["spec", "replicas"]);
        let (max_surge, max_unavailable) = rolling::fenceposts(&d, replicas);
        let status = d.get("status").cloned().unwrap_or_else(|| json!({}));
        let rss = claim(ctx, &d, candidates);
        DeploySync {
            ctx,
            replicas,
            max_surge,
            max_unavailable,
            status,
            revision: annotation(&d, REVISION).map(str::to_string),
            rss,
            new: None,
            d,
        }
    }

    fn run(mut self) {
        let paused = self.d["spec"]["paused"].as_bool() == Some(true);
        self.check_paused_conditions(paused);
        if paused {
            self.sync(true);
        } else if self.is_scaling_event() {
            self.sync(false);
        } else if self.d["spec"]["strategy"]["type"] == "Recreate" {
            self.recreate();
        } else {
            self.rolling();
        }
        self.write();
    }

    fn ns(&self) -> &str {
        meta::namespace(&self.d)
    }

    fn name(&self) -> &str {
        meta::name(&self.d)
    }

    fn old(&self) -> Vec<usize> {
        (0..self.rss.len())
            .filter(|i| Some(*i) != self.new)
            .collect()
    }

    /// Old ReplicaSets, oldest first (`ReplicaSetsByCreationTimestamp`).
    fn old_by_age(&self) -> Vec<usize> {
        let mut old = self.old();
        old.sort_by(|a, b| {
            let (a, b) = (&self.rss[*a], &self.rss[*b]);
            (&a.created, &a.name).cmp(&(&b.created, &b.name))
        });
        old
    }

    /// `scaleReplicaSet`: sets replicas and the desired/max annotations; reports a size change.
    fn scale_rs(&mut self, idx: usize, to: i64) -> bool {
        let (desired, max) = (self.replicas, self.replicas + self.max_surge);
        let rs = &self.rss[idx];
        let from = rs.replicas;
        let annotations_stale = rs.annotation(DESIRED_REPLICAS) != Some(desired)
            || rs.annotation(MAX_REPLICAS) != Some(max);
        if from == to && !annotations_stale {
            return false;
        }
        let target = ("replicasets", meta::namespace(&rs.obj), rs.name.as_str());
        let written = api::modify(
            self.ctx.cluster,
            target,
            Some(api::uid(&rs.obj)),
            UpdateMode::Main,
            "kube-controller-manager",
            |o| {
                o["spec"]["replicas"] = json!(to);
                set_annotation(o, DESIRED_REPLICAS, &desired.to_string());
                set_annotation(o, MAX_REPLICAS, &max.to_string());
                true
            },
        );
        let Some(written) = written else {
            return false;
        };
        let name = self.rss[idx].name.clone();
        self.rss[idx] = Rs {
            replicas: to,
            ..Rs::of(written)
        };
        if from != to {
            let direction = if from < to { "up" } else { "down" };
            self.event(format!(
                "Scaled {direction} replica set {name} from {from} to {to}"
            ));
        }
        from != to
    }

    fn event(&mut self, message: String) {
        let d = self.d.clone();
        let event = Event {
            object: &d,
            field_path: None,
            kind: Kind::Normal,
            reason: "ScalingReplicaSet",
            message,
        };
        let (cluster, now) = (self.ctx.cluster, self.ctx.now);
        let source = Source::controller("deployment-controller");
        self.ctx.events.emit(cluster, now, &source, event);
    }

    /// Writes the status and revision annotation when they changed.
    fn write(self) {
        let unchanged = self.d.get("status") == Some(&self.status)
            && annotation(&self.d, REVISION) == self.revision.as_deref();
        if unchanged {
            return;
        }
        let (status, revision) = (self.status, self.revision);
        let target = ("deployments", meta::namespace(&self.d), meta::name(&self.d));
        api::modify(
            self.ctx.cluster,
            target,
            Some(api::uid(&self.d)),
            UpdateMode::Direct,
            "kube-controller-manager",
            |o| {
                if let Some(revision) = &revision {
                    set_annotation(o, REVISION, revision);
                }
                o["status"] = status;
                true
            },
        );
    }
}

/// Sets one annotation, creating the map if needed.
fn set_annotation(obj: &mut Value, key: &str, value: &str) {
    let md = meta::metadata_mut(obj);
    let annotations = md.entry("annotations").or_insert_with(|| json!({}));
    if !annotations.is_object() {
        *annotations = json!({});
    }
    annotations[key] = json!(value);
}

/// The ReplicaSets the Deployment controls, adopting matching orphans (`ClaimReplicaSets`).
fn claim(ctx: &mut Ctx, d: &Value, candidates: &[Arc<Value>]) -> Vec<Rs> {
    let uid = api::uid(d);
    let selector = api::selector(d);
    let mut owned = Vec::new();
    for rs in candidates {
        match api::controller_uid(rs) {
            Some(owner) if owner == uid => owned.push(Rs::of(rs.clone())),
            Some(_) => {}
            None if !api::deleting(rs) && selector.as_ref().is_some_and(|s| s.matches(rs)) => {
                let target = ("replicasets", meta::namespace(rs), meta::name(rs));
                let owner = api::controller_ref(d);
                let adopted = api::modify(
                    ctx.cluster,
                    target,
                    Some(api::uid(rs)),
                    UpdateMode::Main,
                    "kube-controller-manager",
                    |o| {
                        meta::metadata_mut(o).insert("ownerReferences".into(), json!([owner]));
                        true
                    },
                );
                owned.extend(adopted.map(Rs::of));
            }
            None => {}
        }
    }
    owned
}
