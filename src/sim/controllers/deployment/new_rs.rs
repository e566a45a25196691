//! `getAllReplicaSetsAndSyncRevision`: the new ReplicaSet is the oldest one whose template
//! equals the Deployment's ignoring `pod-template-hash`; when none does, one is created as
//! `<deployment>-<hash>`. Either way it gets revision max(old)+1 if its own is lower (a
//! rollback bumps the old ReplicaSet's revision) and the Deployment's annotations.

use serde_json::{Map, Value, json};

use super::status::{PROGRESSING, has_progress_deadline, new_condition, set_condition};
use super::{
    DESIRED_REPLICAS, DeploySync, MAX_REPLICAS, REVISION, REVISION_HISTORY, Rs, annotation,
};
use crate::sim::controllers::api;
use crate::sim::controllers::hash::{HASH_LABEL, equal_ignore_hash, template_hash};
use crate::sim::meta;
use crate::sim::writes::UpdateMode;

/// Annotations the controller never copies from a Deployment to its ReplicaSets.
const SKIPPED: &[&str] = &[
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION,
    REVISION_HISTORY,
    DESIRED_REPLICAS,
    MAX_REPLICAS,
    "deprecated.deployment.rollback.to",
];

impl DeploySync<'_, '_> {
    /// Finds the new ReplicaSet and syncs its revision; creates it when `create` is set.
    pub(super) fn find_or_create_new(&mut self, create: bool) {
        let template = &self.d["spec"]["template"];
        let mut by_age: Vec<usize> = (0..self.rss.len()).collect();
        by_age.sort_by(|a, b| {
            let (a, b) = (&self.rss[*a], &self.rss[*b]);
            (&a.created, &a.name).cmp(&(&b.created, &b.name))
        });
        self.new = by_age
            .into_iter()
            .find(|i| equal_ignore_hash(template, &self.rss[*i].obj["spec"]["template"]));
        let max_old = self
            .old()
            .iter()
            .map(|i| self.rss[*i].revision())
            .max()
            .unwrap_or(0);
        let revision = max_old + 1;
        match self.new {
            Some(idx) => self.sync_existing(idx, revision),
            None if create => self.create_new(revision),
            None => {}
        }
    }

    fn sync_existing(&mut self, idx: usize, revision: i64) {
        let d = self.d.clone();
        let rs = self.rss[idx].clone();
        let mut next = (*rs.obj).clone();
        let mut changed = copy_annotations(&d, &mut next);
        if rs.revision() < revision {
            bump_revision(&mut next, rs.revision(), revision);
            changed = true;
        }
        let min_ready = d["spec"].get("minReadySeconds").cloned();
        if next["spec"].get("minReadySeconds") != min_ready.as_ref() {
            next["spec"]["minReadySeconds"] = min_ready.unwrap_or(json!(0));
            changed = true;
        }
        if changed {
            let target = ("replicasets", meta::namespace(&rs.obj), rs.name.as_str());
            let written = api::modify(
                self.ctx.cluster,
                target,
                Some(api::uid(&rs.obj)),
                UpdateMode::Main,
                "kube-controller-manager",
                |o| {
                    o["metadata"]["annotations"] = next["metadata"]["annotations"].clone();
                    o["spec"]["minReadySeconds"] = next["spec"]["minReadySeconds"].clone();
                    true
                },
            );
            if let Some(written) = written {
                self.rss[idx] = Rs::of(written);
            }
        }
        self.revision = annotation(&self.rss[idx].obj, super::REVISION).map(str::to_string);
        if has_progress_deadline(&d) && self.condition(PROGRESSING).is_none() {
            let message = format!("Found new replica set \"{}\"", self.rss[idx].name);
            let cond = new_condition(
                PROGRESSING,
                "True",
                "FoundNewReplicaSet",
                &message,
                self.ctx.now,
            );
            set_condition(&mut self.status, cond);
        }
    }

    fn create_new(&mut self, revision: i64) {
        let d = self.d.clone();
        let collisions = d["status"]["collisionCount"].as_i64();
        let hash = template_hash(&d["spec"]["template"], collisions);
        let name = format!("{}-{hash}", self.name());
        if let Some(existing) = api::get(self.ctx.cluster, "replicasets", self.ns(), &name) {
            let ours = api::controller_uid(&existing) == Some(api::uid(&d));
            if !(ours && equal_ignore_hash(&d["spec"]["template"], &existing["spec"]["template"])) {
                self.status["collisionCount"] = json!(collisions.unwrap_or(0) + 1);
            }
            return;
        }
        let mut rs = self.new_rs_object(&name, &hash);
        copy_annotations(&d, &mut rs);
        super::set_annotation(&mut rs, REVISION, &revision.to_string());
        super::set_annotation(&mut rs, DESIRED_REPLICAS, &self.replicas.to_string());
        let max = self.replicas + self.max_surge;
        super::set_annotation(&mut rs, MAX_REPLICAS, &max.to_string());
        let mut view = Rs::of(std::sync::Arc::new(rs.clone()));
        view.replicas = 0;
        self.rss.push(view);
        let idx = self.rss.len() - 1;
        self.new = Some(idx);
        let replicas = self.new_rs_new_replicas(idx);
        rs["spec"]["replicas"] = json!(replicas);
        let Some(created) = api::create(
            self.ctx.cluster,
            "replicasets",
            rs,
            "kube-controller-manager",
        ) else {
            self.rss.pop();
            self.new = None;
            return;
        };
        self.rss[idx] = Rs::of(created);
        if replicas > 0 {
            self.event(format!("Scaled up replica set {name} to {replicas}"));
        }
        self.revision = Some(revision.to_string());
        if has_progress_deadline(&d) {
            let message = format!("Created new replica set \"{name}\"");
            let cond = new_condition(
                PROGRESSING,
                "True",
                "NewReplicaSetCreated",
                &message,
                self.ctx.now,
            );
            set_condition(&mut self.status, cond);
        }
    }

    fn new_rs_object(&self, name: &str, hash: &str) -> Value {
        let d = &self.d;
        let mut template = d["spec"]["template"].clone();
        if !template["metadata"]["labels"].is_object() {
            template["metadata"]["labels"] = json!({});
        }
        template["metadata"]["labels"][HASH_LABEL] = json!(hash);
        let mut selector = d["spec"]["selector"].clone();
        if !selector["matchLabels"].is_object() {
            selector["matchLabels"] = Value::Object(Map::new());
        }
        selector["matchLabels"][HASH_LABEL] = json!(hash);
        let mut spec = json!({"replicas": 0, "selector": selector, "template": template.clone()});
        if let Some(min_ready) = d["spec"].get("minReadySeconds") {
            spec["minReadySeconds"] = min_ready.clone();
        }
        json!({
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": name, "namespace": self.ns(),
                         "labels": template["metadata"]["labels"],
                         "ownerReferences": [api::controller_ref(d)]},
            "spec": spec,
        })
    }

    /// `isScalingEvent`: an active ReplicaSet was sized for another replica count.
    pub(super) fn is_scaling_event(&mut self) -> bool {
        self.find_or_create_new(false);
        self.rss
            .iter()
            .filter(|rs| rs.replicas > 0)
            .filter_map(|rs| rs.annotation(DESIRED_REPLICAS))
            .any(|desired| desired != self.replicas)
    }
}

/// Copies the Deployment's annotations (but the controller's own) onto a ReplicaSet.
fn copy_annotations(d: &Value, rs: &mut Value) -> bool {
    let Some(from) = meta::value_at(d, &["metadata", "annotations"]).and_then(Value::as_object)
    else {
        return false;
    };
    let mut changed = false;
    for (key, value) in from {
        if SKIPPED.contains(&key.as_str()) || rs["metadata"]["annotations"].get(key) == Some(value)
        {
            continue;
        }
        if let Some(v) = value.as_str() {
            super::set_annotation(rs, key, v);
            changed = true;
        }
    }
    changed
}

/// Gives a ReplicaSet a new revision, remembering the old one in the history annotation.
fn bump_revision(rs: &mut Value, old: i64, revision: i64) {
    if old > 0 {
        let history = match annotation(rs, REVISION_HISTORY) {
            Some(h) if !h.is_empty() => format!("{h},{old}"),
            _ => old.to_string(),
        };
        super::set_annotation(rs, REVISION_HISTORY, &history);
    }
    super::set_annotation(rs, REVISION, &revision.to_string());
}
