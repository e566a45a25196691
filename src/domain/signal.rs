//! Signals: the things that can open an incident — a Kubernetes object in a bad state, a firing
//! Alertmanager alert, or a manual report. Detectors turn raw input into signals; rules match them.

use std::collections::BTreeMap;

use jiff::Timestamp;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Where a signal came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum SignalSource {
    /// A watched Kubernetes object.
    Kubernetes,
    /// An Alertmanager webhook.
    Alert,
    /// Opened by a person.
    Manual,
}

impl SignalSource {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            SignalSource::Kubernetes => "kubernetes",
            SignalSource::Alert => "alert",
            SignalSource::Manual => "manual",
        }
    }
}

/// A reference to a Kubernetes object. `namespace` is `None` for cluster-scoped kinds (Node).
#[derive(
    Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
pub struct ObjectRef {
    /// The object's kind, as in its manifest (`Pod`, `Deployment`, `Node`).
    pub kind: String,
    /// The namespace, absent for cluster-scoped objects.
    pub namespace: Option<String>,
    /// The object's name.
    pub name: String,
}

impl ObjectRef {
    /// A namespaced object reference.
    pub fn namespaced(kind: &str, namespace: &str, name: &str) -> Self {
        Self {
            kind: kind.to_owned(),
            namespace: Some(namespace.to_owned()),
            name: name.to_owned(),
        }
    }

    /// A cluster-scoped object reference.
    pub fn cluster(kind: &str, name: &str) -> Self {
        Self {
            kind: kind.to_owned(),
            namespace: None,
            name: name.to_owned(),
        }
    }
}

impl std::fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{}/{}/{}", self.kind, ns, self.name),
            None => write!(f, "{}/{}", self.kind, self.name),
        }
    }
}

/// The state a container was seen in when the signal fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ContainerStateKind {
    /// Waiting (CrashLoopBackOff, ImagePullBackOff, CreateContainerConfigError...).
    Waiting,
    /// Running.
    Running,
    /// Terminated (OOMKilled, Error, Completed).
    Terminated,
}

/// One observation that may open an incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signal {
    /// Where it came from.
    pub source: SignalSource,
    /// The object that is in trouble.
    pub target: ObjectRef,
    /// The top-level owner (Deployment, CronJob, StatefulSet...) when known.
    pub workload: Option<ObjectRef>,
    /// The reason, as Kubernetes or the detector names it (`CrashLoopBackOff`, `OOMKilled`,
    /// `FailedScheduling`, `NotReady`, `BackoffLimitExceeded`), or the alert's name.
    pub reason: String,
    /// The container concerned, for pod signals.
    pub container: Option<String>,
    /// The container's state, for pod signals.
    pub container_state: Option<ContainerStateKind>,
    /// The target's labels (or the alert's labels).
    pub labels: BTreeMap<String, String>,
    /// The alert's name, for alert signals.
    pub alertname: Option<String>,
    /// A human-readable message from the source (event message, alert summary).
    pub message: Option<String>,
    /// When it was observed.
    pub observed_at: Timestamp,
}

impl Signal {
    /// The namespace of the target, if it has one.
    pub fn namespace(&self) -> Option<&str> {
        self.target.namespace.as_deref()
    }
}

/// The reason of a signal a person raised by asking nightshift to look at an object.
pub const INVESTIGATION: &str = "Investigation";

impl Signal {
    /// A person asks nightshift to look at `target`, with an optional question (kept as the
    /// signal's message, for the report). Opens an incident even when no rule would fire.
    pub fn investigation(
        target: ObjectRef,
        workload: Option<ObjectRef>,
        question: Option<String>,
        now: Timestamp,
    ) -> Signal {
        Signal {
            source: SignalSource::Manual,
            target,
            workload,
            reason: INVESTIGATION.into(),
            container: None,
            container_state: None,
            labels: BTreeMap::new(),
            alertname: None,
            message: question.filter(|q| !q.trim().is_empty()),
            observed_at: now,
        }
    }

    /// Whether a person raised it by asking (`nightshift investigate`).
    pub fn is_investigation(&self) -> bool {
        self.source == SignalSource::Manual && self.reason == INVESTIGATION
    }
}

/// The kind a kubectl-style name means (`deploy`, `deployments`, `Deployment`,
/// `deployments.apps` are all `Deployment`), for the kinds nightshift can look at.
pub fn canonical_kind(text: &str) -> Option<&'static str> {
    let word = text.split('.').next().unwrap_or(text).to_ascii_lowercase();
    let kind = match word.as_str() {
        "pod" | "pods" | "po" => "Pod",
        "deployment" | "deployments" | "deploy" => "Deployment",
        "replicaset" | "replicasets" | "rs" => "ReplicaSet",
        "statefulset" | "statefulsets" | "sts" => "StatefulSet",
        "daemonset" | "daemonsets" | "ds" => "DaemonSet",
        "job" | "jobs" => "Job",
        "cronjob" | "cronjobs" | "cj" => "CronJob",
        "node" | "nodes" | "no" => "Node",
        "persistentvolumeclaim" | "persistentvolumeclaims" | "pvc" => "PersistentVolumeClaim",
        _ => return None,
    };
    Some(kind)
}

/// Whether objects of `kind` (as [`canonical_kind`] names it) belong to no namespace.
pub fn is_cluster_scoped(kind: &str) -> bool {
    kind == "Node"
}

#[cfg(test)]
mod investigation_tests {
    use super::{canonical_kind, is_cluster_scoped};

    #[test]
    fn kinds_are_read_as_kubectl_reads_them() {
        for (text, kind) in [
            ("deploy", "Deployment"),
            ("Deployment", "Deployment"),
            ("deployments.apps", "Deployment"),
            ("STS", "StatefulSet"),
            ("po", "Pod"),
            ("cj", "CronJob"),
            ("pvc", "PersistentVolumeClaim"),
            ("no", "Node"),
        ] {
            assert_eq!(canonical_kind(text), Some(kind), "{text}");
        }
        assert_eq!(canonical_kind("service"), None);
        assert_eq!(canonical_kind(""), None);
        assert!(is_cluster_scoped("Node") && !is_cluster_scoped("Pod"));
    }
}
