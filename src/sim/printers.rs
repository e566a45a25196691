//! The cells of a Table row for each type, computed as kubectl's printers do (pod
//! READY/STATUS/RESTARTS, node STATUS and ROLES, job STATUS and DURATION, ages).

use jiff::Timestamp;
use serde_json::{Value, json};

use super::meta::{self, str_at, value_at};
use super::pod_status;
use super::selector::format_selector;

/// Field access on one object while computing its cells.
pub(super) struct Fields<'a> {
    pub(super) o: &'a Value,
    pub(super) now: Timestamp,
}

impl Fields<'_> {
    pub(super) fn name(&self) -> Value {
        json!(meta::name(self.o))
    }

    pub(super) fn age_of(&self, path: &[&str]) -> String {
        str_at(self.o, path)
            .and_then(|t| t.parse::<Timestamp>().ok())
            .map_or_else(|| "<unknown>".into(), |t| since(t, self.now))
    }

    pub(super) fn age(&self) -> Value {
        json!(self.age_of(&["metadata", "creationTimestamp"]))
    }

    pub(super) fn int(&self, path: &[&str]) -> i64 {
        value_at(self.o, path).and_then(Value::as_i64).unwrap_or(0)
    }

    pub(super) fn text(&self, path: &[&str]) -> String {
        str_at(self.o, path).unwrap_or_default().to_string()
    }

    pub(super) fn or_none(&self, path: &[&str]) -> String {
        Some(self.text(path))
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "<none>".into())
    }
}

/// The cells of one Table row for an object of the type `plural`.
pub fn cells(plural: &str, o: &Value, now: Timestamp) -> Vec<Value> {
    let f = Fields { o, now };
    match plural {
        "pods" => pod_status::pod_cells(&f),
        "deployments" => deployment_cells(&f),
        "replicasets" => {
            let (containers, images) = container_summary(o);
            let replicas = |p| json!(f.int(&[p, "replicas"]));
            let ready = json!(f.int(&["status", "readyReplicas"]));
            let (desired, current) = (replicas("spec"), replicas("status"));
            vec![
                f.name(),
                desired,
                current,
                ready,
                f.age(),
                json!(containers),
                json!(images),
            ]
        }
        "nodes" => {
            let version = f.text(&["status", "nodeInfo", "kubeletVersion"]);
            vec![
                f.name(),
                json!(node_status(o)),
                json!(node_roles(o)),
                f.age(),
                json!(version),
            ]
        }
        "namespaces" => vec![f.name(), json!(f.text(&["status", "phase"])), f.age()],
        "events" => event_cells(&f),
        "jobs" => {
            let done = f.int(&["status", "succeeded"]);
            let completions = format!("{done}/{}", f.int(&["spec", "completions"]).max(1));
            let duration = job_duration(o, now);
            vec![
                f.name(),
                json!(job_status(o)),
                json!(completions),
                json!(duration),
                f.age(),
            ]
        }
        "cronjobs" => cronjob_cells(&f),
        "configmaps" => vec![f.name(), json!(data_count(o)), f.age()],
        "secrets" => vec![
            f.name(),
            json!(f.text(&["type"])),
            json!(data_count(o)),
            f.age(),
        ],
        "persistentvolumeclaims" => pvc_cells(&f),
        _ => vec![f.name(), json!(f.text(&["metadata", "creationTimestamp"]))],
    }
}

/// kubectl's `duration.HumanDuration` over whole seconds.
pub fn human_duration(seconds: i64) -> String {
    if seconds < -1 {
        return "<invalid>".into();
    }
    let s = seconds.max(0);
    let (minutes, hours, days) = (s / 60, s / 3600, s / 86400);
    let with = |big: i64, unit: &str, small: i64, small_unit: &str| {
        if small == 0 {
            format!("{big}{unit}")
        } else {
            format!("{big}{unit}{small}{small_unit}")
        }
    };
    match () {
        () if s < 120 => format!("{s}s"),
        () if minutes < 10 => with(minutes, "m", s % 60, "s"),
        () if minutes < 180 => format!("{minutes}m"),
        () if hours < 8 => with(hours, "h", minutes % 60, "m"),
        () if hours < 48 => format!("{hours}h"),
        () if hours < 24 * 8 => with(days, "d", hours % 24, "h"),
        () if hours < 24 * 365 * 2 => format!("{days}d"),
        () if hours < 24 * 365 * 8 => with(days / 365, "y", days % 365, "d"),
        () => format!("{}y", days / 365),
    }
}

pub(super) fn since(t: Timestamp, now: Timestamp) -> String {
    human_duration(now.as_second() - t.as_second())
}

pub(super) fn array<'a>(o: &'a Value, path: &[&str]) -> &'a [Value] {
    value_at(o, path)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

fn deployment_cells(f: &Fields<'_>) -> Vec<Value> {
    let (containers, images) = container_summary(f.o);
    let desired = f.int(&["spec", "replicas"]);
    let ready = format!("{}/{desired}", f.int(&["status", "readyReplicas"]));
    let updated = f.int(&["status", "updatedReplicas"]);
    let available = f.int(&["status", "availableReplicas"]);
    let selector = format_selector(value_at(f.o, &["spec", "selector"]));
    vec![
        f.name(),
        json!(ready),
        json!(updated),
        json!(available),
        f.age(),
        json!(containers),
        json!(images),
        json!(selector),
    ]
}

fn event_cells(f: &Fields<'_>) -> Vec<Value> {
    let last = ["lastTimestamp", "eventTime", "firstTimestamp"]
        .iter()
        .find(|field| str_at(f.o, &[field]).is_some())
        .map_or_else(|| "<unknown>".to_string(), |field| f.age_of(&[field]));
    let kind = f.text(&["involvedObject", "kind"]).to_lowercase();
    let object = format!("{kind}/{}", f.text(&["involvedObject", "name"]));
    let text = |field| json!(f.text(&[field]));
    vec![
        json!(last),
        text("type"),
        text("reason"),
        json!(object),
        text("message"),
    ]
}

fn cronjob_cells(f: &Fields<'_>) -> Vec<Value> {
    let active = array(f.o, &["status", "active"]).len();
    let last = match str_at(f.o, &["status", "lastScheduleTime"]) {
        Some(_) => f.age_of(&["status", "lastScheduleTime"]),
        None => "<none>".into(),
    };
    let suspend = value_at(f.o, &["spec", "suspend"])
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let schedule = f.text(&["spec", "schedule"]);
    vec![
        f.name(),
        json!(schedule),
        json!(suspend),
        json!(active),
        json!(last),
        f.age(),
    ]
}

fn pvc_cells(f: &Fields<'_>) -> Vec<Value> {
    let modes: Vec<&str> = array(f.o, &["status", "accessModes"])
        .iter()
        .filter_map(Value::as_str)
        .map(|mode| match mode {
            "ReadWriteOnce" => "RWO",
            "ReadOnlyMany" => "ROX",
            "ReadWriteMany" => "RWX",
            "ReadWriteOncePod" => "RWOP",
            other => other,
        })
        .collect();
    vec![
        f.name(),
        json!(f.text(&["status", "phase"])),
        json!(f.text(&["spec", "volumeName"])),
        json!(f.text(&["status", "capacity", "storage"])),
        json!(modes.join(",")),
        json!(f.or_none(&["spec", "storageClassName"])),
        f.age(),
    ]
}

fn data_count(o: &Value) -> usize {
    ["data", "binaryData", "stringData"]
        .iter()
        .filter_map(|field| o.get(*field).and_then(Value::as_object))
        .map(|m| m.len())
        .sum()
}

fn container_summary(o: &Value) -> (String, String) {
    let containers = array(o, &["spec", "template", "spec", "containers"]);
    let field = |name: &str| -> String {
        let values: Vec<&str> = containers.iter().filter_map(|c| c[name].as_str()).collect();
        values.join(",")
    };
    (field("name"), field("image"))
}

fn node_status(node: &Value) -> String {
    let ready = array(node, &["status", "conditions"])
        .iter()
        .find(|c| c["type"] == "Ready")
        .and_then(|c| c["status"].as_str());
    let mut status = match ready {
        Some("True") => "Ready",
        Some("False") => "NotReady",
        _ => "Unknown",
    }
    .to_string();
    if value_at(node, &["spec", "unschedulable"]) == Some(&json!(true)) {
        status.push_str(",SchedulingDisabled");
    }
    status
}

fn node_roles(node: &Value) -> String {
    let roles: Vec<&str> = meta::labels(node)
        .map(|l| {
            l.keys()
                .filter_map(|k| k.strip_prefix("node-role.kubernetes.io/"))
                .collect()
        })
        .unwrap_or_default();
    if roles.is_empty() {
        "<none>".into()
    } else {
        roles.join(",")
    }
}

fn job_status(job: &Value) -> &'static str {
    let conditions = array(job, &["status", "conditions"]);
    let has = |t: &str| {
        conditions
            .iter()
            .any(|c| c["type"] == t && c["status"] == "True")
    };
    ["Complete", "Failed", "Suspended"]
        .into_iter()
        .find(|t| has(t))
        .unwrap_or("Running")
}

fn job_duration(job: &Value, now: Timestamp) -> String {
    let time = |f: &str| str_at(job, &["status", f]).and_then(|t| t.parse::<Timestamp>().ok());
    match (time("startTime"), time("completionTime")) {
        (Some(start), end) => since(start, end.unwrap_or(now)),
        (None, _) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_print_like_kubectl() {
        assert_eq!(human_duration(5), "5s");
        assert_eq!(human_duration(150), "2m30s");
        assert_eq!(human_duration(3 * 3600 + 120), "3h2m");
        assert_eq!(human_duration(3 * 86400), "3d");
        assert_eq!(human_duration(2 * 86400 + 3600 * 5), "2d5h");
    }

    #[test]
    fn a_cordoned_ready_node_prints_scheduling_disabled() {
        let node = json!({"metadata": {"name": "n", "labels": {"node-role.kubernetes.io/worker": ""}},
            "spec": {"unschedulable": true},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]}});
        let row = cells("nodes", &node, Timestamp::now());
        assert_eq!(
            (row[1].as_str(), row[2].as_str()),
            (Some("Ready,SchedulingDisabled"), Some("worker"))
        );
    }
}
