//! The order of a gathering, most telling first so a timeout costs the least: the target and
//! its owner chain, rollout history and sibling pods; then, from what the pure
//! [`scope`](crate::k8s::scope) says the evidence covers, events, logs, nodes, claims and
//! ConfigMaps, and the namespace's quotas and limit ranges; last, what else controls the
//! workload (a HorizontalPodAutoscaler of a Deployment, PodDisruptionBudgets).

use k8s_openapi::api::apps::v1::{
    ControllerRevision, DaemonSet, Deployment, ReplicaSet, StatefulSet,
};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{
    ConfigMap, Event, LimitRange, Node, PersistentVolumeClaim, Pod, ResourceQuota,
};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::api::ListParams;
use kube::core::Selector;

use super::fetch::{Fetch, upsert};
use super::logs;
use crate::domain::playbook::EvidenceSpec;
use crate::k8s::facts::controller;
use crate::k8s::gather::{NODE_EVENTS_NAMESPACE, workload_of};
use crate::k8s::objects::find;
use crate::k8s::scope::{MAX_BOUND_PODS, MAX_CANDIDATE_NODES, scope};

/// Runs every step; stops early only when the caller's timeout drops it.
pub(super) async fn run(f: &mut Fetch, spec: &EvidenceSpec) {
    f.stage = "the target";
    let target = f.target.clone();
    ensure(f, &target.kind, &target.name).await;
    f.stage = "owners";
    owners(f).await;
    f.stage = "rollout history";
    history(f).await;
    f.stage = "pods";
    pods(f).await;
    f.stage = "nodes a Pending pod might go to";
    placement(f, spec).await;
    let needs = Needs::of(f, spec);
    f.stage = "events";
    for (kind, name) in &needs.about {
        events(f, kind, name).await;
    }
    if f.target.kind == "ResourceQuota" {
        refused_creations(f).await;
    }
    f.stage = "logs";
    logs::read(f, &needs.logged, spec).await;
    f.stage = "nodes, claims and config";
    for (kind, names) in [
        ("Node", &needs.nodes),
        ("PersistentVolumeClaim", &needs.claims),
        ("ConfigMap", &needs.config_maps),
    ] {
        for name in names {
            ensure(f, kind, name).await;
        }
    }
    f.stage = "quotas and limit ranges";
    namespace_limits(f).await;
    f.stage = "autoscalers and disruption budgets";
    controls(f).await;
    f.stage = "done";
}

/// What the evidence will cover, from the objects fetched so far.
struct Needs {
    about: Vec<(String, String)>,
    /// The pods in scope order; logs are read from the first that have them.
    logged: Vec<Pod>,
    nodes: Vec<String>,
    claims: Vec<String>,
    /// ConfigMaps only: Secrets are never read, not even by name.
    config_maps: Vec<String>,
}

impl Needs {
    fn of(f: &Fetch, spec: &EvidenceSpec) -> Needs {
        let scope = scope(&f.set, &f.target, f.workload.as_ref(), spec);
        Needs {
            about: scope.about.iter().cloned().collect(),
            logged: scope.pods.iter().map(|p| (*p).clone()).collect(),
            nodes: scope.nodes.iter().cloned().collect(),
            claims: scope.claims.iter().cloned().collect(),
            config_maps: scope
                .config_refs
                .iter()
                .filter(|(kind, _)| kind == "ConfigMap")
                .map(|(_, name)| name.clone())
                .collect(),
        }
    }
}

/// Fetches one object of a kind the gatherer reads, in the target's namespace, unless the set
/// already holds it.
async fn ensure(f: &mut Fetch, kind: &str, name: &str) {
    let ns = f.namespace();
    let nsr = ns.as_deref();
    macro_rules! namespaced {
        ($ty:ty, $field:ident) => {{
            let Some(ns) = nsr else { return };
            if find(&f.set.$field, Some(ns), name).is_none() {
                let api = f.namespaced::<$ty>(ns);
                if let Some(object) = f.get(api, name).await {
                    upsert(&mut f.set.$field, object);
                }
            }
        }};
    }
    match kind {
        "Pod" => namespaced!(Pod, pods),
        "ReplicaSet" => namespaced!(ReplicaSet, replica_sets),
        "Deployment" => namespaced!(Deployment, deployments),
        "StatefulSet" => namespaced!(StatefulSet, stateful_sets),
        "DaemonSet" => namespaced!(DaemonSet, daemon_sets),
        "Job" => namespaced!(Job, jobs),
        "CronJob" => namespaced!(CronJob, cron_jobs),
        "PersistentVolumeClaim" => namespaced!(PersistentVolumeClaim, claims),
        "ConfigMap" => namespaced!(ConfigMap, config_maps),
        "Node" if find(&f.set.nodes, None, name).is_none() => {
            let api = f.cluster::<Node>();
            if let Some(node) = f.get(api, name).await {
                upsert(&mut f.set.nodes, node);
            }
        }
        _ => {}
    }
}

/// Follows controller references up from the target (Pod → ReplicaSet | Job, ReplicaSet →
/// Deployment, Job → CronJob), then resolves and fetches the workload.
async fn owners(f: &mut Fetch) {
    let ns = f.namespace();
    let ns = ns.as_deref();
    let pod_owner = (f.target.kind == "Pod")
        .then(|| find(&f.set.pods, ns, &f.target.name))
        .flatten()
        .and_then(|p| controller(&p.metadata))
        .map(|o| (o.kind.clone(), o.name.clone()));
    if let Some((kind, name)) = pod_owner.filter(|(k, _)| k == "ReplicaSet" || k == "Job") {
        ensure(f, &kind, &name).await;
    }
    let up: Vec<(String, String)> = f
        .set
        .replica_sets
        .iter()
        .map(|rs| &rs.metadata)
        .chain(f.set.jobs.iter().map(|j| &j.metadata))
        .filter_map(controller)
        .filter(|o| o.kind == "Deployment" || o.kind == "CronJob")
        .map(|o| (o.kind.clone(), o.name.clone()))
        .collect();
    for (kind, name) in up {
        ensure(f, &kind, &name).await;
    }
    if f.workload.is_none() {
        f.workload = workload_of(&f.set, &f.target);
    }
    if let Some(w) = f.workload.clone() {
        ensure(f, &w.kind, &w.name).await;
    }
}

fn selector_of(selector: &LabelSelector) -> Option<String> {
    Selector::try_from(selector.clone())
        .ok()
        .filter(|s| !s.selects_all())
        .map(|s| s.to_string())
}

/// A Deployment's ReplicaSets or a StatefulSet's or DaemonSet's ControllerRevisions (rollout
/// history, by the workload's selector, kept when it controls them), or a CronJob's Jobs (its
/// recent runs).
async fn history(f: &mut Fetch) {
    let (Some(ns), Some(w)) = (f.namespace(), f.workload.clone()) else {
        return;
    };
    let limit = f.limits.max_history;
    match w.kind.as_str() {
        "Deployment" => {
            let selector = find(&f.set.deployments, Some(&ns), &w.name)
                .and_then(|d| selector_of(&d.spec.selector));
            let Some(selector) = selector else { return };
            let params = ListParams::default().labels(&selector).limit(limit);
            for rs in f.list(f.namespaced::<ReplicaSet>(&ns), params).await {
                upsert(&mut f.set.replica_sets, rs);
            }
        }
        "StatefulSet" | "DaemonSet" => {
            let selector = match w.kind.as_str() {
                "StatefulSet" => find(&f.set.stateful_sets, Some(&ns), &w.name)
                    .and_then(|s| selector_of(&s.spec.selector)),
                _ => find(&f.set.daemon_sets, Some(&ns), &w.name)
                    .and_then(|d| selector_of(&d.spec.selector)),
            };
            let Some(selector) = selector else { return };
            let params = ListParams::default().labels(&selector).limit(limit);
            let api = f.namespaced::<ControllerRevision>(&ns);
            for revision in f.list(api, params).await {
                let owned = controller(&revision.metadata)
                    .is_some_and(|o| o.kind == w.kind && o.name == w.name);
                if owned {
                    upsert(&mut f.set.controller_revisions, revision);
                }
            }
        }
        "CronJob" => {
            let params = ListParams::default().limit(limit);
            for job in f.list(f.namespaced::<Job>(&ns), params).await {
                let owned = controller(&job.metadata)
                    .is_some_and(|o| o.kind == "CronJob" && o.name == w.name);
                if owned {
                    upsert(&mut f.set.jobs, job);
                }
            }
        }
        _ => {}
    }
}

/// The pods that may concern the target: its workload's (by label selector), those on a target
/// node, or those of the namespace for a target claim; each list bounded.
async fn pods(f: &mut Fetch) {
    let ns = f.namespace();
    let limit = ListParams::default().limit(f.limits.max_pods);
    let (api, params) = match (f.target.kind.as_str(), ns) {
        ("Node", _) => {
            let field = format!("spec.nodeName={}", f.target.name);
            (f.cluster::<Pod>(), limit.fields(&field))
        }
        ("PersistentVolumeClaim", Some(ns)) => (f.namespaced::<Pod>(&ns), limit),
        (_, Some(ns)) => match owner_selector(f, &ns) {
            Some(selector) => (f.namespaced::<Pod>(&ns), limit.labels(&selector)),
            None => return,
        },
        (_, None) => return,
    };
    for pod in f.list(api, params).await {
        upsert(&mut f.set.pods, pod);
    }
}

/// For a pod waiting for a node: the nodes (bounded), and the pods bound to nodes (bounded), so
/// the diagnoser can weigh the pod's requests, selector, affinity and tolerations against what
/// each node has left, as the scheduler does.
async fn placement(f: &mut Fetch, spec: &EvidenceSpec) {
    if !scope(&f.set, &f.target, f.workload.as_ref(), spec).placing {
        return;
    }
    let params = ListParams::default().limit(MAX_CANDIDATE_NODES as u32);
    for node in f.list(f.cluster::<Node>(), params).await {
        upsert(&mut f.set.nodes, node);
    }
    let bound = "spec.nodeName!=,status.phase!=Succeeded,status.phase!=Failed";
    let params = ListParams::default().fields(bound).limit(MAX_BOUND_PODS);
    for pod in f.list(f.cluster::<Pod>(), params).await {
        upsert(&mut f.set.pods, pod);
    }
}

/// Labels that differ between pods of one StatefulSet or DaemonSet.
const PER_POD_LABELS: &[&str] = &[
    "statefulset.kubernetes.io/pod-name",
    "apps.kubernetes.io/pod-index",
    "controller-revision-hash",
    "pod-template-generation",
    "pod-template-hash",
];

/// The pod selector of the target Job, else of the workload (Deployment, ReplicaSet, Job,
/// StatefulSet, DaemonSet); for a workload that could not be read, the target pod's labels
/// without those that differ per pod. The pure gatherer keeps only pods of the same owner.
fn owner_selector(f: &Fetch, ns: &str) -> Option<String> {
    let set = &f.set;
    let job = |name: &str| {
        find(&set.jobs, Some(ns), name)?
            .spec
            .as_ref()?
            .selector
            .clone()
    };
    if f.target.kind == "Job" {
        return job(&f.target.name).as_ref().and_then(selector_of);
    }
    let w = f.workload.as_ref()?;
    let selector = match w.kind.as_str() {
        "Deployment" => Some(
            find(&set.deployments, Some(ns), &w.name)?
                .spec
                .selector
                .clone(),
        ),
        "ReplicaSet" => Some(
            find(&set.replica_sets, Some(ns), &w.name)?
                .spec
                .selector
                .clone(),
        ),
        "Job" => job(&w.name),
        "StatefulSet" if find(&set.stateful_sets, Some(ns), &w.name).is_some() => Some(
            find(&set.stateful_sets, Some(ns), &w.name)?
                .spec
                .selector
                .clone(),
        ),
        "DaemonSet" if find(&set.daemon_sets, Some(ns), &w.name).is_some() => Some(
            find(&set.daemon_sets, Some(ns), &w.name)?
                .spec
                .selector
                .clone(),
        ),
        _ if f.target.kind == "Pod" => {
            let pod = find(&set.pods, Some(ns), &f.target.name)?;
            let labels = pod.metadata.labels.clone().unwrap_or_default();
            let shared = labels
                .into_iter()
                .filter(|(k, _)| !PER_POD_LABELS.contains(&k.as_str()));
            Some(LabelSelector {
                match_labels: Some(shared.collect()),
                match_expressions: None,
            })
        }
        _ => None,
    };
    selector.as_ref().and_then(selector_of)
}

/// Events about one object (`core/v1`, by `fieldSelector`, bounded). Events about a Node are
/// recorded in `default` whatever namespace the incident is in; one about a Node anywhere else
/// is forged, so only `default` is asked.
async fn events(f: &mut Fetch, kind: &str, name: &str) {
    let field = format!("involvedObject.kind={kind},involvedObject.name={name}");
    let params = ListParams::default()
        .fields(&field)
        .limit(f.limits.max_events_per_object);
    let api = match f.namespace() {
        _ if kind == "Node" => f.namespaced::<Event>(NODE_EVENTS_NAMESPACE),
        Some(ns) => f.namespaced::<Event>(&ns),
        None => f.cluster::<Event>(),
    };
    for event in f.list(api, params).await {
        upsert(&mut f.set.events, event);
    }
}

/// For a target ResourceQuota (a quota alert): the namespace's `FailedCreate` events, by
/// `fieldSelector`, bounded; the pure gatherer keeps those that name the quota, which say what
/// workloads it blocks.
async fn refused_creations(f: &mut Fetch) {
    let Some(ns) = f.namespace() else { return };
    let params = ListParams::default()
        .fields("reason=FailedCreate")
        .limit(f.limits.max_events_per_object);
    for event in f.list(f.namespaced::<Event>(&ns), params).await {
        upsert(&mut f.set.events, event);
    }
}

/// The namespace's ResourceQuotas and LimitRanges.
async fn namespace_limits(f: &mut Fetch) {
    let Some(ns) = f.namespace() else { return };
    let params = ListParams::default().limit(f.limits.max_namespace_objects);
    for quota in f
        .list(f.namespaced::<ResourceQuota>(&ns), params.clone())
        .await
    {
        upsert(&mut f.set.quotas, quota);
    }
    for range in f.list(f.namespaced::<LimitRange>(&ns), params).await {
        upsert(&mut f.set.limit_ranges, range);
    }
}

/// The namespace's HorizontalPodAutoscalers when the workload is a Deployment (one may own its
/// replica count), and its PodDisruptionBudgets (they may forbid deleting a pod). Both bounded;
/// the pure gatherer keeps only those that concern the incident.
async fn controls(f: &mut Fetch) {
    let Some(ns) = f.namespace() else { return };
    let params = ListParams::default().limit(f.limits.max_namespace_objects);
    if f.workload.as_ref().is_some_and(|w| w.kind == "Deployment") {
        let api = f.namespaced::<HorizontalPodAutoscaler>(&ns);
        for hpa in f.list(api, params.clone()).await {
            upsert(&mut f.set.autoscalers, hpa);
        }
    }
    let api = f.namespaced::<PodDisruptionBudget>(&ns);
    for pdb in f.list(api, params).await {
        upsert(&mut f.set.disruption_budgets, pdb);
    }
}
