//! After a restart: whether an action claimed before the daemon stopped reached the cluster.
//! The claim (`started`) was recorded before the call, so the call may or may not have been
//! made; the cluster is asked, never the executor's memory, and nothing is sent. What cannot be
//! told is said to be unknown.

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::CronJob;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::Api;
use serde_json::Value;

use super::{ExecError, Executor, str_param};
use crate::domain::approval::Authorized;
use crate::domain::catalog::Tool;
use crate::domain::plan::Action;

/// The annotation `deployment.restart` writes on the pod template.
const RESTARTED_AT: &str = "kubectl.kubernetes.io/restartedAt";

/// What the cluster says about an action claimed before a restart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observed {
    /// The cluster is as the action leaves it.
    Applied(String),
    /// The cluster is not as the action leaves it.
    NotApplied(String),
    /// The cluster cannot say.
    Unknown(String),
}

impl Executor {
    /// Looks at the cluster to tell whether action `index`, claimed at `claimed_at`, was
    /// applied. Sends nothing.
    pub async fn observe(
        &self,
        plan: &Authorized,
        index: usize,
        claimed_at: Timestamp,
    ) -> Result<Observed, ExecError> {
        let action = plan
            .plan()
            .actions
            .get(index)
            .ok_or(ExecError::NoSuchAction(index))?;
        match action.tool {
            Tool::DeploymentRollback => self.observe_rollback(action).await,
            Tool::DeploymentRestart => {
                let d = self.deployment(action).await?;
                let stamp = d.spec.template.metadata.as_ref();
                let stamp = stamp.and_then(|m| m.annotations.as_ref()?.get(RESTARTED_AT));
                let at: Option<Timestamp> = stamp.and_then(|s| s.parse().ok());
                // The executor writes whole seconds.
                let since = Timestamp::from_second(claimed_at.as_second()).unwrap_or(claimed_at);
                Ok(match at {
                    Some(at) if at >= since => Observed::Applied(format!("restartedAt {at}")),
                    _ => Observed::NotApplied(format!(
                        "no restart stamped since {since} (found {stamp:?})"
                    )),
                })
            }
            Tool::DeploymentScale => {
                let d = self.deployment(action).await?;
                let want = action.params.get("replicas").and_then(Value::as_i64);
                let have = d.spec.replicas.map(i64::from);
                Ok(state(
                    have == want,
                    format!("spec.replicas {have:?}, wanted {want:?}"),
                ))
            }
            Tool::DeploymentSetResources => self.observe_resources(action).await,
            Tool::PodDelete => self.observe_pod_delete(action, claimed_at).await,
            Tool::NodeCordon | Tool::NodeUncordon => {
                let name = str_param(action, "name")?;
                let node = Api::<Node>::all(self.client.clone()).get(name).await?;
                let cordoned = node.spec.and_then(|s| s.unschedulable) == Some(true);
                let want = action.tool == Tool::NodeCordon;
                Ok(state(
                    cordoned == want,
                    format!("node {name} unschedulable={cordoned}"),
                ))
            }
            Tool::CronjobSuspend => {
                let (ns, name) = (str_param(action, "namespace")?, str_param(action, "name")?);
                let api: Api<CronJob> = Api::namespaced(self.client.clone(), ns);
                let suspended = api.get(name).await?.spec.suspend == Some(true);
                Ok(state(
                    suspended,
                    format!("cronjob {ns}/{name} suspend={suspended}"),
                ))
            }
            Tool::Notify => Ok(Observed::Applied("notify changes nothing".into())),
        }
    }

    async fn deployment(&self, action: &Action) -> Result<Deployment, ExecError> {
        let (ns, name) = (str_param(action, "namespace")?, str_param(action, "name")?);
        let api: Api<Deployment> = Api::namespaced(self.client.clone(), ns);
        Ok(api.get(name).await?)
    }

    async fn observe_rollback(&self, action: &Action) -> Result<Observed, ExecError> {
        let Some(wanted) = action.params.get("to_revision").and_then(Value::as_i64) else {
            return Ok(Observed::Unknown(
                "the rollback named no revision: after a restart the previous revision is \
                 another one"
                    .into(),
            ));
        };
        let ns = str_param(action, "namespace")?;
        let d = self.deployment(action).await?;
        Ok(match self.runs_revision(ns, &d, wanted).await? {
            Some(true) => Observed::Applied(format!("runs the template of revision {wanted}")),
            Some(false) => {
                Observed::NotApplied(format!("does not run the template of revision {wanted}"))
            }
            None => Observed::Unknown(format!("no ReplicaSet of revision {wanted} is left")),
        })
    }

    async fn observe_resources(&self, action: &Action) -> Result<Observed, ExecError> {
        let d = self.deployment(action).await?;
        let container = str_param(action, "container")?;
        let spec = d.spec.template.spec.as_ref();
        let found = spec.and_then(|s| s.containers.iter().find(|c| c.name == container));
        let Some(found) = found else {
            return Ok(Observed::Unknown(format!("no container {container}")));
        };
        let limits = found.resources.as_ref().and_then(|r| r.limits.as_ref());
        let applied = ["memory", "cpu"].into_iter().all(|key| {
            let want = action
                .params
                .get(format!("{key}_limit"))
                .and_then(Value::as_str);
            let have = limits.and_then(|l| l.get(key)).map(|q| q.0.as_str());
            want.is_none() || want == have
        });
        Ok(state(
            applied,
            format!("container {container} limits {limits:?}"),
        ))
    }

    async fn observe_pod_delete(
        &self,
        action: &Action,
        claimed_at: Timestamp,
    ) -> Result<Observed, ExecError> {
        let (ns, name) = (str_param(action, "namespace")?, str_param(action, "name")?);
        let api: Api<Pod> = Api::namespaced(self.client.clone(), ns);
        let Some(pod) = api.get_opt(name).await? else {
            return Ok(Observed::Applied(format!("pod {ns}/{name} is gone")));
        };
        if pod.metadata.deletion_timestamp.is_some() {
            return Ok(Observed::Applied(format!("pod {ns}/{name} is terminating")));
        }
        let created = pod.metadata.creation_timestamp.map(|t| t.0);
        // A StatefulSet recreates a deleted pod under the same name.
        let since = Timestamp::from_second(claimed_at.as_second()).unwrap_or(claimed_at);
        Ok(match created {
            Some(at) if at >= since => Observed::Applied(format!("pod {ns}/{name} was replaced")),
            Some(_) => Observed::NotApplied(format!("pod {ns}/{name} is still running")),
            None => Observed::Unknown(format!("pod {ns}/{name} has no creation time")),
        })
    }
}

fn state(applied: bool, detail: String) -> Observed {
    if applied {
        Observed::Applied(detail)
    } else {
        Observed::NotApplied(detail)
    }
}
