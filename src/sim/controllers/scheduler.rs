//! The scheduler: binds each pending pod to a Ready, schedulable node whose taints it
//! tolerates, whose labels match its nodeSelector and whose allocatable cpu, memory and
//! pod count fit its requests, spreading replicas; otherwise marks it Unschedulable with the
//! real `FailedScheduling` message (`0/3 nodes are available: ... preemption: ...`). A pod
//! whose PersistentVolumeClaim is missing or not Bound is not scheduled at all, as the
//! VolumeBinding plugin refuses it before any node is looked at (immediate binding).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use jiff::Timestamp;
use serde_json::{Value, json};

use super::Ctx;
use super::api;
use super::events::{Event, Kind, Source};
use super::nodes::{node_ready, taint_tolerated};
use crate::domain::quantity::{parse_cpu, parse_memory};
use crate::sim::meta;
use crate::sim::writes::UpdateMode;

/// How often an unschedulable pod's `FailedScheduling` event is repeated at most.
const REPORT_EVERY: jiff::SignedDuration = jiff::SignedDuration::from_secs(60);

/// Free capacity of one node during a pass.
struct Room {
    node: Arc<Value>,
    cpu: i128,
    memory: i128,
    pods: i128,
    owners: HashMap<String, usize>,
}

/// What the scheduler remembers: the last failure reported per pod.
#[derive(Debug, Default)]
pub struct Scheduler {
    reported: HashMap<String, (String, Timestamp)>,
}

/// A pod's summed container requests: (millicores, bytes).
fn requests(pod: &Value) -> (i128, i128) {
    let containers = pod["spec"]["containers"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let amount = |c: &Value, r: &str, parse: fn(&str) -> Option<u64>| {
        let res = &c["resources"];
        let text = res["requests"][r]
            .as_str()
            .or_else(|| res["limits"][r].as_str());
        text.and_then(parse).map_or(0, i128::from)
    };
    containers.iter().fold((0, 0), |(cpu, mem), c| {
        (
            cpu + amount(c, "cpu", parse_cpu),
            mem + amount(c, "memory", parse_memory),
        )
    })
}

fn allocatable(node: &Value, resource: &str) -> i128 {
    let text = node["status"]["allocatable"][resource]
        .as_str()
        .or_else(|| node["status"]["capacity"][resource].as_str());
    let parsed = match resource {
        "cpu" => text.and_then(parse_cpu),
        "memory" => text.and_then(parse_memory),
        _ => text.and_then(|t| t.parse().ok()),
    };
    parsed.map_or(i128::MAX / 4, i128::from)
}

fn rooms(nodes: Vec<Arc<Value>>, pods: &[Arc<Value>]) -> BTreeMap<String, Room> {
    let mut rooms: BTreeMap<String, Room> = nodes
        .into_iter()
        .map(|n| {
            let room = Room {
                cpu: allocatable(&n, "cpu"),
                memory: allocatable(&n, "memory"),
                pods: allocatable(&n, "pods"),
                owners: HashMap::new(),
                node: n,
            };
            (meta::name(&room.node).to_string(), room)
        })
        .collect();
    for pod in pods.iter().filter(|p| super::quota::counts(p)) {
        if let Some(room) = pod["spec"]["nodeName"]
            .as_str()
            .and_then(|n| rooms.get_mut(n))
        {
            room.take(pod);
        }
    }
    rooms
}

impl Room {
    fn take(&mut self, pod: &Value) {
        let (cpu, memory) = requests(pod);
        self.cpu -= cpu;
        self.memory -= memory;
        self.pods -= 1;
        let owner = api::controller_uid(pod).unwrap_or_default().to_string();
        *self.owners.entry(owner).or_default() += 1;
    }

    /// Why the pod cannot go here (several reasons only for resources), and whether
    /// preemption could help.
    fn misfit(&self, pod: &Value) -> (Vec<String>, bool) {
        let node = &self.node;
        if node["spec"]["unschedulable"].as_bool() == Some(true) {
            return (vec!["node(s) were unschedulable".into()], false);
        }
        let tolerations = pod["spec"]["tolerations"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        let taints = node["spec"]["taints"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        let untolerated = taints.iter().find(|t| {
            matches!(t["effect"].as_str(), Some("NoSchedule" | "NoExecute"))
                && !taint_tolerated(t, tolerations)
        });
        if let Some(t) = untolerated {
            let (key, value) = (
                t["key"].as_str().unwrap_or_default(),
                t["value"].as_str().unwrap_or_default(),
            );
            return (
                vec![format!("node(s) had untolerated taint {{{key}: {value}}}")],
                false,
            );
        }
        if !node_ready(node) {
            let reason = "node(s) had untolerated taint {node.kubernetes.io/unreachable: }";
            return (vec![reason.into()], false);
        }
        if let Some(selector) = pod["spec"]["nodeSelector"].as_object() {
            let labels = &node["metadata"]["labels"];
            if !selector.iter().all(|(k, v)| labels.get(k) == Some(v)) {
                return (
                    vec!["node(s) didn't match Pod's node affinity/selector".into()],
                    false,
                );
            }
        }
        let (cpu, memory) = requests(pod);
        let mut reasons = Vec::new();
        if self.pods < 1 {
            reasons.push("Too many pods".to_string());
        }
        if cpu > self.cpu {
            reasons.push("Insufficient cpu".into());
        }
        if memory > self.memory {
            reasons.push("Insufficient memory".into());
        }
        (reasons, true)
    }
}

/// Why the pod's claims keep it from being scheduled, as the VolumeBinding plugin says it: the
/// first claim that does not exist, or any that is not Bound.
fn claim_problem(ctx: &Ctx, pod: &Value) -> Option<String> {
    let volumes = pod["spec"]["volumes"].as_array()?;
    let ns = meta::namespace(pod);
    let mut unbound = false;
    for claim in volumes
        .iter()
        .filter_map(|v| v["persistentVolumeClaim"]["claimName"].as_str())
    {
        match api::get(ctx.cluster, "persistentvolumeclaims", ns, claim) {
            None => return Some(format!("persistentvolumeclaim \"{claim}\" not found")),
            Some(pvc) => unbound |= pvc["status"]["phase"] != "Bound",
        }
    }
    unbound.then(|| "pod has unbound immediate PersistentVolumeClaims".to_owned())
}

/// `FitError.Error()`: counts per reason, sorted, then the preemption summary.
fn fit_error(
    total: usize,
    reasons: &BTreeMap<String, usize>,
    preemption: (usize, usize),
) -> String {
    let mut parts: Vec<String> = reasons.iter().map(|(r, n)| format!("{n} {r}")).collect();
    parts.sort();
    let mut post: Vec<String> = Vec::new();
    if preemption.0 > 0 {
        post.push(format!(
            "{} Preemption is not helpful for scheduling",
            preemption.0
        ));
    }
    if preemption.1 > 0 {
        post.push(format!(
            "{} No preemption victims found for incoming pod",
            preemption.1
        ));
    }
    post.sort();
    format!(
        "0/{total} nodes are available: {}. preemption: 0/{total} nodes are available: {}.",
        parts.join(", "),
        post.join(", ")
    )
}

impl Scheduler {
    /// Schedules every pending, unbound pod.
    pub fn reconcile(&mut self, ctx: &mut Ctx) {
        let pods = api::list(ctx.cluster, "pods", None);
        let pending: Vec<&Arc<Value>> = pods
            .iter()
            .filter(|p| p["spec"]["nodeName"].as_str().is_none_or(str::is_empty))
            .filter(|p| super::quota::counts(p))
            .filter(|p| {
                p["spec"]["schedulerName"]
                    .as_str()
                    .is_none_or(|s| s == "default-scheduler")
            })
            .collect();
        if pending.is_empty() {
            return;
        }
        let mut rooms = rooms(api::list(ctx.cluster, "nodes", None), &pods);
        for pod in pending {
            self.schedule(ctx, pod, &mut rooms);
        }
    }

    fn schedule(&mut self, ctx: &mut Ctx, pod: &Arc<Value>, rooms: &mut BTreeMap<String, Room>) {
        if let Some(problem) = claim_problem(ctx, pod) {
            let total = rooms.len();
            let message = format!(
                "0/{total} nodes are available: {problem}. preemption: 0/{total} nodes are \
                 available: {total} Preemption is not helpful for scheduling."
            );
            self.unschedulable(ctx, pod, message);
            return;
        }
        let owner = api::controller_uid(pod).unwrap_or_default().to_string();
        let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
        let mut preemption = (0, 0);
        let mut best: Option<(&String, (usize, i128))> = None;
        for (name, room) in rooms.iter() {
            let (misfits, resolvable) = room.misfit(pod);
            if misfits.is_empty() {
                let score = (room.owners.get(&owner).copied().unwrap_or(0), -room.pods);
                if best.as_ref().is_none_or(|(_, s)| score < *s) {
                    best = Some((name, score));
                }
                continue;
            }
            if resolvable {
                preemption.1 += 1
            } else {
                preemption.0 += 1
            }
            for m in misfits {
                *reasons.entry(m).or_default() += 1;
            }
        }
        match best.map(|(n, _)| n.clone()) {
            Some(node) => {
                if let Some(room) = rooms.get_mut(&node) {
                    room.take(pod);
                }
                self.bind(ctx, pod, &node);
            }
            None if rooms.is_empty() => {
                self.unschedulable(ctx, pod, "no nodes available to schedule pods".into())
            }
            None => {
                let message = fit_error(rooms.len(), &reasons, preemption);
                self.unschedulable(ctx, pod, message);
            }
        }
    }

    fn bind(&mut self, ctx: &mut Ctx, pod: &Arc<Value>, node: &str) {
        self.reported.remove(api::uid(pod));
        let now = meta::format_time(ctx.now);
        let target = ("pods", meta::namespace(pod), meta::name(pod));
        let bound = api::modify(
            ctx.cluster,
            target,
            Some(api::uid(pod)),
            UpdateMode::Direct,
            "kube-scheduler",
            |p| {
                p["spec"]["nodeName"] = json!(node);
                set_scheduled(
                    p,
                    json!({"type": "PodScheduled", "status": "True",
                "lastProbeTime": null, "lastTransitionTime": now}),
                );
                true
            },
        );
        if let Some(bound) = bound {
            let message = format!(
                "Successfully assigned {}/{} to {node}",
                meta::namespace(pod),
                meta::name(pod)
            );
            let source = Source::Reporting {
                controller: "default-scheduler",
                action: "Binding",
            };
            let event = Event {
                object: &bound,
                field_path: None,
                kind: Kind::Normal,
                reason: "Scheduled",
                message,
            };
            ctx.events.emit(ctx.cluster, ctx.now, &source, event);
        }
    }

    fn unschedulable(&mut self, ctx: &mut Ctx, pod: &Arc<Value>, message: String) {
        let uid = api::uid(pod).to_string();
        let due = match self.reported.get(&uid) {
            Some((last, at)) => *last != message || *at + REPORT_EVERY <= ctx.now,
            None => true,
        };
        if !due {
            return;
        }
        self.reported.insert(uid, (message.clone(), ctx.now));
        let now = meta::format_time(ctx.now);
        let target = ("pods", meta::namespace(pod), meta::name(pod));
        let cond = json!({"type": "PodScheduled", "status": "False", "lastProbeTime": null,
            "lastTransitionTime": now, "reason": "Unschedulable", "message": message});
        let written = api::modify(
            ctx.cluster,
            target,
            Some(api::uid(pod)),
            UpdateMode::Status,
            "kube-scheduler",
            |p| set_scheduled(p, cond),
        );
        let object = written.unwrap_or_else(|| pod.clone());
        let source = Source::Reporting {
            controller: "default-scheduler",
            action: "Scheduling",
        };
        let event = Event {
            object: &object,
            field_path: None,
            kind: Kind::Warning,
            reason: "FailedScheduling",
            message,
        };
        ctx.events.emit(ctx.cluster, ctx.now, &source, event);
    }
}

/// Puts the PodScheduled condition in place; reports whether anything changed.
fn set_scheduled(pod: &mut Value, mut cond: Value) -> bool {
    let status = meta::object_mut(pod, "status");
    let conditions = status.entry("conditions").or_insert_with(|| json!([]));
    let Some(list) = conditions.as_array_mut() else {
        return false;
    };
    if let Some(old) = list.iter_mut().find(|c| c["type"] == "PodScheduled") {
        if old["status"] == cond["status"] && old["message"] == cond["message"] {
            return false;
        }
        if old["status"] == cond["status"] {
            cond["lastTransitionTime"] = old["lastTransitionTime"].clone();
        }
        *old = cond;
    } else {
        list.push(cond);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fit_error_sorts_reasons_and_summarises_preemption() {
        let mut reasons = BTreeMap::new();
        reasons.insert("node(s) were unschedulable".to_string(), 1);
        reasons.insert("Insufficient memory".to_string(), 2);
        assert_eq!(
            fit_error(3, &reasons, (1, 2)),
            "0/3 nodes are available: 1 node(s) were unschedulable, 2 Insufficient memory. \
             preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, \
             2 No preemption victims found for incoming pod."
        );
    }
}
