//! What else controls a workload, from the API objects: a Deployment's GitOps tracking labels
//! and annotations, the HorizontalPodAutoscaler that targets it, and PodDisruptionBudgets. Pure
//! conversions into [`crate::domain::controls`] facts.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use crate::domain::controls::{
    AutoscalerFacts, DisruptionBudgetFacts, GitOpsFacts, Requirement, Selector,
};

/// The GitOps controller that reconciles `deployment`, from its labels and annotations.
pub fn gitops(deployment: &Deployment) -> Option<GitOpsFacts> {
    let meta = &deployment.metadata;
    GitOpsFacts::detect(
        &meta.labels.clone().unwrap_or_default(),
        &meta.annotations.clone().unwrap_or_default(),
    )
}

/// The autoscaler among `hpas` that scales Deployment `name` in `namespace`.
pub fn autoscaler_of(
    hpas: &[HorizontalPodAutoscaler],
    namespace: Option<&str>,
    name: &str,
) -> Option<AutoscalerFacts> {
    let hpa = hpas.iter().find(|h| {
        let target = &h.spec.scale_target_ref;
        h.metadata.namespace.as_deref() == namespace
            && target.kind == "Deployment"
            && target.name == name
    })?;
    let spec = &hpa.spec;
    let status = hpa.status.clone();
    Some(AutoscalerFacts {
        name: hpa.metadata.name.clone().unwrap_or_default(),
        min_replicas: spec.min_replicas.unwrap_or(1),
        max_replicas: spec.max_replicas,
        current_replicas: status.as_ref().and_then(|s| s.current_replicas),
        desired_replicas: status.map(|s| s.desired_replicas),
    })
}

fn selector(selector: &LabelSelector) -> Selector {
    Selector {
        match_labels: selector.match_labels.clone().unwrap_or_default(),
        expressions: selector
            .match_expressions
            .iter()
            .flatten()
            .map(|e| Requirement {
                key: e.key.clone(),
                operator: e.operator.clone(),
                values: e.values.clone().unwrap_or_default(),
            })
            .collect(),
    }
}

/// A PodDisruptionBudget as facts. Without a status (the disruption controller has not judged
/// it yet) it allows no disruption.
pub fn disruption_budget(pdb: &PodDisruptionBudget) -> DisruptionBudgetFacts {
    let spec = pdb.spec.clone().unwrap_or_default();
    let status = pdb.status.clone().unwrap_or_default();
    DisruptionBudgetFacts {
        namespace: pdb.metadata.namespace.clone().unwrap_or_default(),
        name: pdb.metadata.name.clone().unwrap_or_default(),
        selector: spec.selector.as_ref().map(selector),
        disruptions_allowed: status.disruptions_allowed.unwrap_or(0),
        current_healthy: status.current_healthy.unwrap_or(0),
        desired_healthy: status.desired_healthy.unwrap_or(0),
        expected_pods: status.expected_pods.unwrap_or(0),
        always_allow_unhealthy: spec.unhealthy_pod_eviction_policy.as_deref()
            == Some("AlwaysAllow"),
    }
}
