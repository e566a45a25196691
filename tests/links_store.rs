//! Recording an answer in the store, on SQLite and on PostgreSQL: a link's nonce is consumed in
//! the same transaction as the decision, so the same link posted twice at once records exactly
//! one decision and one audit row; the two-person count records a second distinct approver and
//! nothing more.
//!
//! PostgreSQL comes from `NIGHTSHIFT_TEST_POSTGRES_URL` (`eval "$(scripts/services.sh)"` starts
//! one). Without it the PostgreSQL half fails, unless `NIGHTSHIFT_SKIP_POSTGRES=1` says to skip
//! it on purpose.

use std::sync::atomic::{AtomicU32, Ordering};

use jiff::Timestamp;
use nightshift::domain::catalog::Tool;
use nightshift::domain::incident::{Incident, IncidentState, Severity};
use nightshift::domain::plan::{Action, Plan, Risk};
use nightshift::domain::signal::{ObjectRef, Signal, SignalSource};
use nightshift::store::{Answer, AnswerOutcome, Decision, Store, kinds};
use serde_json::json;
use sqlx::Executor as _;

async fn sqlite() -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("dir");
    let url = format!("sqlite://{}", dir.path().join("nightshift.db").display());
    (Store::connect(&url).await.expect("sqlite"), dir)
}

/// A store in a fresh schema of the test server, or `None` when explicitly skipped.
async fn postgres(test: &str) -> Option<Store> {
    let Ok(base) = std::env::var("NIGHTSHIFT_TEST_POSTGRES_URL") else {
        if std::env::var("NIGHTSHIFT_SKIP_POSTGRES").as_deref() == Ok("1") {
            eprintln!(
                "!!!!!!!! SKIPPED the PostgreSQL half of `{test}`: NIGHTSHIFT_SKIP_POSTGRES=1 !!!!!!!!"
            );
            return None;
        }
        panic!(
            "NIGHTSHIFT_TEST_POSTGRES_URL is not set: start a throwaway server with \
             `eval \"$(scripts/services.sh)\"`, or set NIGHTSHIFT_SKIP_POSTGRES=1 to skip on purpose"
        );
    };
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let mut schema = format!(
        "l{}_{}_{test}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    schema.truncate(63);
    let admin = sqlx::PgPool::connect(&base).await.expect("connect");
    admin
        .execute(format!("CREATE SCHEMA \"{schema}\"").as_str())
        .await
        .expect("schema");
    admin.close().await;
    let separator = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{separator}options=-c%20search_path%3D{schema}");
    Some(Store::connect(&url).await.expect("postgres"))
}

fn at(s: &str) -> Timestamp {
    s.parse().expect("timestamp")
}

/// Incident `id`, with a plan, awaiting approval; its plan hash.
async fn awaiting(store: &Store, id: &str) -> String {
    let now = at("2026-11-20T02:13:00Z");
    let target = ObjectRef::namespaced("Pod", "payments", "payments-api-1");
    let incident = Incident {
        id: id.into(),
        rule: "crash-loop".into(),
        severity: Severity::Critical,
        fingerprint: format!("crash-loop/payments/{id}"),
        target: target.clone(),
        playbook: "workload".into(),
        state: IncidentState::Open,
        opened_at: now,
        signal: Signal {
            source: SignalSource::Kubernetes,
            target,
            workload: None,
            reason: "CrashLoopBackOff".into(),
            container: None,
            container_state: None,
            labels: Default::default(),
            alertname: None,
            message: None,
            observed_at: now,
        },
    };
    store.insert_incident(&incident).await.expect("insert");
    let plan = Plan {
        actions: vec![Action {
            tool: Tool::DeploymentRollback,
            params: json!({"namespace": "payments", "name": "payments-api"}),
        }],
        requires_approval: true,
        risk: Risk::Medium,
        rationale: String::new(),
        downgraded: None,
        verification: vec![],
    };
    let hash = store.record_plan(id, &plan, now).await.expect("plan");
    for to in [IncidentState::Diagnosed, IncidentState::AwaitingApproval] {
        store
            .transition(id, to, "nightshift", now)
            .await
            .expect("move");
    }
    hash
}

fn answer<'a>(
    hash: &'a str,
    actor: &'a str,
    nonce: Option<&'a str>,
    required: usize,
) -> Answer<'a> {
    Answer {
        id: "inc-1",
        plan_hash: hash,
        decision: Decision::Approved,
        actor,
        reason: Some("checked the diff"),
        nonce,
        required,
        via: "link",
    }
}

async fn one_link_posted_twice_at_once_decides_once(store: &Store) {
    let hash = awaiting(store, "inc-1").await;
    let now = at("2026-11-20T02:20:00Z");
    let (a, b) = tokio::join!(
        store.record_answer(answer(&hash, "alice", Some("n-1"), 2), now),
        store.record_answer(answer(&hash, "bob", Some("n-1"), 2), now),
    );
    let outcomes = [a.expect("first"), b.expect("second")];
    let recorded = outcomes
        .iter()
        .filter(|o| **o == AnswerOutcome::Recorded)
        .count();
    let used = outcomes
        .iter()
        .filter(|o| matches!(o, AnswerOutcome::LinkUsed { .. }))
        .count();
    assert_eq!((recorded, used), (1, 1), "{outcomes:?}");
    let record = store.load("inc-1").await.expect("load").expect("exists");
    assert_eq!(record.approvals.len(), 1);
    let audited: Vec<_> = record
        .audit
        .iter()
        .filter(|a| a.kind == kinds::APPROVAL_RECORDED)
        .collect();
    assert_eq!(audited.len(), 1);
    assert_eq!(audited[0].detail["reason"], "checked the diff");
    assert_eq!(audited[0].detail["via"], "link");
    let (who, _) = store.link_used("n-1").await.expect("read").expect("used");
    assert_eq!(who, record.approvals[0].actor);
    assert!(store.verify_audit().await.expect("audit").is_intact());
}

async fn a_second_distinct_approver_counts_and_a_third_records_nothing(store: &Store) {
    let hash = awaiting(store, "inc-1").await;
    let now = at("2026-11-20T02:20:00Z");
    let alice = store.record_answer(answer(&hash, "alice", Some("n-a"), 2), now);
    assert_eq!(alice.await.expect("alice"), AnswerOutcome::Recorded);
    let again = store.record_answer(answer(&hash, "alice", Some("n-a2"), 2), now);
    assert_eq!(again.await.expect("again"), AnswerOutcome::AlreadyRecorded);
    assert_eq!(
        store.link_used("n-a2").await.expect("read"),
        None,
        "not consumed"
    );
    let bob = store.record_answer(answer(&hash, "bob", Some("n-b"), 2), now);
    assert_eq!(bob.await.expect("bob"), AnswerOutcome::Recorded);
    let carol = store.record_answer(answer(&hash, "carol", None, 2), now);
    assert_eq!(carol.await.expect("carol"), AnswerOutcome::AlreadyRecorded);
    let record = store.load("inc-1").await.expect("load").expect("exists");
    let actors: Vec<&str> = record.approvals.iter().map(|a| a.actor.as_str()).collect();
    assert_eq!(actors, ["alice", "bob"]);
}

macro_rules! both {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let (store, _dir) = super::sqlite().await;
                    super::$name(&store).await;
                }
            )*
        }
        mod on_postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let Some(store) = super::postgres(stringify!($name)).await else {
                        return;
                    };
                    super::$name(&store).await;
                }
            )*
        }
    };
}

both!(
    one_link_posted_twice_at_once_decides_once,
    a_second_distinct_approver_counts_and_a_third_records_nothing,
);
