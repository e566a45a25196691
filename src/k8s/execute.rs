//! The executor: the only code that changes the cluster. It takes an [`Authorized`] plan (see
//! `domain::approval`), re-checks each action against its schema, then calls the apiserver with
//! fieldManager `nightshift` — first as a server-side dry run, then for real.
//!
//! `deployment.rollback` is in [`rollback`]; after a restart, [`Executor::observe`] tells from
//! the cluster whether an action claimed before the stop was applied.
//! `deployment.restart` and `node.uncordon` send what `kubectl rollout restart` and
//! `kubectl uncordon` send.

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::CronJob;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use serde_json::{Value, json};

use crate::domain::approval::Authorized;
use crate::domain::catalog::{Tool, validate_params};
use crate::domain::plan::Action;

mod applied;
mod rollback;

pub use applied::Observed;
pub use rollback::{MAX_REPLICASETS, selector_query};

/// nightshift's field manager on every mutation.
pub const FIELD_MANAGER: &str = "nightshift";

/// Dry run or for real.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `dryRun=All`: the apiserver validates and admits, nothing is stored.
    DryRun,
    /// The real call.
    Apply,
}

/// What an action did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The apiserver accepted the change (or the dry run).
    Done(String),
    /// Nothing to change (already at that revision, already cordoned...).
    Unchanged(String),
}

/// Why an action failed.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// The apiserver refused or could not be reached. Its message may quote what was sent (a
    /// rollback copies a revision's template and change-cause), so it is masked like evidence.
    #[error("apiserver: {}", crate::domain::redact::text(&.0.to_string()))]
    Api(#[from] kube::Error),
    /// The action's parameters do not satisfy its schema.
    #[error("parameters invalid: {}", .0.join("; "))]
    Params(Vec<String>),
    /// The cluster is not in a state the action can apply to.
    #[error("{0}")]
    Precondition(String),
    /// There is no action at that index.
    #[error("plan has no action {0}")]
    NoSuchAction(usize),
}

impl ExecError {
    /// A bounded label for metrics.
    pub fn metric_label(&self) -> &'static str {
        match self {
            ExecError::Api(_) => "api",
            ExecError::Params(_) => "params",
            ExecError::Precondition(_) => "precondition",
            ExecError::NoSuchAction(_) => "no_such_action",
        }
    }
}

/// Carries out authorized actions through a kube client.
#[derive(Clone)]
pub struct Executor {
    client: kube::Client,
}

fn str_param<'a>(action: &'a Action, key: &str) -> Result<&'a str, ExecError> {
    action
        .params
        .get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| ExecError::Params(vec![format!("params/{key} missing")]))
}

fn patch_params(mode: Mode) -> PatchParams {
    PatchParams {
        dry_run: mode == Mode::DryRun,
        ..PatchParams::apply(FIELD_MANAGER)
    }
}

impl Executor {
    /// An executor over `client`.
    pub fn new(client: kube::Client) -> Self {
        Self { client }
    }

    /// The client it acts through (Kubernetes Events about its actions go through it too).
    pub fn client(&self) -> &kube::Client {
        &self.client
    }

    /// Every node of the cluster, read right before a node action so node policy judges the
    /// pool as it is (see [`crate::k8s::nodes`]).
    pub async fn nodes(
        &self,
    ) -> Result<Vec<crate::domain::evidence::NodeFacts>, crate::k8s::nodes::PoolError> {
        crate::k8s::nodes::pool(&self.client).await
    }

    /// Runs action `index` of an authorized plan.
    pub async fn run(
        &self,
        plan: &Authorized,
        index: usize,
        mode: Mode,
        now: Timestamp,
    ) -> Result<Outcome, ExecError> {
        let action = plan
            .plan()
            .actions
            .get(index)
            .ok_or(ExecError::NoSuchAction(index))?;
        validate_params(action.tool, &action.params).map_err(ExecError::Params)?;
        match action.tool {
            Tool::DeploymentRollback => self.rollback(action, mode).await,
            Tool::DeploymentRestart => {
                // Whole seconds, as kubectl writes it (Go's time.RFC3339).
                let at = Timestamp::from_second(now.as_second()).unwrap_or(now);
                let stamp = json!({"spec": {"template": {"metadata": {"annotations": {
                    "kubectl.kubernetes.io/restartedAt": at.to_string()}}}}});
                self.patch_deployment(action, Patch::Merge(stamp), mode)
                    .await
            }
            Tool::DeploymentScale => {
                let (ns, name) = (str_param(action, "namespace")?, str_param(action, "name")?);
                let replicas = action
                    .params
                    .get("replicas")
                    .and_then(Value::as_i64)
                    .unwrap_or(0);
                let api: Api<Deployment> = Api::namespaced(self.client.clone(), ns);
                api.patch_scale(
                    name,
                    &patch_params(mode),
                    &Patch::Merge(json!({"spec": {"replicas": replicas}})),
                )
                .await?;
                Ok(Outcome::Done(format!("scaled {ns}/{name} to {replicas}")))
            }
            Tool::DeploymentSetResources => {
                let container = str_param(action, "container")?;
                let mut limits = serde_json::Map::new();
                for key in ["memory_limit", "cpu_limit"] {
                    if let Some(v) = action.params.get(key) {
                        limits.insert(key.trim_end_matches("_limit").to_owned(), v.clone());
                    }
                }
                let body = json!({"spec": {"template": {"spec": {"containers": [
                    {"name": container, "resources": {"limits": limits}}]}}}});
                self.patch_deployment(action, Patch::Strategic(body), mode)
                    .await
            }
            Tool::PodDelete => {
                let (ns, name) = (str_param(action, "namespace")?, str_param(action, "name")?);
                let api: Api<Pod> = Api::namespaced(self.client.clone(), ns);
                let dp = DeleteParams {
                    dry_run: mode == Mode::DryRun,
                    ..DeleteParams::default()
                };
                api.delete(name, &dp).await?;
                Ok(Outcome::Done(format!("deleted pod {ns}/{name}")))
            }
            Tool::NodeCordon | Tool::NodeUncordon => {
                let name = str_param(action, "name")?;
                let cordon = action.tool == Tool::NodeCordon;
                // kubectl uncordon removes the field rather than setting it to false.
                let unschedulable = if cordon { json!(true) } else { Value::Null };
                let api: Api<Node> = Api::all(self.client.clone());
                api.patch(
                    name,
                    &patch_params(mode),
                    &Patch::Merge(json!({"spec": {"unschedulable": unschedulable}})),
                )
                .await?;
                Ok(Outcome::Done(format!("node {name} unschedulable={cordon}")))
            }
            Tool::CronjobSuspend => {
                let (ns, name) = (str_param(action, "namespace")?, str_param(action, "name")?);
                let api: Api<CronJob> = Api::namespaced(self.client.clone(), ns);
                api.patch(
                    name,
                    &patch_params(mode),
                    &Patch::Merge(json!({"spec": {"suspend": true}})),
                )
                .await?;
                Ok(Outcome::Done(format!("suspended cronjob {ns}/{name}")))
            }
            Tool::Notify => Ok(Outcome::Unchanged(
                "notify changes nothing in the cluster".into(),
            )),
        }
    }

    async fn patch_deployment(
        &self,
        action: &Action,
        patch: Patch<Value>,
        mode: Mode,
    ) -> Result<Outcome, ExecError> {
        let (ns, name) = (str_param(action, "namespace")?, str_param(action, "name")?);
        let api: Api<Deployment> = Api::namespaced(self.client.clone(), ns);
        api.patch(name, &patch_params(mode), &patch).await?;
        Ok(Outcome::Done(format!("{} {ns}/{name}", action.tool)))
    }
}

/// Why a plan did not run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The gate refused it: nothing was sent to the apiserver.
    #[error("not authorized: {0}")]
    Refused(#[from] crate::domain::approval::Refusal),
    /// An action failed (earlier actions may have run).
    #[error("action {index} ({tool}) failed: {source}")]
    Action {
        /// Which action.
        index: usize,
        /// Its tool.
        tool: Tool,
        /// Why.
        #[source]
        source: ExecError,
    },
}

/// What a plan needs to be authorized: the recorded approval, or the playbook's auto-approval.
pub struct Clearance<'a> {
    /// The recorded human decision, if any.
    pub approval: Option<&'a crate::domain::approval::Approval>,
    /// The playbook's name and approval section.
    pub auto: Option<(&'a str, &'a crate::domain::playbook::ApprovalSpec)>,
    /// The incident's namespace.
    pub namespace: Option<&'a str>,
}

/// Authorizes `plan` and runs every action: all as dry runs first, then all for real. Nothing
/// reaches the apiserver when the gate refuses.
pub async fn run_plan(
    executor: &Executor,
    plan: &crate::domain::plan::Plan,
    clearance: &Clearance<'_>,
    now: Timestamp,
) -> Result<Vec<Outcome>, RunError> {
    let authorized = crate::domain::approval::authorize(
        plan,
        clearance.approval,
        clearance.auto,
        clearance.namespace,
        now,
    )?;
    for mode in [Mode::DryRun, Mode::Apply] {
        let mut outcomes = Vec::new();
        for (index, action) in authorized.plan().actions.iter().enumerate() {
            let outcome = executor
                .run(&authorized, index, mode, now)
                .await
                .map_err(|source| RunError::Action {
                    index,
                    tool: action.tool,
                    source,
                })?;
            outcomes.push(outcome);
        }
        if mode == Mode::Apply {
            return Ok(outcomes);
        }
    }
    Ok(Vec::new())
}

#[cfg(test)]
mod tests {
    use super::ExecError;

    #[test]
    fn an_apiserver_refusal_quoting_a_credential_is_masked() {
        let refusal: kube::core::Status = serde_json::from_value(serde_json::json!({
            "status": "Failure",
            "message": "Deployment.apps \"api\" is invalid: metadata.annotations: Invalid value: \"kubectl set env deploy/api DB_PASSWORD=Xq7pw --record\"",
            "reason": "Invalid",
            "code": 422,
        }))
        .expect("a Status");
        let detail = ExecError::Api(kube::Error::Api(refusal.into())).to_string();
        assert!(!detail.contains("Xq7pw"), "{detail}");
        assert!(detail.contains("DB_PASSWORD=<redacted>"), "{detail}");
    }
}
