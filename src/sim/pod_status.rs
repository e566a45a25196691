//! The pod columns of `kubectl get pods`: READY, STATUS (the reason kubectl's `printPod`
//! derives from init and app container states) and RESTARTS.

use jiff::Timestamp;
use serde_json::{Value, json};

use super::meta::{str_at, value_at};
use super::printers::{Fields, array, since};

/// The row of a pod: NAME READY STATUS RESTARTS AGE IP NODE.
pub fn pod_cells(f: &Fields<'_>) -> Vec<Value> {
    let pod = f.o;
    let total = array(pod, &["spec", "containers"]).len();
    let statuses = array(pod, &["status", "containerStatuses"]);
    let inits = array(pod, &["status", "initContainerStatuses"]);
    let ready = statuses
        .iter()
        .filter(|c| value_at(c, &["state", "running"]).is_some() && c["ready"] == json!(true))
        .count();
    let mut reason = str_at(pod, &["status", "reason"])
        .or_else(|| str_at(pod, &["status", "phase"]))
        .unwrap_or("Pending")
        .to_string();
    if let Some(init) = init_reason(inits) {
        reason = init;
    } else {
        if let Some(r) = statuses.iter().find_map(container_reason) {
            reason = r;
        }
        if reason == "Completed" && ready > 0 {
            reason = "Running".into();
        }
    }
    if value_at(pod, &["metadata", "deletionTimestamp"]).is_some() {
        reason = "Terminating".into();
    }
    let restarts = restarts(inits.iter().chain(statuses), f.now);
    let (ip, node) = (
        f.or_none(&["status", "podIP"]),
        f.or_none(&["spec", "nodeName"]),
    );
    let ready = format!("{ready}/{total}");
    vec![
        f.name(),
        json!(ready),
        json!(reason),
        json!(restarts),
        f.age(),
        json!(ip),
        json!(node),
    ]
}

/// `Init:...` while an init container has not succeeded.
fn init_reason(inits: &[Value]) -> Option<String> {
    inits.iter().enumerate().find_map(|(i, c)| {
        let exit = value_at(c, &["state", "terminated", "exitCode"]).and_then(Value::as_i64);
        let waiting =
            str_at(c, &["state", "waiting", "reason"]).filter(|r| *r != "PodInitializing");
        match (exit, waiting) {
            (Some(0), _) => None,
            (Some(code), _) => Some(
                str_at(c, &["state", "terminated", "reason"])
                    .map_or_else(|| format!("Init:ExitCode:{code}"), |r| format!("Init:{r}")),
            ),
            (None, Some(w)) => Some(format!("Init:{w}")),
            (None, None) => Some(format!("Init:{i}/{}", inits.len())),
        }
    })
}

/// The reason a container is not simply running: its waiting or terminated reason.
fn container_reason(c: &Value) -> Option<String> {
    if let Some(w) = str_at(c, &["state", "waiting", "reason"]) {
        return Some(w.to_string());
    }
    let t = value_at(c, &["state", "terminated"])?;
    Some(match (str_at(t, &["reason"]), t["signal"].as_i64()) {
        (Some(r), _) => r.to_string(),
        (None, Some(sig)) if sig != 0 => format!("Signal:{sig}"),
        _ => format!("ExitCode:{}", t["exitCode"].as_i64().unwrap_or(0)),
    })
}

/// RESTARTS: the total, with the age of the latest restart (`4 (2m ago)`).
fn restarts<'a>(statuses: impl Iterator<Item = &'a Value>, now: Timestamp) -> String {
    let (mut total, mut latest) = (0, None::<Timestamp>);
    for c in statuses {
        total += c["restartCount"].as_i64().unwrap_or(0);
        let finished = str_at(c, &["lastState", "terminated", "finishedAt"]);
        latest = latest.max(finished.and_then(|t| t.parse().ok()));
    }
    match latest {
        Some(t) if total > 0 => format!("{total} ({} ago)", since(t, now)),
        _ => total.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::printers::cells;
    use super::*;

    #[test]
    fn a_crash_looping_pod_prints_its_waiting_reason_and_restarts() {
        let now: Timestamp = "2026-11-20T02:13:00Z".parse().expect("time");
        let pod = json!({"metadata": {"name": "web-1"},
            "spec": {"containers": [{"name": "app"}]}, "status": {"phase": "Running",
            "containerStatuses": [{"name": "app", "ready": false, "restartCount": 4,
                "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                "lastState": {"terminated": {"exitCode": 1, "finishedAt": "2026-11-20T02:11:00Z"}}}]}});
        let row = cells("pods", &pod, now);
        assert_eq!(
            row[..4],
            [
                json!("web-1"),
                json!("0/1"),
                json!("CrashLoopBackOff"),
                json!("4 (2m ago)")
            ]
        );
    }

    #[test]
    fn pods_blocked_in_init_and_terminating_pods_say_so() {
        let now = Timestamp::now();
        let init = json!({"spec": {"containers": [{"name": "app"}]}, "status": {"phase": "Pending",
            "initContainerStatuses": [{"name": "migrate", "state": {"terminated": {"exitCode": 2}}}]}});
        assert_eq!(cells("pods", &init, now)[2], "Init:ExitCode:2");
        let gone = json!({"metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"containers": [{"name": "app"}]}, "status": {"phase": "Running"}});
        assert_eq!(cells("pods", &gone, now)[2], "Terminating");
    }
}
