//! Incidents recorded through the store's API for the page tests: one resolved rollback in
//! `payments` (verified, with a checklist) and one awaiting approval in `shop` whose log line
//! and alert annotation carry `<script>`.
#![allow(dead_code)]

use jiff::Timestamp;
use nightshift::domain::catalog::Tool;
use nightshift::domain::diagnosis::Diagnosis;
use nightshift::domain::evidence::{AlertFacts, Evidence, Facts, LogFacts};
use nightshift::domain::incident::{Incident, IncidentState, Severity};
use nightshift::domain::plan::{Action, Check, CheckKind, Plan, Risk};
use nightshift::domain::signal::{ObjectRef, Signal, SignalSource};
use nightshift::domain::taxonomy::Category;
use nightshift::store::{ActionOutcome, Decision, Store};
use serde_json::json;

/// A script planted in a log line.
pub const LOG_SCRIPT: &str = "<script>alert('log')</script>";
/// A script planted in an alert annotation.
pub const ANNOTATION_SCRIPT: &str = "<script>alert('annotation')</script>";
/// The resolved incident.
pub const RESOLVED: &str = "inc-payments-rollback";
/// The incident awaiting approval.
pub const AWAITING: &str = "inc-shop-awaiting";

pub fn at(s: &str) -> Timestamp {
    s.parse().expect("timestamp")
}

fn incident(id: &str, ns: &str, name: &str, opened: &str) -> Incident {
    let opened_at = at(opened);
    let target = ObjectRef::namespaced("Pod", ns, &format!("{name}-7d9f8c6b5-x2k4q"));
    Incident {
        id: id.into(),
        rule: "crash-loop".into(),
        severity: Severity::Critical,
        fingerprint: format!("crash-loop/{ns}/{name}"),
        target: target.clone(),
        playbook: "crash-loop".into(),
        state: IncidentState::Open,
        opened_at,
        signal: Signal {
            source: SignalSource::Kubernetes,
            target,
            workload: Some(ObjectRef::namespaced("Deployment", ns, name)),
            reason: "CrashLoopBackOff".into(),
            container: Some(name.into()),
            container_state: None,
            labels: Default::default(),
            alertname: None,
            message: Some("back-off 5m0s restarting failed container".into()),
            observed_at: opened_at,
        },
    }
}

fn evidence(ns: &str, name: &str, extra_lines: usize) -> Evidence {
    let mut evidence = Evidence::default();
    let mut lines = vec![
        format!("WARN request from {LOG_SCRIPT} rejected"),
        format!("ERROR {} end", "a-very-long-unbroken-token-".repeat(12)),
        "Caused by: java.lang.IllegalStateException: DEPLOY_ENV is not set".to_owned(),
    ];
    lines.extend((0..extra_lines).map(|i| format!("line {i}")));
    evidence.push(
        format!("log/{ns}/{name}/previous"),
        Facts::Log(LogFacts {
            namespace: ns.into(),
            pod: format!("{name}-7d9f8c6b5-x2k4q"),
            container: name.into(),
            previous: true,
            lines,
            truncated: false,
        }),
    );
    evidence.push(
        format!("alert/{name}-down"),
        Facts::Alert(AlertFacts {
            alertname: "KubePodCrashLooping".into(),
            status: "firing".into(),
            labels: Default::default(),
            annotations: [(
                "summary".to_owned(),
                format!("pod crashing {ANNOTATION_SCRIPT}"),
            )]
            .into(),
            starts_at: None,
        }),
    );
    evidence
}

fn diagnosis(ns: &str, name: &str) -> Diagnosis {
    Diagnosis {
        category: Category::BadDeploy,
        contributing: vec![Category::ConfigMissing],
        summary: "v2.3.1 no longer sets DEPLOY_ENV, so the app exits at startup.".into(),
        confidence: 0.9,
        evidence: vec![format!("log/{ns}/{name}/previous")],
        diagnoser: "rules".into(),
    }
}

fn rollback(ns: &str, name: &str) -> Plan {
    Plan {
        actions: vec![Action {
            tool: Tool::DeploymentRollback,
            params: json!({"namespace": ns, "name": name, "to_revision": 6}),
        }],
        requires_approval: true,
        risk: Risk::Medium,
        rationale: "Revision 7 dropped DEPLOY_ENV; revision 6 ran cleanly for 9 days.".into(),
        downgraded: None,
        verification: vec![Check {
            check: CheckKind::RolloutComplete,
            params: json!({"target": {"kind": "Deployment", "namespace": ns, "name": name},
                "timeout_seconds": 300}),
        }],
    }
}

/// Opens, gathers, diagnoses and plans an incident, leaving it awaiting approval; returns the
/// plan hash.
pub async fn awaiting(store: &Store, id: &str, ns: &str, name: &str, opened: &str) -> String {
    awaiting_with(store, id, ns, name, opened, 0).await
}

/// [`awaiting`] with `extra_lines` more log lines.
pub async fn awaiting_with(
    store: &Store,
    id: &str,
    ns: &str,
    name: &str,
    opened: &str,
    extra_lines: usize,
) -> String {
    let t = at(opened);
    store
        .insert_incident(&incident(id, ns, name, opened))
        .await
        .expect("insert");
    store
        .record_evidence(id, &evidence(ns, name, extra_lines), t)
        .await
        .expect("evidence");
    store
        .record_diagnosis(id, &diagnosis(ns, name), t)
        .await
        .expect("diagnosis");
    let hash = store
        .record_plan(id, &rollback(ns, name), t)
        .await
        .expect("plan");
    for state in [IncidentState::Diagnosed, IncidentState::AwaitingApproval] {
        store
            .transition(id, state, "nightshift", t)
            .await
            .expect("transition");
    }
    hash
}

/// An incident carried to resolved: approved by alice, rolled back, verified.
pub async fn resolved(store: &Store, id: &str, ns: &str, name: &str, opened: &str) {
    let hash = awaiting(store, id, ns, name, opened).await;
    let t = at(opened);
    let later = |s: i64| t.checked_add(jiff::Span::new().seconds(s)).expect("time");
    store
        .record_approval(id, &hash, Decision::Approved, "alice", later(60))
        .await
        .expect("approve");
    store
        .transition(id, IncidentState::Approved, "alice", later(60))
        .await
        .expect("t");
    store
        .transition(id, IncidentState::Executing, "nightshift", later(61))
        .await
        .expect("t");
    let action = &rollback(ns, name).actions[0];
    store
        .record_action(id, &hash, 0, action, ActionOutcome::Started, "", later(61))
        .await
        .expect("action");
    store
        .complete_action(
            id,
            &hash,
            0,
            ActionOutcome::Succeeded,
            "rolled back to revision 6",
            later(63),
        )
        .await
        .expect("complete");
    store
        .transition(id, IncidentState::Verifying, "nightshift", later(63))
        .await
        .expect("t");
    let verdict = json!({"healthy": true, "decided_at": later(360).to_string(), "results": [
        {"check": "rollout-complete", "passed": true, "observed": "3/3 replicas updated and available"},
        {"check": "no-new-restarts", "passed": true, "observed": "0 restarts in 5 min"},
    ]});
    store
        .record_verification(id, &verdict, later(360))
        .await
        .expect("verdict");
    store
        .transition(id, IncidentState::Resolved, "nightshift", later(360))
        .await
        .expect("t");
}

/// A store holding both incidents.
pub async fn store() -> Store {
    let store = Store::connect("sqlite::memory:").await.expect("store");
    resolved(
        &store,
        RESOLVED,
        "payments",
        "payments-api",
        "2026-11-20T02:13:00Z",
    )
    .await;
    awaiting(&store, AWAITING, "shop", "api", "2026-11-21T03:00:00Z").await;
    store
}
