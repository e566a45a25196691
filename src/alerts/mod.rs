//! Alertmanager webhooks (payload version 4): the model, validation, and the signals and
//! evidence an alert carries. Labels decide what the alert is about (`pod`, `deployment`,
//! `node`, `job_name`...); annotations are untrusted text and only ever become evidence. Both
//! are masked ([`crate::domain::redact`]) before they reach a signal or evidence.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::domain::evidence::AlertFacts;
use crate::domain::redact;
use crate::domain::signal::{ObjectRef, Signal, SignalSource};

/// A webhook payload as Alertmanager sends it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Webhook {
    /// Payload version; nightshift speaks "4".
    pub version: String,
    /// The group key.
    #[serde(default)]
    pub group_key: String,
    /// `firing` or `resolved`.
    #[serde(default)]
    pub status: String,
    /// The receiver's name.
    #[serde(default)]
    pub receiver: String,
    /// Labels common to every alert in the group.
    #[serde(default)]
    pub common_labels: BTreeMap<String, String>,
    /// Annotations common to every alert in the group.
    #[serde(default)]
    pub common_annotations: BTreeMap<String, String>,
    /// Alertmanager's URL.
    #[serde(default, rename = "externalURL")]
    pub external_url: String,
    /// How many alerts Alertmanager left out.
    #[serde(default)]
    pub truncated_alerts: u64,
    /// The alerts.
    pub alerts: Vec<Alert>,
}

/// One alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    /// `firing` or `resolved`.
    pub status: String,
    /// Labels (`alertname`, `namespace`, `pod`...).
    pub labels: BTreeMap<String, String>,
    /// Annotations (`summary`, `description`, `runbook_url`).
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// When it started firing.
    pub starts_at: Option<Timestamp>,
    /// When it ended (year 1 while firing).
    pub ends_at: Option<Timestamp>,
    /// The Prometheus expression's URL.
    #[serde(default, rename = "generatorURL")]
    pub generator_url: String,
    /// Alertmanager's fingerprint.
    #[serde(default)]
    pub fingerprint: String,
}

/// A payload that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// Not JSON, truncated, or the wrong shape.
    #[error("alert payload is not a valid Alertmanager webhook: {0}")]
    Json(#[from] serde_json::Error),
    /// A version nightshift does not speak.
    #[error("alert payload version {0:?} is not supported (expected \"4\")")]
    Version(String),
    /// An alert without `alertname`.
    #[error("alert {0} has no `alertname` label")]
    NoName(usize),
}

impl Webhook {
    /// Parses and validates a payload.
    pub fn parse(bytes: &[u8]) -> Result<Webhook, WebhookError> {
        let hook: Webhook = serde_json::from_slice(bytes)?;
        hook.validate()?;
        Ok(hook)
    }

    /// Checks what the types cannot: the version and every alert's `alertname`.
    pub fn validate(&self) -> Result<(), WebhookError> {
        if self.version != "4" {
            return Err(WebhookError::Version(self.version.clone()));
        }
        if let Some(index) = self
            .alerts
            .iter()
            .position(|a| !a.labels.contains_key("alertname"))
        {
            return Err(WebhookError::NoName(index));
        }
        Ok(())
    }
}

impl Alert {
    /// `alertname`.
    pub fn name(&self) -> &str {
        self.labels.get("alertname").map_or("", String::as_str)
    }

    /// What the alert is about, from its labels. Object labels (`job_name`, `deployment`,
    /// `node` on node alerts...) win over `pod`: for kube-state-metrics series that describe a
    /// Job or a Node, `pod` names the exporter that scraped them, not the subject. That is read
    /// from the labels' structure, whatever the alert is called: a `pod` that is the scrape
    /// target itself (its name extends the target's `service`, or its `container` is the scrape
    /// `job`) is the exporter; with `honor_labels` off the subject is in `exported_pod` /
    /// `exported_namespace`, which then win.
    pub fn target(&self) -> ObjectRef {
        let label = |k: &str| self.labels.get(k).filter(|v| !v.is_empty()).cloned();
        let namespace = label("exported_namespace").or_else(|| label("namespace"));
        let namespaced = |kind: &str, name: String| ObjectRef {
            kind: kind.into(),
            namespace: namespace.clone(),
            name,
        };
        let node_alert = self.name().contains("Node") || self.name().starts_with("Kubelet");
        let exported = label("exported_pod");
        let scraped = label("pod").is_some_and(|pod| {
            let is_job = label("container").is_some_and(|c| label("job").as_ref() == Some(&c));
            let extends_service =
                label("service").is_some_and(|svc| pod.starts_with(&format!("{svc}-")));
            is_job || extends_service
        });
        let exporter_pod = exported.is_none() && scraped;
        if (node_alert || exporter_pod)
            && let Some(node) = label("node")
        {
            return ObjectRef::cluster("Node", &node);
        }
        let objects = [
            ("job_name", "Job"),
            ("cronjob", "CronJob"),
            ("deployment", "Deployment"),
            ("statefulset", "StatefulSet"),
            ("daemonset", "DaemonSet"),
            ("replicaset", "ReplicaSet"),
            ("persistentvolumeclaim", "PersistentVolumeClaim"),
            // KubeQuotaExceeded / KubeQuotaFullyUsed / KubeQuotaAlmostFull (kube-state-metrics).
            ("resourcequota", "ResourceQuota"),
        ];
        if let Some((kind, name)) = objects.iter().find_map(|(l, k)| label(l).map(|n| (*k, n))) {
            return namespaced(kind, name);
        }
        if let Some(pod) = exported.or_else(|| label("pod")) {
            return namespaced("Pod", pod);
        }
        if let Some(node) = label("node") {
            return ObjectRef::cluster("Node", &node);
        }
        namespaced("Alert", self.name().to_owned())
    }

    /// The alert as a signal.
    pub fn signal(&self, now: Timestamp) -> Signal {
        let target = self.target();
        let workload = (target.kind == "Deployment").then(|| target.clone());
        let message = self
            .annotations
            .get("summary")
            .or_else(|| self.annotations.get("description"))
            .or_else(|| self.annotations.get("message"));
        let mut signal = Signal {
            source: SignalSource::Alert,
            target,
            workload,
            reason: self.name().to_owned(),
            container: self.labels.get("container").cloned(),
            container_state: None,
            labels: self.labels.clone(),
            alertname: Some(self.name().to_owned()),
            message: message.cloned(),
            observed_at: now,
        };
        redact::signal(&mut signal);
        signal
    }

    /// The alert as evidence (masked when pushed into [`crate::domain::evidence::Evidence`]).
    pub fn facts(&self) -> AlertFacts {
        AlertFacts {
            alertname: self.name().to_owned(),
            status: self.status.clone(),
            labels: self.labels.clone(),
            annotations: self.annotations.clone(),
            starts_at: self.starts_at,
        }
    }

    /// The evidence id of this alert.
    pub fn evidence_id(&self) -> String {
        let key = if self.fingerprint.is_empty() {
            self.target().name
        } else {
            self.fingerprint.clone()
        };
        format!("alert/{}/{key}", self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::{Webhook, WebhookError};
    use crate::domain::signal::ObjectRef;

    const PAYLOAD: &str = r#"{"version":"4","groupKey":"{}:{alertname=\"KubePodCrashLooping\"}","status":"firing",
      "receiver":"nightshift","groupLabels":{},"commonLabels":{},"commonAnnotations":{},"externalURL":"http://am:9093",
      "alerts":[{"status":"firing","labels":{"alertname":"KubePodCrashLooping","namespace":"shop","pod":"api-1","container":"api"},
      "annotations":{"summary":"Pod is crash looping."},"startsAt":"2026-11-20T02:00:00Z","endsAt":"0001-01-01T00:00:00Z",
      "generatorURL":"http://prom/graph","fingerprint":"abc123"}]}"#;

    #[test]
    fn a_kube_prometheus_alert_targets_the_pod_its_labels_name() {
        let hook = Webhook::parse(PAYLOAD.as_bytes()).expect("valid");
        let alert = &hook.alerts[0];
        assert_eq!(alert.target().to_string(), "Pod/shop/api-1");
        assert_eq!(alert.evidence_id(), "alert/KubePodCrashLooping/abc123");
        let signal = alert.signal(jiff::Timestamp::UNIX_EPOCH);
        assert_eq!(signal.alertname.as_deref(), Some("KubePodCrashLooping"));
        assert_eq!(signal.container.as_deref(), Some("api"));
    }

    #[test]
    fn node_and_job_alerts_target_their_object_not_the_exporter_pod() {
        let node = PAYLOAD.replace(
            r#""alertname":"KubePodCrashLooping","namespace":"shop","pod":"api-1","container":"api""#,
            r#""alertname":"KubeNodeNotReady","namespace":"monitoring","pod":"kube-state-metrics-0","node":"worker-3""#,
        );
        let hook = Webhook::parse(node.as_bytes()).expect("valid");
        assert_eq!(hook.alerts[0].target().to_string(), "Node/worker-3");
        let job = PAYLOAD.replace(r#""container":"api""#, r#""job_name":"migrate-42""#);
        let hook = Webhook::parse(job.as_bytes()).expect("valid");
        assert_eq!(hook.alerts[0].target().to_string(), "Job/shop/migrate-42");
    }

    #[test]
    fn the_exporter_pod_is_recognised_by_its_labels_not_by_the_alert_name() {
        // A node condition under a team's own alert name, scraped from kube-state-metrics by
        // the Prometheus Operator: `pod`, `service`, `container` and `job` name the exporter.
        let renamed = PAYLOAD.replace(
            r#""alertname":"KubePodCrashLooping","namespace":"shop","pod":"api-1","container":"api""#,
            r#""alertname":"TeamServiceUnhappy","namespace":"monitoring","pod":"kps-kube-state-metrics-6c7b9d8f5-4xq2m","container":"kube-state-metrics","job":"kube-state-metrics","service":"kps-kube-state-metrics","node":"worker-3","condition":"MemoryPressure""#,
        );
        let hook = Webhook::parse(renamed.as_bytes()).expect("valid");
        assert_eq!(hook.alerts[0].target().to_string(), "Node/worker-3");
        // The same exporter reporting a pod it describes (honor_labels on): the subject pod's
        // own labels replace the target's, and the pod is the subject even with a node label.
        let subject = PAYLOAD.replace(
            r#""container":"api""#,
            r#""container":"api","job":"kube-state-metrics","service":"kps-kube-state-metrics","node":"worker-3""#,
        );
        let hook = Webhook::parse(subject.as_bytes()).expect("valid");
        assert_eq!(hook.alerts[0].target().to_string(), "Pod/shop/api-1");
        // honor_labels off: the subject is in exported_pod / exported_namespace.
        let exported = PAYLOAD.replace(
            r#""namespace":"shop","pod":"api-1","container":"api""#,
            r#""namespace":"monitoring","pod":"kube-state-metrics-0","exported_namespace":"shop","exported_pod":"api-1","container":"kube-state-metrics","job":"kube-state-metrics","node":"worker-3""#,
        );
        let hook = Webhook::parse(exported.as_bytes()).expect("valid");
        assert_eq!(hook.alerts[0].target().to_string(), "Pod/shop/api-1");
    }

    #[test]
    fn a_quota_alert_targets_the_resourcequota_its_labels_name() {
        let quota = PAYLOAD.replace(
            r#""alertname":"KubePodCrashLooping","namespace":"shop","pod":"api-1","container":"api""#,
            r#""alertname":"KubeQuotaExceeded","namespace":"shop","pod":"kube-state-metrics-0","resource":"requests.memory","resourcequota":"compute""#,
        );
        let hook = Webhook::parse(quota.as_bytes()).expect("valid");
        assert_eq!(
            hook.alerts[0].target(),
            ObjectRef::namespaced("ResourceQuota", "shop", "compute")
        );
    }

    #[test]
    fn a_truncated_payload_is_refused_with_the_parser_position() {
        let cut = &PAYLOAD[..PAYLOAD.len() / 2];
        let err = Webhook::parse(cut.as_bytes()).expect_err("truncated");
        assert!(matches!(err, WebhookError::Json(_)));
        assert!(err.to_string().contains("line"), "{err}");
    }

    #[test]
    fn an_unsupported_version_or_a_nameless_alert_is_refused() {
        let v3 = PAYLOAD.replace(r#""version":"4""#, r#""version":"3""#);
        assert!(matches!(
            Webhook::parse(v3.as_bytes()),
            Err(WebhookError::Version(_))
        ));
        let nameless = PAYLOAD.replace(r#""alertname":"KubePodCrashLooping","#, "");
        assert!(matches!(
            Webhook::parse(nameless.as_bytes()),
            Err(WebhookError::NoName(0))
        ));
    }
}
