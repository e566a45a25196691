//! Incident reports rendered from a record the store really wrote (an in-memory SQLite store),
//! so the timeline comes from real audit rows.

use jiff::Timestamp;
use nightshift::domain::catalog::Tool;
use nightshift::domain::diagnosis::Diagnosis;
use nightshift::domain::evidence::{
    ContainerFacts, ContainerState, EventFacts, Evidence, Facts, LogFacts, PodFacts,
};
use nightshift::domain::incident::{Incident, IncidentState, Severity};
use nightshift::domain::plan::{Action, Check, CheckKind, Downgrade, Plan, Risk};
use nightshift::domain::signal::{ContainerStateKind, ObjectRef, Signal, SignalSource};
use nightshift::domain::taxonomy::Category;
use nightshift::report::{Format, MAX_LOG_LINES, render};
use nightshift::store::{ActionOutcome, Decision, IncidentRecord, Store};
use serde_json::json;

const POD: &str = "payments-api-7d9f8c6b5-x2k4q";
const LOG_ID: &str = "log/payments-api-7d9f8c6b5-x2k4q/payments-api/previous";

fn at(s: &str) -> Timestamp {
    s.parse().expect("timestamp")
}

fn incident() -> Incident {
    let opened_at = at("2026-11-20T02:13:00Z");
    Incident {
        id: "inc-20261120-payments-api".into(),
        rule: "crash-loop".into(),
        severity: Severity::Critical,
        fingerprint: "crash-loop/payments/payments-api".into(),
        target: ObjectRef::namespaced("Pod", "payments", POD),
        playbook: "crash-loop".into(),
        state: IncidentState::Open,
        opened_at,
        signal: Signal {
            source: SignalSource::Kubernetes,
            target: ObjectRef::namespaced("Pod", "payments", POD),
            workload: Some(ObjectRef::namespaced(
                "Deployment",
                "payments",
                "payments-api",
            )),
            reason: "CrashLoopBackOff".into(),
            container: Some("payments-api".into()),
            container_state: Some(ContainerStateKind::Waiting),
            labels: [("app".to_owned(), "payments-api".to_owned())].into(),
            alertname: None,
            message: Some("back-off 5m0s restarting failed container".into()),
            observed_at: opened_at,
        },
    }
}

fn evidence(log_lines: Vec<String>) -> Evidence {
    let mut evidence = Evidence::default();
    evidence.push(
        format!("pod/payments/{POD}"),
        Facts::pod(PodFacts {
            namespace: "payments".into(),
            name: POD.into(),
            phase: Some("Running".into()),
            node: Some("ip-10-0-3-17".into()),
            containers: vec![ContainerFacts {
                name: "payments-api".into(),
                image: "registry.example.com/payments-api:2.3.1".into(),
                restart_count: 7,
                state: Some(ContainerState::Waiting {
                    reason: Some("CrashLoopBackOff".into()),
                    message: None,
                }),
                last_state: Some(ContainerState::Terminated {
                    reason: Some("Error".into()),
                    exit_code: 1,
                    signal: None,
                    message: None,
                    started_at: None,
                    finished_at: None,
                }),
                ..ContainerFacts::default()
            }],
            ..PodFacts::default()
        }),
    );
    evidence.push(
        "event/payments/payments-api-7d9f8c6b5-x2k4q.17a3",
        Facts::Event(EventFacts {
            kind: "Warning".into(),
            reason: "BackOff".into(),
            message: "Back-off restarting failed container payments-api".into(),
            object: ObjectRef::namespaced("Pod", "payments", POD),
            count: 31,
            first_seen: Some(at("2026-11-20T02:01:00Z")),
            last_seen: Some(at("2026-11-20T02:12:40Z")),
            source: Some("kubelet".into()),
        }),
    );
    evidence.push(
        LOG_ID,
        Facts::Log(LogFacts {
            namespace: "payments".into(),
            pod: POD.into(),
            container: "payments-api".into(),
            previous: true,
            lines: log_lines,
            truncated: false,
        }),
    );
    evidence
}

fn crash_log() -> Vec<String> {
    vec![
        "\u{1b}[32m INFO\u{1b}[0;39m Starting PaymentsApiApplication v2.3.1 using Java 21.0.5"
            .into(),
        "WARN request from <script>alert('pwned')</script> rejected".into(),
        "Caused by: java.lang.IllegalStateException: DEPLOY_ENV is not set".into(),
    ]
}

fn diagnosis(summary: &str) -> Diagnosis {
    Diagnosis {
        category: Category::BadDeploy,
        contributing: vec![Category::ConfigMissing],
        summary: summary.into(),
        confidence: 0.9,
        evidence: vec![LOG_ID.into()],
        diagnoser: "rules".into(),
    }
}

fn rollback() -> Plan {
    Plan {
        actions: vec![Action {
            tool: Tool::DeploymentRollback,
            params: json!({"namespace": "payments", "name": "payments-api", "to_revision": 6}),
        }],
        requires_approval: true,
        risk: Risk::Medium,
        rationale: "Revision 7 (v2.3.1) dropped DEPLOY_ENV; revision 6 ran cleanly for 9 days."
            .into(),
        downgraded: None,
        verification: vec![Check {
            check: CheckKind::RolloutComplete,
            params: json!({"namespace": "payments", "name": "payments-api", "timeout": 300}),
        }],
    }
}

/// An incident carried from open to resolved through a real store.
async fn resolved_record(log_lines: Vec<String>, summary: &str) -> IncidentRecord {
    let store = Store::connect("sqlite::memory:").await.expect("store");
    let incident = incident();
    let id = incident.id.as_str();
    let t = |s: &str| at(&format!("2026-11-20T{s}Z"));
    store.insert_incident(&incident).await.expect("insert");
    store
        .record_evidence(id, &evidence(log_lines), t("02:13:05"))
        .await
        .expect("evidence");
    store
        .record_diagnosis(id, &diagnosis(summary), t("02:13:06"))
        .await
        .expect("diagnosis");
    let hash = store
        .record_plan(id, &rollback(), t("02:13:06"))
        .await
        .expect("plan");
    store
        .transition(id, IncidentState::Diagnosed, "nightshift", t("02:13:06"))
        .await
        .expect("t");
    store
        .transition(
            id,
            IncidentState::AwaitingApproval,
            "nightshift",
            t("02:13:07"),
        )
        .await
        .expect("t");
    store
        .record_approval(id, &hash, Decision::Approved, "alice", t("02:16:41"))
        .await
        .expect("approve");
    store
        .transition(id, IncidentState::Approved, "alice", t("02:16:41"))
        .await
        .expect("t");
    store
        .transition(id, IncidentState::Executing, "nightshift", t("02:16:42"))
        .await
        .expect("t");
    let action = &rollback().actions[0];
    store
        .record_action(
            id,
            &hash,
            0,
            action,
            ActionOutcome::Started,
            "",
            t("02:16:42"),
        )
        .await
        .expect("action");
    store
        .complete_action(
            id,
            &hash,
            0,
            ActionOutcome::Succeeded,
            "rolled back to revision 6",
            t("02:16:44"),
        )
        .await
        .expect("complete");
    store
        .transition(id, IncidentState::Verifying, "nightshift", t("02:16:44"))
        .await
        .expect("t");
    let verdict =
        json!({"verdict": "passed", "checks": [{"check": "rollout-complete", "ok": true}]});
    store
        .record_verification(id, &verdict, t("02:21:44"))
        .await
        .expect("verdict");
    store
        .transition(id, IncidentState::Resolved, "nightshift", t("02:21:44"))
        .await
        .expect("t");
    store.load(id).await.expect("load").expect("exists")
}

async fn record() -> IncidentRecord {
    resolved_record(
        crash_log(),
        "v2.3.1 no longer sets DEPLOY_ENV, so the app exits at startup.",
    )
    .await
}

#[tokio::test]
async fn a_markdown_report_tells_the_on_call_engineer_the_whole_story() {
    let record = record().await;
    let hash = &record.plans[0].hash;
    let md = render(&record, Format::Markdown).expect("render");
    for expected in [
        "# Incident inc-20261120-payments-api: CrashLoopBackOff on Pod/payments/payments-api-7d9f8c6b5-x2k4q",
        "| State | **resolved** (closed 2026-11-20 02:21:44 UTC) |",
        "| Severity | critical |",
        "| Rule | crash-loop |",
        "**bad-deploy** (contributing: config-missing) — confidence 90%, by rules",
        "v2.3.1 no longer sets DEPLOY_ENV, so the app exits at startup.",
        &format!("Cites: {LOG_ID}"),
        &format!("- Hash: {hash}"),
        "- Approval: approved by alice at 2026-11-20 02:16:41 UTC",
        "1. Roll back Deployment payments/payments-api to revision 6",
        "**succeeded** — rolled back to revision 6",
        "### 2026-11-20 02:21:44 UTC: passed",
        "incident.transitioned by alice: awaiting-approval → approved",
        "plan ",
        "diagnosed bad-deploy (90% confidence)",
        &format!("- **{LOG_ID}** (cited): previous log of payments/{POD} container payments-api"),
        "  Caused by: java.lang.IllegalStateException: DEPLOY_ENV is not set",
        "Warning BackOff (×31)",
        "payments-api (registry.example.com/payments-api:2.3.1) CrashLoopBackOff, 7 restarts, last exit 1",
    ] {
        assert!(md.contains(expected), "missing {expected:?} in:\n{md}");
    }
    assert!(
        !md.contains('\u{1b}'),
        "terminal escapes are stripped:\n{md}"
    );
}

#[tokio::test]
async fn an_html_report_escapes_a_script_tag_from_a_log_line() {
    let record = record().await;
    let html = render(&record, Format::Html).expect("render");
    assert!(!html.contains("<script>alert("), "{html}");
    assert!(html.contains("&lt;script&gt;alert("), "{html}");
    assert!(html.starts_with("<!doctype html>"));
    for section in [
        "<h2>Diagnosis</h2>",
        "<h2>Plan</h2>",
        "<h2>Actions executed</h2>",
        "<h2>Timeline</h2>",
    ] {
        assert!(html.contains(section), "missing {section}");
    }
    assert!(html.contains("approved by alice"), "{html}");
}

#[tokio::test]
async fn hostile_text_in_a_summary_cannot_inject_markup_into_either_format() {
    let summary = "Ignore previous instructions <img src=x onerror=alert(1)> [approve](https://evil.example/ok)";
    let record = resolved_record(crash_log(), summary).await;
    let html = render(&record, Format::Html).expect("html");
    assert!(!html.contains("<img"), "{html}");
    assert!(
        html.contains("&lt;img src=x onerror=alert(1)&gt;"),
        "{html}"
    );
    let md = render(&record, Format::Markdown).expect("markdown");
    assert!(
        md.contains("\\<img src=x onerror=alert(1)\\> \\[approve\\](https://evil.example/ok)"),
        "{md}"
    );
}

#[tokio::test]
async fn a_json_report_is_the_record_itself() {
    let record = record().await;
    let json = render(&record, Format::Json).expect("render");
    let back: IncidentRecord = serde_json::from_str(&json).expect("parse");
    assert_eq!(back, record);
}

#[tokio::test]
async fn log_excerpts_are_bounded_in_lines_and_line_length() {
    let mut lines: Vec<String> = (0..500).map(|i| format!("line {i}")).collect();
    lines.push(format!("huge {}", "x".repeat(10_000)));
    let record = resolved_record(lines, "s").await;
    let md = render(&record, Format::Markdown).expect("render");
    let shown = 500 + 1 - MAX_LOG_LINES;
    assert!(
        md.contains(&format!("({shown} earlier line(s) not shown)")),
        "{md}"
    );
    assert!(!md.contains("  line 480\n"), "an early line is left out");
    assert!(md.contains("  line 481\n"), "{md}");
    assert!(!md.contains(&"x".repeat(300)), "long lines are cut");
    assert!(md.len() < 20_000, "report is {} bytes", md.len());
}

#[tokio::test]
async fn a_plan_downgraded_by_policy_shows_the_reason_and_what_was_proposed() {
    let store = Store::connect("sqlite::memory:").await.expect("store");
    let incident = incident();
    store.insert_incident(&incident).await.expect("insert");
    let proposed = Action {
        tool: Tool::DeploymentScale,
        params: json!({"namespace": "payments", "name": "payments-api", "replicas": 80}),
    };
    let plan = Plan {
        actions: vec![Action {
            tool: Tool::Notify,
            params: json!({"message": "scale refused by policy"}),
        }],
        requires_approval: false,
        risk: Risk::None,
        rationale: "policy refused the proposed scale".into(),
        downgraded: Some(Downgrade {
            reason: "replicas 80 above the policy maximum of 50".into(),
            proposed: vec![proposed],
        }),
        verification: vec![],
    };
    store
        .record_plan(&incident.id, &plan, at("2026-11-20T02:14:00Z"))
        .await
        .expect("plan");
    let record = store
        .load(&incident.id)
        .await
        .expect("load")
        .expect("exists");
    let md = render(&record, Format::Markdown).expect("render");
    assert!(
        md.contains("- Downgraded by policy: replicas 80 above the policy maximum of 50"),
        "{md}"
    );
    assert!(
        md.contains("- Scale Deployment payments/payments-api to 80 replicas"),
        "{md}"
    );
    assert!(
        md.contains("1. Tell a human, changing nothing: scale refused by policy"),
        "{md}"
    );
    assert!(
        md.contains("- Approval: none needed: policy downgraded the plan to notify"),
        "{md}"
    );
    assert!(!md.contains("auto-approved"), "{md}");
    assert!(md.contains("No diagnosis recorded."), "{md}");
    assert!(md.contains("No action executed."), "{md}");
    let html = render(&record, Format::Html).expect("html");
    assert!(
        html.contains("Downgraded by policy: replicas 80 above the policy maximum of 50"),
        "{html}"
    );
}

#[tokio::test]
async fn a_joined_signal_and_an_escalation_read_as_sentences_in_the_timeline() {
    let store = Store::connect("sqlite::memory:").await.expect("store");
    let incident = incident();
    let id = incident.id.as_str();
    store.insert_incident(&incident).await.expect("insert");
    let joined = json!({"rule": "replicas-unavailable", "fingerprint": "replicas-unavailable/payments/payments-api",
        "reason": "ReplicasUnavailable", "target": "Deployment/payments/payments-api"});
    store
        .append_audit(
            Some(id),
            nightshift::store::kinds::SIGNAL_JOINED,
            "nightshift",
            &joined,
            at("2026-11-20T02:13:09Z"),
        )
        .await
        .expect("joined");
    store
        .append_audit(
            Some(id),
            nightshift::store::kinds::INCIDENT_ESCALATION,
            "nightshift",
            &json!({"why": "the plan is to notify: a human must look"}),
            at("2026-11-20T02:13:10Z"),
        )
        .await
        .expect("escalation");
    let record = store.load(id).await.expect("load").expect("exists");
    let md = render(&record, Format::Markdown).expect("render");
    for expected in [
        "also raised: ReplicasUnavailable on Deployment/payments/payments-api (rule replicas-unavailable), recorded here rather than paged again",
        "escalated to a human: the plan is to notify: a human must look",
    ] {
        assert!(md.contains(expected), "missing {expected:?} in:\n{md}");
    }
}

#[tokio::test]
async fn untrusted_multi_line_text_cannot_forge_headings_or_list_items_in_markdown() {
    let summary = "app exits at startup\n# Approved by alice\n- [x] rollback verified\n  * healthy\n1. nothing to see\n---\n    indented";
    let record = resolved_record(crash_log(), summary).await;
    let md = render(&record, Format::Markdown).expect("markdown");
    let diagnosis = md
        .split("## Diagnosis")
        .nth(1)
        .and_then(|s| s.split("## Plan").next())
        .expect("diagnosis section");
    for forged in [
        "# Approved",
        "- ",
        "* healthy",
        "1. nothing",
        "---",
        "    indented",
    ] {
        assert!(
            !diagnosis.lines().any(|l| l.starts_with(forged)),
            "{forged:?} starts a line:\n{diagnosis}"
        );
    }
    assert!(diagnosis.contains("\\# Approved by alice"), "{diagnosis}");
    assert!(
        diagnosis.contains("\\- \\[x\\] rollback verified"),
        "{diagnosis}"
    );
}

#[tokio::test]
async fn a_notify_only_plan_is_not_shown_as_auto_approved() {
    let store = Store::connect("sqlite::memory:").await.expect("store");
    let incident = incident();
    store.insert_incident(&incident).await.expect("insert");
    let plan = Plan {
        actions: vec![Action {
            tool: Tool::Notify,
            params: json!({"message": "a human must look"}),
        }],
        requires_approval: false,
        risk: Risk::None,
        rationale: "playbook has no remedy for app-crash".into(),
        downgraded: None,
        verification: vec![],
    };
    store
        .record_plan(&incident.id, &plan, at("2026-11-20T02:14:00Z"))
        .await
        .expect("plan");
    let record = store
        .load(&incident.id)
        .await
        .expect("load")
        .expect("exists");
    for format in [Format::Markdown, Format::Html] {
        let report = render(&record, format).expect("render");
        assert!(!report.contains("auto-approved"), "{report}");
        assert!(
            report.contains("none needed: the plan only notifies"),
            "{report}"
        );
    }
}

#[tokio::test]
async fn a_plan_is_shown_auto_approved_only_once_the_playbook_approved_it() {
    let store = Store::connect("sqlite::memory:").await.expect("store");
    let incident = incident();
    let id = incident.id.as_str();
    store.insert_incident(&incident).await.expect("insert");
    let plan = Plan {
        requires_approval: false,
        ..rollback()
    };
    store
        .record_plan(id, &plan, at("2026-11-20T02:14:00Z"))
        .await
        .expect("plan");
    store
        .transition(
            id,
            IncidentState::Diagnosed,
            "nightshift",
            at("2026-11-20T02:14:00Z"),
        )
        .await
        .expect("t");
    let held = store.load(id).await.expect("load").expect("exists");
    let md = render(&held, Format::Markdown).expect("md");
    assert!(!md.contains("auto-approved"), "{md}");
    assert!(md.contains("not approved yet"), "{md}");
    store
        .transition(
            id,
            IncidentState::Approved,
            "playbook:crash-loop",
            at("2026-11-20T02:14:01Z"),
        )
        .await
        .expect("t");
    let approved = store.load(id).await.expect("load").expect("exists");
    let md = render(&approved, Format::Markdown).expect("md");
    assert!(
        md.contains("- Approval: auto-approved by playbook:crash-loop at 2026-11-20 02:14:01 UTC"),
        "{md}"
    );
}
