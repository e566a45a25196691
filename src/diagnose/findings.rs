//! Findings: single observations, each pointing at a category with a weight and citing the
//! evidence item it came from. The diagnoser weighs them; it never looks at raw objects.

use crate::diagnose::endpoint::endpoint;
use crate::diagnose::patterns::{LOG_PATTERNS, MESSAGE_PATTERNS, classify};
use crate::diagnose::trust::without_request_text;
use crate::domain::evidence::{
    ClaimFacts, ContainerState, Evidence, LogFacts, NodeFacts, PodFacts,
};
use crate::domain::playbook::Heuristic;
use crate::domain::quantity::{format_memory, parse_memory};
use crate::domain::scheduling;
use crate::domain::signal::Signal;
use crate::domain::taxonomy::Category;

/// One observation.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// The category it points at.
    pub category: Category,
    /// How strongly, 0 – 1.
    pub weight: f64,
    /// The evidence item it cites.
    pub evidence: String,
    /// What was seen, with the specifics a human needs (names, images, messages).
    pub note: String,
    /// The structural fact that contradicts it, when one does: it may then not decide
    /// (see [`crate::diagnose::trust`]).
    pub contradicted: Option<String>,
}

fn finding(category: Category, weight: f64, evidence: &str, note: String) -> Finding {
    Finding {
        category,
        weight,
        evidence: evidence.to_owned(),
        note,
        contradicted: None,
    }
}

/// Shortens a message for a note.
pub fn clip(text: &str, max: usize) -> String {
    let text = text.trim();
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// Findings from the signal's own message (a condition or event message).
pub fn from_signal(signal: &Signal) -> Vec<Finding> {
    let Some(message) = signal.message.as_deref() else {
        return Vec::new();
    };
    classify(&MESSAGE_PATTERNS, message)
        .map(|p| {
            finding(
                p.category,
                p.weight * 0.9,
                "signal",
                format!("{}: {}", signal.reason, clip(message, 300)),
            )
        })
        .into_iter()
        .collect()
}

/// Findings from container states of the pods in evidence; the first pod (the target) counts
/// fully, siblings at a discount.
pub fn from_pods(evidence: &Evidence) -> Vec<Finding> {
    let mut out = Vec::new();
    for (index, (id, pod)) in evidence.pods().enumerate() {
        let scale = if index == 0 { 1.0 } else { 0.8 };
        for f in pod_findings(id, pod) {
            out.push(Finding {
                weight: f.weight * scale,
                ..f
            });
        }
    }
    out
}

fn pod_findings(id: &str, pod: &PodFacts) -> Vec<Finding> {
    let mut out = Vec::new();
    for c in pod.all_containers() {
        let name = &c.name;
        let limit = c
            .memory_limit
            .map(format_memory)
            .unwrap_or_else(|| "none".into());
        for state in [&c.state, &c.last_state].into_iter().flatten() {
            if let ContainerState::Terminated {
                reason: Some(r),
                exit_code,
                ..
            } = state
                && r == "OOMKilled"
            {
                out.push(finding(Category::OomKilled, 1.0, id, format!(
                    "container {name} in pod {} was OOMKilled (exit {exit_code}) at memory limit {limit} after {} restarts",
                    pod.name, c.restart_count
                )));
            }
        }
        match &c.state {
            Some(ContainerState::Waiting {
                reason: Some(reason),
                message,
            }) => {
                let text = format!("{reason} {}", message.as_deref().unwrap_or(""));
                if let Some(p) = classify(&MESSAGE_PATTERNS, &text) {
                    let secrets = if p.category == Category::ImagePull {
                        pull_secrets(pod)
                    } else {
                        String::new()
                    };
                    out.push(finding(
                        p.category,
                        p.weight,
                        id,
                        format!(
                            "container {name} ({}) is waiting: {reason}: {}{secrets}",
                            c.image,
                            clip(message.as_deref().unwrap_or(""), 300)
                        ),
                    ));
                } else if reason == "CrashLoopBackOff" {
                    out.push(crash_note(
                        id,
                        pod,
                        c.name.as_str(),
                        c.restart_count,
                        c.last_state.as_ref(),
                    ));
                }
            }
            Some(ContainerState::Terminated { exit_code, .. }) if *exit_code != 0 => {
                out.push(crash_note(
                    id,
                    pod,
                    c.name.as_str(),
                    c.restart_count,
                    c.state.as_ref(),
                ));
            }
            Some(ContainerState::Running { .. })
                if c.restart_count > 0
                    && matches!(c.last_state, Some(ContainerState::Terminated { exit_code, .. }) if exit_code != 0) =>
            {
                out.push(crash_note(
                    id,
                    pod,
                    c.name.as_str(),
                    c.restart_count,
                    c.last_state.as_ref(),
                ));
            }
            Some(ContainerState::Running { .. })
                if !c.ready && pod.phase.as_deref() == Some("Running") =>
            {
                let probe = c
                    .probes
                    .get("readiness")
                    .map(|p| format!(" (readiness probe {p})"))
                    .unwrap_or_default();
                out.push(finding(
                    Category::ProbeFailure,
                    0.45,
                    id,
                    format!("container {name} is running but not Ready{probe}"),
                ));
            }
            _ => {}
        }
        for state in [&c.state, &c.last_state].into_iter().flatten() {
            // A termination message is what the app wrote (or its last log lines): client text
            // in it is not classified. A runtime's own out-of-memory message names the cause
            // whatever its exit code (raising the limit still needs `OOMKilled`).
            let text = match state {
                ContainerState::Terminated { .. } => state.message().map(without_request_text),
                _ => state.message().map(std::borrow::Cow::Borrowed),
            };
            if let Some(text) = text.filter(|m| !m.is_empty())
                && let Some(p) =
                    classify(&LOG_PATTERNS, &text).or_else(|| classify(&MESSAGE_PATTERNS, &text))
            {
                let message = state.message().unwrap_or_default();
                out.push(finding(
                    p.category,
                    p.weight * 0.9,
                    id,
                    format!("container {name} terminated: {}", clip(message, 300)),
                ));
            }
        }
    }
    if let Some(c) = pod.condition("PodScheduled").filter(|c| !c.is_true()) {
        let message = c
            .message
            .clone()
            .filter(|m| !m.trim().is_empty())
            .or_else(|| c.reason.clone())
            .unwrap_or_default();
        let (category, weight) = classify(&MESSAGE_PATTERNS, &message)
            .map_or((Category::Unschedulable, 0.7), |p| (p.category, p.weight));
        out.push(finding(
            category,
            weight,
            id,
            format!(
                "pod {} cannot be scheduled: {}{}",
                pod.name,
                clip(&message, 300),
                if pod.node_selector.is_empty() {
                    String::new()
                } else {
                    format!(" (nodeSelector {})", pod.node_selector.join(", "))
                }
            ),
        ));
    }
    if pod.reason.as_deref() == Some("Evicted") {
        let message = pod.message.clone().unwrap_or_default();
        out.push(finding(
            Category::NodeFailure,
            0.85,
            id,
            format!(
                "pod {} was evicted from node {}: {}",
                pod.name,
                pod.node.as_deref().unwrap_or("?"),
                clip(&message, 300)
            ),
        ));
    }
    out
}

fn pull_secrets(pod: &PodFacts) -> String {
    if pod.image_pull_secrets.is_empty() {
        " (the pod names no imagePullSecrets)".into()
    } else {
        format!(" (imagePullSecrets: {})", pod.image_pull_secrets.join(", "))
    }
}

fn crash_note(
    id: &str,
    pod: &PodFacts,
    container: &str,
    restarts: i32,
    state: Option<&ContainerState>,
) -> Finding {
    let (code, reason) = match state {
        Some(ContainerState::Terminated {
            exit_code, reason, ..
        }) => (Some(*exit_code), reason.clone()),
        _ => (None, None),
    };
    // The runtime saying why the process could not even start is strong, specific evidence.
    let could_not_start = matches!(reason.as_deref(), Some("StartError" | "ContainerCannotRun"));
    let message = state
        .and_then(ContainerState::message)
        .filter(|m| !m.trim().is_empty())
        .map(|m| format!(": {}", clip(m, 300)))
        .unwrap_or_default();
    let code = code
        .map(|c| format!(" with exit code {c}"))
        .unwrap_or_default();
    let reason = reason.map(|r| format!(" ({r})")).unwrap_or_default();
    finding(
        Category::AppCrash,
        if could_not_start && !message.is_empty() {
            0.5
        } else {
            0.3
        },
        id,
        format!(
            "container {container} in pod {} keeps exiting{code}{reason}; {restarts} restarts{message}",
            pod.name
        ),
    )
}

/// Findings from Warning events (and a few telling Normal ones).
pub fn from_events(evidence: &Evidence) -> Vec<Finding> {
    let mut out = Vec::new();
    for (id, event) in evidence.events() {
        let text = format!("{} {}", event.reason, event.message);
        let relevant = event.is_warning()
            || matches!(
                event.reason.as_str(),
                "Killing" | "NodeNotReady" | "Evicted"
            );
        if !relevant {
            continue;
        }
        if let Some(p) = classify(&MESSAGE_PATTERNS, &text) {
            let repeated = if event.count > 1 {
                format!(" (×{})", event.count)
            } else {
                String::new()
            };
            let what = format!("{} {}", event.object.kind, event.object.name);
            out.push(finding(
                p.category,
                p.weight,
                id,
                format!(
                    "event {} on {what}{repeated}: {}",
                    event.reason,
                    clip(&event.message, 300)
                ),
            ));
        } else if matches!(
            event.reason.as_str(),
            "BackoffLimitExceeded" | "DeadlineExceeded"
        ) {
            out.push(finding(
                Category::JobFailed,
                0.9,
                id,
                format!("event {}: {}", event.reason, clip(&event.message, 300)),
            ));
        }
    }
    out
}

/// Findings from nodes, jobs, claims and quotas in evidence.
pub fn from_state(evidence: &Evidence) -> Vec<Finding> {
    let mut out = from_placement(evidence);
    for (id, node) in evidence.nodes().filter(|(_, n)| !n.candidate) {
        if let Some(ready) = node.condition("Ready").filter(|c| !c.is_true()) {
            out.push(finding(
                Category::NodeFailure,
                1.0,
                id,
                format!(
                    "node {} is NotReady (Ready={}, {}): {}",
                    node.name,
                    ready.status,
                    ready.reason.as_deref().unwrap_or("-"),
                    clip(ready.message.as_deref().unwrap_or(""), 200)
                ),
            ));
        }
        for c in node
            .conditions
            .iter()
            .filter(|c| c.kind.ends_with("Pressure") && c.is_true())
        {
            out.push(finding(
                Category::NodeFailure,
                0.9,
                id,
                format!(
                    "node {} has {}: {}",
                    node.name,
                    c.kind,
                    clip(c.message.as_deref().unwrap_or(""), 200)
                ),
            ));
        }
    }
    for (id, job) in evidence.jobs() {
        if let Some(c) = job
            .conditions
            .iter()
            .find(|c| c.kind == "Failed" && c.is_true())
        {
            out.push(finding(
                Category::JobFailed,
                1.0,
                id,
                format!(
                    "job {} failed: {}: {} ({} failed pods, backoffLimit {})",
                    job.name,
                    c.reason.as_deref().unwrap_or("Failed"),
                    clip(c.message.as_deref().unwrap_or(""), 200),
                    job.failed,
                    job.backoff_limit.map_or("-".into(), |b| b.to_string())
                ),
            ));
        }
    }
    for (id, claim) in evidence.claims() {
        if claim.phase.as_deref() != Some("Bound") {
            out.push(finding(
                Category::VolumeFailure,
                0.9,
                id,
                format!(
                    "claim {} is {} (storage class {})",
                    claim.name,
                    claim.phase.as_deref().unwrap_or("unknown"),
                    claim.storage_class.as_deref().unwrap_or("default")
                ),
            ));
        }
    }
    for (id, range) in evidence.limit_ranges() {
        out.push(finding(
            Category::QuotaExceeded,
            0.3,
            id,
            format!(
                "limitrange {}: {}",
                range.name,
                clip(&range.limits.join(", "), 200)
            ),
        ));
    }
    for (id, quota) in evidence.quotas() {
        for (resource, hard) in &quota.hard {
            let used = quota.used.get(resource);
            let full = match (used.and_then(|u| parse_memory(u)), parse_memory(hard)) {
                (Some(u), Some(h)) => h > 0 && u * 10 >= h * 9,
                _ => false,
            };
            if full {
                out.push(finding(
                    Category::QuotaExceeded,
                    0.4,
                    id,
                    format!(
                        "quota {} {resource}: used {} of {hard}",
                        quota.name,
                        used.map_or("?", String::as_str)
                    ),
                ));
            }
        }
    }
    out
}

/// Whether the scheduler said why `pod` waits: a FailedScheduling event about it, or a message
/// on its PodScheduled condition.
fn scheduler_spoke(evidence: &Evidence, pod: &PodFacts) -> bool {
    let condition = pod
        .condition("PodScheduled")
        .and_then(|c| c.message.as_deref())
        .is_some_and(|m| !m.trim().is_empty());
    condition
        || evidence.events().any(|(_, e)| {
            e.reason == "FailedScheduling" && e.object.kind == "Pod" && e.object.name == pod.name
        })
}

/// Findings from replaying the scheduler's filters for each Pending pod over the nodes in
/// evidence ([`scheduling::place`]): what rules out every node, named. Where the scheduler
/// already said why, this only adds the specifics its message leaves out.
pub fn from_placement(evidence: &Evidence) -> Vec<Finding> {
    let nodes: Vec<&NodeFacts> = evidence.nodes().map(|(_, n)| n).collect();
    let claims: Vec<&ClaimFacts> = evidence.claims().map(|(_, c)| c).collect();
    let mut out = Vec::new();
    for (index, (id, pod)) in evidence.pods().enumerate() {
        let Some(verdict) = scheduling::place(pod, &nodes, &claims) else {
            continue;
        };
        let spoke = scheduler_spoke(evidence, pod);
        let weight = match (spoke, index) {
            (false, 0) => 0.85,
            (false, _) => 0.75,
            (true, _) => 0.6,
        };
        let specifics = if verdict.specifics.is_empty() {
            String::new()
        } else {
            format!("; {}", verdict.specifics.join("; "))
        };
        let whence = if spoke {
            "read against the nodes in evidence"
        } else {
            "no scheduler event; read against the nodes in evidence"
        };
        out.push(finding(
            verdict.category,
            weight,
            id,
            format!(
                "pod {} is Pending ({whence}): {}{specifics}",
                pod.name, verdict.tally
            ),
        ));
    }
    out
}

/// Whether a log line says of itself that it is not an error (WARN, INFO, DEBUG), in plain or
/// JSON logs.
fn is_minor_level(line: &str) -> bool {
    static LEVEL: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r#"(?i)(^|[\s\[|])(WARN|WARNING|INFO|DEBUG|TRACE|W\d{4}|I\d{4})([\s\]|:]|$)|"(level|severity|lvl)"\s*:\s*"(warn|warning|info|debug|trace)""#)
            .expect("static regex")
    });
    let error = [
        "ERROR",
        "FATAL",
        "CRITICAL",
        "panic",
        "Exception",
        "Traceback",
    ];
    LEVEL.is_match(line) && !error.iter().any(|e| line.contains(e))
}

fn is_frame(line: &str) -> bool {
    let t = line.trim_start();
    (line.starts_with([' ', '\t'])
        && (t.starts_with("at ")
            || t.starts_with("File \"")
            || t.starts_with("...")
            || t.contains(".go:")))
        || t.starts_with("goroutine ")
        || t.is_empty()
}

/// Findings from logs. Lines near the end of a crashed container's log (stack frames skipped)
/// say why it exited and count fully; earlier matches are discounted.
pub fn from_logs(evidence: &Evidence) -> Vec<Finding> {
    let mut out = Vec::new();
    for (id, log) in evidence.logs() {
        out.extend(log_findings(id, log));
    }
    out
}

fn log_findings(id: &str, log: &LogFacts) -> Vec<Finding> {
    let mut out: Vec<Finding> = Vec::new();
    let meaningful: Vec<(usize, &String)> = log
        .lines
        .iter()
        .enumerate()
        .filter(|(_, l)| !is_frame(l))
        .collect();
    let tail_start = meaningful.len().saturating_sub(12);
    let base = if log.previous { 1.0 } else { 0.9 };
    for (position, (_, line)) in meaningful.iter().enumerate() {
        // What a client put in a request (a path, a query, a header) is not the app speaking.
        let Some(p) = classify(&LOG_PATTERNS, &without_request_text(line)) else {
            continue;
        };
        let near_end = position >= tail_start;
        let level = if is_minor_level(line) { 0.7 } else { 1.0 };
        let weight = p.weight * base * level * if near_end { 1.0 } else { 0.6 };
        let which = if log.previous { "previous log" } else { "log" };
        let mut note = format!(
            "{which} of {}/{}: {}",
            log.pod,
            log.container,
            clip(line, 300)
        );
        if p.category == Category::DependencyUnavailable {
            let context: Vec<&str> = meaningful[position.saturating_sub(2)..=position]
                .iter()
                .map(|(_, l)| l.as_str())
                .collect();
            if let Some(what) = endpoint(&context).filter(|e| !note.contains(e.as_str())) {
                note.push_str(&format!(" (dependency: {what})"));
            }
        }
        match out.iter_mut().find(|f| f.category == p.category) {
            Some(f) if f.weight < weight || (near_end && f.weight <= weight + 0.1) => {
                f.weight = weight.max(f.weight);
                f.note = note;
            }
            Some(_) => {}
            None => out.push(finding(p.category, weight, id, note)),
        }
    }
    out
}

/// Findings from alerts: the alert name and its annotations.
pub fn from_alerts(evidence: &Evidence) -> Vec<Finding> {
    let mut out = Vec::new();
    for (id, alert) in evidence.alerts() {
        let name = alert.alertname.as_str();
        let guess = [
            ("NodeNotReady", Category::NodeFailure, 0.8),
            ("NodeUnreachable", Category::NodeFailure, 0.8),
            ("Pressure", Category::NodeFailure, 0.7),
            ("JobFailed", Category::JobFailed, 0.8),
            ("JobNotCompleted", Category::JobFailed, 0.6),
            ("OOM", Category::OomKilled, 0.6),
            ("Memory", Category::OomKilled, 0.4),
            ("Quota", Category::QuotaExceeded, 0.5),
            ("PersistentVolume", Category::VolumeFailure, 0.6),
            ("ImagePull", Category::ImagePull, 0.8),
            ("CrashLooping", Category::AppCrash, 0.25),
            ("RolloutStuck", Category::BadDeploy, 0.3),
        ]
        .into_iter()
        .find(|(needle, _, _)| name.contains(needle));
        if let Some((_, category, weight)) = guess {
            out.push(finding(
                category,
                weight,
                id,
                format!("alert {name} is {}", alert.status),
            ));
        }
        for text in alert.annotations.values() {
            if let Some(p) =
                classify(&MESSAGE_PATTERNS, text).or_else(|| classify(&LOG_PATTERNS, text))
            {
                out.push(finding(
                    p.category,
                    p.weight * 0.6,
                    id,
                    format!("alert {name}: {}", clip(text, 300)),
                ));
            }
        }
    }
    out
}

/// Findings from metrics ([`crate::diagnose::metrics`]): memory against the limit, throttling, error
/// rate and latency, connection pools.
pub fn from_metrics(evidence: &Evidence) -> Vec<Finding> {
    crate::diagnose::metrics::findings(evidence)
}

/// Findings from a playbook's own heuristics, over log lines and event messages.
pub fn from_heuristics(evidence: &Evidence, heuristics: &[Heuristic]) -> Vec<Finding> {
    let mut out = Vec::new();
    for h in heuristics {
        let hit_log = evidence.logs().find_map(|(id, log)| {
            log.lines
                .iter()
                .find(|l| h.pattern.is_match(l))
                .map(|l| (id, l.clone()))
        });
        let hit = hit_log.or_else(|| {
            evidence
                .events()
                .find(|(_, e)| h.pattern.is_match(&e.message))
                .map(|(id, e)| (id, e.message.clone()))
        });
        if let Some((id, text)) = hit {
            out.push(finding(
                h.category,
                h.weight.clamp(0.0, 1.0),
                id,
                format!("playbook heuristic: {}", clip(&text, 300)),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests;
