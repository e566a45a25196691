//! Evidence from a set of objects: given the object in trouble, pick what an SRE would look
//! at — the pod and its siblings, events about it and its owners, rollout history, its node,
//! quotas, claims, config it references, and its logs — each item with a stable id, bounded.

use std::collections::{BTreeMap, BTreeSet};

use crate::diagnose::reduce::reduce_log;
use crate::domain::evidence::{Evidence, Facts};
use crate::domain::playbook::EvidenceSpec;
use crate::domain::signal::ObjectRef;
use crate::k8s::controls;
use crate::k8s::events;
use crate::k8s::facts::{self, controller};
use crate::k8s::objects::{ObjectSet, find};
use crate::k8s::scope::{MAX_LOGGED_PODS, is_gathered_job, scope};
use k8s_openapi::api::core::v1::Pod;

/// Container logs by (pod, container, previous).
pub type LogSet = BTreeMap<(String, String, bool), String>;

/// At most this many events.
pub const MAX_EVENTS: usize = 60;

/// Where the kubelet and the node controller record Events about Nodes.
pub const NODE_EVENTS_NAMESPACE: &str = "default";

/// The top-level workload that owns a pod: ReplicaSet → Deployment, Job → CronJob, or the
/// direct owner (StatefulSet, DaemonSet).
pub fn workload_of_pod(pod: &Pod, set: &ObjectSet) -> Option<ObjectRef> {
    let meta = &pod.metadata;
    let owner = controller(meta)?;
    let namespace = meta.namespace.as_deref();
    match owner.kind.as_str() {
        "ReplicaSet" => {
            let rs = find(&set.replica_sets, namespace, &owner.name);
            let deployment = rs
                .and_then(|rs| controller(&rs.metadata))
                .map(|o| o.name.clone())
                .or_else(|| {
                    // Without the ReplicaSet, the Deployment name is its name minus the hash.
                    let hash = meta.labels.as_ref()?.get("pod-template-hash")?;
                    owner
                        .name
                        .strip_suffix(&format!("-{hash}"))
                        .map(str::to_owned)
                });
            Some(match deployment {
                Some(name) => ObjectRef {
                    kind: "Deployment".into(),
                    namespace: meta.namespace.clone(),
                    name,
                },
                None => ObjectRef {
                    kind: "ReplicaSet".into(),
                    namespace: meta.namespace.clone(),
                    name: owner.name.clone(),
                },
            })
        }
        "Job" => {
            let job = find(&set.jobs, namespace, &owner.name);
            Some(workload_of_job(
                job.map(|j| &j.metadata),
                namespace,
                &owner.name,
            ))
        }
        kind => Some(ObjectRef {
            kind: kind.to_owned(),
            namespace: meta.namespace.clone(),
            name: owner.name.clone(),
        }),
    }
}

/// Resolves the workload of an object in the set.
pub fn workload_of(objects: &ObjectSet, target: &ObjectRef) -> Option<ObjectRef> {
    let ns = target.namespace.as_deref();
    match target.kind.as_str() {
        "Pod" => find(&objects.pods, ns, &target.name).and_then(|p| workload_of_pod(p, objects)),
        "Job" => Some(workload_of_job(
            find(&objects.jobs, ns, &target.name).map(|j| &j.metadata),
            ns,
            &target.name,
        )),
        "ReplicaSet" => find(&objects.replica_sets, ns, &target.name)
            .and_then(|rs| facts::controller(&rs.metadata))
            .map(|o| ObjectRef {
                kind: o.kind.clone(),
                namespace: target.namespace.clone(),
                name: o.name.clone(),
            }),
        "Deployment" | "CronJob" | "StatefulSet" | "DaemonSet" => Some(target.clone()),
        _ => None,
    }
}

/// The CronJob that owns a Job, or the Job itself.
pub fn workload_of_job(
    meta: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta>,
    namespace: Option<&str>,
    name: &str,
) -> ObjectRef {
    match meta.and_then(controller).filter(|o| o.kind == "CronJob") {
        Some(owner) => ObjectRef {
            kind: "CronJob".into(),
            namespace: namespace.map(str::to_owned),
            name: owner.name.clone(),
        },
        None => ObjectRef {
            kind: "Job".into(),
            namespace: namespace.map(str::to_owned),
            name: name.to_owned(),
        },
    }
}

/// Gathers the evidence about `target` from `set` and `logs`, bounded by `spec`.
pub fn gather(
    set: &ObjectSet,
    target: &ObjectRef,
    workload: Option<&ObjectRef>,
    spec: &EvidenceSpec,
    logs: &LogSet,
) -> Evidence {
    let mut evidence = Evidence::default();
    let ns = target.namespace.as_deref();
    let scope = scope(set, target, workload, spec);
    for pod in &scope.pods {
        let facts = facts::pod(pod, workload_of_pod(pod, set));
        evidence.push(
            format!("pod/{}/{}", facts.namespace, facts.name),
            Facts::pod(facts),
        );
    }
    gather_workload(set, target, workload, spec, &mut evidence);
    for name in &scope.nodes {
        if let Some(node) = find(&set.nodes, None, name) {
            let mut facts = facts::node(node);
            if scope.placing {
                facts::add_usage(&mut facts, &set.pods);
            }
            evidence.push(format!("node/{name}"), Facts::Node(facts));
        }
    }
    // Where a Pending pod might go: each node with what the pods bound to it already request.
    for name in &scope.candidate_nodes {
        if let Some(node) = find(&set.nodes, None, name) {
            let mut facts = facts::node(node);
            facts.candidate = true;
            facts::add_usage(&mut facts, &set.pods);
            evidence.push(format!("node/{name}"), Facts::Node(facts));
        }
    }
    for name in &scope.claims {
        if let Some(claim) = find(&set.claims, ns, name) {
            evidence.push(
                format!("pvc/{}/{name}", ns.unwrap_or("")),
                Facts::Claim(facts::claim(claim)),
            );
        }
    }
    for (kind, name) in &scope.config_refs {
        let found = match kind.as_str() {
            "ConfigMap" => find(&set.config_maps, ns, name).map(facts::config_map),
            _ => find(&set.secrets, ns, name).map(facts::secret),
        };
        if let Some(config) = found {
            evidence.push(
                format!("{}/{}/{name}", kind.to_lowercase(), ns.unwrap_or("")),
                Facts::Config(config),
            );
        }
    }
    if let Some(ns) = ns {
        gather_namespace(set, ns, &mut evidence);
    }
    gather_budgets(set, &scope.pods, &mut evidence);
    gather_events(set, &scope.about, ns, &mut evidence);
    for pod in pods_with_logs(&scope.pods, logs) {
        gather_logs(pod, spec, logs, &mut evidence);
    }
    evidence
}

/// The pods whose logs become evidence: the first [`MAX_LOGGED_PODS`] in scope order that have
/// any log at hand. The live gatherer reads logs in the same order and stops at the same count,
/// so both pick the same pods; a pod with no log yet (Pending, never started) gives way to the
/// next rather than leaving the evidence without logs.
fn pods_with_logs<'a>(pods: &[&'a Pod], logs: &LogSet) -> Vec<&'a Pod> {
    let has_logs = |pod: &Pod| {
        pod.metadata
            .name
            .as_deref()
            .is_some_and(|name| logs.keys().any(|(p, _, _)| p == name))
    };
    pods.iter()
        .copied()
        .filter(|p| has_logs(p))
        .take(MAX_LOGGED_PODS)
        .collect()
}

/// The namespace's quotas and limit ranges, by name (whatever order they were listed in).
fn gather_namespace(set: &ObjectSet, ns: &str, evidence: &mut Evidence) {
    let in_ns = |meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta| {
        meta.namespace.as_deref() == Some(ns)
    };
    let mut quotas: Vec<_> = set
        .quotas
        .iter()
        .filter(|q| in_ns(&q.metadata))
        .map(facts::quota)
        .collect();
    quotas.sort_by(|a, b| a.name.cmp(&b.name));
    for q in quotas {
        evidence.push(format!("quota/{ns}/{}", q.name), Facts::Quota(q));
    }
    let mut ranges: Vec<_> = set
        .limit_ranges
        .iter()
        .filter(|r| in_ns(&r.metadata))
        .map(facts::limit_range)
        .collect();
    ranges.sort_by(|a, b| a.name.cmp(&b.name));
    for r in ranges {
        evidence.push(format!("limitrange/{ns}/{}", r.name), Facts::LimitRange(r));
    }
}

/// The PodDisruptionBudgets that protect a pod in evidence, by namespace and name.
fn gather_budgets(set: &ObjectSet, pods: &[&Pod], evidence: &mut Evidence) {
    let mut budgets: Vec<_> = set
        .disruption_budgets
        .iter()
        .map(controls::disruption_budget)
        .filter(|b| {
            pods.iter().any(|p| {
                let meta = &p.metadata;
                let labels = meta.labels.clone().unwrap_or_default();
                b.protects(meta.namespace.as_deref().unwrap_or_default(), &labels)
            })
        })
        .collect();
    budgets.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    for b in budgets {
        let id = format!("pdb/{}/{}", b.namespace, b.name);
        evidence.push(id, Facts::DisruptionBudget(b));
    }
}

fn gather_workload(
    set: &ObjectSet,
    target: &ObjectRef,
    workload: Option<&ObjectRef>,
    spec: &EvidenceSpec,
    evidence: &mut Evidence,
) {
    let ns = target.namespace.as_deref();
    if let Some(w) = workload.filter(|w| w.kind == "Deployment")
        && let Some(d) = find(&set.deployments, ns, &w.name)
    {
        let mut rollout = facts::rollout(d, &set.replica_sets, spec.rollout_history);
        rollout.autoscaler = controls::autoscaler_of(&set.autoscalers, ns, &w.name);
        evidence.push(
            format!("rollout/{}/{}", ns.unwrap_or(""), w.name),
            Facts::rollout(rollout),
        );
    }
    if let Some(w) = workload.filter(|w| w.kind == "StatefulSet" || w.kind == "DaemonSet") {
        let revisions = &set.controller_revisions;
        let history = spec.rollout_history;
        let rollout = match w.kind.as_str() {
            "StatefulSet" => find(&set.stateful_sets, ns, &w.name)
                .map(|s| facts::stateful_set_rollout(s, revisions, &set.pods, history)),
            _ => find(&set.daemon_sets, ns, &w.name)
                .map(|d| facts::daemon_set_rollout(d, revisions, &set.pods, history)),
        };
        if let Some(rollout) = rollout {
            evidence.push(
                format!("rollout/{}/{}", ns.unwrap_or(""), w.name),
                Facts::rollout(rollout),
            );
        }
    }
    // The target Job first, then the CronJob's other runs by name.
    let mut jobs: Vec<_> = set
        .jobs
        .iter()
        .map(facts::job)
        .filter(|jf| is_gathered_job(jf, target, workload))
        .collect();
    jobs.sort_by_key(|j| {
        (
            !(target.kind == "Job" && j.name == target.name),
            j.name.clone(),
        )
    });
    for jf in jobs {
        evidence.push(format!("job/{}/{}", jf.namespace, jf.name), Facts::Job(jf));
    }
    if let Some(w) = workload.filter(|w| w.kind == "CronJob")
        && let Some(c) = find(&set.cron_jobs, ns, &w.name)
    {
        evidence.push(
            format!("cronjob/{}/{}", ns.unwrap_or(""), w.name),
            Facts::CronJob(facts::cron_job(c)),
        );
    }
}

fn gather_events(
    set: &ObjectSet,
    about: &BTreeSet<(String, String)>,
    ns: Option<&str>,
    evidence: &mut Evidence,
) {
    let mut relevant: Vec<_> = set
        .events
        .iter()
        .filter(|e| {
            let o = &e.involved_object;
            let key = (
                o.kind.clone().unwrap_or_default(),
                o.name.clone().unwrap_or_default(),
            );
            let same_ns = ns.is_none() || o.namespace.is_none() || o.namespace.as_deref() == ns;
            // Events about a Node are recorded in `default`; one anywhere else was written by
            // someone who may create Events there, not by the kubelet or a controller.
            if o.kind.as_deref() == Some("Node")
                && e.metadata.namespace.as_deref() != Some(NODE_EVENTS_NAMESPACE)
            {
                return false;
            }
            let failed_create = e.reason.as_deref() == Some("FailedCreate") && same_ns;
            let quota_event =
                failed_create && e.involved_object.kind.as_deref() == Some("ReplicaSet");
            (about.contains(&key) && same_ns)
                || (quota_event && about.iter().any(|(k, _)| k == "Deployment"))
                || (failed_create && refused_by_a_quota_in(about, &e.message))
        })
        .collect();
    // Newest first, ties by name, so the order never depends on how the events were listed.
    relevant.sort_by(|a, b| {
        let key =
            |e: &k8s_openapi::api::core::v1::Event| (events::last_seen(e), e.metadata.name.clone());
        key(b).cmp(&key(a))
    });
    relevant.truncate(MAX_EVENTS);
    relevant.reverse();
    for (i, e) in relevant.into_iter().enumerate() {
        let name = e
            .metadata
            .name
            .clone()
            .unwrap_or_else(|| format!("event-{i}"));
        let id = format!(
            "event/{}/{name}",
            e.metadata.namespace.as_deref().unwrap_or("")
        );
        if !evidence.contains(&id) {
            evidence.push(id, Facts::Event(events::facts(e)));
        }
    }
}

/// Whether a controller's `FailedCreate` message says a ResourceQuota the evidence is about
/// refused the pod (`... is forbidden: exceeded quota: compute, requested: ...`): for an alert
/// about a quota, the workloads it blocks.
fn refused_by_a_quota_in(about: &BTreeSet<(String, String)>, message: &Option<String>) -> bool {
    let Some(message) = message.as_deref() else {
        return false;
    };
    about.iter().any(|(kind, name)| {
        kind == "ResourceQuota" && message.contains(&format!("exceeded quota: {name},"))
    })
}

fn gather_logs(pod: &Pod, spec: &EvidenceSpec, logs: &LogSet, evidence: &mut Evidence) {
    let name = pod.metadata.name.clone().unwrap_or_default();
    let namespace = pod.metadata.namespace.clone().unwrap_or_default();
    let containers = pod.spec.as_ref().map(|s| {
        s.init_containers
            .iter()
            .flatten()
            .chain(s.containers.iter())
            .map(|c| c.name.clone())
            .collect::<Vec<_>>()
    });
    for container in containers.unwrap_or_default() {
        for previous in [true, false] {
            if previous && !spec.previous_logs {
                continue;
            }
            let Some(text) = logs.get(&(name.clone(), container.clone(), previous)) else {
                continue;
            };
            let log = reduce_log(
                &namespace,
                &name,
                &container,
                previous,
                text,
                spec.log_tail_lines,
                spec.log_max_bytes,
            );
            let suffix = if previous { "/previous" } else { "" };
            evidence.push(format!("log/{name}/{container}{suffix}"), Facts::Log(log));
        }
    }
}
