//! The kubelet model: for every pod bound to a Ready node it runs the containers (see
//! [`container`]), mounts volumes, writes container logs and reports the pod status and
//! events. Pods on a node that is not Ready are frozen (the node lifecycle controller
//! marks them not Ready). Deleted pods get their containers stopped (`Killing`).

mod applogs;
mod config;
pub mod container;
mod run;
pub mod state;
mod status;

use std::collections::{HashMap, HashSet};

use jiff::Timestamp;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::Ctx;
use super::api;
use super::events::{Event, Kind, Source};
use super::nodes::{internal_ip, node_ready};
use crate::sim::meta;
use crate::sim::writes::UpdateMode;
use container::ContainerRt;
use state::State;

/// A stable, plausible compressed size for an image.
pub fn image_size(image: &str) -> u64 {
    let digest = Sha256::digest(image.as_bytes());
    let n = u64::from(u32::from_le_bytes([
        digest[0], digest[1], digest[2], digest[3],
    ]));
    20_000_000 + n % 280_000_000
}

/// What the kubelet keeps about one pod it runs.
#[derive(Debug)]
pub struct PodRuntime {
    reference: Value,
    node: String,
    start: Timestamp,
    ip: String,
    host_ip: String,
    containers: Vec<ContainerRt>,
    seen_rv: Option<u64>,
    wake: Option<Timestamp>,
    mount: Option<(String, Timestamp)>,
}

impl PodRuntime {
    /// `name_namespace(uid)`, as kubelet messages name a pod.
    pub fn pod_ref(&self) -> String {
        let r = &self.reference;
        format!("{}_{}({})", meta::name(r), meta::namespace(r), api::uid(r))
    }
}

/// What one container pass needs: the pass context, the pod, its node's image cache.
pub struct Env<'a, 'b> {
    ctx: &'a mut Ctx<'b>,
    pod: &'a Value,
    node: &'a str,
    images: &'a mut HashSet<String>,
}

impl Env<'_, '_> {
    fn event(&mut self, container: &str, kind: Kind, reason: &'static str, message: String) {
        let event = Event {
            object: self.pod,
            field_path: Some(format!("spec.containers{{{container}}}")),
            kind,
            reason,
            message,
        };
        let source = Source::kubelet(self.node);
        self.ctx
            .events
            .emit(self.ctx.cluster, self.ctx.now, &source, event);
    }

    fn log(&mut self, container: &str, text: &str) {
        let (ns, name) = (meta::namespace(self.pod), meta::name(self.pod));
        self.ctx.cluster.append_log(ns, name, container, text);
    }

    fn restart_log(&mut self, container: &str) {
        let (ns, name) = (meta::namespace(self.pod), meta::name(self.pod));
        self.ctx.cluster.restart_log(ns, name, container);
    }

    fn pod_ref(&self) -> String {
        let p = self.pod;
        format!("{}_{}({})", meta::name(p), meta::namespace(p), api::uid(p))
    }
}

/// The kubelets of every node.
#[derive(Debug, Default)]
pub struct Kubelet {
    pods: HashMap<String, PodRuntime>,
    images: HashMap<String, HashSet<String>>,
    next_ip: HashMap<String, u32>,
}

struct NodeFacts {
    ready: bool,
    ip: String,
    subnet: String,
}

fn node_facts(ctx: &Ctx) -> HashMap<String, NodeFacts> {
    api::list(ctx.cluster, "nodes", None)
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let subnet = n["spec"]["podCIDR"]
                .as_str()
                .and_then(|c| c.rsplit_once(".0/"))
                .map_or_else(
                    || format!("10.244.{}", i + 1),
                    |(prefix, _)| prefix.to_string(),
                );
            let facts = NodeFacts {
                ready: node_ready(n),
                ip: internal_ip(n),
                subnet,
            };
            (meta::name(n).to_string(), facts)
        })
        .collect()
}

impl Kubelet {
    /// Runs every pod bound to a Ready node one step further.
    pub fn reconcile(&mut self, ctx: &mut Ctx) {
        let nodes = node_facts(ctx);
        let pods = api::list(ctx.cluster, "pods", None);
        let mut live = HashSet::with_capacity(pods.len());
        for pod in &pods {
            let uid = api::uid(pod).to_string();
            live.insert(uid.clone());
            let Some(node) = pod["spec"]["nodeName"].as_str().filter(|n| !n.is_empty()) else {
                continue;
            };
            let Some(facts) = nodes.get(node).filter(|f| f.ready) else {
                continue;
            };
            if api::deleting(pod) {
                continue;
            }
            let runtime = match self.pods.entry(uid) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(e) => {
                    let counter = self.next_ip.entry(node.to_string()).or_insert(1);
                    *counter = *counter % 250 + 1;
                    let ip = format!("{}.{}", facts.subnet, *counter + 1);
                    e.insert(adopt(pod, node, &facts.ip, ip, ctx.now))
                }
            };
            let unchanged = runtime.seen_rv == meta::resource_version(pod);
            if unchanged && runtime.wake.is_none_or(|w| ctx.now < w) {
                continue;
            }
            let images = self.images.entry(node.to_string()).or_default();
            sync_pod(ctx, pod, runtime, images);
        }
        self.forget_deleted(ctx, &live);
    }

    fn forget_deleted(&mut self, ctx: &mut Ctx, live: &HashSet<String>) {
        let gone: Vec<String> = self
            .pods
            .keys()
            .filter(|uid| !live.contains(*uid))
            .cloned()
            .collect();
        for uid in gone {
            let Some(runtime) = self.pods.remove(&uid) else {
                continue;
            };
            let source = Source::kubelet(&runtime.node);
            for c in runtime
                .containers
                .iter()
                .filter(|c| matches!(c.state, State::Running { .. }))
            {
                let event = Event {
                    object: &runtime.reference,
                    field_path: Some(format!("spec.containers{{{}}}", c.name)),
                    kind: Kind::Normal,
                    reason: "Killing",
                    message: format!("Stopping container {}", c.name),
                };
                ctx.events.emit(ctx.cluster, ctx.now, &source, event);
            }
        }
    }

    /// How many pods the kubelets are running.
    pub fn pod_count(&self) -> usize {
        self.pods.len()
    }
}

/// Starts tracking a pod, taking over container states it already reports.
fn adopt(pod: &Value, node: &str, host_ip: &str, ip: String, now: Timestamp) -> PodRuntime {
    let statuses = pod["status"]["containerStatuses"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let containers = pod["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|spec| {
            let name = spec["name"].as_str().unwrap_or_default();
            let image = spec["image"].as_str().unwrap_or_default();
            match statuses.iter().find(|s| s["name"] == name) {
                Some(status) => ContainerRt::adopt(name, image, status, now),
                None => ContainerRt::new(name, image),
            }
        })
        .collect();
    let status = &pod["status"];
    let start = status["startTime"]
        .as_str()
        .and_then(|t| t.parse().ok())
        .unwrap_or(now);
    let reference = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {
        "name": meta::name(pod), "namespace": meta::namespace(pod), "uid": api::uid(pod)}});
    PodRuntime {
        reference,
        node: node.to_string(),
        start,
        ip: status["podIP"].as_str().map_or(ip, str::to_string),
        host_ip: host_ip.to_string(),
        containers,
        seen_rv: None,
        wake: None,
        mount: None,
    }
}

/// A volume that cannot be mounted blocks the whole pod (`FailedMount`, reported again
/// every back-off period); returns the error, if any.
fn mount_blocked(ctx: &mut Ctx, pod: &Value, rt: &mut PodRuntime) -> Option<String> {
    let Some(error) = config::mount_error(ctx.cluster, pod) else {
        rt.mount = None;
        return None;
    };
    let recheck = super::durations::signed(ctx.settings.backoff_base);
    let due = rt
        .mount
        .as_ref()
        .is_none_or(|(m, at)| *m != error || *at + recheck <= ctx.now);
    if due {
        let event = Event {
            object: pod,
            field_path: None,
            kind: Kind::Warning,
            reason: "FailedMount",
            message: error.clone(),
        };
        ctx.events
            .emit(ctx.cluster, ctx.now, &Source::kubelet(&rt.node), event);
        rt.mount = Some((error.clone(), ctx.now));
    }
    Some(error)
}

fn sync_pod(ctx: &mut Ctx, pod: &Value, rt: &mut PodRuntime, images: &mut HashSet<String>) {
    let now = ctx.now;
    let mut wake = None;
    if mount_blocked(ctx, pod, rt).is_some() {
        wake = Some(now + super::durations::signed(ctx.settings.backoff_base));
    } else {
        let specs = pod["spec"]["containers"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let node = rt.node.clone();
        let mut env = Env {
            ctx,
            pod,
            node: &node,
            images,
        };
        for (c, spec) in rt.containers.iter_mut().zip(&specs) {
            let next = c.advance(&mut env, spec);
            wake = match (wake, next) {
                (Some(a), Some(b)) => Some(std::cmp::min(a, b)),
                (a, b) => a.or(b),
            };
        }
    }
    rt.wake = wake;
    let status = status::render(pod, rt, &ctx.settings.images, now);
    if pod.get("status") == Some(&status) {
        rt.seen_rv = meta::resource_version(pod);
        return;
    }
    let target = ("pods", meta::namespace(pod), meta::name(pod));
    let written = api::modify(
        ctx.cluster,
        target,
        Some(api::uid(pod)),
        UpdateMode::Status,
        "kubelet",
        |p| {
            p["status"] = status;
            true
        },
    );
    rt.seen_rv = written.as_deref().and_then(meta::resource_version);
}
