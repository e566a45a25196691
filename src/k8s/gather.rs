//! Evidence from a set of objects: given the object in trouble, pick what an SRE would look
//! at — the pod and its siblings, events about it and its owners, rollout history, its node,
//! quotas, claims, config it references, and its logs — each item with a stable id, bounded.

use std::collections::{BTreeMap, BTreeSet};

use crate::diagnose::reduce::reduce_log;
use crate::domain::evidence::{Evidence, Facts};
use crate::domain::playbook::EvidenceSpec;
use crate::domain::signal::ObjectRef;
use crate::k8s::events;
use crate::k8s::facts::{self, controller};
use crate::k8s::objects::{ObjectSet, find};
use k8s_openapi::api::core::v1::Pod;

/// Container logs by (pod, container, previous).
pub type LogSet = BTreeMap<(String, String, bool), String>;

/// At most this many pods besides the target.
const MAX_SIBLINGS: usize = 4;
/// At most this many events.
const MAX_EVENTS: usize = 60;
/// Logs are read for at most this many pods.
const MAX_LOGGED_PODS: usize = 2;

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

fn pod_workload_matches(pod: &Pod, set: &ObjectSet, workload: &ObjectRef) -> bool {
    workload_of_pod(pod, set).as_ref() == Some(workload)
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
        .filter(|p| {
            let spec = p.spec.as_ref();
            let related = match target.kind.as_str() {
                "Node" => spec.and_then(|s| s.node_name.as_deref()) == Some(target.name.as_str()),
                "Job" => controller(&p.metadata)
                    .is_some_and(|o| o.kind == "Job" && o.name == target.name),
                "PersistentVolumeClaim" => spec.is_some_and(|s| {
                    s.volumes.as_deref().unwrap_or_default().iter().any(|v| {
                        v.persistent_volume_claim
                            .as_ref()
                            .is_some_and(|c| c.claim_name == target.name)
                    })
                }),
                "ReplicaSet" => controller(&p.metadata).is_some_and(|o| o.name == target.name),
                _ => false,
            };
            related || workload.is_some_and(|w| pod_workload_matches(p, set, w))
        })
        .collect();
    // Unhealthy pods first, then newest.
    others.sort_by_key(|p| {
        let healthy = p
            .status
            .as_ref()
            .and_then(|s| s.container_statuses.as_ref())
            .is_some_and(|cs| cs.iter().all(|c| c.ready));
        (
            healthy,
            std::cmp::Reverse(p.metadata.creation_timestamp.as_ref().map(|t| t.0)),
        )
    });
    pods.extend(
        others
            .into_iter()
            .take(MAX_SIBLINGS + usize::from(pods.is_empty())),
    );
    pods
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
    let pods = related_pods(set, target, workload);
    // Objects whose events matter.
    let mut about: BTreeSet<(String, String)> = BTreeSet::new();
    about.insert((target.kind.clone(), target.name.clone()));
    if let Some(w) = workload {
        about.insert((w.kind.clone(), w.name.clone()));
    }
    let mut nodes: BTreeSet<String> = BTreeSet::new();
    let mut claims: BTreeSet<String> = BTreeSet::new();
    let mut config_refs: BTreeSet<(String, String)> = BTreeSet::new();
    for pod in &pods {
        let facts = facts::pod(pod, workload_of_pod(pod, set));
        about.insert(("Pod".into(), facts.name.clone()));
        if let Some(owner) = &facts.owner {
            about.insert((owner.kind.clone(), owner.name.clone()));
        }
        nodes.extend(facts.node.clone());
        claims.extend(facts.claims.iter().cloned());
        for c in facts.all_containers() {
            config_refs.extend(
                c.config_refs
                    .iter()
                    .map(|r| (r.kind.clone(), r.name.clone())),
            );
        }
        evidence.push(
            format!("pod/{}/{}", facts.namespace, facts.name),
            Facts::pod(facts),
        );
    }
    if target.kind == "Node" {
        nodes.insert(target.name.clone());
    }
    if target.kind == "PersistentVolumeClaim" {
        claims.insert(target.name.clone());
    }
    gather_workload(set, target, workload, spec, &mut evidence, &mut about);
    for name in &nodes {
        if let Some(node) = find(&set.nodes, None, name) {
            evidence.push(format!("node/{name}"), Facts::Node(facts::node(node)));
        }
        about.insert(("Node".into(), name.clone()));
    }
    for name in &claims {
        if let Some(claim) = find(&set.claims, ns, name) {
            evidence.push(
                format!("pvc/{}/{name}", ns.unwrap_or("")),
                Facts::Claim(facts::claim(claim)),
            );
        }
        about.insert(("PersistentVolumeClaim".into(), name.clone()));
    }
    for (kind, name) in &config_refs {
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
        for quota in set
            .quotas
            .iter()
            .filter(|q| q.metadata.namespace.as_deref() == Some(ns))
        {
            let q = facts::quota(quota);
            evidence.push(format!("quota/{ns}/{}", q.name), Facts::Quota(q));
        }
        for range in set
            .limit_ranges
            .iter()
            .filter(|r| r.metadata.namespace.as_deref() == Some(ns))
        {
            let r = facts::limit_range(range);
            evidence.push(format!("limitrange/{ns}/{}", r.name), Facts::LimitRange(r));
        }
    }
    gather_events(set, &about, ns, &mut evidence);
    for pod in pods.iter().take(MAX_LOGGED_PODS) {
        gather_logs(pod, spec, logs, &mut evidence);
    }
    evidence
}

fn gather_workload(
    set: &ObjectSet,
    target: &ObjectRef,
    workload: Option<&ObjectRef>,
    spec: &EvidenceSpec,
    evidence: &mut Evidence,
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
        evidence.push(
            format!("rollout/{}/{}", ns.unwrap_or(""), w.name),
            Facts::rollout(rollout),
        );
    }
    let cron = workload
        .filter(|w| w.kind == "CronJob")
        .map(|w| w.name.clone());
    for job in &set.jobs {
        let jf = facts::job(job);
        let is_target = target.kind == "Job" && jf.name == target.name;
        let same_cron = cron.is_some() && jf.owner.as_ref().map(|o| &o.name) == cron.as_ref();
        if (is_target || same_cron) && Some(jf.namespace.as_str()) == ns {
            about.insert(("Job".into(), jf.name.clone()));
            evidence.push(format!("job/{}/{}", jf.namespace, jf.name), Facts::Job(jf));
        }
    }
    if let Some(name) = cron
        && let Some(c) = find(&set.cron_jobs, ns, &name)
    {
        evidence.push(
            format!("cronjob/{}/{name}", ns.unwrap_or("")),
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
            let quota_event = e.reason.as_deref() == Some("FailedCreate")
                && same_ns
                && e.involved_object.kind.as_deref() == Some("ReplicaSet");
            (about.contains(&key) && same_ns)
                || (quota_event && about.iter().any(|(k, _)| k == "Deployment"))
        })
        .collect();
    relevant.sort_by_key(|e| std::cmp::Reverse(events::last_seen(e)));
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
