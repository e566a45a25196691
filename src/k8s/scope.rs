//! What evidence about an incident covers, computed from a set of objects: the pods that concern
//! the target (bounded), the objects whose events matter, and the nodes, claims and config the
//! pods reference. Pure: [`crate::k8s::gather`] picks evidence with it, and the live gatherer
//! (`k8s::collect`) uses it to decide what else to fetch, so both read the same things.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::Pod;

use crate::domain::playbook::EvidenceSpec;
use crate::domain::signal::ObjectRef;
use crate::k8s::facts::{self, controller};
use crate::k8s::gather::workload_of_pod;
use crate::k8s::objects::{ObjectSet, find};

/// At most this many pods besides the target.
pub const MAX_SIBLINGS: usize = 4;
/// Logs are read for at most this many pods: the first in scope order that have any.
pub const MAX_LOGGED_PODS: usize = 2;
/// At most this many nodes are weighed as places for a Pending pod to go.
pub const MAX_CANDIDATE_NODES: usize = 100;
/// At most this many pods bound to nodes are read to learn what the nodes have left.
pub const MAX_BOUND_PODS: u32 = 1000;

/// What the evidence about one target covers.
#[derive(Debug, Clone, Default)]
pub struct Scope<'a> {
    /// The target pod first (when the target is a pod), then related pods, unhealthy and newest
    /// first, bounded.
    pub pods: Vec<&'a Pod>,
    /// `(kind, name)` of every object whose events matter.
    pub about: BTreeSet<(String, String)>,
    /// Nodes the pods run on (or the target node).
    pub nodes: BTreeSet<String>,
    /// PersistentVolumeClaims the pods mount (or the target claim).
    pub claims: BTreeSet<String>,
    /// `(kind, name)` of ConfigMaps and Secrets the pods reference.
    pub config_refs: BTreeSet<(String, String)>,
    /// Whether a pod in scope waits for a node (Pending, not bound): then every node is a
    /// place it might go, and the gatherer weighs them (at most [`MAX_CANDIDATE_NODES`]).
    pub placing: bool,
    /// The nodes of the set weighed for it, besides [`Scope::nodes`], by name.
    pub candidate_nodes: BTreeSet<String>,
}

/// Whether a pod waits for the scheduler: Pending, bound to no node, not being deleted.
pub fn waits_for_node(pod: &Pod) -> bool {
    let pending = pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Pending");
    let bound = pod
        .spec
        .as_ref()
        .and_then(|s| s.node_name.as_ref())
        .is_some();
    pending && !bound && pod.metadata.deletion_timestamp.is_none()
}

/// The scope of the evidence about `target` in `set`.
pub fn scope<'a>(
    set: &'a ObjectSet,
    target: &ObjectRef,
    workload: Option<&ObjectRef>,
    spec: &EvidenceSpec,
) -> Scope<'a> {
    let mut scope = Scope {
        pods: related_pods(set, target, workload),
        ..Scope::default()
    };
    scope
        .about
        .insert((target.kind.clone(), target.name.clone()));
    if let Some(w) = workload {
        scope.about.insert((w.kind.clone(), w.name.clone()));
    }
    for pod in &scope.pods {
        let facts = facts::pod(pod, None);
        scope.about.insert(("Pod".into(), facts.name.clone()));
        if let Some(owner) = &facts.owner {
            scope.about.insert((owner.kind.clone(), owner.name.clone()));
        }
        scope.nodes.extend(facts.node.clone());
        scope.claims.extend(facts.claims.iter().cloned());
        for c in facts.all_containers() {
            let refs = c.config_refs.iter();
            scope
                .config_refs
                .extend(refs.map(|r| (r.kind.clone(), r.name.clone())));
        }
    }
    if target.kind == "Node" {
        scope.nodes.insert(target.name.clone());
    }
    if target.kind == "PersistentVolumeClaim" {
        scope.claims.insert(target.name.clone());
    }
    for name in &scope.nodes {
        scope.about.insert(("Node".into(), name.clone()));
    }
    for name in &scope.claims {
        scope
            .about
            .insert(("PersistentVolumeClaim".into(), name.clone()));
    }
    add_workload_objects(set, target, workload, spec, &mut scope.about);
    scope.placing = scope.pods.iter().any(|p| waits_for_node(p));
    if scope.placing {
        let mut names: Vec<String> = set
            .nodes
            .iter()
            .filter_map(|n| n.metadata.name.clone())
            .filter(|n| !scope.nodes.contains(n))
            .collect();
        names.sort();
        names.truncate(MAX_CANDIDATE_NODES);
        scope.candidate_nodes = names.into_iter().collect();
    }
    scope
}

/// The ReplicaSet revisions of a target Deployment and the Jobs of a target Job or CronJob.
fn add_workload_objects(
    set: &ObjectSet,
    target: &ObjectRef,
    workload: Option<&ObjectRef>,
    spec: &EvidenceSpec,
    about: &mut BTreeSet<(String, String)>,
) {
    let ns = target.namespace.as_deref();
    if let Some(w) = workload.filter(|w| w.kind == "Deployment")
        && let Some(d) = find(&set.deployments, ns, &w.name)
    {
        let rollout = facts::rollout(d, &set.replica_sets, spec.rollout_history);
        for r in &rollout.revisions {
            about.insert(("ReplicaSet".into(), r.replica_set.clone()));
        }
    }
    for job in &set.jobs {
        let jf = facts::job(job);
        if is_gathered_job(&jf, target, workload) {
            about.insert(("Job".into(), jf.name.clone()));
        }
    }
}

/// Whether a Job belongs in the evidence: it is the target, or a run of the target's CronJob.
pub fn is_gathered_job(
    job: &crate::domain::evidence::JobFacts,
    target: &ObjectRef,
    workload: Option<&ObjectRef>,
) -> bool {
    let cron = workload.filter(|w| w.kind == "CronJob").map(|w| &w.name);
    let is_target = target.kind == "Job" && job.name == target.name;
    let same_cron = cron.is_some() && job.owner.as_ref().map(|o| &o.name) == cron;
    (is_target || same_cron) && Some(job.namespace.as_str()) == target.namespace.as_deref()
}

/// The pods that concern `target`: the target itself first, then pods of the same workload,
/// pods owned by a target Job, pods on a target Node, or pods mounting a target claim.
fn related_pods<'a>(
    set: &'a ObjectSet,
    target: &ObjectRef,
    workload: Option<&ObjectRef>,
) -> Vec<&'a Pod> {
    let ns = target.namespace.as_deref();
    let mut pods: Vec<&Pod> = Vec::new();
    if target.kind == "Pod"
        && let Some(p) = find(&set.pods, ns, &target.name)
    {
        pods.push(p);
    }
    let mut others: Vec<&Pod> = set
        .pods
        .iter()
        .filter(|p| !pods.iter().any(|q| std::ptr::eq(*q, *p)))
        .filter(|p| related(p, target) || workload.is_some_and(|w| pod_workload_matches(p, set, w)))
        .collect();
    // Unhealthy pods first, then newest, then by name (whatever order they were listed in).
    others.sort_by_key(|p| {
        let healthy = p
            .status
            .as_ref()
            .and_then(|s| s.container_statuses.as_ref())
            .is_some_and(|cs| cs.iter().all(|c| c.ready));
        (
            healthy,
            std::cmp::Reverse(p.metadata.creation_timestamp.as_ref().map(|t| t.0)),
            p.metadata.name.clone(),
        )
    });
    pods.extend(
        others
            .into_iter()
            .take(MAX_SIBLINGS + usize::from(pods.is_empty())),
    );
    pods
}

fn related(pod: &Pod, target: &ObjectRef) -> bool {
    let spec = pod.spec.as_ref();
    match target.kind.as_str() {
        "Node" => spec.and_then(|s| s.node_name.as_deref()) == Some(target.name.as_str()),
        "Job" => {
            controller(&pod.metadata).is_some_and(|o| o.kind == "Job" && o.name == target.name)
        }
        "PersistentVolumeClaim" => spec.is_some_and(|s| {
            s.volumes.as_deref().unwrap_or_default().iter().any(|v| {
                v.persistent_volume_claim
                    .as_ref()
                    .is_some_and(|c| c.claim_name == target.name)
            })
        }),
        "ReplicaSet" => controller(&pod.metadata).is_some_and(|o| o.name == target.name),
        _ => false,
    }
}

fn pod_workload_matches(pod: &Pod, set: &ObjectSet, workload: &ObjectRef) -> bool {
    workload_of_pod(pod, set).as_ref() == Some(workload)
}

#[cfg(test)]
mod tests {
    use super::scope;
    use crate::domain::playbook::EvidenceSpec;
    use crate::domain::signal::ObjectRef;
    use crate::k8s::objects::ObjectSet;

    const OBJECTS: &str = r#"
apiVersion: v1
kind: Pod
metadata:
  name: api-2-x
  namespace: shop
  labels: {pod-template-hash: "2"}
  ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: api-2, uid: rs-2, controller: true}]
spec:
  nodeName: worker-1
  containers:
  - name: api
    image: shop/api:v2
    envFrom: [{configMapRef: {name: api-env}}, {secretRef: {name: api-secrets}}]
  volumes: [{name: data, persistentVolumeClaim: {claimName: data}}]
---
apiVersion: v1
kind: Pod
metadata:
  name: other
  namespace: shop
spec: {containers: [{name: x, image: x}]}
"#;

    #[test]
    fn a_pods_scope_covers_its_owner_node_claims_and_config_but_not_unrelated_pods() {
        let set = ObjectSet::parse(OBJECTS, "test").expect("objects");
        let target = ObjectRef::namespaced("Pod", "shop", "api-2-x");
        let workload = ObjectRef::namespaced("Deployment", "shop", "api");
        let scope = scope(&set, &target, Some(&workload), &EvidenceSpec::default());
        let names: Vec<_> = scope.pods.iter().map(|p| p.metadata.name.clone()).collect();
        assert_eq!(names, vec![Some("api-2-x".to_owned())]);
        let about: Vec<_> = scope
            .about
            .iter()
            .map(|(k, n)| format!("{k}/{n}"))
            .collect();
        assert_eq!(
            about,
            vec![
                "Deployment/api",
                "Node/worker-1",
                "PersistentVolumeClaim/data",
                "Pod/api-2-x",
                "ReplicaSet/api-2"
            ]
        );
        let refs: Vec<_> = scope
            .config_refs
            .iter()
            .map(|(k, n)| format!("{k}/{n}"))
            .collect();
        assert_eq!(refs, vec!["ConfigMap/api-env", "Secret/api-secrets"]);
    }
}
