//! One-line summaries and bounded excerpts of evidence items, and the text cleaning every
//! untrusted string goes through before it reaches a template.

use std::borrow::Cow;
use std::sync::OnceLock;

use regex::Regex;
use serde::Serialize;

use crate::domain::evidence::{ConditionFacts, ContainerFacts, EvidenceItem, Facts};
use crate::domain::policy::truncate;

/// The most log lines shown per log.
pub const MAX_LOG_LINES: usize = 20;
/// The most characters shown per log line.
pub const MAX_LINE_CHARS: usize = 240;
/// The most characters of any one-line text field.
pub const MAX_TEXT_CHARS: usize = 600;

/// An evidence item as the report shows it.
#[derive(Debug, Clone, Serialize)]
pub struct EvidenceView {
    /// The item's id.
    pub id: String,
    /// `pod`, `event`, `log`...
    pub kind: &'static str,
    /// One line saying what it shows.
    pub summary: String,
    /// The last log lines (logs only), cleaned and bounded.
    pub lines: Vec<String>,
    /// How many earlier lines were left out (including any the gatherer dropped).
    pub omitted: usize,
    /// Whether the gatherer had already truncated the log.
    pub truncated: bool,
    /// Whether the diagnosis cites it.
    pub cited: bool,
}

/// Builds the view of one item.
pub fn view(item: &EvidenceItem, cited: bool) -> EvidenceView {
    let (kind, summary) = summarize(&item.facts);
    let (lines, omitted, truncated) = match &item.facts {
        Facts::Log(log) => {
            let keep = log.lines.len().saturating_sub(MAX_LOG_LINES);
            let lines = log.lines[keep..]
                .iter()
                .map(|line| clean_line(line, MAX_LINE_CHARS))
                .collect();
            (lines, keep, log.truncated)
        }
        _ => (Vec::new(), 0, false),
    };
    EvidenceView {
        id: clean_line(&item.id, MAX_TEXT_CHARS),
        kind,
        summary: clean_line(&summary, MAX_TEXT_CHARS),
        lines,
        omitted,
        truncated,
        cited,
    }
}

fn summarize(facts: &Facts) -> (&'static str, String) {
    match facts {
        Facts::Pod(pod) => {
            let containers: Vec<String> = pod.all_containers().map(container).collect();
            let phase = pod.phase.as_deref().unwrap_or("unknown phase");
            let node = pod
                .node
                .as_deref()
                .map(|n| format!(" on {n}"))
                .unwrap_or_default();
            let detail = pod
                .message
                .as_deref()
                .or(pod.reason.as_deref())
                .map(|m| format!(" — {m}"));
            (
                "pod",
                format!(
                    "Pod {}/{}: {phase}{node}{}; {}",
                    pod.namespace,
                    pod.name,
                    detail.unwrap_or_default(),
                    containers.join("; ")
                ),
            )
        }
        Facts::Event(event) => {
            let times = if event.count > 1 {
                format!(" (×{})", event.count)
            } else {
                String::new()
            };
            (
                "event",
                format!(
                    "{} {}{times} on {}: {}",
                    event.kind, event.reason, event.object, event.message
                ),
            )
        }
        Facts::Log(log) => {
            let which = if log.previous { "previous" } else { "current" };
            (
                "log",
                format!(
                    "{which} log of {}/{} container {} ({} lines kept)",
                    log.namespace,
                    log.pod,
                    log.container,
                    log.lines.len()
                ),
            )
        }
        Facts::Rollout(rollout) => {
            let newest = rollout.newest().map(|rev| {
                let cause = rev
                    .change_cause
                    .as_deref()
                    .map(|c| format!(" ({c})"))
                    .unwrap_or_default();
                let images: Vec<&str> = rev.containers.iter().map(|c| c.image.as_str()).collect();
                format!(
                    "; newest revision {}{cause}: {}",
                    rev.revision,
                    images.join(", ")
                )
            });
            (
                "rollout",
                format!(
                    "{}: {}/{} ready, {} updated, {} available{}",
                    rollout.deployment,
                    rollout.ready_replicas,
                    rollout.replicas,
                    rollout.updated_replicas,
                    rollout.available_replicas,
                    newest.unwrap_or_default()
                ),
            )
        }
        Facts::Node(node) => {
            let cordoned = if node.unschedulable { ", cordoned" } else { "" };
            (
                "node",
                format!(
                    "Node {}: {}{cordoned}",
                    node.name,
                    conditions(&node.conditions)
                ),
            )
        }
        Facts::Job(job) => (
            "job",
            format!(
                "Job {}/{}: {} active, {} succeeded, {} failed (backoff limit {}); {}",
                job.namespace,
                job.name,
                job.active,
                job.succeeded,
                job.failed,
                job.backoff_limit
                    .map_or("default".to_owned(), |n| n.to_string()),
                conditions(&job.conditions)
            ),
        ),
        Facts::CronJob(cron) => (
            "cronjob",
            format!(
                "CronJob {}/{} `{}`{}",
                cron.namespace,
                cron.name,
                cron.schedule,
                if cron.suspended { ", suspended" } else { "" }
            ),
        ),
        Facts::Quota(quota) => {
            let used: Vec<String> = quota
                .hard
                .iter()
                .map(|(k, hard)| {
                    format!(
                        "{k} {}/{hard}",
                        quota.used.get(k).map_or("?", String::as_str)
                    )
                })
                .collect();
            (
                "quota",
                format!(
                    "ResourceQuota {}/{}: {}",
                    quota.namespace,
                    quota.name,
                    used.join(", ")
                ),
            )
        }
        Facts::LimitRange(range) => (
            "limit-range",
            format!(
                "LimitRange {}/{}: {}",
                range.namespace,
                range.name,
                range.limits.join("; ")
            ),
        ),
        Facts::Claim(claim) => (
            "claim",
            format!(
                "PVC {}/{}: {} (class {})",
                claim.namespace,
                claim.name,
                claim.phase.as_deref().unwrap_or("unknown phase"),
                claim.storage_class.as_deref().unwrap_or("default")
            ),
        ),
        Facts::Config(config) => (
            "config",
            format!(
                "{} {}/{} exists with keys: {}",
                config.kind,
                config.namespace,
                config.name,
                config.keys.join(", ")
            ),
        ),
        Facts::Metric(metric) => {
            let series: Vec<String> = metric
                .series
                .iter()
                .take(5)
                .map(|s| format!("latest {} max {}", s.latest, s.max))
                .collect();
            ("metric", format!("{}: {}", metric.query, series.join("; ")))
        }
        Facts::Alert(alert) => {
            let summary = alert
                .annotations
                .get("summary")
                .or(alert.annotations.get("description"));
            (
                "alert",
                format!(
                    "alert {} ({}){}",
                    alert.alertname,
                    alert.status,
                    summary.map(|s| format!(": {s}")).unwrap_or_default()
                ),
            )
        }
        Facts::DisruptionBudget(pdb) => (
            "disruption-budget",
            format!(
                "PodDisruptionBudget {}/{}: {} disruption(s) allowed, {} healthy of {} desired",
                pdb.namespace,
                pdb.name,
                pdb.disruptions_allowed,
                pdb.current_healthy,
                pdb.desired_healthy
            ),
        ),
    }
}

fn container(c: &ContainerFacts) -> String {
    let state = c
        .state
        .as_ref()
        .and_then(|s| s.reason())
        .or_else(|| c.last_state.as_ref().and_then(|s| s.reason()))
        .unwrap_or(if c.ready { "ready" } else { "not ready" });
    let exit = c
        .last_state
        .as_ref()
        .and_then(|s| s.exit_code())
        .map(|code| format!(", last exit {code}"))
        .unwrap_or_default();
    format!(
        "{} ({}) {state}, {} restarts{exit}",
        c.name, c.image, c.restart_count
    )
}

fn conditions(conditions: &[ConditionFacts]) -> String {
    let shown: Vec<String> = conditions
        .iter()
        .map(|c| match &c.reason {
            Some(reason) => format!("{}={} ({reason})", c.kind, c.status),
            None => format!("{}={}", c.kind, c.status),
        })
        .collect();
    if shown.is_empty() {
        "no conditions reported".to_owned()
    } else {
        shown.join(", ")
    }
}

fn ansi() -> Option<&'static Regex> {
    static ANSI: OnceLock<Option<Regex>> = OnceLock::new();
    // A literal pattern that compiles; were it ever not to, the ESC bytes would still be
    // replaced below, only the rest of each sequence would remain.
    ANSI.get_or_init(|| {
        Regex::new(r"\x1b(\[[0-9;?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)?)").ok()
    })
    .as_ref()
}

/// Untrusted text made safe to print on one line: terminal escape sequences removed, other
/// control characters (newlines included) turned into spaces or U+FFFD, and bounded to `max`
/// bytes with an ellipsis. HTML escaping is the template's job.
pub fn clean_line(text: &str, max: usize) -> String {
    let stripped = match ansi() {
        Some(re) => re.replace_all(text, ""),
        None => Cow::Borrowed(text),
    };
    let mut out: String = stripped
        .chars()
        .map(|c| match c {
            '\n' | '\r' | '\t' => ' ',
            c if c.is_control() => '\u{fffd}',
            c => c,
        })
        .collect();
    if out.len() > max {
        out = truncate(&out, max);
        out.push('…');
    }
    out
}

/// Like [`clean_line`], but keeps line breaks (for pretty-printed JSON).
pub fn clean_block(text: &str, max: usize) -> String {
    let lines: Vec<String> = text.lines().map(|line| clean_line(line, max)).collect();
    let joined = lines.join("\n");
    if joined.len() > max {
        let mut out = truncate(&joined, max);
        out.push('…');
        out
    } else {
        joined
    }
}

#[cfg(test)]
mod tests {
    use super::clean_line;

    #[test]
    fn terminal_escapes_and_control_characters_are_removed() {
        let line = "\u{1b}[32m INFO\u{1b}[0;39m ok\u{7}\nnext\u{1b}]0;title\u{7}";
        assert_eq!(clean_line(line, 100), " INFO ok\u{fffd} next");
    }

    #[test]
    fn long_lines_are_cut_on_a_character_boundary() {
        let line = "é".repeat(100);
        let cut = clean_line(&line, 11);
        assert_eq!(cut, format!("{}…", "é".repeat(5)));
    }
}
