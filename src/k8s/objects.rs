//! A set of Kubernetes objects as `kubectl get -o yaml` prints them (multi-document YAML, or
//! `kind: List`), parsed into typed k8s-openapi values. Used by `replay` for fixtures and by the
//! simulated cluster; the live gatherers fill the same set from the apiserver.

use k8s_openapi::api::apps::v1::{
    ControllerRevision, DaemonSet, Deployment, ReplicaSet, StatefulSet,
};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{
    ConfigMap, Event, LimitRange, Namespace, Node, PersistentVolumeClaim, Pod, ResourceQuota,
    Secret,
};
use k8s_openapi::api::events::v1::Event as NewEvent;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use serde::Deserialize;
use serde_json::Value;

/// Every object of the kinds nightshift reads.
#[derive(Debug, Clone, Default)]
pub struct ObjectSet {
    /// Pods.
    pub pods: Vec<Pod>,
    /// ReplicaSets.
    pub replica_sets: Vec<ReplicaSet>,
    /// Deployments.
    pub deployments: Vec<Deployment>,
    /// Nodes.
    pub nodes: Vec<Node>,
    /// Jobs.
    pub jobs: Vec<Job>,
    /// CronJobs.
    pub cron_jobs: Vec<CronJob>,
    /// Events, `core/v1` and `events.k8s.io/v1` alike (the latter converted to the former).
    pub events: Vec<Event>,
    /// ConfigMaps.
    pub config_maps: Vec<ConfigMap>,
    /// Secrets: names and keys only; values are dropped on parse.
    pub secrets: Vec<Secret>,
    /// PersistentVolumeClaims.
    pub claims: Vec<PersistentVolumeClaim>,
    /// ResourceQuotas.
    pub quotas: Vec<ResourceQuota>,
    /// LimitRanges.
    pub limit_ranges: Vec<LimitRange>,
    /// Namespaces.
    pub namespaces: Vec<Namespace>,
    /// HorizontalPodAutoscalers (`autoscaling/v2`).
    pub autoscalers: Vec<HorizontalPodAutoscaler>,
    /// PodDisruptionBudgets (`policy/v1`).
    pub disruption_budgets: Vec<PodDisruptionBudget>,
    /// StatefulSets.
    pub stateful_sets: Vec<StatefulSet>,
    /// DaemonSets.
    pub daemon_sets: Vec<DaemonSet>,
    /// ControllerRevisions: the template history of StatefulSets and DaemonSets.
    pub controller_revisions: Vec<ControllerRevision>,
    /// Kinds seen but not read (Service, Ingress...), for the record.
    pub ignored: Vec<String>,
}

/// A document that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ObjectsError {
    /// Not YAML.
    #[error("{origin}: document {doc}: {message}")]
    Yaml {
        /// The file.
        origin: String,
        /// 1-based document number.
        doc: usize,
        /// What the parser said, with line and column.
        message: String,
    },
    /// YAML, but not a valid object of its kind.
    #[error("{origin}: document {doc} ({kind} {name}): {message}")]
    Object {
        /// The file.
        origin: String,
        /// 1-based document number.
        doc: usize,
        /// Its kind.
        kind: String,
        /// Its name.
        name: String,
        /// What is wrong.
        message: String,
    },
}

impl ObjectSet {
    /// Parses multi-document YAML. `origin` names the file in errors.
    pub fn parse(yaml: &str, origin: &str) -> Result<ObjectSet, ObjectsError> {
        let mut set = ObjectSet::default();
        for (index, document) in serde_yaml_ng::Deserializer::from_str(yaml).enumerate() {
            let doc = index + 1;
            let value = Value::deserialize(document).map_err(|err| ObjectsError::Yaml {
                origin: origin.to_owned(),
                doc,
                message: err.to_string(),
            })?;
            if value.is_null() {
                continue;
            }
            set.add(value, origin, doc)?;
        }
        Ok(set)
    }

    /// Adds one object (a `List` adds its items).
    pub fn add(&mut self, value: Value, origin: &str, doc: usize) -> Result<(), ObjectsError> {
        let kind = value
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let api_version = value
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let name = value
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("<unnamed>")
            .to_owned();
        let fail = |message: String| ObjectsError::Object {
            origin: origin.to_owned(),
            doc,
            kind: kind.clone(),
            name: name.clone(),
            message,
        };
        fn typed<T: serde::de::DeserializeOwned>(value: Value) -> Result<T, String> {
            serde_json::from_value(value).map_err(|err| err.to_string())
        }
        match kind.as_str() {
            "" => return Err(fail("has no `kind`".into())),
            "List" => {
                let items = value
                    .get("items")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                for item in items {
                    self.add(item, origin, doc)?;
                }
            }
            "Pod" => self.pods.push(typed(value).map_err(fail)?),
            "ReplicaSet" => self.replica_sets.push(typed(value).map_err(fail)?),
            "Deployment" => self.deployments.push(typed(value).map_err(fail)?),
            "Node" => self.nodes.push(typed(value).map_err(fail)?),
            "Job" => self.jobs.push(typed(value).map_err(fail)?),
            "CronJob" => self.cron_jobs.push(typed(value).map_err(fail)?),
            "Event" if api_version.starts_with("events.k8s.io") => {
                let event: NewEvent = typed(value).map_err(fail)?;
                self.events.push(crate::k8s::events::from_events_v1(event));
            }
            "Event" => self.events.push(typed(value).map_err(fail)?),
            "ConfigMap" => self.config_maps.push(typed(value).map_err(fail)?),
            "Secret" => {
                let mut secret: Secret = typed(value).map_err(fail)?;
                redact_secret(&mut secret);
                self.secrets.push(secret);
            }
            "PersistentVolumeClaim" => self.claims.push(typed(value).map_err(fail)?),
            "ResourceQuota" => self.quotas.push(typed(value).map_err(fail)?),
            "LimitRange" => self.limit_ranges.push(typed(value).map_err(fail)?),
            "Namespace" => self.namespaces.push(typed(value).map_err(fail)?),
            // autoscaling/v1 has the same scaleTargetRef, bounds and replica status.
            "HorizontalPodAutoscaler" => self.autoscalers.push(typed(value).map_err(fail)?),
            "PodDisruptionBudget" => self.disruption_budgets.push(typed(value).map_err(fail)?),
            "StatefulSet" => self.stateful_sets.push(typed(value).map_err(fail)?),
            "DaemonSet" => self.daemon_sets.push(typed(value).map_err(fail)?),
            "ControllerRevision" => self.controller_revisions.push(typed(value).map_err(fail)?),
            other => self.ignored.push(format!("{other}/{name}")),
        }
        Ok(())
    }

    /// Total objects held.
    pub fn len(&self) -> usize {
        self.pods.len()
            + self.replica_sets.len()
            + self.deployments.len()
            + self.nodes.len()
            + self.jobs.len()
            + self.cron_jobs.len()
            + self.events.len()
            + self.config_maps.len()
            + self.secrets.len()
            + self.claims.len()
            + self.quotas.len()
            + self.limit_ranges.len()
            + self.namespaces.len()
            + self.autoscalers.len()
            + self.disruption_budgets.len()
            + self.stateful_sets.len()
            + self.daemon_sets.len()
            + self.controller_revisions.len()
    }

    /// Whether the set holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Keeps a Secret's keys and drops every value: nightshift never reads secret material.
pub fn redact_secret(secret: &mut Secret) {
    if let Some(data) = secret.data.as_mut() {
        for value in data.values_mut() {
            value.0.clear();
        }
    }
    if let Some(data) = secret.string_data.as_mut() {
        for value in data.values_mut() {
            value.clear();
        }
    }
}

/// Finds a namespaced object by name in a slice of k8s-openapi objects.
pub fn find<
    'a,
    T: k8s_openapi::Metadata<Ty = k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta>,
>(
    objects: &'a [T],
    namespace: Option<&str>,
    name: &str,
) -> Option<&'a T> {
    objects.iter().find(|object| {
        let meta = object.metadata();
        meta.name.as_deref() == Some(name)
            && (namespace.is_none() || meta.namespace.as_deref() == namespace)
    })
}
