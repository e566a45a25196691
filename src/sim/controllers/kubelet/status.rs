//! The pod status a kubelet reports: phase, the five conditions with their reasons and
//! transition times, IPs, start time, QoS class, and per-container state, last state,
//! restart count, image, imageID and containerID.

use jiff::Timestamp;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::PodRuntime;
use super::container::ContainerRt;
use super::state::State;
use crate::sim::controllers::durations::go_format;
use crate::sim::controllers::settings::{Images, normalize};
use crate::sim::meta::format_time;

/// `docker.io/shop/api@sha256:...`: the repository digest of an image (stable per image).
pub fn image_id(image: &str) -> String {
    let full = normalize(image);
    let repo = full
        .rsplit_once(':')
        .filter(|(_, t)| !t.contains('/'))
        .map_or(full.as_str(), |(r, _)| r);
    let digest = Sha256::digest(full.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("{repo}@sha256:{hex}")
}

fn waiting(reason: &str, message: Option<String>) -> Value {
    match message {
        Some(m) => json!({"waiting": {"reason": reason, "message": m}}),
        None => json!({"waiting": {"reason": reason}}),
    }
}

/// One `containerStatuses` entry.
pub fn container_status(c: &ContainerRt, ready: bool, pod_ref: &str) -> Value {
    let state = match &c.state {
        State::Creating => waiting("ContainerCreating", None),
        State::Pulling { retry: None, .. } => waiting("ContainerCreating", None),
        State::Pulling { retry: Some(m), .. } => waiting("ImagePullBackOff", Some(m.clone())),
        State::PullFailed { message, .. } => waiting("ErrImagePull", Some(message.clone())),
        State::PullBackOff { message, .. } => waiting("ImagePullBackOff", Some(message.clone())),
        State::ConfigError { message } => {
            waiting("CreateContainerConfigError", Some(message.clone()))
        }
        State::Running { since, .. } => json!({"running": {"startedAt": format_time(*since)}}),
        State::Exited(t) => json!({"terminated": t.to_json()}),
        State::CrashBackOff { backoff, .. } => {
            let message = format!(
                "back-off {} restarting failed container={} pod={pod_ref}",
                go_format(*backoff),
                c.name
            );
            waiting("CrashLoopBackOff", Some(message))
        }
    };
    let id = match &c.state {
        State::Running { id, .. } => Some(id.clone()),
        State::Exited(t) => Some(t.id.clone()),
        _ => c.last.as_ref().map(|t| t.id.clone()),
    };
    let running = matches!(c.state, State::Running { .. });
    let (image, image_id) = if c.pulled {
        (normalize(&c.image), image_id(&c.image))
    } else {
        (c.image.clone(), String::new())
    };
    let mut status = json!({
        "name": c.name, "state": state,
        "lastState": c.last.as_ref().map_or(json!({}), |t| json!({"terminated": t.to_json()})),
        "ready": ready, "restartCount": c.restarts, "image": image, "imageID": image_id,
        "started": running,
    });
    if let Some(id) = id.filter(|i| !i.is_empty()) {
        status["containerID"] = json!(id);
    }
    status
}

fn condition(
    old: &Value,
    kind: &str,
    ok: bool,
    reason: Option<(&str, String)>,
    now: &str,
) -> Value {
    let status = if ok { "True" } else { "False" };
    let previous = old["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == kind));
    let since = previous
        .filter(|c| c["status"] == status)
        .and_then(|c| c["lastTransitionTime"].as_str())
        .unwrap_or(now);
    let mut c =
        json!({"type": kind, "status": status, "lastProbeTime": null, "lastTransitionTime": since});
    if let Some((reason, message)) = reason.filter(|_| !ok) {
        c["reason"] = json!(reason);
        c["message"] = json!(message);
    }
    c
}

fn phase(rt: &PodRuntime, policy: &str) -> &'static str {
    let cs = &rt.containers;
    let exited = |c: &ContainerRt| matches!(c.state, State::Exited(_));
    if policy != "Always" && !cs.is_empty() && cs.iter().all(exited) {
        let failed = cs
            .iter()
            .any(|c| matches!(&c.state, State::Exited(t) if t.exit_code != 0));
        return if failed { "Failed" } else { "Succeeded" };
    }
    let started = cs
        .iter()
        .any(|c| matches!(c.state, State::Running { .. }) || c.restarts > 0 || exited(c));
    if started { "Running" } else { "Pending" }
}

/// The whole status of a pod the kubelet runs.
pub fn render(pod: &Value, rt: &PodRuntime, images: &Images, now: Timestamp) -> Value {
    let old = &pod["status"];
    let specs = pod["spec"]["containers"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let pod_ref = rt.pod_ref();
    let mut unready = Vec::new();
    let statuses: Vec<Value> = rt
        .containers
        .iter()
        .zip(specs)
        .map(|(c, spec)| {
            let ready = c.ready(images, spec, now);
            if !ready {
                unready.push(c.name.clone());
            }
            container_status(c, ready, &pod_ref)
        })
        .collect();
    let stamp = format_time(now);
    let all_ready = unready.is_empty() && !statuses.is_empty();
    let why = || {
        (
            "ContainersNotReady",
            format!("containers with unready status: [{}]", unready.join(" ")),
        )
    };
    let scheduled = old["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == "PodScheduled").cloned())
        .unwrap_or_else(|| condition(old, "PodScheduled", true, None, &stamp));
    let conditions = json!([
        condition(
            old,
            "PodReadyToStartContainers",
            rt.mount.is_none(),
            None,
            &stamp
        ),
        condition(old, "Initialized", true, None, &stamp),
        condition(old, "Ready", all_ready, Some(why()), &stamp),
        condition(old, "ContainersReady", all_ready, Some(why()), &stamp),
        scheduled,
    ]);
    let policy = pod["spec"]["restartPolicy"].as_str().unwrap_or("Always");
    let mut status = json!({
        "phase": phase(rt, policy), "conditions": conditions,
        "hostIP": rt.host_ip, "hostIPs": [{"ip": rt.host_ip}],
        "podIP": rt.ip, "podIPs": [{"ip": rt.ip}],
        "startTime": format_time(rt.start),
        "containerStatuses": statuses,
        "qosClass": crate::sim::defaults::qos_class(pod),
    });
    if let Some(inits) = pod["spec"]["initContainers"].as_array() {
        status["initContainerStatuses"] = json!(completed_inits(inits, rt.start));
    }
    status
}

/// Init containers are modelled as having completed at the pod's start.
fn completed_inits(inits: &[Value], start: Timestamp) -> Vec<Value> {
    let at = format_time(start);
    inits
        .iter()
        .map(|c| {
            let image = c["image"].as_str().unwrap_or_default();
            json!({"name": c["name"], "image": normalize(image), "imageID": image_id(image),
                   "ready": true, "restartCount": 0, "started": false, "lastState": {},
                   "state": {"terminated": {"exitCode": 0, "reason": "Completed",
                                            "startedAt": at, "finishedAt": at}}})
        })
        .collect()
}
