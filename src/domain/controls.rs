//! What else controls a workload, as facts: a GitOps controller that reconciles the Deployment
//! from Git (Argo CD, Flux), a HorizontalPodAutoscaler that owns its replica count, and the
//! PodDisruptionBudgets that protect its pods. A change made behind their back is undone within
//! minutes, or hurts; [`crate::domain::guards`] reads these facts before a plan is proposed.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A GitOps controller that reconciles a Deployment from Git.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitOpsFacts {
    /// `Argo CD` or `Flux`.
    pub tool: String,
    /// What owns the object there: the Argo CD Application, the Flux Kustomization or
    /// HelmRelease (`namespace/name` when the label says).
    pub owner: String,
    /// The label or annotation that says so, as `key=value`.
    pub marker: String,
}

/// Argo CD's tracking label when configured as `application.instanceLabelKey`, and its tracking
/// annotation (`<app>:<group>/<kind>:<namespace>/<name>`), the default since Argo CD 2.x's
/// annotation tracking. The generic `app.kubernetes.io/instance` label is not enough on its own:
/// Helm charts set it everywhere.
const ARGO_LABEL: &str = "argocd.argoproj.io/instance";
const ARGO_ANNOTATION: &str = "argocd.argoproj.io/tracking-id";
/// Flux's ownership labels, set by kustomize-controller and helm-controller.
const FLUX_LABELS: [(&str, &str, &str); 2] = [
    (
        "kustomize.toolkit.fluxcd.io/name",
        "kustomize.toolkit.fluxcd.io/namespace",
        "Kustomization",
    ),
    (
        "helm.toolkit.fluxcd.io/name",
        "helm.toolkit.fluxcd.io/namespace",
        "HelmRelease",
    ),
];

impl GitOpsFacts {
    /// The GitOps controller that manages an object, from its labels and annotations.
    pub fn detect(
        labels: &BTreeMap<String, String>,
        annotations: &BTreeMap<String, String>,
    ) -> Option<GitOpsFacts> {
        if let Some(id) = annotations.get(ARGO_ANNOTATION).filter(|v| !v.is_empty()) {
            let app = id.split(':').next().unwrap_or(id);
            return Some(GitOpsFacts {
                tool: "Argo CD".into(),
                owner: format!("Application {app}"),
                marker: format!("{ARGO_ANNOTATION}={id}"),
            });
        }
        if let Some(app) = labels.get(ARGO_LABEL).filter(|v| !v.is_empty()) {
            return Some(GitOpsFacts {
                tool: "Argo CD".into(),
                owner: format!("Application {app}"),
                marker: format!("{ARGO_LABEL}={app}"),
            });
        }
        FLUX_LABELS.iter().find_map(|(name_key, ns_key, kind)| {
            let name = labels.get(*name_key).filter(|v| !v.is_empty())?;
            let owner = match labels.get(*ns_key) {
                Some(ns) => format!("{kind} {ns}/{name}"),
                None => format!("{kind} {name}"),
            };
            Some(GitOpsFacts {
                tool: "Flux".into(),
                owner,
                marker: format!("{name_key}={name}"),
            })
        })
    }
}

/// A HorizontalPodAutoscaler that scales a Deployment.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AutoscalerFacts {
    /// Its name (same namespace as the Deployment).
    pub name: String,
    /// spec.minReplicas (1 when unset).
    pub min_replicas: i32,
    /// spec.maxReplicas.
    pub max_replicas: i32,
    /// status.currentReplicas.
    pub current_replicas: Option<i32>,
    /// status.desiredReplicas.
    pub desired_replicas: Option<i32>,
}

/// One `matchExpressions` requirement of a label selector.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Requirement {
    /// The label key.
    pub key: String,
    /// `In`, `NotIn`, `Exists`, `DoesNotExist`.
    pub operator: String,
    /// The values, for `In` and `NotIn`.
    pub values: Vec<String>,
}

/// A label selector. An empty one selects every pod of the namespace (policy/v1).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Selector {
    /// `matchLabels`.
    pub match_labels: BTreeMap<String, String>,
    /// `matchExpressions`.
    pub expressions: Vec<Requirement>,
}

impl Selector {
    /// Whether `labels` satisfy every term. An unknown operator matches nothing.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let by_labels = self
            .match_labels
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v));
        by_labels
            && self.expressions.iter().all(|r| {
                let value = labels.get(&r.key);
                match r.operator.as_str() {
                    "In" => value.is_some_and(|v| r.values.contains(v)),
                    "NotIn" => value.is_none_or(|v| !r.values.contains(v)),
                    "Exists" => value.is_some(),
                    "DoesNotExist" => value.is_none(),
                    _ => false,
                }
            })
    }
}

/// A PodDisruptionBudget and its status.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DisruptionBudgetFacts {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// The pods it protects; `None` (no selector) protects none.
    pub selector: Option<Selector>,
    /// status.disruptionsAllowed.
    pub disruptions_allowed: i32,
    /// status.currentHealthy.
    pub current_healthy: i32,
    /// status.desiredHealthy.
    pub desired_healthy: i32,
    /// status.expectedPods.
    pub expected_pods: i32,
    /// spec.unhealthyPodEvictionPolicy is `AlwaysAllow` (a pod that is not Ready may always go).
    pub always_allow_unhealthy: bool,
}

impl DisruptionBudgetFacts {
    /// Whether it protects a pod of this namespace with these labels.
    pub fn protects(&self, namespace: &str, labels: &BTreeMap<String, String>) -> bool {
        self.namespace == namespace && self.selector.as_ref().is_some_and(|s| s.matches(labels))
    }

    /// Why removing one protected pod would violate the budget, as the eviction API judges it:
    /// a Ready pod needs `disruptionsAllowed ≥ 1`; a pod that is not Ready may go while the
    /// budget is met (`IfHealthyBudget`, the default), or always (`AlwaysAllow`).
    pub fn refuses(&self, pod_ready: bool) -> Option<String> {
        if pod_ready && self.disruptions_allowed < 1 {
            return Some(format!(
                "PodDisruptionBudget {}/{} allows no disruption ({} healthy of {} desired, {} expected)",
                self.namespace,
                self.name,
                self.current_healthy,
                self.desired_healthy,
                self.expected_pods
            ));
        }
        let broken = self.current_healthy < self.desired_healthy;
        if !pod_ready && broken && !self.always_allow_unhealthy {
            return Some(format!(
                "PodDisruptionBudget {}/{} is already unmet ({} healthy of {} desired): every pod \
                 of it counts until it recovers",
                self.namespace, self.name, self.current_healthy, self.desired_healthy
            ));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::{DisruptionBudgetFacts, GitOpsFacts, Requirement, Selector};

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn argo_cd_is_recognised_by_its_tracking_annotation_or_its_instance_label() {
        let by_annotation = GitOpsFacts::detect(
            &map(&[]),
            &map(&[(
                "argocd.argoproj.io/tracking-id",
                "shop-api:apps/Deployment:shop/api",
            )]),
        )
        .expect("argo");
        assert_eq!(by_annotation.tool, "Argo CD");
        assert_eq!(by_annotation.owner, "Application shop-api");
        let by_label =
            GitOpsFacts::detect(&map(&[("argocd.argoproj.io/instance", "shop")]), &map(&[]));
        assert_eq!(by_label.map(|g| g.owner), Some("Application shop".into()));
    }

    #[test]
    fn flux_is_recognised_by_its_kustomization_or_helmrelease_labels() {
        let k = GitOpsFacts::detect(
            &map(&[
                ("kustomize.toolkit.fluxcd.io/name", "apps"),
                ("kustomize.toolkit.fluxcd.io/namespace", "flux-system"),
            ]),
            &map(&[]),
        )
        .expect("flux");
        assert_eq!(
            (k.tool.as_str(), k.owner.as_str()),
            ("Flux", "Kustomization flux-system/apps")
        );
        let h = GitOpsFacts::detect(&map(&[("helm.toolkit.fluxcd.io/name", "api")]), &map(&[]));
        assert_eq!(h.map(|g| g.owner), Some("HelmRelease api".into()));
    }

    #[test]
    fn the_generic_helm_instance_label_alone_is_not_gitops() {
        let labels = map(&[("app.kubernetes.io/instance", "api"), ("app", "api")]);
        assert_eq!(GitOpsFacts::detect(&labels, &map(&[])), None);
    }

    #[test]
    fn selectors_match_labels_and_every_expression_operator() {
        let s = Selector {
            match_labels: map(&[("app", "api")]),
            expressions: vec![
                Requirement {
                    key: "tier".into(),
                    operator: "In".into(),
                    values: vec!["web".into()],
                },
                Requirement {
                    key: "canary".into(),
                    operator: "DoesNotExist".into(),
                    values: vec![],
                },
            ],
        };
        assert!(s.matches(&map(&[("app", "api"), ("tier", "web")])));
        assert!(!s.matches(&map(&[("app", "api"), ("tier", "db")])));
        assert!(!s.matches(&map(&[("app", "api"), ("tier", "web"), ("canary", "1")])));
        assert!(Selector::default().matches(&map(&[("any", "thing")])));
    }

    #[test]
    fn a_budget_refuses_a_ready_pod_without_allowed_disruptions_and_any_pod_when_unmet() {
        let pdb = DisruptionBudgetFacts {
            namespace: "shop".into(),
            name: "api".into(),
            selector: Some(Selector::default()),
            disruptions_allowed: 0,
            current_healthy: 2,
            desired_healthy: 2,
            expected_pods: 3,
            always_allow_unhealthy: false,
        };
        assert!(pdb.refuses(true).is_some());
        assert_eq!(
            pdb.refuses(false),
            None,
            "a not-Ready pod may go while the budget is met"
        );
        let unmet = DisruptionBudgetFacts {
            current_healthy: 1,
            ..pdb.clone()
        };
        assert!(unmet.refuses(false).is_some());
        let always = DisruptionBudgetFacts {
            always_allow_unhealthy: true,
            ..unmet
        };
        assert_eq!(always.refuses(false), None);
        let room = DisruptionBudgetFacts {
            disruptions_allowed: 1,
            ..pdb
        };
        assert_eq!(room.refuses(true), None);
        assert!(
            !room.protects("other", &map(&[])),
            "budgets are per namespace"
        );
    }
}
