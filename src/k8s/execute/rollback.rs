//! `deployment.rollback`, like `kubectl rollout undo`: the Deployment's pod template becomes the
//! template of the ReplicaSet with the target revision, minus `pod-template-hash`. The
//! Deployment's ReplicaSets are listed by its own label selector (`matchLabels` and
//! `matchExpressions`), bounded by [`MAX_REPLICASETS`], and kept only when the Deployment owns
//! them.

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::api::{Api, ListParams, Patch};
use serde_json::{Value, json};

use super::{ExecError, Executor, Mode, Outcome, patch_params, str_param};
use crate::domain::plan::Action;

/// The most ReplicaSets a rollback reads for one Deployment (`revisionHistoryLimit` is 10 by
/// default); more than that and it refuses rather than read a page it cannot see past.
pub const MAX_REPLICASETS: u32 = 500;

/// The annotation the deployment controller keeps a ReplicaSet's revision in.
const REVISION: &str = "deployment.kubernetes.io/revision";
/// Earlier revisions a ReplicaSet ran as, before a rollback renumbered it.
const REVISION_HISTORY: &str = "deployment.kubernetes.io/revision-history";

/// Annotations a rollback leaves as the Deployment has them instead of taking the ReplicaSet's
/// (kubectl's `annotationsToSkip`): the controller's bookkeeping, and kubectl's own.
const ROLLBACK_KEEPS: &[&str] = &[
    "kubectl.kubernetes.io/last-applied-configuration",
    "deployment.kubernetes.io/revision",
    "deployment.kubernetes.io/revision-history",
    "deployment.kubernetes.io/desired-replicas",
    "deployment.kubernetes.io/max-replicas",
    "deprecated.deployment.rollback.to",
];

/// A label selector as the apiserver's `labelSelector` query parameter spells it:
/// `matchLabels` as `k=v`, `matchExpressions` as `k in (a,b)`, `k notin (a,b)`, `k`, `!k`.
pub fn selector_query(selector: &LabelSelector) -> Result<String, String> {
    let mut terms: Vec<String> = selector
        .match_labels
        .iter()
        .flatten()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    for e in selector.match_expressions.iter().flatten() {
        let values = e.values.clone().unwrap_or_default().join(",");
        terms.push(match e.operator.as_str() {
            "In" => format!("{} in ({values})", e.key),
            "NotIn" => format!("{} notin ({values})", e.key),
            "Exists" => e.key.clone(),
            "DoesNotExist" => format!("!{}", e.key),
            other => return Err(format!("unknown selector operator {other:?} on {}", e.key)),
        });
    }
    Ok(terms.join(","))
}

/// A ReplicaSet's revision.
fn revision(rs: &ReplicaSet) -> Option<i64> {
    rs.metadata
        .annotations
        .as_ref()?
        .get(REVISION)?
        .parse()
        .ok()
}

/// Whether the ReplicaSet ran as `wanted` before a rollback renumbered it.
fn ran_as(rs: &ReplicaSet, wanted: i64) -> bool {
    let history = rs
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(REVISION_HISTORY));
    history.is_some_and(|h| h.split(',').any(|r| r.trim().parse() == Ok(wanted)))
}

/// A ReplicaSet's pod template as the Deployment would hold it (without `pod-template-hash`).
fn template_of(rs: &ReplicaSet, wanted: i64) -> Result<PodTemplateSpec, ExecError> {
    let mut template = rs
        .spec
        .template
        .clone()
        .ok_or_else(|| ExecError::Precondition(format!("revision {wanted} has no template")))?;
    if let Some(labels) = template.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
        labels.remove("pod-template-hash");
    }
    Ok(template)
}

/// Whether the Deployment's template is `template`.
pub(super) fn runs(deployment: &Deployment, template: &PodTemplateSpec) -> bool {
    serde_json::to_value(template).ok() == serde_json::to_value(&deployment.spec.template).ok()
}

impl Executor {
    /// The Deployment's own ReplicaSets with a revision, oldest revision first.
    pub(super) async fn revisions(
        &self,
        ns: &str,
        deployment: &Deployment,
    ) -> Result<Vec<(i64, ReplicaSet)>, ExecError> {
        let name = deployment.metadata.name.as_deref().unwrap_or_default();
        let selector =
            selector_query(&deployment.spec.selector).map_err(ExecError::Precondition)?;
        if selector.is_empty() {
            return Err(ExecError::Precondition(format!(
                "{ns}/{name} has an empty selector: its ReplicaSets cannot be told apart"
            )));
        }
        let sets: Api<ReplicaSet> = Api::namespaced(self.client.clone(), ns);
        let params = ListParams::default()
            .labels(&selector)
            .limit(MAX_REPLICASETS);
        let listed = sets.list(&params).await?;
        if listed
            .metadata
            .continue_
            .as_deref()
            .is_some_and(|c| !c.is_empty())
        {
            return Err(ExecError::Precondition(format!(
                "more than {MAX_REPLICASETS} ReplicaSets match {ns}/{name}'s selector; \
                 refusing to pick a revision from a partial list"
            )));
        }
        let uid = deployment.metadata.uid.as_ref();
        let owned = |rs: &ReplicaSet| {
            let refs = rs.metadata.owner_references.iter().flatten();
            refs.clone().any(|o| Some(&o.uid) == uid)
        };
        let mut revisions: Vec<(i64, ReplicaSet)> = listed
            .items
            .into_iter()
            .filter(owned)
            .filter_map(|rs| revision(&rs).map(|r| (r, rs)))
            .collect();
        revisions.sort_by_key(|(r, _)| *r);
        Ok(revisions)
    }

    /// The template of revision `to_revision` (or the newest but one), and that revision.
    async fn target(
        &self,
        action: &Action,
        deployment: &Deployment,
    ) -> Result<(i64, ReplicaSet), ExecError> {
        let (ns, name) = (str_param(action, "namespace")?, str_param(action, "name")?);
        let revisions = self.revisions(ns, deployment).await?;
        let wanted = match action.params.get("to_revision").and_then(Value::as_i64) {
            Some(r) => r,
            None => revisions
                .iter()
                .rev()
                .nth(1)
                .map(|(r, _)| *r)
                .ok_or_else(|| {
                    ExecError::Precondition(format!("{ns}/{name} has no previous revision"))
                })?,
        };
        revisions
            .into_iter()
            .find(|(r, _)| *r == wanted)
            .ok_or_else(|| ExecError::Precondition(format!("{ns}/{name} has no revision {wanted}")))
    }

    pub(super) async fn rollback(&self, action: &Action, mode: Mode) -> Result<Outcome, ExecError> {
        let (ns, name) = (str_param(action, "namespace")?, str_param(action, "name")?);
        let deployments: Api<Deployment> = Api::namespaced(self.client.clone(), ns);
        let deployment = deployments.get(name).await?;
        if deployment.spec.paused == Some(true) {
            return Err(ExecError::Precondition(format!(
                "{ns}/{name} is paused: a rollback would not roll out until it is resumed"
            )));
        }
        let (wanted, source) = self.target(action, &deployment).await?;
        let template = template_of(&source, wanted)?;
        if runs(&deployment, &template) {
            return Ok(Outcome::Unchanged(format!(
                "{ns}/{name} already runs the template of revision {wanted}"
            )));
        }
        let annotations = rollback_annotations(&deployment, &source);
        let patch: json_patch::Patch = serde_json::from_value(json!([
            {"op": "replace", "path": "/spec/template", "value": template},
            // `add` replaces an existing member and also works when there is none.
            {"op": "add", "path": "/metadata/annotations", "value": annotations},
        ]))
        .map_err(|e| ExecError::Precondition(format!("building the rollback patch: {e}")))?;
        deployments
            .patch(name, &patch_params(mode), &Patch::Json::<()>(patch))
            .await?;
        Ok(Outcome::Done(format!(
            "rolled back {ns}/{name} to revision {wanted}"
        )))
    }

    /// After a restart: whether the Deployment runs the template revision `wanted` had (the
    /// controller renumbers a rolled-back-to ReplicaSet and keeps its old number in
    /// `revision-history`). `None` when no ReplicaSet ran as `wanted` any more.
    pub(super) async fn runs_revision(
        &self,
        ns: &str,
        deployment: &Deployment,
        wanted: i64,
    ) -> Result<Option<bool>, ExecError> {
        let revisions = self.revisions(ns, deployment).await?;
        let Some((_, rs)) = revisions
            .iter()
            .find(|(r, rs)| *r == wanted || ran_as(rs, wanted))
        else {
            return Ok(None);
        };
        Ok(Some(runs(deployment, &template_of(rs, wanted)?)))
    }
}

/// The annotations a rollback gives the Deployment: the ReplicaSet's, but for
/// [`ROLLBACK_KEEPS`], which stay as the Deployment has them.
fn rollback_annotations(
    deployment: &Deployment,
    source: &ReplicaSet,
) -> std::collections::BTreeMap<String, String> {
    let keep = |k: &String| ROLLBACK_KEEPS.contains(&k.as_str());
    let own = deployment.metadata.annotations.iter().flatten();
    let from_revision = source.metadata.annotations.iter().flatten();
    own.filter(|(k, _)| keep(k))
        .chain(from_revision.filter(|(k, _)| !keep(k)))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};

    use super::selector_query;

    #[test]
    fn a_selector_with_match_expressions_becomes_the_apiservers_set_based_syntax() {
        let selector = LabelSelector {
            match_labels: Some([("app".to_owned(), "api".to_owned())].into()),
            match_expressions: Some(vec![
                LabelSelectorRequirement {
                    key: "tier".into(),
                    operator: "In".into(),
                    values: Some(vec!["web".into(), "edge".into()]),
                },
                LabelSelectorRequirement {
                    key: "canary".into(),
                    operator: "DoesNotExist".into(),
                    values: None,
                },
                LabelSelectorRequirement {
                    key: "track".into(),
                    operator: "Exists".into(),
                    values: None,
                },
                LabelSelectorRequirement {
                    key: "env".into(),
                    operator: "NotIn".into(),
                    values: Some(vec!["dev".into()]),
                },
            ]),
        };
        assert_eq!(
            selector_query(&selector).expect("valid"),
            "app=api,tier in (web,edge),!canary,track,env notin (dev)"
        );
    }

    #[test]
    fn an_unknown_selector_operator_is_refused_by_name() {
        let selector = LabelSelector {
            match_labels: None,
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "tier".into(),
                operator: "Near".into(),
                values: None,
            }]),
        };
        let err = selector_query(&selector).expect_err("refused");
        assert!(err.contains("Near") && err.contains("tier"), "{err}");
    }
}
