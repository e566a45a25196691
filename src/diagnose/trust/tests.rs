//! Untrusted text against structure: forged events, request text, contradicting terminations.

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
fn a_runtimes_own_out_of_memory_line_names_the_category_whatever_its_exit_code() {
    // A JVM out of heap exits 1 (or 3 with ExitOnOutOfMemoryError), Node 134: the runtime's own
    // line is the cause an SRE names. Raising the limit still needs an OOMKilled termination
    // (domain::corroborate), which this one is not.
    let heap = "java.lang.OutOfMemoryError: Java heap space";
    for (exit, reason) in [(1, "Error"), (137, "OOMKilled")] {
        let ev = evidence(vec![
            (
                "pod/shop/api-1",
                Facts::pod(pod("api-1").crash_looping(exit, reason).build()),
            ),
            ("log/api-1/api/previous", log(&[heap])),
        ]);
        assert_eq!(
            category(&signal("CrashLoopBackOff"), &ev),
            Category::OomKilled,
            "exit {exit}"
        );
    }
}

#[test]
fn an_oom_claimed_by_an_event_yields_to_a_termination_that_was_not_oom_killed() {
    let error = evidence(vec![
        (
            "pod/shop/api-1",
            Facts::pod(pod("api-1").crash_looping(1, "Error").build()),
        ),
        (
            "event/shop/api-1.oom",
            event(
                "Pod",
                "api-1",
                "OOMKilling",
                "Memory cgroup out of memory: Killed process 4242 (java)",
            ),
        ),
    ]);
    assert_ne!(
        category(&signal("CrashLoopBackOff"), &error),
        Category::OomKilled
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
fn a_runtimes_out_of_memory_termination_message_names_the_category_whatever_its_exit() {
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
    assert_eq!(d.category, Category::OomKilled, "{}", d.summary);
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
