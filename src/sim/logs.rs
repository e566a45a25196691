//! Container logs: per-container current and previous text, served by `pods/{name}/log`
//! with the kubelet's query options and its error messages.
//!
//! Contract for the kubelet model: `current` is the log of the container instance in
//! `state` (running or terminated); `previous` is the log of the instance in
//! `lastState.terminated`. When a container dies and will be restarted, call
//! [`LogStore::restart`] so the dead instance's log becomes `previous`.

use std::collections::HashMap;

use jiff::{SignedDuration, Timestamp};
use serde_json::Value;

use super::errors::{ApiError, ApiResult};
use super::meta;

/// One log line with the time the container wrote it.
#[derive(Debug, Clone, PartialEq)]
pub struct LogLine {
    /// When the line was written.
    pub at: Timestamp,
    /// The line without its newline.
    pub text: String,
}

#[derive(Debug, Default)]
struct ContainerLogs {
    current: Vec<LogLine>,
    previous: Option<Vec<LogLine>>,
}

/// The `pods/log` query options.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogQuery {
    /// `container`: required when the pod has more than one.
    pub container: Option<String>,
    /// `previous`: the log of the last terminated instance.
    pub previous: bool,
    /// `tailLines`: only the last N lines.
    pub tail_lines: Option<usize>,
    /// `limitBytes`: at most N bytes of output.
    pub limit_bytes: Option<usize>,
    /// `sinceSeconds`: only lines newer than this.
    pub since_seconds: Option<i64>,
    /// `sinceTime`: only lines at or after this time.
    pub since_time: Option<Timestamp>,
    /// `timestamps`: prefix each line with its RFC 3339 time.
    pub timestamps: bool,
}

type LogKey = (String, String, String);

/// Every container's logs.
#[derive(Debug, Default)]
pub struct LogStore {
    logs: HashMap<LogKey, ContainerLogs>,
}

fn key(namespace: &str, pod: &str, container: &str) -> LogKey {
    (namespace.into(), pod.into(), container.into())
}

fn to_lines(text: &str, at: Timestamp) -> Vec<LogLine> {
    text.lines()
        .map(|l| LogLine {
            at,
            text: l.to_string(),
        })
        .collect()
}

impl LogStore {
    /// Replaces the current or previous log of a container with `text`, every line stamped `at`.
    pub fn set(
        &mut self,
        ns: &str,
        pod: &str,
        container: &str,
        previous: bool,
        text: &str,
        at: Timestamp,
    ) {
        let logs = self.logs.entry(key(ns, pod, container)).or_default();
        if previous {
            logs.previous = Some(to_lines(text, at));
        } else {
            logs.current = to_lines(text, at);
        }
    }

    /// Appends lines to the current log of a container.
    pub fn append(&mut self, ns: &str, pod: &str, container: &str, text: &str, at: Timestamp) {
        let logs = self.logs.entry(key(ns, pod, container)).or_default();
        logs.current.extend(to_lines(text, at));
    }

    /// The container restarted: its current log becomes the previous one.
    pub fn restart(&mut self, ns: &str, pod: &str, container: &str) {
        let logs = self.logs.entry(key(ns, pod, container)).or_default();
        logs.previous = Some(std::mem::take(&mut logs.current));
    }

    /// Forgets every log of a pod (it was deleted).
    pub fn remove_pod(&mut self, ns: &str, pod: &str) {
        self.logs.retain(|(n, p, _), _| !(n == ns && p == pod));
    }

    /// Reads a log as `GET pods/{name}/log` would, checking the container and its state.
    pub fn read(&self, pod: &Value, query: &LogQuery, now: Timestamp) -> ApiResult<Vec<u8>> {
        let (ns, pod_name) = (meta::namespace(pod), meta::name(pod));
        let container = choose_container(pod, query.container.as_deref())?;
        let logs = self.logs.get(&key(ns, pod_name, &container));
        let lines = match serve_from(pod, &container, query.previous)? {
            Source::Previous => logs.and_then(|l| l.previous.as_deref()),
            Source::Current => logs.map(|l| l.current.as_slice()),
            Source::PreviousIfStored => match logs.and_then(|l| l.previous.as_deref()) {
                Some(lines) => Some(lines),
                None => {
                    return Err(ApiError::bad_request(format!(
                        "previous terminated container \"{container}\" in pod \"{pod_name}\" \
                         not found"
                    )));
                }
            },
        };
        Ok(render(lines.unwrap_or_default(), query, now))
    }
}

enum Source {
    Current,
    Previous,
    /// No container status to go by: serve the stored previous log or refuse.
    PreviousIfStored,
}

fn choose_container(pod: &Value, wanted: Option<&str>) -> ApiResult<String> {
    let names = |field: &str| -> Vec<String> {
        meta::value_at(pod, &["spec", field])
            .and_then(Value::as_array)
            .map(|cs| {
                cs.iter()
                    .filter_map(|c| c.get("name").and_then(Value::as_str).map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let (containers, init) = (names("containers"), names("initContainers"));
    let pod_name = meta::name(pod);
    match wanted {
        Some(c) if containers.iter().chain(&init).any(|n| n == c) => Ok(c.to_string()),
        Some(c) => Err(ApiError::bad_request(format!(
            "container {c} is not valid for pod {pod_name}"
        ))),
        None if containers.len() == 1 => Ok(containers[0].clone()),
        None => Err(ApiError::bad_request(format!(
            "a container name must be specified for pod {pod_name}, choose one of: [{}]",
            containers.join(" ")
        ))),
    }
}

/// Which log the kubelet would serve, from the container's status (its
/// `validateContainerLogStatus`).
fn serve_from(pod: &Value, container: &str, previous: bool) -> ApiResult<Source> {
    let pod_name = meta::name(pod);
    let status = ["containerStatuses", "initContainerStatuses"]
        .iter()
        .filter_map(|f| meta::value_at(pod, &["status", f]).and_then(Value::as_array))
        .flatten()
        .find(|s| s.get("name").and_then(Value::as_str) == Some(container));
    let Some(status) = status else {
        return Ok(if previous {
            Source::PreviousIfStored
        } else {
            Source::Current
        });
    };
    let state = |key: &str| status.get("state").and_then(|s| s.get(key));
    let last_terminated = status
        .get("lastState")
        .and_then(|s| s.get("terminated"))
        .is_some();
    if previous {
        return if last_terminated {
            Ok(Source::Previous)
        } else {
            Err(ApiError::bad_request(format!(
                "previous terminated container \"{container}\" in pod \"{pod_name}\" not found"
            )))
        };
    }
    if state("running").is_some() || state("terminated").is_some() {
        return Ok(Source::Current);
    }
    if last_terminated {
        return Ok(Source::Previous);
    }
    let waiting = state("waiting")
        .and_then(|w| w.get("reason"))
        .and_then(Value::as_str);
    let why = match waiting {
        Some("ErrImagePull") => ": image can't be pulled".to_string(),
        Some("ImagePullBackOff") => ": trying and failing to pull image".to_string(),
        Some(reason) => format!(": {reason}"),
        None => " - no logs yet".to_string(),
    };
    Err(ApiError::bad_request(format!(
        "container \"{container}\" in pod \"{pod_name}\" is waiting to start{why}"
    )))
}

fn render(lines: &[LogLine], query: &LogQuery, now: Timestamp) -> Vec<u8> {
    let since = match (query.since_time, query.since_seconds) {
        (Some(t), _) => Some(t),
        (None, Some(secs)) => now.checked_sub(SignedDuration::from_secs(secs)).ok(),
        (None, None) => None,
    };
    let recent: Vec<&LogLine> = lines
        .iter()
        .filter(|l| since.is_none_or(|s| l.at >= s))
        .collect();
    let skip = query
        .tail_lines
        .map_or(0, |n| recent.len().saturating_sub(n));
    let mut out = Vec::new();
    for line in &recent[skip..] {
        if query.timestamps {
            out.extend_from_slice(format!("{} ", line.at).as_bytes());
        }
        out.extend_from_slice(line.text.as_bytes());
        out.push(b'\n');
    }
    if let Some(limit) = query.limit_bytes {
        out.truncate(limit);
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn pod(status: Value) -> Value {
        json!({"metadata": {"namespace": "shop", "name": "web-1"},
               "spec": {"containers": [{"name": "app"}, {"name": "proxy"}]},
               "status": {"containerStatuses": [status]}})
    }

    fn read(store: &LogStore, pod: &Value, query: LogQuery) -> Result<String, String> {
        store
            .read(pod, &query, Timestamp::now())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .map_err(|e| e.message)
    }

    fn app(previous: bool) -> LogQuery {
        LogQuery {
            container: Some("app".into()),
            previous,
            ..LogQuery::default()
        }
    }

    #[test]
    fn a_crash_looping_container_serves_its_last_run_with_or_without_previous() {
        let mut store = LogStore::default();
        store.set(
            "shop",
            "web-1",
            "app",
            false,
            "panic: boom\n",
            Timestamp::now(),
        );
        store.restart("shop", "web-1", "app");
        let p = pod(
            json!({"name": "app", "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                           "lastState": {"terminated": {"exitCode": 1}}}),
        );
        assert_eq!(read(&store, &p, app(true)), Ok("panic: boom\n".into()));
        assert_eq!(read(&store, &p, app(false)), Ok("panic: boom\n".into()));
    }

    #[test]
    fn containers_must_be_named_and_valid() {
        let store = LogStore::default();
        let p = pod(json!({"name": "app", "state": {"running": {}}}));
        let err = read(&store, &p, LogQuery::default());
        assert_eq!(
            err,
            Err(
                "a container name must be specified for pod web-1, choose one of: [app proxy]"
                    .into()
            )
        );
        let q = LogQuery {
            container: Some("db".into()),
            ..LogQuery::default()
        };
        assert_eq!(
            read(&store, &p, q),
            Err("container db is not valid for pod web-1".into())
        );
        assert!(read(&store, &p, app(true)).is_err_and(|e| e.contains("previous terminated")));
    }

    #[test]
    fn a_waiting_container_explains_why_it_has_no_log() {
        let store = LogStore::default();
        let p = pod(json!({"name": "app", "state": {"waiting": {"reason": "ImagePullBackOff"}}}));
        let err = read(&store, &p, app(false));
        assert_eq!(err, Err("container \"app\" in pod \"web-1\" is waiting to start: trying and failing to pull image".into()));
    }

    #[test]
    fn tail_lines_limit_bytes_and_since_seconds_trim_the_output() {
        let mut store = LogStore::default();
        let old = Timestamp::now() - SignedDuration::from_secs(3600);
        store.set("shop", "web-1", "app", false, "old\n", old);
        store.append("shop", "web-1", "app", "a\nb\nc", Timestamp::now());
        let p = pod(json!({"name": "app", "state": {"running": {}}}));
        let tail = LogQuery {
            tail_lines: Some(2),
            ..app(false)
        };
        assert_eq!(read(&store, &p, tail), Ok("b\nc\n".into()));
        let since = LogQuery {
            since_seconds: Some(60),
            ..app(false)
        };
        assert_eq!(read(&store, &p, since), Ok("a\nb\nc\n".into()));
        let limit = LogQuery {
            limit_bytes: Some(5),
            ..app(false)
        };
        assert_eq!(read(&store, &p, limit), Ok("old\na".into()));
    }
}
