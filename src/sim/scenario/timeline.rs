//! Carrying out timeline steps: each action makes the same API writes its kubectl
//! counterpart makes (generation bumps included), so the controllers react as they would.

use std::time::Duration;

use jiff::Timestamp;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::file::{Action, SetEnv, SetImage, Step};
use crate::sim::controllers::nodes::{set_not_ready, set_pressure, set_ready};
use crate::sim::resources;
use crate::sim::writes::{UpdateMode, WriteOptions};
use crate::sim::{ApiError, SimCluster, meta};

/// A timeline step that could not be carried out.
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    /// The API refused the write (not found, invalid...).
    #[error(transparent)]
    Api(#[from] ApiError),
    /// The target has no such container.
    #[error("deployment {namespace}/{deployment} has no container {container}")]
    NoContainer {
        /// The namespace.
        namespace: String,
        /// The Deployment.
        deployment: String,
        /// The container asked for.
        container: String,
    },
    /// The node reports no such condition (it has no status yet).
    #[error("node {node} reports no {condition} condition")]
    NoCondition {
        /// The node.
        node: String,
        /// The condition asked for.
        condition: &'static str,
    },
    /// An object in `apply` has no known kind.
    #[error("cannot apply an object of kind {0}")]
    UnknownKind(String),
}

/// The steps of a timeline in time order, with a cursor, for running or stepping manually.
#[derive(Debug, Clone)]
pub struct Timeline {
    steps: Vec<Step>,
    next: usize,
}

impl Timeline {
    /// A timeline over `steps` (sorted by offset, stable).
    pub fn new(mut steps: Vec<Step>) -> Self {
        steps.sort_by_key(|s| s.at);
        Timeline { steps, next: 0 }
    }

    /// The offset of the next step, if any remain.
    pub fn next_at(&self) -> Option<Duration> {
        self.steps.get(self.next).map(|s| s.at)
    }

    /// Whether every step has run.
    pub fn is_done(&self) -> bool {
        self.next >= self.steps.len()
    }

    /// Carries out every step due by `elapsed`; returns what each did (or why it failed).
    pub fn apply_due(
        &mut self,
        cluster: &SimCluster,
        elapsed: Duration,
    ) -> Vec<Result<String, ActionError>> {
        let mut done = Vec::new();
        while let Some(step) = self.steps.get(self.next).filter(|s| s.at <= elapsed) {
            done.push(apply(cluster, &step.action, cluster.now()));
            self.next += 1;
        }
        done
    }

    /// Runs the remaining steps at their offsets from now until done or cancelled.
    pub async fn run(mut self, cluster: SimCluster, shutdown: CancellationToken) {
        let start = tokio::time::Instant::now();
        while let Some(at) = self.next_at() {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep_until(start + at) => {}
            }
            for result in self.apply_due(&cluster, at) {
                match result {
                    Ok(what) => tracing::info!(at = ?at, "{what}"),
                    Err(e) => tracing::warn!(at = ?at, error = %e, "a timeline step failed"),
                }
            }
        }
    }
}

fn options(manager: &str) -> WriteOptions {
    WriteOptions {
        dry_run: false,
        manager: Some(manager.into()),
    }
}

/// Updates the main resource (generation bumps on spec changes, like a kubectl write).
fn update(
    cluster: &SimCluster,
    target: (&str, &str, &str),
    manager: &str,
    change: impl FnOnce(&mut Value) -> Result<(), ActionError>,
) -> Result<Value, ActionError> {
    let (kind, namespace, name) = target;
    let rt = resources::by_name(kind).ok_or_else(ApiError::no_such_resource)?;
    let mut store = cluster.store();
    let current = store
        .get(rt, namespace, name)
        .ok_or_else(|| ApiError::not_found(rt, name))?;
    let mut next = (*current).clone();
    change(&mut next)?;
    let mode = if rt.plural == "nodes" {
        UpdateMode::Direct
    } else {
        UpdateMode::Main
    };
    Ok((*store.update(rt, namespace, name, next, mode, &options(manager))?).clone())
}

/// Carries out one action at `now`; returns a line saying what happened.
pub fn apply(cluster: &SimCluster, action: &Action, now: Timestamp) -> Result<String, ActionError> {
    match action {
        Action::SetImage(s) => set_image(cluster, s),
        Action::SetEnv(s) => set_env(cluster, s),
        Action::Scale(s) => {
            update(
                cluster,
                ("deployments", &s.namespace, &s.deployment),
                "kubectl",
                |d| {
                    d["spec"]["replicas"] = json!(s.replicas);
                    Ok(())
                },
            )?;
            Ok(format!(
                "deployment.apps/{} scaled to {}",
                s.deployment, s.replicas
            ))
        }
        Action::Apply(objects) => objects
            .iter()
            .map(|o| apply_object(cluster, o))
            .collect::<Result<Vec<_>, _>>()
            .map(|v| v.join("; ")),
        Action::Delete(d) => {
            cluster.delete(&d.kind, &d.namespace, &d.name)?;
            Ok(format!("{} \"{}\" deleted", d.kind, d.name))
        }
        Action::NodeNotReady(node) => {
            update(
                cluster,
                ("nodes", "", node),
                "kube-controller-manager",
                |n| {
                    set_not_ready(n, now);
                    Ok(())
                },
            )?;
            Ok(format!("node/{node} stopped posting status (NotReady)"))
        }
        Action::NodeReady(node) => {
            update(cluster, ("nodes", "", node), "kubelet", |n| {
                set_ready(n, now);
                Ok(())
            })?;
            Ok(format!("node/{node} is Ready again"))
        }
        Action::NodePressure(p) => {
            update(cluster, ("nodes", "", &p.node), "kubelet", |n| {
                if set_pressure(n, p.condition.as_str(), now) {
                    Ok(())
                } else {
                    Err(ActionError::NoCondition {
                        node: p.node.clone(),
                        condition: p.condition.as_str(),
                    })
                }
            })?;
            Ok(format!("node/{} reports {}", p.node, p.condition.as_str()))
        }
    }
}

/// The container a set-image/set-env names (or the only one).
fn container<'a>(
    d: &'a mut Value,
    wanted: Option<&str>,
    ns: &str,
    deploy: &str,
) -> Result<&'a mut Value, ActionError> {
    let missing = || ActionError::NoContainer {
        namespace: ns.into(),
        deployment: deploy.into(),
        container: wanted.unwrap_or("<only>").into(),
    };
    let list = d["spec"]["template"]["spec"]["containers"]
        .as_array_mut()
        .ok_or_else(missing)?;
    match wanted {
        Some(name) => list
            .iter_mut()
            .find(|c| c["name"] == name)
            .ok_or_else(missing),
        None if list.len() == 1 => list.first_mut().ok_or_else(missing),
        None => Err(missing()),
    }
}

fn set_image(cluster: &SimCluster, s: &SetImage) -> Result<String, ActionError> {
    update(
        cluster,
        ("deployments", &s.namespace, &s.deployment),
        "kubectl-set",
        |d| {
            container(d, s.container.as_deref(), &s.namespace, &s.deployment)?["image"] =
                json!(s.image);
            if let Some(cause) = &s.change_cause {
                let md = meta::metadata_mut(d);
                let annotations = md.entry("annotations").or_insert_with(|| json!({}));
                annotations["kubernetes.io/change-cause"] = json!(cause);
            }
            Ok(())
        },
    )?;
    Ok(format!(
        "deployment.apps/{} image updated to {}",
        s.deployment, s.image
    ))
}

fn set_env(cluster: &SimCluster, s: &SetEnv) -> Result<String, ActionError> {
    update(
        cluster,
        ("deployments", &s.namespace, &s.deployment),
        "kubectl-set",
        |d| {
            let c = container(d, s.container.as_deref(), &s.namespace, &s.deployment)?;
            let mut env: Vec<Value> = c["env"].as_array().cloned().unwrap_or_default();
            for (name, value) in &s.env {
                env.retain(|e| e["name"] != name.as_str());
                if let Some(value) = value {
                    env.push(json!({"name": name, "value": value}));
                }
            }
            c["env"] = json!(env);
            Ok(())
        },
    )?;
    Ok(format!("deployment.apps/{} env updated", s.deployment))
}

/// `kubectl apply` of one object: an update of an existing one, else a create.
fn apply_object(cluster: &SimCluster, object: &Value) -> Result<String, ActionError> {
    let (api_version, kind) = (
        meta::str_at(object, &["apiVersion"]).unwrap_or(""),
        meta::str_at(object, &["kind"]).unwrap_or(""),
    );
    let rt = resources::by_kind(api_version, kind)
        .ok_or_else(|| ActionError::UnknownKind(kind.into()))?;
    let namespace = match meta::namespace(object) {
        "" if rt.namespaced => "default",
        ns => ns,
    };
    let name = meta::name(object);
    let mut store = cluster.store();
    let opts = options("kubectl-client-side-apply");
    let verb = if store.get(rt, namespace, name).is_some() {
        let mut obj = object.clone();
        meta::metadata_mut(&mut obj).remove("resourceVersion");
        store.update(rt, namespace, name, obj, UpdateMode::Main, &opts)?;
        "configured"
    } else {
        store.create(rt, namespace, object.clone(), &opts)?;
        "created"
    };
    Ok(format!("{}/{name} {verb}", rt.singular))
}
