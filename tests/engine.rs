//! The engine over a real store (SQLite) and the simulated cluster over HTTP: dedup across
//! re-lists and restarts (through the real watchers too), the approval gate, execution recorded once, verification deciding
//! resolved or escalated, and no automatic action on a workload after an escalation. Evidence
//! comes from a recorded fixture (the live gatherer has its own tests), and the verifier is a
//! double whose verdict each test chooses.

use std::sync::atomic::Ordering;
use std::time::Duration;

use nightshift::domain::incident::IncidentState;
use nightshift::store::{ActionOutcome, Decision};
use tokio::task::JoinSet;

mod engine_support;
mod sim_harness;

use engine_support::{spawn, waiting_without_a_loop, world};

#[tokio::test]
async fn the_same_signal_again_or_after_a_restart_opens_no_second_incident() {
    let w = world().await;
    let first = w
        .engine()
        .open(w.signal.clone(), w.now)
        .await
        .expect("open");
    assert!(first.is_some(), "the first signal opens an incident");
    let relist = w
        .engine()
        .open(w.signal.clone(), w.now)
        .await
        .expect("again");
    assert!(
        relist.is_none(),
        "a re-list replays the pod: same fingerprint, no new incident"
    );
    let restarted = w.engine();
    let after = restarted
        .open(w.signal.clone(), w.now)
        .await
        .expect("restart");
    assert!(
        after.is_none(),
        "a fresh engine on the same store dedups too"
    );
    assert_eq!(w.store.list_incidents(10).await.expect("list").len(), 1);
}

#[tokio::test]
async fn the_real_watchers_listing_again_after_a_restart_open_no_second_incident() {
    let w = world().await;
    for run in ["first", "after a restart"] {
        let shutdown = w.shutdown.child_token();
        let (tx, rx) = tokio::sync::mpsc::channel(1024);
        let scope = nightshift::domain::scope::NamespaceScope::default();
        let watchers = tokio::spawn(nightshift::k8s::watch::run(
            w.client.clone(),
            scope,
            tx,
            shutdown.clone(),
        ));
        // A fresh engine each time: nothing remembered in memory, only the store.
        let engine = tokio::spawn(w.engine().run(rx, shutdown.clone()));
        for _ in 0..300 {
            if !w.store.list_incidents(10).await.expect("list").is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // Let every listed object reach the engine.
        tokio::time::sleep(Duration::from_millis(700)).await;
        shutdown.cancel();
        watchers.await.expect("watchers stop");
        engine.await.expect("engine stops");
        let incidents = w.store.list_incidents(10).await.expect("list");
        assert_eq!(
            incidents.len(),
            1,
            "{run}: both crash-looping pods, listed again, are one incident: {incidents:#?}"
        );
    }
}

#[tokio::test]
async fn after_an_incident_ends_its_rules_cooldown_holds_the_same_signal_back_then_lets_it_open() {
    let w = world().await;
    let engine = w.engine();
    let first = engine
        .open(w.signal.clone(), w.now)
        .await
        .expect("open")
        .expect("opened");
    w.store
        .transition(&first.id, IncidentState::Escalated, "nightshift", w.now)
        .await
        .expect("ended");
    let minutes = |m: i64| w.now + jiff::SignedDuration::from_mins(m);
    // crash-loop's cooldown is the default 30 minutes; a fresh engine judges by the store alone.
    for (at, opens) in [
        (minutes(10), false),
        (minutes(29), false),
        (minutes(31), true),
    ] {
        let mut again = w.signal.clone();
        again.observed_at = at;
        let opened = w.engine().open(again, at).await.expect("open");
        assert_eq!(opened.is_some(), opens, "{at}");
    }
    assert_eq!(w.store.list_incidents(10).await.expect("list").len(), 2);
}

/// What the incident's timeline records as other rules' signals that joined it.
async fn joined_signals(w: &engine_support::World, id: &str) -> Vec<serde_json::Value> {
    let record = w.record(id).await;
    record
        .audit
        .into_iter()
        .filter(|a| a.kind == nightshift::store::kinds::SIGNAL_JOINED)
        .map(|a| a.detail)
        .collect()
}

#[tokio::test]
async fn a_signal_of_another_rule_about_the_same_workload_joins_its_open_incident() {
    let w = world().await;
    let engine = w.engine();
    let first = engine
        .open(w.signal.clone(), w.now)
        .await
        .expect("open")
        .expect("the crash loop opens an incident");
    let deployment =
        nightshift::domain::signal::ObjectRef::namespaced("Deployment", "payments", "payments-api");
    let mut short = w.signal.clone();
    short.target = deployment.clone();
    short.workload = Some(deployment);
    short.reason = "ReplicasUnavailable".into();
    short.container = None;
    short.container_state = None;
    for _ in 0..3 {
        let opened = engine.open(short.clone(), w.now).await.expect("open");
        assert!(opened.is_none(), "one broken workload, one page");
    }
    let joined = joined_signals(&w, &first.id).await;
    assert_eq!(joined.len(), 1, "recorded once: {joined:?}");
    assert_eq!(joined[0]["rule"], "replicas-unavailable");
    // A fresh engine (a restart) does not record it again.
    assert!(w.engine().open(short, w.now).await.expect("open").is_none());
    assert_eq!(joined_signals(&w, &first.id).await.len(), 1);
    assert_eq!(w.store.list_incidents(10).await.expect("list").len(), 1);
}

#[tokio::test]
async fn a_plan_waits_for_a_human_and_nothing_changes_until_approved() {
    let w = world().await;
    let engine = w.engine();
    let _tx = spawn(&engine, &w.shutdown);
    let mut tasks = JoinSet::new();
    let before = w.deployment_image();
    let id = w.opened_and_waiting(&engine, &mut tasks).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(w.state(&id).await, IncidentState::AwaitingApproval);
    assert_eq!(w.deployment_image(), before, "no approval, no change");
    let record = w.record(&id).await;
    assert!(record.actions.is_empty(), "no action was even claimed");
    assert_eq!(
        record
            .diagnosis
            .expect("diagnosis")
            .diagnosis
            .category
            .as_str(),
        "bad-deploy"
    );
}

#[tokio::test]
async fn an_approval_of_the_plans_hash_rolls_back_once_and_verification_resolves() {
    let w = world().await;
    let engine = w.engine();
    let _tx = spawn(&engine, &w.shutdown);
    let mut tasks = JoinSet::new();
    let broken = w.deployment_image();
    let id = w.opened_and_waiting(&engine, &mut tasks).await;
    let wrong = nightshift::approval::answer(
        &w.store,
        &id,
        Some("00000000"),
        Decision::Approved,
        "alice",
        w.now,
    )
    .await;
    assert!(
        wrong.is_err(),
        "an approval of another plan hash is refused"
    );
    let hash = w.plan_hash(&id).await;
    nightshift::approval::answer(
        &w.store,
        &id,
        Some(&hash[..12]),
        Decision::Approved,
        "alice",
        w.now,
    )
    .await
    .expect("approve");
    w.wait_for(&id, IncidentState::Resolved).await;
    assert_ne!(
        w.deployment_image(),
        broken,
        "rolled back to the previous revision's image"
    );
    let record = w.record(&id).await;
    assert_eq!(record.actions.len(), 1, "one action, recorded once");
    assert_eq!(record.actions[0].outcome, ActionOutcome::Succeeded);
    assert_eq!(record.verifications.len(), 1);
    assert!(w.store.verify_audit().await.expect("audit").is_intact());
}

#[tokio::test]
async fn a_denied_plan_ends_the_incident_and_changes_nothing() {
    let w = world().await;
    let engine = w.engine();
    let _tx = spawn(&engine, &w.shutdown);
    let mut tasks = JoinSet::new();
    let before = w.deployment_image();
    let id = w.opened_and_waiting(&engine, &mut tasks).await;
    nightshift::approval::answer(&w.store, &id, None, Decision::Denied, "bob", w.now)
        .await
        .expect("deny");
    w.wait_for(&id, IncidentState::Denied).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(w.deployment_image(), before);
    assert!(w.record(&id).await.actions.is_empty());
}

#[tokio::test]
async fn a_failed_verification_escalates_and_the_next_incident_on_that_workload_only_notifies() {
    let w = world().await;
    w.verdict.0.store(false, Ordering::SeqCst);
    let engine = w.engine();
    let _tx = spawn(&engine, &w.shutdown);
    let mut tasks = JoinSet::new();
    let id = w.opened_and_waiting(&engine, &mut tasks).await;
    nightshift::approval::answer(&w.store, &id, None, Decision::Approved, "alice", w.now)
        .await
        .expect_err("an approval must name the plan");
    let hash = w.plan_hash(&id).await;
    nightshift::approval::answer(
        &w.store,
        &id,
        Some(&hash),
        Decision::Approved,
        "alice",
        w.now,
    )
    .await
    .expect("approve");
    w.wait_for(&id, IncidentState::Escalated).await;
    // The same crash loop two hours later: past the rule's cooldown, within the escalation hold.
    *w.clock.lock().expect("clock") = w.now + jiff::SignedDuration::from_hours(2);
    let later = w.now + jiff::SignedDuration::from_hours(2);
    let mut again = w.signal.clone();
    again.observed_at = later;
    engine.intake(again, later, &mut tasks).await;
    let incidents = w.store.list_incidents(10).await.expect("list");
    assert_eq!(
        incidents.len(),
        2,
        "the second signal opened its own incident"
    );
    let next = incidents
        .iter()
        .find(|i| i.id != id)
        .expect("the new incident")
        .id
        .clone();
    w.wait_for(&next, IncidentState::Escalated).await;
    let record = w.record(&next).await;
    let plan = &record.plans[0].plan;
    assert!(
        !plan.is_mutating(),
        "after an escalation the plan only notifies"
    );
    let reason = &plan
        .downgraded
        .as_ref()
        .expect("downgraded, not silently changed")
        .reason;
    assert!(
        reason.contains(&id) && reason.contains("no further automatic action"),
        "{reason}"
    );
    assert!(record.actions.is_empty());
}

#[tokio::test]
async fn an_unanswered_page_expires_after_the_playbooks_timeout() {
    let w = world().await;
    let engine = w.engine();
    let _tx = spawn(&engine, &w.shutdown);
    let mut tasks = JoinSet::new();
    let id = w.opened_and_waiting(&engine, &mut tasks).await;
    *w.clock.lock().expect("clock") = w.now + jiff::SignedDuration::from_mins(31);
    w.wait_for(&id, IncidentState::Expired).await;
    let record = w.record(&id).await;
    assert_eq!(record.approvals.len(), 1);
    assert_eq!(record.approvals[0].decision, Decision::Expired);
    assert!(record.actions.is_empty());
}

#[tokio::test]
async fn an_approved_incident_interrupted_before_acting_resumes_and_acts_once() {
    let w = world().await;
    let broken = w.deployment_image();
    let (id, hash) = waiting_without_a_loop(&w).await;
    nightshift::approval::answer(
        &w.store,
        &id,
        Some(&hash),
        Decision::Approved,
        "alice",
        w.now,
    )
    .await
    .expect("approve");
    // The daemon recorded the approval's effect and died before executing.
    w.store
        .transition(&id, IncidentState::Approved, "alice", w.now)
        .await
        .expect("approved");
    let _tx = spawn(&w.engine(), &w.shutdown);
    w.wait_for(&id, IncidentState::Resolved).await;
    assert_ne!(w.deployment_image(), broken);
    let record = w.record(&id).await;
    assert_eq!(record.actions.len(), 1);
}

#[tokio::test]
async fn an_action_in_doubt_after_a_restart_is_not_repeated_and_the_incident_escalates() {
    let w = world().await;
    let broken = w.deployment_image();
    let (id, hash) = waiting_without_a_loop(&w).await;
    nightshift::approval::answer(
        &w.store,
        &id,
        Some(&hash),
        Decision::Approved,
        "alice",
        w.now,
    )
    .await
    .expect("approve");
    // The daemon claimed the action and died before (or while) calling the apiserver.
    for to in [IncidentState::Approved, IncidentState::Executing] {
        w.store
            .transition(&id, to, "alice", w.now)
            .await
            .expect("move");
    }
    let plan = w.record(&id).await.plans[0].plan.clone();
    w.store
        .record_action(
            &id,
            &hash,
            0,
            &plan.actions[0],
            ActionOutcome::Started,
            "",
            w.now,
        )
        .await
        .expect("claim");
    let _tx = spawn(&w.engine(), &w.shutdown);
    w.wait_for(&id, IncidentState::Escalated).await;
    assert_eq!(
        w.deployment_image(),
        broken,
        "an action in doubt is never run again"
    );
    let record = w.record(&id).await;
    assert_eq!(record.actions.len(), 1);
    // The cluster shows it was not applied: settled as failed, not left in doubt.
    assert_eq!(record.actions[0].outcome, ActionOutcome::Failed);
    assert!(
        record.actions[0]
            .detail
            .contains("not applied before a restart"),
        "{}",
        record.actions[0].detail
    );
}
