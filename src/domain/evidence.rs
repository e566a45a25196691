//! Evidence: what the gatherers (or a recorded fixture) saw, reduced to plain facts with stable
//! ids. The diagnoser reads these and cites them by id. No Kubernetes client types appear here:
//! `crate::k8s::facts` converts API objects into these values.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::domain::controls::{AutoscalerFacts, DisruptionBudgetFacts, GitOpsFacts};
use crate::domain::redact;
use crate::domain::scheduling::{NodeRequirement, Toleration};
use crate::domain::signal::ObjectRef;

/// One piece of evidence. `id` is stable for the same input (`pod/shop/api-1`,
/// `log/api-1/app/previous`, `event/shop/api-1.17a3`), so a diagnosis can cite it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvidenceItem {
    /// Stable identifier.
    pub id: String,
    /// The facts.
    pub facts: Facts,
}

/// The kinds of fact nightshift gathers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Facts {
    /// A pod's spec and status.
    Pod(Box<PodFacts>),
    /// A Kubernetes event.
    Event(EventFacts),
    /// A container log (current or previous).
    Log(LogFacts),
    /// A Deployment and its ReplicaSet revisions.
    Rollout(Box<RolloutFacts>),
    /// A node's conditions.
    Node(NodeFacts),
    /// A Job's status.
    Job(JobFacts),
    /// A CronJob's schedule and history.
    CronJob(CronJobFacts),
    /// A ResourceQuota's hard and used amounts.
    Quota(QuotaFacts),
    /// A LimitRange's limits.
    LimitRange(LimitRangeFacts),
    /// A PersistentVolumeClaim.
    Claim(ClaimFacts),
    /// A ConfigMap or Secret that exists (names and keys only, never values).
    Config(ConfigFacts),
    /// A Prometheus query result.
    Metric(MetricFacts),
    /// A firing alert.
    Alert(AlertFacts),
    /// A PodDisruptionBudget of the namespace.
    DisruptionBudget(DisruptionBudgetFacts),
}

/// A status condition (pod, node, deployment, job).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConditionFacts {
    /// `Ready`, `PodScheduled`, `DiskPressure`, `Progressing`, `Failed`...
    pub kind: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// Machine-readable reason.
    pub reason: Option<String>,
    /// Human-readable message.
    pub message: Option<String>,
    /// When the status last changed.
    pub since: Option<Timestamp>,
}

impl ConditionFacts {
    /// Whether the condition's status is `True`.
    pub fn is_true(&self) -> bool {
        self.status.eq_ignore_ascii_case("true")
    }
}

impl Facts {
    /// Pod facts (boxed: they are the largest variant).
    pub fn pod(facts: PodFacts) -> Facts {
        Facts::Pod(Box::new(facts))
    }

    /// Rollout facts (boxed: they are the second largest variant).
    pub fn rollout(facts: RolloutFacts) -> Facts {
        Facts::Rollout(Box::new(facts))
    }
}

/// A container's state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum ContainerState {
    /// Not started, or waiting to restart.
    Waiting {
        /// `CrashLoopBackOff`, `ImagePullBackOff`, `CreateContainerConfigError`...
        reason: Option<String>,
        /// The kubelet's message.
        message: Option<String>,
    },
    /// Running since `started_at`.
    Running {
        /// When it started.
        started_at: Option<Timestamp>,
    },
    /// Exited.
    Terminated {
        /// `OOMKilled`, `Error`, `Completed`, `ContainerCannotRun`...
        reason: Option<String>,
        /// The process's exit code.
        exit_code: i32,
        /// The signal that killed it, when reported.
        signal: Option<i32>,
        /// The runtime's message.
        message: Option<String>,
        /// When it started.
        started_at: Option<Timestamp>,
        /// When it exited.
        finished_at: Option<Timestamp>,
    },
}

impl ContainerState {
    /// The waiting or terminated reason.
    pub fn reason(&self) -> Option<&str> {
        match self {
            ContainerState::Waiting { reason, .. } | ContainerState::Terminated { reason, .. } => {
                reason.as_deref()
            }
            ContainerState::Running { .. } => None,
        }
    }

    /// The waiting or terminated message.
    pub fn message(&self) -> Option<&str> {
        match self {
            ContainerState::Waiting { message, .. }
            | ContainerState::Terminated { message, .. } => message.as_deref(),
            ContainerState::Running { .. } => None,
        }
    }

    /// The exit code, when terminated.
    pub fn exit_code(&self) -> Option<i32> {
        match self {
            ContainerState::Terminated { exit_code, .. } => Some(*exit_code),
            _ => None,
        }
    }
}

/// Where a container takes configuration from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigRef {
    /// `ConfigMap` or `Secret`.
    pub kind: String,
    /// The object's name.
    pub name: String,
    /// The key, for `valueFrom` references.
    pub key: Option<String>,
    /// Whether the reference is optional.
    pub optional: bool,
}

/// A container's spec and status.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ContainerFacts {
    /// The container's name.
    pub name: String,
    /// The image reference.
    pub image: String,
    /// Whether it is Ready.
    pub ready: bool,
    /// How often it restarted.
    pub restart_count: i32,
    /// Current state, when reported.
    pub state: Option<ContainerState>,
    /// Previous termination, when reported.
    pub last_state: Option<ContainerState>,
    /// Memory limit in bytes.
    pub memory_limit: Option<u64>,
    /// Memory request in bytes.
    pub memory_request: Option<u64>,
    /// CPU limit in millicores.
    pub cpu_limit: Option<u64>,
    /// Env var names set explicitly.
    pub env: Vec<String>,
    /// ConfigMaps and Secrets it reads.
    pub config_refs: Vec<ConfigRef>,
    /// Probes it has (`liveness`, `readiness`, `startup`), with a short description.
    pub probes: BTreeMap<String, String>,
}

/// A pod's spec and status.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PodFacts {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// `Pending`, `Running`, `Failed`...
    pub phase: Option<String>,
    /// Pod-level reason (`Evicted`).
    pub reason: Option<String>,
    /// Pod-level message.
    pub message: Option<String>,
    /// The node it runs on.
    pub node: Option<String>,
    /// The controlling owner (usually a ReplicaSet or Job).
    pub owner: Option<ObjectRef>,
    /// The top-level workload (Deployment, CronJob...), when resolved.
    pub workload: Option<ObjectRef>,
    /// The `pod-template-hash` label.
    pub template_hash: Option<String>,
    /// When it was created.
    pub created_at: Option<Timestamp>,
    /// Whether it is being deleted.
    pub terminating: bool,
    /// Pod conditions.
    pub conditions: Vec<ConditionFacts>,
    /// App containers.
    pub containers: Vec<ContainerFacts>,
    /// Init containers.
    pub init_containers: Vec<ContainerFacts>,
    /// The service account.
    pub service_account: Option<String>,
    /// PersistentVolumeClaims it mounts.
    pub claims: Vec<String>,
    /// imagePullSecrets it names.
    pub image_pull_secrets: Vec<String>,
    /// nodeSelector, as `key=value`.
    pub node_selector: Vec<String>,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// What the scheduler reserves for it, by resource (`cpu` in millicores, the rest in bytes
    /// or counts): the containers' requests summed, or the largest init container's if more.
    #[serde(default)]
    pub requests: BTreeMap<String, u64>,
    /// Its tolerations.
    #[serde(default)]
    pub tolerations: Vec<Toleration>,
    /// Required node affinity: any term may match, each term's requirements all must.
    #[serde(default)]
    pub node_affinity: Vec<Vec<NodeRequirement>>,
}

impl PodFacts {
    /// App and init containers.
    pub fn all_containers(&self) -> impl Iterator<Item = &ContainerFacts> {
        self.init_containers.iter().chain(self.containers.iter())
    }

    /// The condition of the given type.
    pub fn condition(&self, kind: &str) -> Option<&ConditionFacts> {
        self.conditions.iter().find(|c| c.kind == kind)
    }
}

/// A Kubernetes event (legacy and `events.k8s.io` shapes folded together).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventFacts {
    /// `Normal` or `Warning`.
    pub kind: String,
    /// `BackOff`, `FailedScheduling`, `Unhealthy`...
    pub reason: String,
    /// The message.
    pub message: String,
    /// The object it is about.
    pub object: ObjectRef,
    /// How often it happened.
    pub count: u32,
    /// First seen, when known.
    pub first_seen: Option<Timestamp>,
    /// Last seen, when known.
    pub last_seen: Option<Timestamp>,
    /// The component that emitted it (`kubelet`, `default-scheduler`).
    pub source: Option<String>,
}

impl EventFacts {
    /// Whether it is a Warning.
    pub fn is_warning(&self) -> bool {
        self.kind.eq_ignore_ascii_case("warning")
    }
}

/// A container log, reduced: ANSI codes stripped, secrets redacted, bounded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogFacts {
    /// Namespace.
    pub namespace: String,
    /// Pod name.
    pub pod: String,
    /// Container name.
    pub container: String,
    /// Whether this is the previous (crashed) instance's log.
    pub previous: bool,
    /// The last lines kept.
    pub lines: Vec<String>,
    /// Whether lines were dropped to stay within bounds.
    pub truncated: bool,
}

/// A container as a Deployment revision's template defines it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TemplateContainer {
    /// Name.
    pub name: String,
    /// Image.
    pub image: String,
    /// Command.
    pub command: Vec<String>,
    /// Args.
    pub args: Vec<String>,
    /// Env vars: literal values, or `<configmap x/key>` / `<secret x/key>` for references.
    pub env: BTreeMap<String, String>,
    /// envFrom sources, as `configmap/x` or `secret/x`.
    pub env_from: Vec<String>,
    /// Memory limit in bytes.
    pub memory_limit: Option<u64>,
    /// CPU limit in millicores.
    pub cpu_limit: Option<u64>,
    /// Probe descriptions by kind.
    pub probes: BTreeMap<String, String>,
    /// Container ports.
    pub ports: Vec<i32>,
}

/// One ReplicaSet revision of a Deployment.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct RevisionFacts {
    /// `deployment.kubernetes.io/revision`.
    pub revision: u64,
    /// The ReplicaSet's name.
    pub replica_set: String,
    /// Its `pod-template-hash`.
    pub template_hash: Option<String>,
    /// When the ReplicaSet was created (the rollout time).
    pub created_at: Option<Timestamp>,
    /// `kubernetes.io/change-cause`.
    pub change_cause: Option<String>,
    /// Desired replicas.
    pub replicas: i32,
    /// Ready replicas.
    pub ready_replicas: i32,
    /// The pod template's containers.
    pub containers: Vec<TemplateContainer>,
    /// Template-level fields worth diffing (service account, volumes, security context).
    pub pod_fields: BTreeMap<String, String>,
}

/// A Deployment, StatefulSet or DaemonSet and its revision history (ReplicaSets, or
/// ControllerRevisions), newest revision last.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct RolloutFacts {
    /// The Deployment.
    pub deployment: ObjectRef,
    /// Desired replicas.
    pub replicas: i32,
    /// Updated replicas.
    pub updated_replicas: i32,
    /// Ready replicas.
    pub ready_replicas: i32,
    /// Available replicas.
    pub available_replicas: i32,
    /// metadata.generation.
    pub generation: Option<i64>,
    /// status.observedGeneration.
    pub observed_generation: Option<i64>,
    /// Deployment conditions.
    pub conditions: Vec<ConditionFacts>,
    /// Revisions, oldest first.
    pub revisions: Vec<RevisionFacts>,
    /// The Deployment's current pod template, when known.
    pub template: Vec<TemplateContainer>,
    /// The GitOps controller that reconciles it from Git, when its labels say so.
    #[serde(default)]
    pub gitops: Option<GitOpsFacts>,
    /// The HorizontalPodAutoscaler that owns its replica count, when one targets it.
    #[serde(default)]
    pub autoscaler: Option<AutoscalerFacts>,
    /// Whether a rollout is under way, when the workload's status says so directly: a
    /// StatefulSet's `updateRevision` differs from its `currentRevision` or not every replica is
    /// updated, a DaemonSet's `updatedNumberScheduled` is below `desiredNumberScheduled`.
    /// `None` for a Deployment, whose `Progressing` condition says it.
    #[serde(default)]
    pub in_progress: Option<bool>,
}

impl RolloutFacts {
    /// The newest revision.
    pub fn newest(&self) -> Option<&RevisionFacts> {
        self.revisions.last()
    }

    /// The revision before the newest.
    pub fn previous(&self) -> Option<&RevisionFacts> {
        self.revisions.iter().rev().nth(1)
    }
}

/// A node's state.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct NodeFacts {
    /// Name.
    pub name: String,
    /// Conditions (Ready, MemoryPressure, DiskPressure, PIDPressure...).
    pub conditions: Vec<ConditionFacts>,
    /// Whether it is cordoned.
    pub unschedulable: bool,
    /// Taints as `key=value:Effect`.
    pub taints: Vec<String>,
    /// Labels: its role (`node-role.kubernetes.io/control-plane`), pool, zone... Node policy
    /// decides by them which nodes nightshift may touch.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// status.allocatable, by resource (`cpu` in millicores, the rest in bytes or counts).
    #[serde(default)]
    pub allocatable: BTreeMap<String, u64>,
    /// What the pods in evidence bound to it request, summed (same units).
    #[serde(default)]
    pub requested: BTreeMap<String, u64>,
    /// How many pods `requested` counts.
    #[serde(default)]
    pub pods_counted: u32,
    /// In evidence only as a place a Pending pod might go, not because anything in the
    /// incident runs on it: its own conditions are not findings about the incident.
    #[serde(default)]
    pub candidate: bool,
}

impl NodeFacts {
    /// The condition of the given type.
    pub fn condition(&self, kind: &str) -> Option<&ConditionFacts> {
        self.conditions.iter().find(|c| c.kind == kind)
    }
}

/// A Job's state.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct JobFacts {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// The controlling owner (a CronJob), when any.
    pub owner: Option<ObjectRef>,
    /// Conditions (`Failed` with `BackoffLimitExceeded` / `DeadlineExceeded`, `Complete`).
    pub conditions: Vec<ConditionFacts>,
    /// Active pods.
    pub active: i32,
    /// Succeeded pods.
    pub succeeded: i32,
    /// Failed pods.
    pub failed: i32,
    /// spec.backoffLimit.
    pub backoff_limit: Option<i32>,
    /// spec.activeDeadlineSeconds.
    pub active_deadline_seconds: Option<i64>,
    /// When it started.
    pub started_at: Option<Timestamp>,
}

/// A CronJob.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct CronJobFacts {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// The schedule.
    pub schedule: String,
    /// Whether it is suspended.
    pub suspended: bool,
    /// Last scheduled run.
    pub last_schedule: Option<Timestamp>,
    /// Last successful run.
    pub last_success: Option<Timestamp>,
}

/// A ResourceQuota.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct QuotaFacts {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Hard limits.
    pub hard: BTreeMap<String, String>,
    /// Used amounts.
    pub used: BTreeMap<String, String>,
}

/// A LimitRange, each limit rendered as text (`Container max memory=1Gi`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct LimitRangeFacts {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Its limits.
    pub limits: Vec<String>,
}

/// A PersistentVolumeClaim.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ClaimFacts {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// `Pending`, `Bound`, `Lost`.
    pub phase: Option<String>,
    /// The storage class asked for.
    pub storage_class: Option<String>,
    /// The bound volume.
    pub volume: Option<String>,
}

/// A ConfigMap or Secret that exists: its keys, never its values.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ConfigFacts {
    /// `ConfigMap` or `Secret`.
    pub kind: String,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Its keys.
    pub keys: Vec<String>,
}

/// One series of a Prometheus result, reduced to its latest value and its peak.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricSeries {
    /// The series' labels.
    pub labels: BTreeMap<String, String>,
    /// The latest value.
    pub latest: f64,
    /// The highest value in the window.
    pub max: f64,
    /// Its samples, oldest first, evenly thinned to a bounded count (a range query's shape over
    /// time: what it was before a rollout and after). One point for an instant query or a scrape.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub points: Vec<MetricPoint>,
}

/// One sample of a series.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MetricPoint {
    /// When it was taken.
    pub at: Timestamp,
    /// Its value.
    pub value: f64,
}

/// A Prometheus query result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricFacts {
    /// The query's name.
    pub query: String,
    /// Its series.
    pub series: Vec<MetricSeries>,
}

/// A firing (or resolved) alert.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AlertFacts {
    /// `alertname`.
    pub alertname: String,
    /// `firing` or `resolved`.
    pub status: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Annotations (summary, description, runbook_url).
    pub annotations: BTreeMap<String, String>,
    /// When it started firing.
    pub starts_at: Option<Timestamp>,
}

/// All evidence about one incident.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Evidence {
    /// The items, in gathering order.
    pub items: Vec<EvidenceItem>,
}

macro_rules! accessor {
    ($fn:ident, $variant:ident, $ty:ty) => {
        /// Every item of this kind, with its id.
        pub fn $fn(&self) -> impl Iterator<Item = (&str, &$ty)> {
            self.items.iter().filter_map(|item| match &item.facts {
                Facts::$variant(facts) => {
                    Some((item.id.as_str(), std::borrow::Borrow::<$ty>::borrow(facts)))
                }
                _ => None,
            })
        }
    };
}

impl Evidence {
    /// Adds an item, its free text masked first ([`redact::facts`]): this is where evidence
    /// is made, so no credential a log, message or annotation carried gets past it.
    pub fn push(&mut self, id: impl Into<String>, mut facts: Facts) {
        redact::facts(&mut facts);
        self.items.push(EvidenceItem {
            // An alert's id carries its name, a label value like any other.
            id: redact::text(&id.into()),
            facts,
        });
    }

    /// Whether an item with this id exists.
    pub fn contains(&self, id: &str) -> bool {
        self.items.iter().any(|item| item.id == id)
    }

    accessor!(pods, Pod, PodFacts);
    accessor!(events, Event, EventFacts);
    accessor!(logs, Log, LogFacts);
    accessor!(rollouts, Rollout, RolloutFacts);
    accessor!(nodes, Node, NodeFacts);
    accessor!(jobs, Job, JobFacts);
    accessor!(cronjobs, CronJob, CronJobFacts);
    accessor!(quotas, Quota, QuotaFacts);
    accessor!(limit_ranges, LimitRange, LimitRangeFacts);
    accessor!(claims, Claim, ClaimFacts);
    accessor!(configs, Config, ConfigFacts);
    accessor!(metrics, Metric, MetricFacts);
    accessor!(alerts, Alert, AlertFacts);
    accessor!(disruption_budgets, DisruptionBudget, DisruptionBudgetFacts);
}
