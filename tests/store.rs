//! The store against real databases: every test in `suite!` runs once on a fresh SQLite file
//! and once on PostgreSQL, in its own schema, so the halves run in parallel.
//!
//! PostgreSQL comes from `NIGHTSHIFT_TEST_POSTGRES_URL` (`eval "$(scripts/services.sh)"` starts
//! one). Without it the PostgreSQL half fails, unless `NIGHTSHIFT_SKIP_POSTGRES=1` says to skip
//! it on purpose.

use std::io::Write;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use jiff::Timestamp;
use nightshift::domain::catalog::Tool;
use nightshift::domain::diagnosis::Diagnosis;
use nightshift::domain::evidence::{Evidence, Facts, LogFacts};
use nightshift::domain::incident::{Incident, IncidentState, Severity};
use nightshift::domain::plan::{Action, Check, CheckKind, Plan, Risk};
use nightshift::domain::signal::{ContainerStateKind, ObjectRef, Signal, SignalSource};
use nightshift::domain::taxonomy::Category;
use nightshift::store::{
    ActionOutcome, Backend, Decision, IncidentFilter, NewPage, PageStatus, Recorded, Store,
    StoreError, Switched, kinds,
};
use serde_json::json;
use sqlx::{AnyPool, Executor};

// ---------------------------------------------------------------------------------------------
// Harness

/// A store on a fresh database, and the URL to reach the same database raw.
struct TestDb {
    store: Store,
    url: String,
    schema: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("nightshift.db").display());
        let store = Store::connect(&url).await.expect("connect to SQLite");
        TestDb {
            store,
            url,
            schema: None,
            _dir: Some(dir),
        }
    }

    /// `None` only when the PostgreSQL half is explicitly skipped.
    async fn postgres(test: &str) -> Option<TestDb> {
        let Ok(base) = std::env::var("NIGHTSHIFT_TEST_POSTGRES_URL") else {
            if std::env::var("NIGHTSHIFT_SKIP_POSTGRES").as_deref() == Ok("1") {
                // Straight to stderr, past the test harness's output capture, so it is seen.
                let _ = writeln!(
                    std::io::stderr(),
                    "!!!!!!!! SKIPPED the PostgreSQL half of `{test}`: NIGHTSHIFT_SKIP_POSTGRES=1 !!!!!!!!"
                );
                return None;
            }
            panic!(
                "NIGHTSHIFT_TEST_POSTGRES_URL is not set, so the PostgreSQL half of the store suite \
                 cannot run. Start a throwaway server with `eval \"$(scripts/services.sh)\"`, or set \
                 NIGHTSHIFT_SKIP_POSTGRES=1 to skip it on purpose."
            );
        };
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let mut schema = format!(
            "t{}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            test
        );
        schema.truncate(63);
        let admin = sqlx::PgPool::connect(&base)
            .await
            .expect("connect to PostgreSQL");
        admin
            .execute(format!("CREATE SCHEMA \"{schema}\"").as_str())
            .await
            .expect("create schema");
        admin.close().await;
        let separator = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{separator}options=-c%20search_path%3D{schema}");
        let store = Store::connect(&url).await.expect("connect to PostgreSQL");
        Some(TestDb {
            store,
            url,
            schema: Some(schema),
            _dir: None,
        })
    }

    /// A second store on the same database, as a restarted daemon would open it.
    async fn reconnect(&self) -> Store {
        Store::connect(&self.url).await.expect("reconnect")
    }

    /// A raw pool, for doing what the store never does (tampering with the audit log).
    async fn raw(&self) -> AnyPool {
        AnyPool::connect(&self.url).await.expect("raw pool")
    }

    async fn cleanup(self) {
        self.store.close().await;
        let (Some(schema), Ok(base)) =
            (&self.schema, std::env::var("NIGHTSHIFT_TEST_POSTGRES_URL"))
        else {
            return;
        };
        // Best effort: a schema left behind only costs space in a throwaway database.
        if let Ok(admin) = sqlx::PgPool::connect(&base).await {
            let _ = admin
                .execute(format!("DROP SCHEMA \"{schema}\" CASCADE").as_str())
                .await;
            admin.close().await;
        }
    }
}

/// Runs each named `async fn(&TestDb)` as `sqlite::<name>` and `postgres::<name>`.
macro_rules! suite {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let db = super::TestDb::sqlite().await;
                    super::$name(&db).await;
                    db.cleanup().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let Some(db) = super::TestDb::postgres(stringify!($name)).await else {
                        return;
                    };
                    super::$name(&db).await;
                    db.cleanup().await;
                }
            )*
        }
    };
}

suite!(
    migrations_apply_to_a_fresh_database_and_a_reconnect_keeps_its_data,
    an_incident_round_trips_through_insert_list_and_load,
    inserting_an_incident_id_twice_fails_clearly,
    the_latest_incident_with_a_fingerprint_is_found_for_dedup,
    a_second_open_incident_with_the_same_fingerprint_is_refused_by_the_database,
    incidents_are_found_by_state_and_escalations_by_workload,
    incidents_are_searched_by_state_namespace_newest_category_and_since,
    the_open_incident_of_a_workload_is_found_whatever_its_rule,
    recent_actions_leave_out_the_incident_that_asks,
    a_valid_transition_moves_the_incident_and_a_terminal_one_closes_it,
    an_invalid_transition_is_refused_and_changes_nothing,
    a_transition_of_an_unknown_incident_is_refused,
    of_concurrent_transitions_exactly_one_wins,
    an_action_recorded_twice_for_the_same_plan_and_index_is_already_recorded,
    an_action_that_is_not_the_plans_action_at_that_index_is_refused,
    an_approval_for_a_plan_hash_never_recorded_is_refused,
    a_whole_incident_loads_back_with_its_history,
    the_audit_chain_verifies_and_a_tampered_row_is_reported_at_its_seq,
    a_deleted_audit_row_is_reported_at_the_row_after_it,
    the_audit_table_refuses_update_and_delete,
    concurrent_audit_appends_never_fork_the_chain,
    the_kill_switch_is_audited_with_who_and_why_and_every_store_on_the_database_sees_it,
    the_same_decision_twice_is_recorded_once_even_when_racing,
    a_replayed_incident_holds_no_fingerprint_and_takes_no_approval_or_action,
    a_replay_an_older_version_left_diagnosed_is_retired_and_a_resolved_workload_kept,
    pages_are_queued_once_claimed_once_settled_and_counted,
);

// ---------------------------------------------------------------------------------------------
// Builders

fn at(s: &str) -> Timestamp {
    s.parse().expect("timestamp")
}

fn incident(id: &str, fingerprint: &str, opened_at: &str) -> Incident {
    let opened_at = at(opened_at);
    Incident {
        id: id.into(),
        rule: "crash-loop".into(),
        severity: Severity::Critical,
        fingerprint: fingerprint.into(),
        target: ObjectRef::namespaced("Pod", "payments", "payments-api-7d9f8c6b5-x2k4q"),
        playbook: "crash-loop".into(),
        state: IncidentState::Open,
        opened_at,
        signal: Signal {
            source: SignalSource::Kubernetes,
            target: ObjectRef::namespaced("Pod", "payments", "payments-api-7d9f8c6b5-x2k4q"),
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

fn rollback_plan(name: &str) -> Plan {
    Plan {
        actions: vec![
            Action {
                tool: Tool::DeploymentRollback,
                params: json!({"namespace": "payments", "name": name}),
            },
            Action {
                tool: Tool::Notify,
                params: json!({"message": "rolled back"}),
            },
        ],
        requires_approval: true,
        risk: Risk::Medium,
        rationale: "v2.3.1 dropped DEPLOY_ENV".into(),
        downgraded: None,
        verification: vec![Check {
            check: CheckKind::RolloutComplete,
            params: json!({"namespace": "payments", "name": name, "timeout": 300}),
        }],
    }
}

fn diagnosis() -> Diagnosis {
    Diagnosis {
        category: Category::BadDeploy,
        contributing: vec![Category::ConfigMissing],
        summary: "v2.3.1 no longer sets DEPLOY_ENV; the app exits at startup".into(),
        confidence: 0.9,
        evidence: vec!["log/payments-api-7d9f8c6b5-x2k4q/payments-api/previous".into()],
        diagnoser: "rules".into(),
    }
}

fn evidence() -> Evidence {
    let mut evidence = Evidence::default();
    evidence.push(
        "log/payments-api-7d9f8c6b5-x2k4q/payments-api/previous",
        Facts::Log(LogFacts {
            namespace: "payments".into(),
            pod: "payments-api-7d9f8c6b5-x2k4q".into(),
            container: "payments-api".into(),
            previous: true,
            lines: vec!["Caused by: java.lang.IllegalStateException: DEPLOY_ENV is not set".into()],
            truncated: false,
        }),
    );
    evidence
}

async fn opened(store: &Store, id: &str) -> Incident {
    let incident = incident(
        id,
        &format!("crash-loop/payments/{id}"),
        "2026-11-20T02:13:00Z",
    );
    store.insert_incident(&incident).await.expect("insert");
    incident
}

async fn diagnosed_with_plan(store: &Store, id: &str) -> String {
    opened(store, id).await;
    let now = at("2026-11-20T02:14:00Z");
    store
        .record_diagnosis(id, &diagnosis(), now)
        .await
        .expect("diagnosis");
    let hash = store
        .record_plan(id, &rollback_plan("payments-api"), now)
        .await
        .expect("plan");
    store
        .transition(id, IncidentState::Diagnosed, "nightshift", now)
        .await
        .expect("diagnosed");
    hash
}

// ---------------------------------------------------------------------------------------------
// The suite

async fn migrations_apply_to_a_fresh_database_and_a_reconnect_keeps_its_data(db: &TestDb) {
    assert!(db.store.list_incidents(10).await.expect("list").is_empty());
    opened(&db.store, "inc-1").await;
    let again = db.reconnect().await;
    assert_eq!(again.backend(), db.store.backend());
    let listed = again
        .list_incidents(10)
        .await
        .expect("list after reconnect");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, "inc-1");
    assert!(again.verify_audit().await.expect("verify").is_intact());
    again.close().await;
    if db.store.backend() == Backend::Sqlite {
        let raw = db.raw().await;
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&raw)
            .await
            .expect("pragma");
        assert_eq!(mode, "wal");
        raw.close().await;
    }
}

async fn an_incident_round_trips_through_insert_list_and_load(db: &TestDb) {
    let older = incident("inc-old", "fp-a", "2026-11-20T01:00:00Z");
    let newer = incident("inc-new", "fp-b", "2026-11-20T02:13:00.123Z");
    db.store
        .insert_incident(&older)
        .await
        .expect("insert older");
    db.store
        .insert_incident(&newer)
        .await
        .expect("insert newer");

    let listed = db.store.list_incidents(10).await.expect("list");
    let ids: Vec<&str> = listed.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["inc-new", "inc-old"], "newest first");
    assert_eq!(listed[0].severity, Severity::Critical);
    assert_eq!(listed[0].target, newer.target);
    assert_eq!(listed[0].opened_at, newer.opened_at);
    assert_eq!(listed[0].updated_at, newer.opened_at);
    assert_eq!(listed[0].closed_at, None);
    assert_eq!(db.store.list_incidents(1).await.expect("list").len(), 1);

    let record = db
        .store
        .load("inc-new")
        .await
        .expect("load")
        .expect("exists");
    assert_eq!(record.incident, newer);
    assert_eq!(record.audit.len(), 1);
    assert_eq!(record.audit[0].kind, "incident.opened");
    assert!(db.store.load("inc-missing").await.expect("load").is_none());
}

async fn inserting_an_incident_id_twice_fails_clearly(db: &TestDb) {
    let first = opened(&db.store, "inc-1").await;
    let err = db
        .store
        .insert_incident(&first)
        .await
        .expect_err("duplicate");
    assert!(
        matches!(&err, StoreError::DuplicateIncident(id) if id == "inc-1"),
        "{err:?}"
    );
    assert_eq!(err.to_string(), "incident inc-1 already exists");
    assert_eq!(db.store.list_incidents(10).await.expect("list").len(), 1);
}

async fn the_latest_incident_with_a_fingerprint_is_found_for_dedup(db: &TestDb) {
    let store = &db.store;
    store
        .insert_incident(&incident("a1", "fp-a", "2026-11-20T01:00:00Z"))
        .await
        .expect("a1");
    store
        .transition(
            "a1",
            IncidentState::Escalated,
            "alice",
            at("2026-11-20T01:30:00Z"),
        )
        .await
        .expect("close a1");
    store
        .insert_incident(&incident("a2", "fp-a", "2026-11-20T02:00:00Z"))
        .await
        .expect("a2");
    store
        .insert_incident(&incident("b1", "fp-b", "2026-11-20T03:00:00Z"))
        .await
        .expect("b1");
    let existing = store
        .latest_by_fingerprint("fp-a")
        .await
        .expect("lookup")
        .expect("found");
    assert_eq!(existing.id, "a2");
    assert_eq!(existing.state, IncidentState::Open);
    assert_eq!(existing.opened_at, at("2026-11-20T02:00:00Z"));
    assert_eq!(existing.closed_at, None);
    assert!(
        store
            .latest_by_fingerprint("fp-none")
            .await
            .expect("lookup")
            .is_none()
    );
}

async fn a_second_open_incident_with_the_same_fingerprint_is_refused_by_the_database(db: &TestDb) {
    let store = &db.store;
    store
        .insert_incident(&incident("a1", "fp-a", "2026-11-20T01:00:00Z"))
        .await
        .expect("a1");
    let err = store
        .insert_incident(&incident("a2", "fp-a", "2026-11-20T01:00:05Z"))
        .await
        .expect_err("a second open incident for fp-a");
    assert!(
        matches!(&err, StoreError::AlreadyOpen { id, fingerprint } if id == "a1" && fingerprint == "fp-a"),
        "{err:?}"
    );
    assert_eq!(
        store.open_with_fingerprint("fp-a").await.expect("open"),
        Some("a1".into())
    );
    assert_eq!(store.list_incidents(10).await.expect("list").len(), 1);
}

async fn the_open_incident_of_a_workload_is_found_whatever_its_rule(db: &TestDb) {
    let store = &db.store;
    let workload = ObjectRef::namespaced("Deployment", "payments", "payments-api");
    assert!(
        store
            .open_on_scope(&workload)
            .await
            .expect("none")
            .is_none()
    );
    store
        .insert_incident(&incident("a1", "crash-loop/x", "2026-11-20T01:00:00Z"))
        .await
        .expect("a1");
    let mut other = incident("b1", "replicas-unavailable/x", "2026-11-20T01:05:00Z");
    other.rule = "replicas-unavailable".into();
    store.insert_incident(&other).await.expect("b1");
    let open = |s: Option<nightshift::store::IncidentSummary>| s.map(|s| s.id);
    assert_eq!(
        open(store.open_on_scope(&workload).await.expect("open")),
        Some("a1".into()),
        "the oldest open one"
    );
    store
        .transition(
            "a1",
            IncidentState::Escalated,
            "nightshift",
            at("2026-11-20T01:10:00Z"),
        )
        .await
        .expect("close a1");
    assert_eq!(
        open(store.open_on_scope(&workload).await.expect("open")),
        Some("b1".into())
    );
    let elsewhere = ObjectRef::namespaced("Deployment", "payments", "ledger");
    assert!(
        store
            .open_on_scope(&elsewhere)
            .await
            .expect("none")
            .is_none()
    );
}

async fn recent_actions_leave_out_the_incident_that_asks(db: &TestDb) {
    let store = &db.store;
    let now = at("2026-11-20T02:40:00Z");
    for id in ["inc-1", "inc-2"] {
        let hash = diagnosed_with_plan(store, id).await;
        let plan = rollback_plan("payments-api");
        store
            .record_action(
                id,
                &hash,
                0,
                &plan.actions[0],
                ActionOutcome::Started,
                "",
                now,
            )
            .await
            .expect("claim");
    }
    let since = at("2026-11-20T02:00:00Z");
    assert_eq!(
        store.recent_actions(since, None).await.expect("all").len(),
        2
    );
    let others = store
        .recent_actions(since, Some("inc-1"))
        .await
        .expect("others");
    assert_eq!(others.len(), 1, "{others:?}");
    assert_eq!(others[0].target, "payments/payments-api");
}

async fn incidents_are_found_by_state_and_escalations_by_workload(db: &TestDb) {
    let store = &db.store;
    store
        .insert_incident(&incident("a1", "fp-a", "2026-11-20T01:00:00Z"))
        .await
        .expect("a1");
    store
        .insert_incident(&incident("b1", "fp-b", "2026-11-20T01:05:00Z"))
        .await
        .expect("b1");
    store
        .transition(
            "b1",
            IncidentState::Escalated,
            "nightshift",
            at("2026-11-20T01:10:00Z"),
        )
        .await
        .expect("escalate b1");
    let open = store
        .incidents_in(&[IncidentState::Open])
        .await
        .expect("by state");
    assert_eq!(
        open.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(),
        ["a1"]
    );
    assert!(store.incidents_in(&[]).await.expect("none").is_empty());
    let workload = ObjectRef::namespaced("Deployment", "payments", "payments-api");
    let escalated = store
        .escalated_on(&workload, at("2026-11-20T01:00:00Z"))
        .await
        .expect("escalations");
    assert_eq!(escalated.map(|i| i.id), Some("b1".into()));
    let later = store
        .escalated_on(&workload, at("2026-11-20T02:00:00Z"))
        .await
        .expect("escalations");
    assert_eq!(later, None, "an escalation before `since` does not count");
    let other = ObjectRef::namespaced("Deployment", "payments", "ledger");
    assert_eq!(
        store
            .escalated_on(&other, at("2026-11-20T01:00:00Z"))
            .await
            .expect("other"),
        None
    );
}

async fn incidents_are_searched_by_state_namespace_newest_category_and_since(db: &TestDb) {
    let store = &db.store;
    store
        .insert_incident(&incident("a1", "fp-a", "2026-11-20T01:00:00Z"))
        .await
        .expect("a1");
    let mut b1 = incident("b1", "fp-b", "2026-11-20T02:00:00Z");
    b1.target = ObjectRef::namespaced("Pod", "shop", "api-1");
    store.insert_incident(&b1).await.expect("b1");
    store
        .record_diagnosis("a1", &diagnosis(), at("2026-11-20T01:01:00Z"))
        .await
        .expect("first diagnosis");
    let newer = Diagnosis {
        category: Category::OomKilled,
        ..diagnosis()
    };
    store
        .record_diagnosis("a1", &newer, at("2026-11-20T01:02:00Z"))
        .await
        .expect("newer diagnosis");
    store
        .transition(
            "a1",
            IncidentState::Escalated,
            "nightshift",
            at("2026-11-20T01:03:00Z"),
        )
        .await
        .expect("escalate");
    let search = |filter: IncidentFilter| async move {
        let listed = store.search_incidents(&filter, 10).await.expect("search");
        listed
            .into_iter()
            .map(|l| (l.summary.id, l.category))
            .collect::<Vec<_>>()
    };
    let a1 = ("a1".to_owned(), Some("oom-killed".to_owned()));
    let b1 = ("b1".to_owned(), None);
    assert_eq!(
        search(IncidentFilter::default()).await,
        [b1.clone(), a1.clone()]
    );
    let state = IncidentFilter {
        state: Some(IncidentState::Escalated),
        ..IncidentFilter::default()
    };
    assert_eq!(search(state).await, vec![a1.clone()]);
    let namespace = IncidentFilter {
        namespace: Some("shop".into()),
        ..IncidentFilter::default()
    };
    assert_eq!(search(namespace).await, vec![b1.clone()]);
    let newest = IncidentFilter {
        category: Some(Category::OomKilled),
        ..IncidentFilter::default()
    };
    assert_eq!(search(newest).await, vec![a1.clone()]);
    let replaced = IncidentFilter {
        category: Some(Category::BadDeploy),
        ..IncidentFilter::default()
    };
    assert!(
        search(replaced).await.is_empty(),
        "only the newest diagnosis counts"
    );
    let since = IncidentFilter {
        since: Some(at("2026-11-20T01:30:00Z")),
        namespace: Some("shop".into()),
        ..IncidentFilter::default()
    };
    assert_eq!(search(since).await, [b1]);
    assert_eq!(
        store
            .search_incidents(&IncidentFilter::default(), 1)
            .await
            .expect("limit")
            .len(),
        1
    );
}

async fn a_valid_transition_moves_the_incident_and_a_terminal_one_closes_it(db: &TestDb) {
    let store = &db.store;
    opened(store, "inc-1").await;
    let now = at("2026-11-20T02:20:00Z");
    let from = store
        .transition("inc-1", IncidentState::Escalated, "alice", now)
        .await
        .expect("escalate");
    assert_eq!(from, IncidentState::Open);
    let record = store.load("inc-1").await.expect("load").expect("exists");
    assert_eq!(record.incident.state, IncidentState::Escalated);
    assert_eq!(record.updated_at, now);
    assert_eq!(record.closed_at, Some(now));
    let last = record.audit.last().expect("audit row");
    assert_eq!(last.kind, "incident.transitioned");
    assert_eq!(last.actor, "alice");
    assert_eq!(last.detail, json!({"from": "open", "to": "escalated"}));
    let existing = store
        .latest_by_fingerprint(&record.incident.fingerprint)
        .await
        .expect("lookup");
    assert_eq!(existing.expect("found").closed_at, Some(now));
}

async fn an_invalid_transition_is_refused_and_changes_nothing(db: &TestDb) {
    let store = &db.store;
    opened(store, "inc-1").await;
    let now = at("2026-11-20T02:20:00Z");
    let err = store
        .transition("inc-1", IncidentState::Executing, "mallory", now)
        .await
        .expect_err("open cannot execute");
    assert!(
        matches!(err, StoreError::InvalidTransition { .. }),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "incident inc-1: an incident cannot go from open to executing"
    );
    let record = store.load("inc-1").await.expect("load").expect("exists");
    assert_eq!(record.incident.state, IncidentState::Open);
    assert_eq!(record.audit.len(), 1, "a refused transition is not audited");
}

async fn a_transition_of_an_unknown_incident_is_refused(db: &TestDb) {
    let err = db
        .store
        .transition(
            "ghost",
            IncidentState::Diagnosed,
            "nightshift",
            at("2026-11-20T02:20:00Z"),
        )
        .await
        .expect_err("unknown");
    assert!(
        matches!(&err, StoreError::UnknownIncident(id) if id == "ghost"),
        "{err:?}"
    );
}

async fn of_concurrent_transitions_exactly_one_wins(db: &TestDb) {
    diagnosed_with_plan(&db.store, "inc-1").await;
    // Targets none of which can follow another: with awaiting-approval among them a writer
    // could legitimately move awaiting-approval → approved after the race was won, and the
    // test would count two winners (it did, intermittently, on SQLite).
    let targets = [IncidentState::Approved, IncidentState::Escalated];
    let tasks: Vec<_> = (0..9)
        .map(|i| {
            let store = db.store.clone();
            let to = targets[i % targets.len()];
            tokio::spawn(async move {
                let now = at("2026-11-20T02:30:00Z");
                (
                    to,
                    store
                        .transition("inc-1", to, &format!("writer-{i}"), now)
                        .await,
                )
            })
        })
        .collect();
    let mut winners = Vec::new();
    for task in tasks {
        let (to, result) = task.await.expect("task");
        match result {
            Ok(from) => winners.push((from, to)),
            Err(StoreError::LostRace { .. } | StoreError::InvalidTransition { .. }) => {}
            Err(other) => panic!("unexpected error: {other}"),
        }
    }
    assert_eq!(winners.len(), 1, "winners: {winners:?}");
    let (from, to) = winners[0];
    assert_eq!(from, IncidentState::Diagnosed);
    let record = db.store.load("inc-1").await.expect("load").expect("exists");
    assert_eq!(record.incident.state, to);
    let transitions = record
        .audit
        .iter()
        .filter(|r| r.kind == "incident.transitioned")
        .count();
    assert_eq!(transitions, 2, "open→diagnosed and the one winner");
}

async fn an_action_recorded_twice_for_the_same_plan_and_index_is_already_recorded(db: &TestDb) {
    let store = &db.store;
    let hash = diagnosed_with_plan(store, "inc-1").await;
    let plan = rollback_plan("payments-api");
    let now = at("2026-11-20T02:40:00Z");
    let action = &plan.actions[0];
    let first = store
        .record_action("inc-1", &hash, 0, action, ActionOutcome::Started, "", now)
        .await
        .expect("first");
    assert_eq!(first, Recorded::Recorded);
    let second = store
        .record_action(
            "inc-1",
            &hash,
            0,
            action,
            ActionOutcome::Succeeded,
            "retry",
            now,
        )
        .await
        .expect("second");
    assert_eq!(second, Recorded::AlreadyRecorded);
    store
        .complete_action(
            "inc-1",
            &hash,
            0,
            ActionOutcome::Succeeded,
            "rolled back to revision 6",
            now,
        )
        .await
        .expect("complete");
    let err = store
        .complete_action("inc-1", &hash, 0, ActionOutcome::Failed, "again", now)
        .await
        .expect_err("already complete");
    assert!(
        matches!(err, StoreError::ActionNotStarted { .. }),
        "{err:?}"
    );

    let record = store.load("inc-1").await.expect("load").expect("exists");
    assert_eq!(record.actions.len(), 1);
    assert_eq!(record.actions[0].outcome, ActionOutcome::Succeeded);
    assert_eq!(record.actions[0].detail, "rolled back to revision 6");
    let recorded = record
        .audit
        .iter()
        .filter(|r| r.kind == "action.recorded")
        .count();
    assert_eq!(recorded, 1, "the duplicate is not audited");

    // The same remedy for a later incident is a new action, not a duplicate.
    let other = diagnosed_with_plan(store, "inc-2").await;
    assert_eq!(other, hash, "same actions and checks, same hash");
    let later = store
        .record_action("inc-2", &other, 0, action, ActionOutcome::Started, "", now)
        .await
        .expect("other incident");
    assert_eq!(later, Recorded::Recorded);
}

async fn an_action_that_is_not_the_plans_action_at_that_index_is_refused(db: &TestDb) {
    let store = &db.store;
    let hash = diagnosed_with_plan(store, "inc-1").await;
    let now = at("2026-11-20T02:40:00Z");
    let widened = Action {
        tool: Tool::DeploymentScale,
        params: json!({"namespace": "payments", "name": "payments-api", "replicas": 0}),
    };
    let err = store
        .record_action("inc-1", &hash, 0, &widened, ActionOutcome::Started, "", now)
        .await
        .expect_err("not the planned action");
    assert!(
        matches!(err, StoreError::ActionMismatch { index: 0, .. }),
        "{err:?}"
    );
    let err = store
        .record_action("inc-1", &hash, 7, &widened, ActionOutcome::Started, "", now)
        .await
        .expect_err("no such index");
    assert!(
        matches!(err, StoreError::UnknownAction { index: 7, .. }),
        "{err:?}"
    );
    let record = store.load("inc-1").await.expect("load").expect("exists");
    assert!(record.actions.is_empty());
}

async fn an_approval_for_a_plan_hash_never_recorded_is_refused(db: &TestDb) {
    let store = &db.store;
    let hash = diagnosed_with_plan(store, "inc-1").await;
    let forged = rollback_plan("payments-apj").hash();
    let now = at("2026-11-20T02:35:00Z");
    let err = store
        .record_approval("inc-1", &forged, Decision::Approved, "alice", now)
        .await
        .expect_err("unknown plan");
    assert!(
        matches!(&err, StoreError::UnknownPlan { plan_hash, .. } if *plan_hash == forged),
        "{err:?}"
    );
    // A plan recorded for another incident does not count either.
    opened(store, "inc-2").await;
    let err = store
        .record_approval("inc-2", &hash, Decision::Approved, "alice", now)
        .await
        .expect_err("plan of another incident");
    assert!(matches!(err, StoreError::UnknownPlan { .. }), "{err:?}");
    store
        .record_approval("inc-1", &hash, Decision::Approved, "alice", now)
        .await
        .expect("approve");
    let record = store.load("inc-1").await.expect("load").expect("exists");
    assert_eq!(record.approvals.len(), 1);
    assert_eq!(record.approvals[0].plan_hash, hash);
}

async fn the_same_decision_twice_is_recorded_once_even_when_racing(db: &TestDb) {
    let store = &db.store;
    let hash = diagnosed_with_plan(store, "inc-1").await;
    let now = at("2026-11-20T02:35:00Z");
    let approve =
        |who: &'static str| store.record_approval("inc-1", &hash, Decision::Approved, who, now);
    let (a, b) = tokio::join!(approve("alice"), approve("bob"));
    let mut answers = [a.expect("alice"), b.expect("bob")];
    answers.sort_by_key(|r| *r == Recorded::AlreadyRecorded);
    assert_eq!(answers, [Recorded::Recorded, Recorded::AlreadyRecorded]);
    let record = store.load("inc-1").await.expect("load").expect("exists");
    assert_eq!(record.approvals.len(), 1);
    let audited = record
        .audit
        .iter()
        .filter(|a| a.kind == kinds::APPROVAL_RECORDED)
        .count();
    assert_eq!(audited, 1);
    // Another decision on the same plan is still recorded.
    let denied = store.record_approval("inc-1", &hash, Decision::Denied, "carol", now);
    assert_eq!(denied.await.expect("deny"), Recorded::Recorded);
}

async fn a_replayed_incident_holds_no_fingerprint_and_takes_no_approval_or_action(db: &TestDb) {
    let store = &db.store;
    let mut replayed = incident(
        "inc-r",
        "crash-loop/payments/payments-api",
        "2026-11-20T02:13:00Z",
    );
    replayed.state = IncidentState::Replayed;
    store.insert_incident(&replayed).await.expect("insert");
    let latest = store
        .latest_by_fingerprint("crash-loop/payments/payments-api")
        .await;
    assert_eq!(
        latest.expect("lookup"),
        None,
        "a replay holds no fingerprint"
    );
    let now = at("2026-11-20T02:14:00Z");
    let plan = rollback_plan("payments-api");
    let hash = store
        .record_plan("inc-r", &plan, now)
        .await
        .expect("a replay keeps its plan");
    let approval = store
        .record_approval("inc-r", &hash, Decision::Approved, "alice", now)
        .await;
    assert!(
        matches!(approval, Err(StoreError::Replayed(_))),
        "{approval:?}"
    );
    let action = store
        .record_action(
            "inc-r",
            &hash,
            0,
            &plan.actions[0],
            ActionOutcome::Started,
            "",
            now,
        )
        .await;
    assert!(matches!(action, Err(StoreError::Replayed(_))), "{action:?}");
    let moved = store
        .transition("inc-r", IncidentState::Diagnosed, "nightshift", now)
        .await;
    assert!(moved.is_err(), "nothing leaves replayed");
    // A live incident with that fingerprint opens beside it.
    opened(store, "inc-live").await;
}

async fn a_replay_an_older_version_left_diagnosed_is_retired_and_a_resolved_workload_kept(
    db: &TestDb,
) {
    let store = &db.store;
    opened(store, "inc-old").await;
    let now = at("2026-11-20T02:14:00Z");
    store
        .transition("inc-old", IncidentState::Diagnosed, "replay", now)
        .await
        .expect("old replay");
    diagnosed_with_plan(store, "inc-live").await;
    let retired = store.retire_old_replays(now).await.expect("retire");
    assert_eq!(retired, ["inc-old"]);
    let old = store.load("inc-old").await.expect("load").expect("exists");
    assert_eq!(old.incident.state, IncidentState::Replayed);
    assert!(old.closed_at.is_some());
    let live = store.load("inc-live").await.expect("load").expect("exists");
    assert_eq!(
        live.incident.state,
        IncidentState::Diagnosed,
        "a live incident is left alone"
    );
    assert!(
        store
            .retire_old_replays(now)
            .await
            .expect("again")
            .is_empty()
    );
    // A workload resolved after opening becomes the incident's scope.
    let mut unnamed = incident("inc-pod", "crash-loop/payments/pod", "2026-11-20T02:20:00Z");
    unnamed.signal.workload = None;
    store.insert_incident(&unnamed).await.expect("insert");
    let checkout = ObjectRef::namespaced("Deployment", "payments", "checkout");
    store
        .record_workload("inc-pod", &checkout, now)
        .await
        .expect("kept");
    let open = store
        .open_on_scope(&checkout)
        .await
        .expect("scope")
        .expect("found");
    assert_eq!(open.id, "inc-pod");
    let kept = store.load("inc-pod").await.expect("load").expect("exists");
    assert_eq!(kept.incident.signal.workload, Some(checkout));
    assert!(store.verify_audit().await.expect("audit").is_intact());
}

async fn a_whole_incident_loads_back_with_its_history(db: &TestDb) {
    let store = &db.store;
    let hash = diagnosed_with_plan(store, "inc-1").await;
    let now = at("2026-11-20T02:50:00Z");
    store
        .record_evidence("inc-1", &evidence(), now)
        .await
        .expect("evidence");
    store
        .record_evidence("inc-1", &evidence(), now)
        .await
        .expect("evidence again is harmless");
    assert_eq!(
        store
            .record_plan("inc-1", &rollback_plan("payments-api"), now)
            .await
            .expect("plan"),
        hash
    );
    store
        .transition("inc-1", IncidentState::AwaitingApproval, "nightshift", now)
        .await
        .expect("page");
    store
        .record_approval("inc-1", &hash, Decision::Approved, "alice", now)
        .await
        .expect("approve");
    store
        .transition("inc-1", IncidentState::Approved, "alice", now)
        .await
        .expect("approved");
    store
        .transition("inc-1", IncidentState::Executing, "nightshift", now)
        .await
        .expect("executing");
    let plan = rollback_plan("payments-api");
    for (index, action) in plan.actions.iter().enumerate() {
        let recorded = store
            .record_action(
                "inc-1",
                &hash,
                index,
                action,
                ActionOutcome::Succeeded,
                "ok",
                now,
            )
            .await
            .expect("action");
        assert_eq!(recorded, Recorded::Recorded);
    }
    store
        .transition("inc-1", IncidentState::Verifying, "nightshift", now)
        .await
        .expect("verifying");
    let verdict =
        json!({"verdict": "passed", "checks": [{"check": "rollout-complete", "ok": true}]});
    store
        .record_verification("inc-1", &verdict, now)
        .await
        .expect("verdict");
    store
        .transition("inc-1", IncidentState::Resolved, "nightshift", now)
        .await
        .expect("resolved");

    let record = store.load("inc-1").await.expect("load").expect("exists");
    assert_eq!(record.incident.state, IncidentState::Resolved);
    assert_eq!(record.closed_at, Some(now));
    assert_eq!(record.evidence, evidence());
    assert_eq!(
        record.diagnosis.as_ref().map(|d| &d.diagnosis),
        Some(&diagnosis())
    );
    assert_eq!(record.plans.len(), 1);
    assert_eq!(record.plans[0].plan, plan);
    assert_eq!(record.plans[0].hash, hash);
    assert_eq!(record.approvals[0].decision, Decision::Approved);
    assert_eq!(record.actions.len(), 2);
    assert_eq!(record.actions[1].action, plan.actions[1]);
    assert_eq!(record.verifications[0].verdict, verdict);
    let kinds: Vec<&str> = record.audit.iter().map(|r| r.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "incident.opened",
            "diagnosis.recorded",
            "plan.recorded",
            "incident.transitioned",
            "evidence.recorded",
            "evidence.recorded",
            "incident.transitioned",
            "approval.recorded",
            "incident.transitioned",
            "incident.transitioned",
            "action.recorded",
            "action.recorded",
            "incident.transitioned",
            "verification.recorded",
            "incident.transitioned",
        ]
    );
    assert!(record.audit.windows(2).all(|w| w[1].prev_hash == w[0].hash));
    let report = store.verify_audit().await.expect("verify");
    assert_eq!(report.rows, 15);
    assert!(report.is_intact(), "{report:?}");
}

async fn append_rows(store: &Store, n: usize) {
    for i in 0..n {
        store
            .append_audit(
                None,
                "test.note",
                "tester",
                &json!({"n": i, "text": "note"}),
                at("2026-11-20T03:00:00Z"),
            )
            .await
            .expect("append");
    }
}

fn drop_trigger(backend: Backend, name: &str) -> String {
    match backend {
        Backend::Sqlite => format!("DROP TRIGGER {name}"),
        Backend::Postgres => format!("DROP TRIGGER {name} ON audit"),
    }
}

async fn the_audit_chain_verifies_and_a_tampered_row_is_reported_at_its_seq(db: &TestDb) {
    append_rows(&db.store, 5).await;
    let report = db.store.verify_audit().await.expect("verify");
    assert_eq!(report.rows, 5);
    assert_eq!(report.first_broken, None);

    let raw = db.raw().await;
    raw.execute(drop_trigger(db.store.backend(), "audit_refuse_update").as_str())
        .await
        .expect("drop trigger");
    raw.execute("UPDATE audit SET actor = 'mallory' WHERE seq = 3")
        .await
        .expect("tamper");
    raw.close().await;

    let report = db.store.verify_audit().await.expect("verify");
    let broken = report.first_broken.expect("tampering detected");
    assert_eq!(broken.seq, 3);
    assert!(
        broken.reason.contains("does not match the row's contents"),
        "{}",
        broken.reason
    );
}

async fn a_deleted_audit_row_is_reported_at_the_row_after_it(db: &TestDb) {
    append_rows(&db.store, 5).await;
    let raw = db.raw().await;
    raw.execute(drop_trigger(db.store.backend(), "audit_refuse_delete").as_str())
        .await
        .expect("drop trigger");
    raw.execute("DELETE FROM audit WHERE seq = 5")
        .await
        .expect("delete the last row");
    let report = db.store.verify_audit().await.expect("verify");
    let broken = report.first_broken.expect("a missing tail is detected");
    assert_eq!(broken.seq, 5);
    assert!(broken.reason.contains("chain head"), "{}", broken.reason);

    raw.execute("DELETE FROM audit WHERE seq = 2")
        .await
        .expect("delete a middle row");
    raw.close().await;
    let report = db.store.verify_audit().await.expect("verify");
    let broken = report.first_broken.expect("a gap is detected");
    assert_eq!(broken.seq, 3);
    assert!(
        broken.reason.contains("rows are missing"),
        "{}",
        broken.reason
    );
}

async fn the_audit_table_refuses_update_and_delete(db: &TestDb) {
    append_rows(&db.store, 2).await;
    let raw = db.raw().await;
    let err = raw
        .execute("UPDATE audit SET actor = 'mallory'")
        .await
        .expect_err("update refused");
    assert!(err.to_string().contains("append-only"), "{err}");
    let err = raw
        .execute("DELETE FROM audit WHERE seq = 1")
        .await
        .expect_err("delete refused");
    assert!(err.to_string().contains("append-only"), "{err}");
    raw.close().await;
    assert_eq!(db.store.verify_audit().await.expect("verify").rows, 2);
}

async fn concurrent_audit_appends_never_fork_the_chain(db: &TestDb) {
    let tasks: Vec<_> = (0..8)
        .map(|writer| {
            let store = db.store.clone();
            tokio::spawn(async move {
                for n in 0..5 {
                    let detail = json!({"writer": writer, "n": n});
                    store
                        .append_audit(
                            None,
                            "test.note",
                            "tester",
                            &detail,
                            at("2026-11-20T03:00:00Z"),
                        )
                        .await
                        .expect("append");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("task");
    }
    let report = db.store.verify_audit().await.expect("verify");
    assert_eq!(report.rows, 40);
    assert!(report.is_intact(), "{report:?}");
}

async fn the_kill_switch_is_audited_with_who_and_why_and_every_store_on_the_database_sees_it(
    db: &TestDb,
) {
    opened(&db.store, "inc-1").await;
    assert_eq!(db.store.paused().await.expect("read"), None);
    let when = at("2026-11-20T03:00:00Z");
    let switched = db.store.pause("carol", "region outage", when).await;
    assert_eq!(switched.expect("pause"), Switched::Changed);
    // Another daemon's store on the same database sees it, and so does every record it loads.
    let other = db.reconnect().await;
    let pause = other.paused().await.expect("read").expect("paused");
    assert_eq!(
        (pause.by.as_str(), pause.reason.as_str(), pause.since),
        ("carol", "region outage", when)
    );
    let record = other.load("inc-1").await.expect("load").expect("incident");
    assert_eq!(record.paused, Some(pause));
    // Pausing again changes nothing and writes nothing.
    let again = db.store.pause("mallory", "again", when).await;
    assert_eq!(again.expect("pause"), Switched::AlreadySo);
    assert_eq!(
        db.store.paused().await.expect("read").expect("paused").by,
        "carol"
    );
    let resumed = other.resume("dave", "outage over", when).await;
    assert_eq!(resumed.expect("resume"), Switched::Changed);
    assert_eq!(db.store.paused().await.expect("read"), None);
    assert_eq!(
        db.store.resume("dave", "", when).await.expect("resume"),
        Switched::AlreadySo
    );
    // Both switches are in the audit chain, with who and why; the chain still verifies.
    let raw = db.raw().await;
    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT kind, actor, detail FROM audit WHERE incident_id IS NULL ORDER BY seq",
    )
    .fetch_all(&raw)
    .await
    .expect("audit rows");
    raw.close().await;
    assert_eq!(
        rows,
        vec![
            (
                "nightshift.paused".to_owned(),
                "carol".to_owned(),
                r#"{"reason":"region outage"}"#.to_owned()
            ),
            (
                "nightshift.resumed".to_owned(),
                "dave".to_owned(),
                r#"{"reason":"outage over"}"#.to_owned()
            ),
        ]
    );
    assert!(db.store.verify_audit().await.expect("verify").is_intact());
    other.close().await;
}

// ---------------------------------------------------------------------------------------------
// Connecting

#[tokio::test]
async fn a_url_with_an_unknown_scheme_is_refused_with_the_schemes_that_work() {
    let err = Store::connect("mysql://root@localhost/nightshift")
        .await
        .expect_err("refused");
    let message = err.to_string();
    assert!(
        message.contains("`mysql`") && message.contains("sqlite://"),
        "{message}"
    );
}

#[tokio::test]
async fn a_sqlite_path_that_cannot_be_created_names_the_path() {
    let err = Store::connect("sqlite:///nonexistent-dir/deeper/nightshift.db")
        .await
        .expect_err("no such directory");
    let message = err.to_string();
    assert!(matches!(err, StoreError::Connect { .. }), "{err:?}");
    assert!(
        message.contains("sqlite") && message.contains("/nonexistent-dir/deeper/nightshift.db"),
        "{message}"
    );
}

#[tokio::test]
async fn an_unreachable_postgres_names_host_and_database_but_not_the_password() {
    let err = Store::connect_with_timeout(
        "postgres://nightshift:hunter2@127.0.0.1:1/incidents",
        Duration::from_secs(1),
    )
    .await
    .expect_err("nothing listens on port 1");
    let message = err.to_string();
    assert!(message.contains("127.0.0.1:1/incidents"), "{message}");
    assert!(!message.contains("hunter2"), "{message}");
}

// ---------------------------------------------------------------------------------------------
// Pages: the pagers' delivery queue

async fn pages_are_queued_once_claimed_once_settled_and_counted(db: &TestDb) {
    let store = &db.store;
    opened(store, "inc-page").await;
    let now = at("2026-11-20T02:15:00Z");
    let content = json!({"summary": "payments crash-loops"});
    let new = |intent: &'static str, event: &'static str, status| NewPage {
        incident_id: "inc-page",
        pager: "pd",
        intent,
        event,
        dedup_key: "inc-page",
        page: &content,
        status,
    };
    let trigger = store
        .queue_page(
            &new("awaiting-approval", "trigger", PageStatus::Pending),
            now,
        )
        .await
        .expect("queue")
        .expect("a new page");
    // The same state change replayed after a crash queues nothing.
    let again = store
        .queue_page(
            &new("awaiting-approval", "trigger", PageStatus::Pending),
            now,
        )
        .await
        .expect("queue again");
    assert_eq!(again, None);
    let resolve = store
        .queue_page(&new("resolved", "resolve", PageStatus::Pending), now)
        .await
        .expect("queue")
        .expect("a second page");
    assert_eq!(
        store.awaiting_unpaged().await.expect("unpaged"),
        Vec::<String>::new()
    );
    let due = store.due_pages(now, 10).await.expect("due");
    assert_eq!(
        due,
        vec![(trigger, "pd".to_owned()), (resolve, "pd".to_owned())]
    );
    assert_eq!(store.page_backlog().await.expect("backlog"), (2, 0));
    assert_eq!(
        store.triggers_since("pd", now).await.expect("triggers").0,
        1
    );

    // One daemon claims it; a second one (or a second try before the lease ends) does not.
    let lease = now + jiff::SignedDuration::from_secs(30);
    let claimed = store
        .claim_page(trigger, now, lease)
        .await
        .expect("claim")
        .expect("claimed");
    assert_eq!(claimed.status, PageStatus::Pending);
    assert_eq!(
        store.claim_page(trigger, now, lease).await.expect("claim"),
        None
    );
    let other = db.reconnect().await;
    assert_eq!(
        other.claim_page(trigger, now, lease).await.expect("claim"),
        None
    );
    other.close().await;
    // The resolve waits for its trigger.
    let resolve_page = store.page(resolve).await.expect("read").expect("stored");
    assert!(
        store
            .earlier_page_pending(&resolve_page)
            .await
            .expect("order")
    );

    // A retryable failure stays pending with its error; then it is delivered.
    let retry_at = now + jiff::SignedDuration::from_secs(5);
    store
        .settle_page(
            &claimed,
            PageStatus::Pending,
            2,
            Some("HTTP 503"),
            retry_at,
            now,
        )
        .await
        .expect("settle pending");
    let stored = store.page(trigger).await.expect("read").expect("stored");
    assert_eq!(
        (stored.status, stored.attempts, stored.last_error.as_deref()),
        (PageStatus::Pending, 2, Some("HTTP 503"))
    );
    assert_eq!(
        store.due_pages(now, 10).await.expect("due"),
        vec![(resolve, "pd".to_owned())]
    );
    let claimed = store
        .claim_page(
            trigger,
            retry_at,
            retry_at + jiff::SignedDuration::from_secs(30),
        )
        .await
        .expect("claim")
        .expect("claimed after the retry time");
    store
        .settle_page(&claimed, PageStatus::Delivered, 1, None, retry_at, retry_at)
        .await
        .expect("settle delivered");
    let stored = store.page(trigger).await.expect("read").expect("stored");
    assert_eq!((stored.status, stored.attempts), (PageStatus::Delivered, 3));
    assert_eq!(stored.delivered_at, Some(retry_at));
    assert!(
        !store
            .earlier_page_pending(&resolve_page)
            .await
            .expect("order")
    );

    // A refused page is failed, counted, and audited with the delivery.
    let claimed = store
        .claim_page(
            resolve,
            retry_at,
            retry_at + jiff::SignedDuration::from_secs(30),
        )
        .await
        .expect("claim")
        .expect("claimed");
    store
        .settle_page(
            &claimed,
            PageStatus::Failed,
            1,
            Some("HTTP 400: invalid routing key"),
            retry_at,
            retry_at,
        )
        .await
        .expect("settle failed");
    assert_eq!(store.page_backlog().await.expect("backlog"), (0, 1));
    let pages = store.pages_of("inc-page").await.expect("pages");
    assert_eq!(
        pages.iter().map(|p| p.status).collect::<Vec<_>>(),
        vec![PageStatus::Delivered, PageStatus::Failed]
    );
    let record = store.load("inc-page").await.expect("load").expect("stored");
    let kinds_seen: Vec<_> = record.audit.iter().map(|r| r.kind.as_str()).collect();
    for kind in ["page.queued", "page.delivered", "page.failed"] {
        assert!(kinds_seen.contains(&kind), "{kind} in {kinds_seen:?}");
    }
    assert!(store.verify_audit().await.expect("verify").is_intact());

    // A page folded into a group is recorded, never sent by itself.
    opened(store, "inc-grouped").await;
    let grouped = NewPage {
        incident_id: "inc-grouped",
        ..new("awaiting-approval", "trigger", PageStatus::Grouped)
    };
    let folded = store
        .queue_page(&grouped, now)
        .await
        .expect("queue")
        .expect("queued");
    assert_eq!(
        store.grouped_since("pd", now).await.expect("grouped"),
        vec!["inc-grouped".to_owned()]
    );
    assert!(
        !store
            .due_pages(retry_at, 10)
            .await
            .expect("due")
            .iter()
            .any(|(id, _)| *id == folded),
        "a grouped page is not sent by itself"
    );
}
