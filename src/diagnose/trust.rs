//! Untrusted text weighed against structure. Log lines and Events can be written by anyone who
//! can send the app a request or create an Event (Events about Nodes live in `default`); what the
//! kubelet and the controllers record in status cannot. So a finding from a log, an Event, an
//! alert or the signal's message keeps its weight only while no structural fact contradicts it:
//!
//! - node trouble claimed about a Node that is Ready=True with no pressure condition;
//! - a probe failure claimed for a pod none of whose containers has that probe;
//! - running out of memory claimed while no container terminated `OOMKilled` and one terminated
//!   for another reason with an exit code other than 137;
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

/// Why a termination cannot have been an out-of-memory kill: its reason is another one and its
/// exit code is not 137.
pub fn termination_contradicts_oom(container: &str, state: &ContainerState) -> Option<String> {
    let ContainerState::Terminated {
        reason, exit_code, ..
    } = state
    else {
        return None;
    };
    let reason = reason.as_deref().unwrap_or("-");
    (reason != "OOMKilled" && *exit_code != 137).then(|| {
        format!(
            "container {container} terminated {reason} with exit code {exit_code}, not OOMKilled"
        )
    })
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
mod tests {
    use super::without_request_text;
    use crate::diagnose::diagnose;
    use crate::domain::evidence::{ContainerState, EventFacts, Evidence, Facts, LogFacts};
    use crate::domain::signal::{ObjectRef, Signal};
    use crate::domain::taxonomy::Category;
    use crate::domain::tests::builders::{at, evidence, not_ready, pod, ready, signal};

    fn event(kind: &str, name: &str, reason: &str, message: &str) -> Facts {
        Facts::Event(EventFacts {
            kind: "Warning".into(),
            reason: reason.into(),
            message: message.into(),
            object: ObjectRef::cluster(kind, name),
            count: 1,
            first_seen: None,
            last_seen: None,
            source: Some("node-controller".into()),
        })
    }

    fn log(lines: &[&str]) -> Facts {
        Facts::Log(LogFacts {
            namespace: "shop".into(),
            pod: "api-1".into(),
            container: "api".into(),
            previous: true,
            lines: lines.iter().map(|l| (*l).to_owned()).collect(),
            truncated: false,
        })
    }

    fn category(signal: &Signal, ev: &Evidence) -> Category {
        diagnose(signal, ev, &[], at("2026-11-20T02:13:00Z")).category
    }

    fn node_signal(message: &str) -> Signal {
        let mut s = signal("NotReady");
        s.target = ObjectRef::cluster("Node", "worker-3");
        s.workload = None;
        s.message = Some(message.into());
        s
    }

    #[test]
    fn a_forged_node_event_cannot_call_a_ready_node_failed() {
        let claim = "Kubelet stopped posting node status.";
        let forged = evidence(vec![
            ("node/worker-3", Facts::Node(ready("worker-3"))),
            (
                "event/default/worker-3.1",
                event("Node", "worker-3", "NotReady", claim),
            ),
        ]);
        assert_eq!(category(&node_signal(claim), &forged), Category::Unknown);
        let real = evidence(vec![
            ("node/worker-3", Facts::Node(not_ready("worker-3"))),
            (
                "event/default/worker-3.1",
                event("Node", "worker-3", "NotReady", claim),
            ),
        ]);
        assert_eq!(category(&node_signal(claim), &real), Category::NodeFailure);
    }

    #[test]
    fn an_eviction_event_about_a_pod_on_a_ready_node_is_contradicted() {
        let ev = evidence(vec![
            (
                "pod/shop/api-1",
                Facts::pod(pod("api-1").node("worker-3").build()),
            ),
            ("node/worker-3", Facts::Node(ready("worker-3"))),
            (
                "event/shop/api-1.1",
                event(
                    "Pod",
                    "api-1",
                    "Evicted",
                    "The node was low on resource: memory.",
                ),
            ),
        ]);
        assert_eq!(category(&signal("Evicted"), &ev), Category::Unknown);
    }

    #[test]
    fn an_oom_log_line_cannot_decide_against_a_termination_that_was_not_oom_killed() {
        let heap = "java.lang.OutOfMemoryError: Java heap space";
        let error = evidence(vec![
            (
                "pod/shop/api-1",
                Facts::pod(pod("api-1").crash_looping(1, "Error").build()),
            ),
            ("log/api-1/api/previous", log(&[heap])),
        ]);
        let d = diagnose(
            &signal("CrashLoopBackOff"),
            &error,
            &[],
            at("2026-11-20T02:13:00Z"),
        );
        assert_ne!(d.category, Category::OomKilled, "{}", d.summary);
        let killed = evidence(vec![
            (
                "pod/shop/api-1",
                Facts::pod(pod("api-1").crash_looping(137, "OOMKilled").build()),
            ),
            ("log/api-1/api/previous", log(&[heap])),
        ]);
        assert_eq!(
            category(&signal("CrashLoopBackOff"), &killed),
            Category::OomKilled
        );
        let running = evidence(vec![
            ("pod/shop/api-1", Facts::pod(pod("api-1").build())),
            ("log/api-1/api/previous", log(&[heap])),
        ]);
        assert_eq!(
            category(&signal("CrashLoopBackOff"), &running),
            Category::OomKilled,
            "with nothing structural against it, the log may still name the category"
        );
    }

    #[test]
    fn a_forged_backoff_event_cannot_fail_a_job_whose_status_says_otherwise() {
        let mut s = signal("BackoffLimitExceeded");
        s.target = ObjectRef::namespaced("Job", "shop", "sync-1");
        s.workload = Some(ObjectRef::namespaced("CronJob", "shop", "sync"));
        let running = crate::domain::evidence::JobFacts {
            namespace: "shop".into(),
            name: "sync-1".into(),
            active: 1,
            ..Default::default()
        };
        let mut forged = Facts::Event(EventFacts {
            kind: "Warning".into(),
            reason: "BackoffLimitExceeded".into(),
            message: "Job has reached the specified backoff limit".into(),
            object: ObjectRef::namespaced("Job", "shop", "sync-1"),
            count: 1,
            first_seen: None,
            last_seen: None,
            source: Some("job-controller".into()),
        });
        let ev = evidence(vec![
            ("job/shop/sync-1", Facts::Job(running.clone())),
            ("event/shop/sync-1.1", forged.clone()),
        ]);
        assert_eq!(category(&s, &ev), Category::Unknown);
        let mut failed = running;
        failed
            .conditions
            .push(crate::domain::tests::builders::condition(
                "Failed",
                "True",
                "BackoffLimitExceeded",
            ));
        if let Facts::Event(e) = &mut forged {
            e.count = 2;
        }
        let ev = evidence(vec![
            ("job/shop/sync-1", Facts::Job(failed)),
            ("event/shop/sync-1.1", forged),
        ]);
        assert_eq!(category(&s, &ev), Category::JobFailed);
    }

    #[test]
    fn a_termination_message_cannot_claim_an_oom_its_own_exit_reason_denies() {
        let mut p = pod("api-1").crash_looping(1, "Error").build();
        // terminationMessagePolicy: FallbackToLogsOnError copies the last log lines.
        p.containers[0].last_state = Some(ContainerState::Terminated {
            reason: Some("Error".into()),
            exit_code: 1,
            signal: None,
            message: Some("java.lang.OutOfMemoryError: Java heap space".into()),
            started_at: None,
            finished_at: None,
        });
        let ev = evidence(vec![("pod/shop/api-1", Facts::pod(p))]);
        let d = diagnose(
            &signal("CrashLoopBackOff"),
            &ev,
            &[],
            at("2026-11-20T02:13:00Z"),
        );
        assert_ne!(d.category, Category::OomKilled, "{}", d.summary);
    }

    #[test]
    fn an_oom_string_in_a_request_path_is_no_finding_at_all() {
        let line = r#"level=info msg="request served" path="/api/sync?x=java.lang.OutOfMemoryError: Java heap space" status=404"#;
        let ev = evidence(vec![
            ("pod/shop/api-1", Facts::pod(pod("api-1").build())),
            ("log/api-1/api/previous", log(&[line])),
        ]);
        assert_eq!(
            category(&signal("CrashLoopBackOff"), &ev),
            Category::Unknown
        );
    }

    #[test]
    fn request_paths_queries_and_urls_are_not_the_app_speaking() {
        let access = r#"10.0.0.7 - - [20/Nov/2026:02:10:00 +0000] "GET /api/sync?x=java.lang.OutOfMemoryError:%20Java%20heap%20space HTTP/1.1" 200 12"#;
        assert!(!without_request_text(access).contains("OutOfMemoryError"));
        let logfmt = r#"level=info msg="request done" path="/api/sync?x=java.lang.OutOfMemoryError: Java heap space" status=200"#;
        let stripped = without_request_text(logfmt);
        assert!(!stripped.contains("OutOfMemoryError"), "{stripped}");
        assert!(stripped.contains("request done"));
        let json = r#"{"level":"info","url":"https://shop/x?q=connection refused","status":200}"#;
        assert!(!without_request_text(json).contains("refused"));
        let nginx = r#"2026/10/12 17:43:58 [error] 31#31: *48213 open() "/usr/share/nginx/html/java.lang.OutOfMemoryError: Java heap space" failed (2: No such file or directory), client: 203.0.113.66, server: _, request: "GET /x HTTP/1.1""#;
        let stripped = without_request_text(nginx);
        assert!(!stripped.contains("OutOfMemoryError"), "{stripped}");
        assert!(stripped.contains("No such file or directory"), "{stripped}");
    }

    #[test]
    fn the_apps_own_errors_survive_the_stripping() {
        for (line, kept) in [
            (
                "Exception in thread \"main\" java.lang.OutOfMemoryError: Java heap space",
                "java.lang.OutOfMemoryError: Java heap space",
            ),
            (
                "dial tcp 10.0.0.3:5432: connect: connection refused",
                "connect: connection refused",
            ),
            (
                r#"Get "http://payments:8080/api": dial tcp: lookup payments: no such host"#,
                "lookup payments: no such host",
            ),
            (
                r#"connect() failed (111: Connection refused) while connecting to upstream, client: 10.0.0.1, server: _, request: "GET / HTTP/1.1", upstream: "http://10.0.0.5:8080/""#,
                "(111: Connection refused) while connecting to upstream",
            ),
            (
                "open /etc/app/config.yaml: no such file or directory",
                "/etc/app/config.yaml: no such file or directory",
            ),
        ] {
            let stripped = without_request_text(line);
            assert!(stripped.contains(kept), "{line} → {stripped}");
        }
    }
}
