//! Kubernetes objects → domain facts. Pure conversions: no client, no clock. Env values and
//! command lines are masked as they are read; every other free-text field is masked when the
//! facts become evidence ([`crate::domain::evidence::Evidence::push`]).

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{
    ControllerRevision, DaemonSet, Deployment, ReplicaSet, StatefulSet,
};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{
    ConfigMap, Container, ContainerState as K8sState, ContainerStatus, LimitRange, Node,
    PersistentVolumeClaim, Pod, PodSpec, PodTemplateSpec, Probe, ResourceQuota, Secret,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

use crate::domain::evidence::{
    ClaimFacts, ConditionFacts, ConfigFacts, ConfigRef, ContainerFacts, ContainerState,
    CronJobFacts, JobFacts, LimitRangeFacts, NodeFacts, PodFacts, QuotaFacts, RevisionFacts,
    RolloutFacts, TemplateContainer,
};
use crate::domain::quantity::{parse_cpu, parse_memory};
use crate::domain::redact;
use crate::domain::scheduling::{NodeRequirement, Toleration, amount};
use crate::domain::signal::ObjectRef;

/// Every Kubernetes condition type (`PodCondition`, `NodeCondition`, `JobCondition`,
/// `StatefulSetCondition`, ...) has the same fields as a different type: one mapping for all.
macro_rules! condition_facts {
    ($conditions:expr) => {
        $conditions
            .unwrap_or_default()
            .into_iter()
            .map(|c| ConditionFacts {
                kind: text(c.type_),
                status: text(c.status),
                reason: c.reason,
                message: c.message,
                since: c.last_transition_time.map(|t| t.0),
            })
            .collect()
    };
}

/// A condition field some API versions make optional, as text.
fn text(field: impl Into<Option<String>>) -> String {
    field.into().unwrap_or_default()
}

/// The controlling owner reference, if any.
pub fn controller(meta: &ObjectMeta) -> Option<&OwnerReference> {
    let owners = meta.owner_references.as_deref().unwrap_or_default();
    owners
        .iter()
        .find(|o| o.controller == Some(true))
        .or_else(|| owners.first())
}

fn owner_ref(meta: &ObjectMeta) -> Option<ObjectRef> {
    controller(meta).map(|o| ObjectRef {
        kind: o.kind.clone(),
        namespace: meta.namespace.clone(),
        name: o.name.clone(),
    })
}

fn name(meta: &ObjectMeta) -> String {
    meta.name.clone().unwrap_or_default()
}

fn namespace(meta: &ObjectMeta) -> String {
    meta.namespace.clone().unwrap_or_default()
}

fn state(state: Option<&K8sState>) -> Option<ContainerState> {
    let state = state?;
    if let Some(w) = &state.waiting {
        return Some(ContainerState::Waiting {
            reason: w.reason.clone(),
            message: w.message.clone(),
        });
    }
    if let Some(t) = &state.terminated {
        return Some(ContainerState::Terminated {
            reason: t.reason.clone(),
            exit_code: t.exit_code,
            signal: t.signal,
            message: t.message.clone(),
            started_at: t.started_at.as_ref().map(|s| s.0),
            finished_at: t.finished_at.as_ref().map(|s| s.0),
        });
    }
    state.running.as_ref().map(|r| ContainerState::Running {
        started_at: r.started_at.as_ref().map(|s| s.0),
    })
}

/// A short description of a probe (`http GET :8080/healthz delay=10s period=5s fail=3`).
pub fn describe_probe(probe: &Probe) -> String {
    let port = |p: &k8s_openapi::apimachinery::pkg::util::intstr::IntOrString| match p {
        k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(n) => n.to_string(),
        k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String(s) => s.clone(),
    };
    let how = if let Some(http) = &probe.http_get {
        format!(
            "http GET :{}{}",
            port(&http.port),
            http.path.as_deref().unwrap_or("/")
        )
    } else if let Some(tcp) = &probe.tcp_socket {
        format!("tcp :{}", port(&tcp.port))
    } else if let Some(exec) = &probe.exec {
        format!(
            "exec {}",
            redact::text(&exec.command.as_deref().unwrap_or_default().join(" "))
        )
    } else if let Some(grpc) = &probe.grpc {
        format!("grpc :{}", grpc.port)
    } else {
        "unknown".to_owned()
    };
    format!(
        "{how} delay={}s period={}s timeout={}s fail={}",
        probe.initial_delay_seconds.unwrap_or(0),
        probe.period_seconds.unwrap_or(10),
        probe.timeout_seconds.unwrap_or(1),
        probe.failure_threshold.unwrap_or(3)
    )
}

fn probes(c: &Container) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (kind, probe) in [
        ("liveness", &c.liveness_probe),
        ("readiness", &c.readiness_probe),
        ("startup", &c.startup_probe),
    ] {
        if let Some(p) = probe {
            out.insert(kind.to_owned(), describe_probe(p));
        }
    }
    out
}

fn limit(c: &Container, key: &str) -> Option<String> {
    c.resources
        .as_ref()?
        .limits
        .as_ref()?
        .get(key)
        .map(|q| q.0.clone())
}

fn request(c: &Container, key: &str) -> Option<String> {
    c.resources
        .as_ref()?
        .requests
        .as_ref()?
        .get(key)
        .map(|q| q.0.clone())
}

fn config_refs(c: &Container) -> Vec<ConfigRef> {
    let mut refs = Vec::new();
    for env in c.env.as_deref().unwrap_or_default() {
        let Some(from) = &env.value_from else {
            continue;
        };
        if let Some(k) = &from.config_map_key_ref {
            refs.push(ConfigRef {
                kind: "ConfigMap".into(),
                name: k.name.clone(),
                key: Some(k.key.clone()),
                optional: k.optional.unwrap_or(false),
            });
        }
        if let Some(k) = &from.secret_key_ref {
            refs.push(ConfigRef {
                kind: "Secret".into(),
                name: k.name.clone(),
                key: Some(k.key.clone()),
                optional: k.optional.unwrap_or(false),
            });
        }
    }
    for from in c.env_from.as_deref().unwrap_or_default() {
        if let Some(cm) = &from.config_map_ref {
            refs.push(ConfigRef {
                kind: "ConfigMap".into(),
                name: cm.name.clone(),
                key: None,
                optional: cm.optional.unwrap_or(false),
            });
        }
        if let Some(s) = &from.secret_ref {
            refs.push(ConfigRef {
                kind: "Secret".into(),
                name: s.name.clone(),
                key: None,
                optional: s.optional.unwrap_or(false),
            });
        }
    }
    refs
}

fn container_facts(c: &Container, status: Option<&ContainerStatus>) -> ContainerFacts {
    ContainerFacts {
        name: c.name.clone(),
        image: c.image.clone().unwrap_or_default(),
        ready: status.is_some_and(|s| s.ready),
        restart_count: status.map_or(0, |s| s.restart_count),
        state: status.and_then(|s| state(s.state.as_ref())),
        last_state: status.and_then(|s| state(s.last_state.as_ref())),
        memory_limit: limit(c, "memory").as_deref().and_then(parse_memory),
        memory_request: request(c, "memory").as_deref().and_then(parse_memory),
        cpu_limit: limit(c, "cpu").as_deref().and_then(parse_cpu),
        env: c
            .env
            .as_deref()
            .unwrap_or_default()
            .iter()
            .map(|e| e.name.clone())
            .collect(),
        config_refs: config_refs(c),
        probes: probes(c),
    }
}

fn volume_refs(spec: &PodSpec) -> (Vec<String>, Vec<ConfigRef>) {
    let mut claims = Vec::new();
    let mut refs = Vec::new();
    for v in spec.volumes.as_deref().unwrap_or_default() {
        if let Some(pvc) = &v.persistent_volume_claim {
            claims.push(pvc.claim_name.clone());
        }
        if let Some(cm) = &v.config_map {
            refs.push(ConfigRef {
                kind: "ConfigMap".into(),
                name: cm.name.clone(),
                key: None,
                optional: cm.optional.unwrap_or(false),
            });
        }
        if let Some(s) = &v.secret {
            refs.push(ConfigRef {
                kind: "Secret".into(),
                name: s.secret_name.clone().unwrap_or_default(),
                key: None,
                optional: s.optional.unwrap_or(false),
            });
        }
    }
    (claims, refs)
}

/// A pod as facts. `workload` is the resolved top-level owner, when known.
pub fn pod(pod: &Pod, workload: Option<ObjectRef>) -> PodFacts {
    let meta = &pod.metadata;
    let spec = pod.spec.clone().unwrap_or_default();
    let status = pod.status.clone().unwrap_or_default();
    let statuses = status.container_statuses.unwrap_or_default();
    let init_statuses = status.init_container_statuses.unwrap_or_default();
    let (claims, volume_refs) = volume_refs(&spec);
    let find = |list: &[ContainerStatus], name: &str| list.iter().find(|s| s.name == name).cloned();
    let mut containers: Vec<ContainerFacts> = spec
        .containers
        .iter()
        .map(|c| container_facts(c, find(&statuses, &c.name).as_ref()))
        .collect();
    if let Some(first) = containers.first_mut() {
        first.config_refs.extend(volume_refs);
    }
    PodFacts {
        namespace: namespace(meta),
        name: name(meta),
        phase: status.phase,
        reason: status.reason,
        message: status.message,
        node: spec.node_name.clone(),
        owner: owner_ref(meta),
        workload,
        // A StatefulSet's or DaemonSet's pods name their ControllerRevision instead.
        template_hash: meta.labels.as_ref().and_then(|l| {
            l.get("pod-template-hash")
                .or_else(|| l.get("controller-revision-hash"))
                .cloned()
        }),
        created_at: meta.creation_timestamp.as_ref().map(|t| t.0),
        terminating: meta.deletion_timestamp.is_some(),
        conditions: condition_facts!(status.conditions),
        containers,
        init_containers: spec
            .init_containers
            .as_deref()
            .unwrap_or_default()
            .iter()
            .map(|c| container_facts(c, find(&init_statuses, &c.name).as_ref()))
            .collect(),
        service_account: spec.service_account_name.clone(),
        claims,
        image_pull_secrets: spec
            .image_pull_secrets
            .as_deref()
            .unwrap_or_default()
            .iter()
            .map(|s| s.name.clone())
            .collect(),
        node_selector: spec
            .node_selector
            .clone()
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect(),
        labels: meta.labels.clone().unwrap_or_default(),
        requests: pod_requests(&spec),
        tolerations: tolerations(&spec),
        node_affinity: required_node_affinity(&spec),
    }
}

/// One container's requests (its limits where it requests nothing, as the apiserver defaults
/// them), normalised by [`amount`].
fn container_requests(c: &Container) -> BTreeMap<String, u64> {
    let resources = c.resources.clone().unwrap_or_default();
    let mut out: BTreeMap<String, u64> = BTreeMap::new();
    for (source, overwrite) in [(resources.limits, false), (resources.requests, true)] {
        for (name, q) in source.unwrap_or_default() {
            if let Some(v) = amount(&name, &q.0)
                && (overwrite || !out.contains_key(&name))
            {
                out.insert(name, v);
            }
        }
    }
    out
}

/// What the scheduler reserves for a pod: the app containers' requests summed, each resource
/// at least the largest init container's, plus the pod overhead.
pub fn pod_requests(spec: &PodSpec) -> BTreeMap<String, u64> {
    let mut total: BTreeMap<String, u64> = BTreeMap::new();
    for c in &spec.containers {
        for (name, v) in container_requests(c) {
            *total.entry(name).or_default() += v;
        }
    }
    for c in spec.init_containers.as_deref().unwrap_or_default() {
        for (name, v) in container_requests(c) {
            let entry = total.entry(name).or_default();
            *entry = (*entry).max(v);
        }
    }
    for (name, q) in spec.overhead.clone().unwrap_or_default() {
        if let Some(v) = amount(&name, &q.0) {
            *total.entry(name).or_default() += v;
        }
    }
    total
}

fn tolerations(spec: &PodSpec) -> Vec<Toleration> {
    spec.tolerations
        .as_deref()
        .unwrap_or_default()
        .iter()
        .map(|t| Toleration {
            key: t.key.clone().unwrap_or_default(),
            operator: t.operator.clone().unwrap_or_else(|| "Equal".into()),
            value: t.value.clone().unwrap_or_default(),
            effect: t.effect.clone().unwrap_or_default(),
        })
        .collect()
}

fn required_node_affinity(spec: &PodSpec) -> Vec<Vec<NodeRequirement>> {
    let Some(required) = spec
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|n| {
            n.required_during_scheduling_ignored_during_execution
                .as_ref()
        })
    else {
        return Vec::new();
    };
    required
        .node_selector_terms
        .iter()
        .map(|term| {
            let exprs = term.match_expressions.iter().flatten();
            let fields = term.match_fields.iter().flatten();
            exprs
                .chain(fields)
                .map(|r| NodeRequirement {
                    key: r.key.clone(),
                    operator: r.operator.clone(),
                    values: r.values.clone().unwrap_or_default(),
                })
                .collect()
        })
        .collect()
}

/// Adds to `node` what the pods bound to it request, counting those not finished.
pub fn add_usage(node: &mut NodeFacts, pods: &[Pod]) {
    for pod in pods {
        let Some(spec) = &pod.spec else { continue };
        let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
        if spec.node_name.as_deref() != Some(node.name.as_str())
            || matches!(phase, Some("Succeeded" | "Failed"))
        {
            continue;
        }
        for (name, v) in pod_requests(spec) {
            *node.requested.entry(name).or_default() += v;
        }
        node.pods_counted += 1;
    }
    if node.pods_counted > 0 {
        node.requested
            .insert("pods".into(), u64::from(node.pods_counted));
    }
}

fn template_containers(
    template: Option<&PodTemplateSpec>,
) -> (Vec<TemplateContainer>, BTreeMap<String, String>) {
    let Some(spec) = template.and_then(|t| t.spec.as_ref()) else {
        return (Vec::new(), BTreeMap::new());
    };
    let containers = spec
        .containers
        .iter()
        .map(|c| TemplateContainer {
            name: c.name.clone(),
            image: c.image.clone().unwrap_or_default(),
            command: redact::argv(c.command.as_deref().unwrap_or_default()),
            args: redact::argv(c.args.as_deref().unwrap_or_default()),
            env: c
                .env
                .as_deref()
                .unwrap_or_default()
                .iter()
                .map(|e| {
                    let value = match (&e.value, &e.value_from) {
                        (Some(v), _) => redact::env_value(&e.name, v),
                        (None, Some(from)) => {
                            match (&from.config_map_key_ref, &from.secret_key_ref) {
                                (Some(k), _) => format!("<configmap {}/{}>", k.name, k.key),
                                (_, Some(k)) => format!("<secret {}/{}>", k.name, k.key),
                                _ => "<field>".to_owned(),
                            }
                        }
                        (None, None) => String::new(),
                    };
                    (e.name.clone(), value)
                })
                .collect(),
            env_from: c
                .env_from
                .as_deref()
                .unwrap_or_default()
                .iter()
                .filter_map(|f| {
                    f.config_map_ref
                        .as_ref()
                        .map(|r| format!("configmap/{}", r.name))
                        .or_else(|| f.secret_ref.as_ref().map(|r| format!("secret/{}", r.name)))
                })
                .collect(),
            memory_limit: limit(c, "memory").as_deref().and_then(parse_memory),
            cpu_limit: limit(c, "cpu").as_deref().and_then(parse_cpu),
            probes: probes(c),
            ports: c
                .ports
                .as_deref()
                .unwrap_or_default()
                .iter()
                .map(|p| p.container_port)
                .collect(),
        })
        .collect();
    let mut pod_fields = BTreeMap::new();
    if let Some(sa) = &spec.service_account_name {
        pod_fields.insert("serviceAccountName".to_owned(), sa.clone());
    }
    if let Some(sc) = &spec.security_context {
        pod_fields.insert(
            "securityContext".to_owned(),
            serde_json::to_string(sc).unwrap_or_default(),
        );
    }
    let volumes: Vec<String> = spec
        .volumes
        .as_deref()
        .unwrap_or_default()
        .iter()
        .map(|v| v.name.clone())
        .collect();
    if !volumes.is_empty() {
        pod_fields.insert("volumes".to_owned(), volumes.join(","));
    }
    (containers, pod_fields)
}

fn revision_of(meta: &ObjectMeta) -> Option<u64> {
    meta.annotations
        .as_ref()?
        .get("deployment.kubernetes.io/revision")?
        .parse()
        .ok()
}

/// Whether `rs` is controlled by `deployment`.
pub fn owned_by(meta: &ObjectMeta, kind: &str, owner: &ObjectMeta) -> bool {
    controller(meta).is_some_and(|o| {
        o.kind == kind
            && Some(&o.name) == owner.name.as_ref()
            && (owner.uid.is_none() || owner.uid.as_ref() == Some(&o.uid))
    }) && meta.namespace == owner.namespace
}

/// A Deployment and its ReplicaSets as rollout facts, revisions oldest first, at most `history`.
pub fn rollout(
    deployment: &Deployment,
    replica_sets: &[ReplicaSet],
    history: usize,
) -> RolloutFacts {
    let meta = &deployment.metadata;
    let mut revisions: Vec<RevisionFacts> = replica_sets
        .iter()
        .filter(|rs| owned_by(&rs.metadata, "Deployment", meta))
        .map(|rs| {
            let (containers, pod_fields) = template_containers(rs.spec.template.as_ref());
            let status = rs.status.clone().unwrap_or_default();
            RevisionFacts {
                revision: revision_of(&rs.metadata).unwrap_or(0),
                replica_set: name(&rs.metadata),
                template_hash: rs
                    .metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get("pod-template-hash").cloned()),
                created_at: rs.metadata.creation_timestamp.as_ref().map(|t| t.0),
                change_cause: rs
                    .metadata
                    .annotations
                    .as_ref()
                    .and_then(|a| a.get("kubernetes.io/change-cause").cloned()),
                replicas: rs.spec.replicas.unwrap_or(0),
                ready_replicas: status.ready_replicas.unwrap_or(0),
                containers,
                pod_fields,
            }
        })
        .collect();
    revisions.sort_by_key(|r| (r.revision, r.created_at));
    let skip = revisions.len().saturating_sub(history.max(2));
    revisions.drain(..skip);
    let status = deployment.status.clone().unwrap_or_default();
    let (template, _) = template_containers(Some(&deployment.spec.template));
    RolloutFacts {
        deployment: ObjectRef {
            kind: "Deployment".into(),
            namespace: meta.namespace.clone(),
            name: name(meta),
        },
        replicas: deployment.spec.replicas.unwrap_or(1),
        updated_replicas: status.updated_replicas.unwrap_or(0),
        ready_replicas: status.ready_replicas.unwrap_or(0),
        available_replicas: status.available_replicas.unwrap_or(0),
        generation: meta.generation,
        observed_generation: status.observed_generation,
        conditions: condition_facts!(status.conditions),
        revisions,
        template,
        gitops: crate::k8s::controls::gitops(deployment),
        autoscaler: None,
        in_progress: None,
    }
}

/// The label a ControllerRevision carries with its template hash.
const REVISION_HASH_LABEL: &str = "controller.kubernetes.io/hash";

/// Where a StatefulSet or DaemonSet stands, from its status.
struct ControllerStatus {
    replicas: i32,
    updated: i32,
    ready: i32,
    available: i32,
    observed_generation: Option<i64>,
    in_progress: bool,
}

/// A StatefulSet and its ControllerRevisions as rollout facts. A rollout is under way while
/// `updateRevision` differs from `currentRevision` or not every replica is updated.
pub fn stateful_set_rollout(
    sts: &StatefulSet,
    revisions: &[ControllerRevision],
    pods: &[Pod],
    history: usize,
) -> RolloutFacts {
    let spec = &sts.spec;
    let status = sts.status.clone().unwrap_or_default();
    let replicas = spec.replicas.unwrap_or(1);
    let updated = status.updated_replicas.unwrap_or(0);
    let moving =
        status.update_revision.is_some() && status.update_revision != status.current_revision;
    let state = ControllerStatus {
        replicas,
        updated,
        ready: status.ready_replicas.unwrap_or(0),
        available: status.available_replicas.unwrap_or(0),
        observed_generation: status.observed_generation,
        in_progress: moving || updated < replicas,
    };
    let conditions = condition_facts!(status.conditions);
    let owner = (&sts.metadata, "StatefulSet", Some(&spec.template));
    controller_rollout(owner, state, conditions, revisions, pods, history)
}

/// A DaemonSet and its ControllerRevisions as rollout facts. A rollout is under way while
/// fewer nodes run the updated pod than should run it.
pub fn daemon_set_rollout(
    ds: &DaemonSet,
    revisions: &[ControllerRevision],
    pods: &[Pod],
    history: usize,
) -> RolloutFacts {
    let spec = &ds.spec;
    let status = ds.status.clone().unwrap_or_default();
    let desired = status.desired_number_scheduled;
    let updated = status.updated_number_scheduled.unwrap_or(0);
    let state = ControllerStatus {
        replicas: desired,
        updated,
        ready: status.number_ready,
        available: status.number_available.unwrap_or(0),
        observed_generation: status.observed_generation,
        in_progress: updated < desired,
    };
    let conditions = condition_facts!(status.conditions);
    let owner = (&ds.metadata, "DaemonSet", Some(&spec.template));
    controller_rollout(owner, state, conditions, revisions, pods, history)
}

/// The pod template a ControllerRevision records: its `data` is the patch
/// `{"spec": {"template": {..., "$patch": "replace"}}}`.
fn revision_template(cr: &ControllerRevision) -> Option<PodTemplateSpec> {
    let template = cr.data.0.pointer("/spec/template")?.clone();
    serde_json::from_value(template).ok()
}

/// The hash a ControllerRevision stands for: its `controller.kubernetes.io/hash` label, else its
/// name without the owner's.
fn revision_hash(cr: &ControllerRevision, owner: &str) -> Option<String> {
    let label = cr
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(REVISION_HASH_LABEL).cloned());
    label.or_else(|| {
        name(&cr.metadata)
            .strip_prefix(&format!("{owner}-"))
            .map(str::to_owned)
    })
}

/// Whether `pod` runs revision `cr`: its `controller-revision-hash` label is the revision's name
/// (StatefulSet) or its hash (DaemonSet).
fn runs_revision(pod: &Pod, cr_name: &str, hash: Option<&str>) -> bool {
    let label = pod
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get("controller-revision-hash"));
    label.is_some_and(|l| l == cr_name || Some(l.as_str()) == hash)
}

fn pod_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn controller_rollout(
    (meta, kind, template): (&ObjectMeta, &str, Option<&PodTemplateSpec>),
    state: ControllerStatus,
    conditions: Vec<ConditionFacts>,
    revisions: &[ControllerRevision],
    pods: &[Pod],
    history: usize,
) -> RolloutFacts {
    let owner = name(meta);
    let mut revisions: Vec<RevisionFacts> = revisions
        .iter()
        .filter(|cr| owned_by(&cr.metadata, kind, meta))
        .map(|cr| {
            let (containers, pod_fields) = template_containers(revision_template(cr).as_ref());
            let cr_name = name(&cr.metadata);
            let hash = revision_hash(cr, &owner);
            let running: Vec<&Pod> = pods
                .iter()
                .filter(|p| owned_by(&p.metadata, kind, meta))
                .filter(|p| runs_revision(p, &cr_name, hash.as_deref()))
                .collect();
            RevisionFacts {
                revision: cr.revision.and_then(|r| u64::try_from(r).ok()).unwrap_or(0),
                replica_set: cr_name,
                template_hash: hash,
                created_at: cr.metadata.creation_timestamp.as_ref().map(|t| t.0),
                change_cause: cr
                    .metadata
                    .annotations
                    .as_ref()
                    .and_then(|a| a.get("kubernetes.io/change-cause").cloned()),
                replicas: i32::try_from(running.len()).unwrap_or(i32::MAX),
                ready_replicas: i32::try_from(running.iter().filter(|p| pod_ready(p)).count())
                    .unwrap_or(i32::MAX),
                containers,
                pod_fields,
            }
        })
        .collect();
    revisions.sort_by_key(|r| (r.revision, r.created_at));
    let skip = revisions.len().saturating_sub(history.max(2));
    revisions.drain(..skip);
    let (template, _) = template_containers(template);
    RolloutFacts {
        deployment: ObjectRef {
            kind: kind.into(),
            namespace: meta.namespace.clone(),
            name: owner,
        },
        replicas: state.replicas,
        updated_replicas: state.updated,
        ready_replicas: state.ready,
        available_replicas: state.available,
        generation: meta.generation,
        observed_generation: state.observed_generation,
        conditions,
        revisions,
        template,
        gitops: None,
        autoscaler: None,
        in_progress: Some(state.in_progress),
    }
}

/// A node as facts.
pub fn node(node: &Node) -> NodeFacts {
    let status = node.status.clone().unwrap_or_default();
    let spec = node.spec.clone().unwrap_or_default();
    NodeFacts {
        name: name(&node.metadata),
        conditions: condition_facts!(status.conditions),
        unschedulable: spec.unschedulable.unwrap_or(false),
        taints: spec
            .taints
            .unwrap_or_default()
            .into_iter()
            .map(|t| {
                format!(
                    "{}{}:{}",
                    t.key,
                    t.value.map(|v| format!("={v}")).unwrap_or_default(),
                    t.effect
                )
            })
            .collect(),
        labels: node.metadata.labels.clone().unwrap_or_default(),
        allocatable: status
            .allocatable
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(name, q)| amount(&name, &q.0).map(|v| (name, v)))
            .collect(),
        requested: BTreeMap::new(),
        pods_counted: 0,
        candidate: false,
    }
}

/// A Job as facts.
pub fn job(job: &Job) -> JobFacts {
    let status = job.status.clone().unwrap_or_default();
    let spec = job.spec.clone().unwrap_or_default();
    JobFacts {
        namespace: namespace(&job.metadata),
        name: name(&job.metadata),
        owner: owner_ref(&job.metadata),
        conditions: condition_facts!(status.conditions),
        active: status.active.unwrap_or(0),
        succeeded: status.succeeded.unwrap_or(0),
        failed: status.failed.unwrap_or(0),
        backoff_limit: spec.backoff_limit,
        active_deadline_seconds: spec.active_deadline_seconds,
        started_at: status.start_time.map(|t| t.0),
    }
}

/// A CronJob as facts.
pub fn cron_job(cron: &CronJob) -> CronJobFacts {
    let spec = cron.spec.clone();
    let status = cron.status.clone().unwrap_or_default();
    CronJobFacts {
        namespace: namespace(&cron.metadata),
        name: name(&cron.metadata),
        schedule: spec.schedule,
        suspended: spec.suspend.unwrap_or(false),
        last_schedule: status.last_schedule_time.map(|t| t.0),
        last_success: status.last_successful_time.map(|t| t.0),
    }
}

/// A ResourceQuota as facts.
pub fn quota(quota: &ResourceQuota) -> QuotaFacts {
    let status = quota.status.clone().unwrap_or_default();
    let to_map =
        |m: Option<BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>>| {
            m.unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, v.0))
                .collect()
        };
    QuotaFacts {
        namespace: namespace(&quota.metadata),
        name: name(&quota.metadata),
        hard: to_map(
            status
                .hard
                .or_else(|| quota.spec.as_ref().and_then(|s| s.hard.clone())),
        ),
        used: to_map(status.used),
    }
}

/// A LimitRange as facts.
pub fn limit_range(range: &LimitRange) -> LimitRangeFacts {
    let mut limits = Vec::new();
    for item in range
        .spec
        .as_ref()
        .map(|s| s.limits.clone())
        .unwrap_or_default()
    {
        for (label, values) in [
            ("max", &item.max),
            ("min", &item.min),
            ("default", &item.default),
        ] {
            for (resource, q) in values.clone().unwrap_or_default() {
                limits.push(format!("{} {label} {resource}={}", item.type_, q.0));
            }
        }
    }
    LimitRangeFacts {
        namespace: namespace(&range.metadata),
        name: name(&range.metadata),
        limits,
    }
}

/// A PVC as facts.
pub fn claim(claim: &PersistentVolumeClaim) -> ClaimFacts {
    ClaimFacts {
        namespace: namespace(&claim.metadata),
        name: name(&claim.metadata),
        phase: claim.status.as_ref().and_then(|s| s.phase.clone()),
        storage_class: claim
            .spec
            .as_ref()
            .and_then(|s| s.storage_class_name.clone()),
        volume: claim.spec.as_ref().and_then(|s| s.volume_name.clone()),
    }
}

/// A ConfigMap's keys.
pub fn config_map(cm: &ConfigMap) -> ConfigFacts {
    let mut keys: Vec<String> = cm
        .data
        .as_ref()
        .map(|d| d.keys().cloned().collect())
        .unwrap_or_default();
    keys.extend(
        cm.binary_data
            .as_ref()
            .map(|d| d.keys().cloned().collect::<Vec<_>>())
            .unwrap_or_default(),
    );
    ConfigFacts {
        kind: "ConfigMap".into(),
        namespace: namespace(&cm.metadata),
        name: name(&cm.metadata),
        keys,
    }
}

/// A Secret's keys (values are never read).
pub fn secret(secret: &Secret) -> ConfigFacts {
    let mut keys: Vec<String> = secret
        .data
        .as_ref()
        .map(|d| d.keys().cloned().collect())
        .unwrap_or_default();
    keys.extend(
        secret
            .string_data
            .as_ref()
            .map(|d| d.keys().cloned().collect::<Vec<_>>())
            .unwrap_or_default(),
    );
    ConfigFacts {
        kind: "Secret".into(),
        namespace: namespace(&secret.metadata),
        name: name(&secret.metadata),
        keys,
    }
}

#[cfg(test)]
mod tests;
