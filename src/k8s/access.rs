//! The Kubernetes API calls each component makes, declared as data. `deploy/rbac.yaml` must grant
//! exactly their union (tests/rbac_role.rs), and each component's contract tests check that every
//! request it makes is in its declaration and that every declared access is exercised.
//!
//! Secrets appear in no declaration: nightshift never reads them, not even by name.

/// One RBAC permission: a verb on a resource (or `resource/subresource`) of an API group
/// (`""` is the core group).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ApiAccess {
    /// The API group: `""` (core), `apps`, `batch`.
    pub group: &'static str,
    /// The resource, or `resource/subresource` (`pods/log`, `deployments/scale`).
    pub resource: &'static str,
    /// The verb as RBAC names it: `get`, `list`, `watch`, `patch`, `delete`.
    pub verb: &'static str,
}

const fn access(group: &'static str, resource: &'static str, verb: &'static str) -> ApiAccess {
    ApiAccess {
        group,
        resource,
        verb,
    }
}

/// The executor (`k8s::execute`): the catalog actions.
pub const EXECUTOR: &[ApiAccess] = &[
    // deployment.rollback reads the Deployment and lists its ReplicaSets; rollback, restart and
    // set_resources patch it.
    access("apps", "deployments", "get"),
    access("apps", "deployments", "patch"),
    access("apps", "replicasets", "list"),
    // deployment.scale.
    access("apps", "deployments/scale", "patch"),
    // pod.delete.
    access("", "pods", "delete"),
    // node.cordon / node.uncordon; node policy reads the whole pool right before.
    access("", "nodes", "patch"),
    access("", "nodes", "list"),
    // cronjob.suspend.
    access("batch", "cronjobs", "patch"),
    // After a restart, whether an action claimed before it was applied (`Executor::observe`):
    // the pod of pod.delete, the node of node.cordon, the CronJob of cronjob.suspend.
    access("", "pods", "get"),
    access("", "nodes", "get"),
    access("batch", "cronjobs", "get"),
];

/// The live gatherer (`k8s::collect`): the incident's objects, their owners, events and logs.
pub const GATHERER: &[ApiAccess] = &[
    // The target pod, and pods of its workload (by label selector, bounded).
    access("", "pods", "get"),
    access("", "pods", "list"),
    // Current and previous container logs, bounded by tailLines and limitBytes.
    access("", "pods/log", "get"),
    // Owner chain and rollout history.
    access("apps", "replicasets", "get"),
    access("apps", "replicasets", "list"),
    access("apps", "deployments", "get"),
    access("batch", "jobs", "get"),
    access("batch", "jobs", "list"),
    access("batch", "cronjobs", "get"),
    // A StatefulSet's or DaemonSet's rollout history: the workload, and its ControllerRevisions
    // by the workload's selector.
    access("apps", "statefulsets", "get"),
    access("apps", "daemonsets", "get"),
    access("apps", "controllerrevisions", "list"),
    // Events about each object, by fieldSelector.
    access("", "events", "list"),
    // The node a pod runs on (or the target node).
    access("", "nodes", "get"),
    // For a pod waiting for a node: the nodes it might go to (bounded); the pods bound to
    // nodes are listed with `pods list`, by fieldSelector, bounded.
    access("", "nodes", "list"),
    // Claims and ConfigMaps the pod references, by name.
    access("", "persistentvolumeclaims", "get"),
    access("", "configmaps", "get"),
    // What limits the namespace.
    access("", "resourcequotas", "list"),
    access("", "limitranges", "list"),
    // What else controls the workload: an HPA that owns a Deployment's replica count, the
    // PodDisruptionBudgets that protect its pods.
    access("autoscaling", "horizontalpodautoscalers", "list"),
    access("policy", "poddisruptionbudgets", "list"),
];

/// The verifier (`k8s::verify`): re-reads what its checks judge.
pub const VERIFIER: &[ApiAccess] = &[
    // rollout-complete, and the selector of the Deployment whose pods are checked.
    access("apps", "deployments", "get"),
    // pods-ready and no-new-restarts: the workload's pods, or the target pod.
    access("", "pods", "list"),
    access("", "pods", "get"),
    // condition-cleared re-runs the detector on the incident's target.
    access("apps", "replicasets", "get"),
    access("batch", "jobs", "get"),
    access("", "persistentvolumeclaims", "get"),
    // node-cordoned (and condition-cleared on a node).
    access("", "nodes", "get"),
    // cronjob-suspended.
    access("batch", "cronjobs", "get"),
];

/// The kube-runtime watchers that turn cluster state into signals.
pub const WATCHERS: &[ApiAccess] = &[
    access("", "pods", "list"),
    access("", "pods", "watch"),
    access("", "events", "list"),
    access("", "events", "watch"),
    access("", "nodes", "list"),
    access("", "nodes", "watch"),
    access("apps", "deployments", "list"),
    access("apps", "deployments", "watch"),
    access("apps", "statefulsets", "list"),
    access("apps", "statefulsets", "watch"),
    access("apps", "daemonsets", "list"),
    access("apps", "daemonsets", "watch"),
    access("apps", "replicasets", "list"),
    access("apps", "replicasets", "watch"),
    access("batch", "jobs", "list"),
    access("batch", "jobs", "watch"),
    access("", "persistentvolumeclaims", "list"),
    access("", "persistentvolumeclaims", "watch"),
    // A signal's workload, named before it is fingerprinted, when the caches do not know it
    // yet: the pod's owner chain (an Event can come before the pod watcher's first list), or,
    // for a pod already deleted, the ReplicaSet or Job its name points to, confirmed by reading
    // it.
    access("", "pods", "get"),
    access("apps", "replicasets", "get"),
    access("batch", "jobs", "get"),
];

/// The event recorder (`telemetry::events`): a Kubernetes Event (events.k8s.io/v1) on every
/// object the executor acts on, in that object's namespace; a repeat of the same Event within
/// its series is a patch. Namespaced mutations: granted only by the per-namespace role.
pub const EVENTS: &[ApiAccess] = &[
    access("events.k8s.io", "events", "create"),
    access("events.k8s.io", "events", "patch"),
];

/// Every component and its declaration.
pub const COMPONENTS: &[(&str, &[ApiAccess])] = &[
    ("executor", EXECUTOR),
    ("events", EVENTS),
    ("gatherer", GATHERER),
    ("verifier", VERIFIER),
    ("watchers", WATCHERS),
];

/// The union of every component's declaration, sorted, without duplicates.
pub fn union() -> Vec<ApiAccess> {
    let mut all: Vec<ApiAccess> = COMPONENTS
        .iter()
        .flat_map(|(_, accesses)| accesses.iter().copied())
        .collect();
    all.sort();
    all.dedup();
    all
}

/// The components that declare `access`.
pub fn users(access: &ApiAccess) -> Vec<&'static str> {
    COMPONENTS
        .iter()
        .filter(|(_, accesses)| accesses.contains(access))
        .map(|(name, _)| *name)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{COMPONENTS, union, users};

    #[test]
    fn no_component_declares_secrets_or_wildcards() {
        for (name, accesses) in COMPONENTS {
            for a in *accesses {
                assert!(!a.resource.starts_with("secrets"), "{name} declares {a:?}");
                let words = [a.group, a.resource, a.verb];
                assert!(!words.iter().any(|w| w.contains('*')), "{name}: {a:?}");
            }
        }
    }

    #[test]
    fn no_component_declares_the_same_access_twice() {
        for (name, accesses) in COMPONENTS {
            let mut sorted = accesses.to_vec();
            sorted.sort();
            sorted.dedup();
            assert_eq!(sorted.len(), accesses.len(), "{name} repeats an access");
        }
    }

    #[test]
    fn the_union_names_who_uses_each_access() {
        for access in union() {
            assert!(!users(&access).is_empty());
        }
        let pods_list = union()
            .into_iter()
            .find(|a| a.resource == "pods" && a.verb == "list")
            .map(|a| users(&a));
        assert_eq!(
            pods_list,
            Some(vec!["gatherer", "verifier", "watchers"]),
            "shared accesses are declared by each user"
        );
    }
}
