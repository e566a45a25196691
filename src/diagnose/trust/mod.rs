//! Untrusted text weighed against structure. Log lines and Events can be written by anyone who
//! can send the app a request or create an Event (Events about Nodes live in `default`); what the
//! kubelet and the controllers record in status cannot. So a finding from a log, an Event, an
//! alert or the signal's message keeps its weight only while no structural fact contradicts it:
//!
//! - node trouble claimed about a Node that is Ready=True with no pressure condition;
//! - a probe failure claimed for a pod none of whose containers has that probe;
//! - running out of memory claimed by an Event, an alert or the signal while no container
//!   terminated `OOMKilled` and one terminated for another reason with an exit code other than
//!   137 (a runtime's own out-of-memory log line and the memory series are not contradicted by
//!   its exit code: a JVM or Node heap exhaustion exits 1, 3 or 134; raising the limit still
//!   needs an `OOMKilled` termination, `domain::corroborate`);
//! - a Job failure claimed about a Job whose status has no `Failed=True` condition.
//!
//! A contradicted finding keeps its note (and says what contradicts it) but drops to
//! [`CONTRADICTED_WEIGHT`], too weak to decide a category or to contribute. Log text a client
//! controls (request lines, paths, queries, URLs, user agents) is not classified at all.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::Regex;

use crate::diagnose::findings::Finding;
use crate::domain::evidence::{ContainerState, EventFacts, Evidence, NodeFacts, PodFacts};
use crate::domain::signal::Signal;
use crate::domain::taxonomy::Category;

/// The weight of a contradicted finding: below every threshold that decides or contributes.
pub const CONTRADICTED_WEIGHT: f64 = 0.2;

static REQUEST_TEXT: LazyLock<Regex> = LazyLock::new(|| {
    const KEYS: &str = "(?i:path|uri|url|request|request_uri|request_path|query|query_string|querystring|referr?er|http_referer|user_?agent|http_user_agent)";
    Regex::new(&format!(
        concat!(
            // A quoted request line, as access logs print it: "GET /path?q=... HTTP/1.1".
            r#""(?:GET|POST|PUT|DELETE|PATCH|HEAD|OPTIONS|CONNECT|TRACE) [^"]*""#,
            // logfmt `key=value` and JSON `"key": "value"` fields that carry what a client sent.
            r#"|\b{keys}=(?:"(?:[^"\\]|\\.)*"|'[^']*'|\S+)"#,
            r#"|"{keys}"\s*:\s*"(?:[^"\\]|\\.)*""#,
            // An unquoted request line, a URL, or a path with a query string.
            r#"|\b(?:GET|POST|PUT|DELETE|PATCH|HEAD|OPTIONS) /\S*|\b[a-z][a-z0-9+.-]*://\S+|(?:^|\s)/\S*\?\S*"#,
        ),
        keys = KEYS
    ))
    .expect("static regex")
});

/// A record about one client request (nginx's error log names the `client:`; access logs print
/// the request line): every quoted string in it — path, file looked up for it, referer, user
/// agent, host — came from the client.
static REQUEST_RECORD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"\bclient: \S+|"(?:GET|POST|PUT|DELETE|PATCH|HEAD|OPTIONS|CONNECT|TRACE) [^"]*""#)
        .expect("static regex")
});

static QUOTED: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#""(?:[^"\\]|\\.)*""#).expect("static regex"));

/// `line` with the text a client controls replaced by `<request>`.
pub fn without_request_text(line: &str) -> Cow<'_, str> {
    let stripped = REQUEST_TEXT.replace_all(line, " <request> ");
    if REQUEST_RECORD.is_match(line) {
        Cow::Owned(QUOTED.replace_all(&stripped, "<request>").into_owned())
    } else {
        stripped
    }
}

/// Where a finding came from.
enum Source<'a> {
    /// Pod, node, job, claim, rollout status: written by the kubelet and the controllers.
    Structure,
    /// An Event.
    Event(&'a EventFacts),
    /// The signal's own message (an Event's or a condition's).
    Signal,
    /// A log line, an alert annotation, a metric.
    Text,
}

fn source<'a>(finding: &Finding, evidence: &'a Evidence) -> Source<'a> {
    let id = finding.evidence.as_str();
    if id == "signal" {
        return Source::Signal;
    }
    if let Some((_, event)) = evidence.events().find(|(eid, _)| *eid == id) {
        return Source::Event(event);
    }
    if ["log/", "alert/", "metric/"]
        .iter()
        .any(|p| id.starts_with(p))
    {
        return Source::Text;
    }
    Source::Structure
}

/// Demotes every finding a structural fact contradicts.
pub fn weigh(findings: &mut [Finding], signal: &Signal, evidence: &Evidence) {
    for f in findings.iter_mut() {
        let about = match source(f, evidence) {
            Source::Structure => continue,
            Source::Event(e) => Some((e.object.kind.as_str(), e.object.name.as_str())),
            Source::Signal => Some((signal.target.kind.as_str(), signal.target.name.as_str())),
            Source::Text if signal.target.kind == "Node" => {
                Some(("Node", signal.target.name.as_str()))
            }
            Source::Text => None,
        };
        let contradiction = match f.category {
            Category::NodeFailure => about.and_then(|a| healthy_node(a, evidence)),
            Category::ProbeFailure => about.and_then(|a| missing_probe(a, &f.note, evidence)),
            // A runtime that runs out of heap exits with its own code (the JVM 1 or 3, Node 134,
            // Go 2): its own log line and the memory series are not contradicted by that exit.
            // A claim from an Event, the signal or an alert is, unless some container was
            // OOMKilled or exited 137.
            Category::OomKilled if f.evidence.starts_with("log/") => None,
            Category::OomKilled if f.evidence.starts_with("metric/") => None,
            Category::OomKilled => not_oom_killed(evidence),
            Category::JobFailed => about.and_then(|a| job_not_failed(a, evidence)),
            _ => None,
        };
        if let Some(why) = contradiction {
            contradict(f, why);
        }
    }
}

/// Marks `finding` as contradicted by `why`: it keeps its note but may no longer decide.
pub fn contradict(finding: &mut Finding, why: String) {
    finding.weight = finding.weight.min(CONTRADICTED_WEIGHT);
    finding.note.push_str(&format!(" (contradicted: {why})"));
    finding.contradicted = Some(why);
}

/// The node a finding is about: the Node itself, or the node a Pod runs on.
fn node_about<'a>((kind, name): (&str, &str), evidence: &'a Evidence) -> Option<&'a NodeFacts> {
    let node = match kind {
        "Node" => name.to_owned(),
        "Pod" => evidence
            .pods()
            .find(|(_, p)| p.name == name)?
            .1
            .node
            .clone()?,
        _ => return None,
    };
    evidence.nodes().map(|(_, n)| n).find(|n| n.name == node)
}

fn healthy_node(about: (&str, &str), evidence: &Evidence) -> Option<String> {
    let node = node_about(about, evidence)?;
    let ready = node.condition("Ready").is_some_and(|c| c.is_true());
    let pressure = node
        .conditions
        .iter()
        .any(|c| c.kind.ends_with("Pressure") && c.is_true());
    (ready && !pressure).then(|| format!("node {} is Ready=True with no pressure", node.name))
}

fn missing_probe(about: (&str, &str), note: &str, evidence: &Evidence) -> Option<String> {
    let (kind, name) = about;
    if kind != "Pod" {
        return None;
    }
    let pod: &PodFacts = evidence.pods().find(|(_, p)| p.name == name)?.1;
    let text = note.to_lowercase();
    let probe = ["liveness", "readiness", "startup"]
        .into_iter()
        .find(|p| text.contains(p))?;
    let has = pod.all_containers().any(|c| c.probes.contains_key(probe));
    (!has).then(|| format!("no container of pod {name} has a {probe} probe"))
}

fn job_not_failed((kind, name): (&str, &str), evidence: &Evidence) -> Option<String> {
    if kind != "Job" {
        return None;
    }
    let (_, job) = evidence.jobs().find(|(_, j)| j.name == name)?;
    let failed = job
        .conditions
        .iter()
        .any(|c| c.kind == "Failed" && c.is_true());
    (!failed).then(|| format!("job {name} has no Failed=True condition"))
}

fn not_oom_killed(evidence: &Evidence) -> Option<String> {
    let mut other = None;
    for (_, pod) in evidence.pods() {
        for c in pod.all_containers() {
            for state in [&c.state, &c.last_state].into_iter().flatten() {
                let ContainerState::Terminated {
                    reason, exit_code, ..
                } = state
                else {
                    continue;
                };
                if reason.as_deref() == Some("OOMKilled") {
                    return None;
                }
                if *exit_code != 137 && *exit_code != 0 {
                    other.get_or_insert_with(|| {
                        format!(
                            "container {} of pod {} terminated {} with exit code {exit_code}, not \
                             OOMKilled",
                            c.name,
                            pod.name,
                            reason.as_deref().unwrap_or("-")
                        )
                    });
                }
            }
        }
    }
    other
}

#[cfg(test)]
mod tests;
