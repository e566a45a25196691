//! Container logs through `pods/{name}/log`: the previous (crashed) instance and the current one,
//! asked only when the container's status says the kubelet has them, each with `tailLines` and
//! `limitBytes`. A 400 or 404 (no previous instance, still waiting) is missing evidence.
//!
//! `limitBytes` keeps the *head* of what `tailLines` selects, while the crash is at the end; so
//! the byte limit allows twice the evidence budget (cleaning ANSI codes shrinks the text before
//! [`reduce_log`](crate::diagnose::reduce::reduce_log) budgets it), and a log cut by it is read
//! again with fewer lines. `tailLines` asks one line more than the budget, so the reduced log
//! says `truncated` exactly when the log is longer than what was kept.

use futures::AsyncReadExt;
use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use kube::api::LogParams;

use super::fetch::{Absent, Fetch};
use crate::domain::playbook::EvidenceSpec;
use crate::k8s::scope::MAX_LOGGED_PODS;

/// How many times the evidence budget `limitBytes` allows.
const READ_FACTOR: usize = 2;

/// Reads the logs of the first [`MAX_LOGGED_PODS`] of `pods` (the scope's, in its order) that
/// have any, as the pure gatherer picks them.
pub(super) async fn read(f: &mut Fetch, pods: &[Pod], spec: &EvidenceSpec) {
    let mut logged = 0;
    for pod in pods {
        if logged == MAX_LOGGED_PODS {
            break;
        }
        let (Some(ns), Some(name)) = (&pod.metadata.namespace, &pod.metadata.name) else {
            continue;
        };
        let before = f.logs.len();
        for (container, status) in containers(pod)
            .into_iter()
            .take(f.limits.max_log_containers)
        {
            let Some(status) = status else { continue };
            let state = status.state.as_ref();
            let has_previous = status
                .last_state
                .as_ref()
                .is_some_and(|s| s.terminated.is_some());
            let has_current = state.is_some_and(|s| s.running.is_some() || s.terminated.is_some());
            let wanted = [
                (true, spec.previous_logs && has_previous),
                // A waiting container's "current" log is its previous instance's again.
                (false, has_current || (has_previous && !spec.previous_logs)),
            ];
            for (previous, _) in wanted.into_iter().filter(|(_, want)| *want) {
                // An empty log is no evidence, as a fixture without a log file.
                let text = read_one(f, ns, name, &container, previous, spec).await;
                if let Some(text) = text.filter(|t| !t.trim().is_empty()) {
                    f.logs
                        .insert((name.clone(), container.clone(), previous), text);
                }
            }
        }
        logged += usize::from(f.logs.len() > before);
    }
}

/// Init containers then app containers, each with its status when reported.
fn containers(pod: &Pod) -> Vec<(String, Option<ContainerStatus>)> {
    let Some(spec) = &pod.spec else {
        return Vec::new();
    };
    let status = pod.status.as_ref();
    let find = |statuses: Option<&Vec<ContainerStatus>>, name: &str| {
        statuses.and_then(|list| list.iter().find(|s| s.name == name).cloned())
    };
    let init = spec.init_containers.iter().flatten().map(|c| {
        let statuses = status.and_then(|s| s.init_container_statuses.as_ref());
        (c.name.clone(), find(statuses, &c.name))
    });
    let app = spec.containers.iter().map(|c| {
        let statuses = status.and_then(|s| s.container_statuses.as_ref());
        (c.name.clone(), find(statuses, &c.name))
    });
    init.chain(app).collect()
}

async fn read_one(
    f: &mut Fetch,
    ns: &str,
    pod: &str,
    container: &str,
    previous: bool,
    spec: &EvidenceSpec,
) -> Option<String> {
    let limit = spec.log_max_bytes.max(1).saturating_mul(READ_FACTOR);
    let tail = spec.log_tail_lines.saturating_add(1);
    let (text, cut) = read_bytes(f, ns, pod, container, previous, tail, limit).await?;
    if !cut {
        return Some(text);
    }
    // The byte limit kept the head of the tail: ask again for as many lines as fit.
    let lines = text.lines().count().max(1);
    let fitting = (lines * limit * 3 / 4 / text.len().max(1)).clamp(1, tail);
    let (text, _) = read_bytes(f, ns, pod, container, previous, fitting, limit).await?;
    Some(text)
}

/// One `GET pods/{pod}/log`; the text (lossy UTF-8, for a limit may split a character) and
/// whether `limitBytes` cut it.
async fn read_bytes(
    f: &mut Fetch,
    ns: &str,
    pod: &str,
    container: &str,
    previous: bool,
    tail: usize,
    limit: usize,
) -> Option<(String, bool)> {
    let params = LogParams {
        container: Some(container.to_owned()),
        previous,
        tail_lines: Some(i64::try_from(tail).unwrap_or(i64::MAX)),
        limit_bytes: Some(i64::try_from(limit).unwrap_or(i64::MAX)),
        ..LogParams::default()
    };
    let api = f.namespaced::<Pod>(ns);
    let which = if previous { " (previous)" } else { "" };
    let what = format!("get pods/log {ns}/{pod} {container}{which}");
    // Never keep more than the limit, whatever the server sends.
    let cap = u64::try_from(limit).unwrap_or(u64::MAX);
    let request = async {
        let stream = api.log_stream(pod, &params).await?;
        let stream = std::pin::pin!(stream);
        let mut bytes = Vec::new();
        stream
            .take(cap)
            .read_to_end(&mut bytes)
            .await
            .map_err(kube::Error::ReadEvents)?;
        Ok(bytes)
    };
    let bytes = f.call(what, Absent::NoLog, request).await?;
    let cut = bytes.len() >= limit;
    Some((String::from_utf8_lossy(&bytes).into_owned(), cut))
}
