//! Attack corpus — restarts: a daemon stopped at any point after execution began resumes from
//! what the store and the cluster say was done. A succeeded action is neither dry-run nor sent
//! again; an action left `started` is settled by reading the cluster; the approval's lifetime
//! bounds starting execution, not resuming it; approving an approved plan records nothing.

use jiff::SignedDuration;
use nightshift::domain::approval::{Approval, Authorized, Decision as Answer, authorize};
use nightshift::domain::incident::IncidentState;
use nightshift::k8s::execute::{Executor, Mode};
use nightshift::sim::controllers::{Controllers, Settings};
use nightshift::store::{ActionOutcome, Decision, kinds};

mod engine_support;
mod sim_harness;

use engine_support::{World, spawn, story, waiting_without_a_loop, world};

/// The fixture's rollback approved by alice and the incident moved to `executing`, as a daemon
/// does right before it sends the first action; the incident id and the authorized plan.
async fn executing(w: &World) -> (String, Authorized) {
    let (id, hash) = waiting_without_a_loop(w).await;
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
    for to in [IncidentState::Approved, IncidentState::Executing] {
        w.store
            .transition(&id, to, "alice", w.now)
            .await
            .expect("move");
    }
    let plan = w.record(&id).await.plans[0].plan.clone();
    let approval = Approval {
        plan_hash: hash,
        decision: Answer::Approved,
        actor: "alice".into(),
        at: w.now,
        expires_at: w.now + SignedDuration::from_mins(30),
    };
    let authorized =
        authorize(&plan, Some(&approval), None, Some("payments"), w.now).expect("authorized");
    (id, authorized)
}

/// Claims the rollback, sends it for real, and (when `completed`) records it succeeded; then
/// lets the deployment controller renumber the revisions, as it does after a rollback.
async fn rolled_back(w: &World, id: &str, authorized: &Authorized, completed: bool) {
    let action = &authorized.plan().actions[0];
    let hash = authorized.hash();
    let store = &w.store;
    store
        .record_action(id, hash, 0, action, ActionOutcome::Started, "", w.now)
        .await
        .expect("claim");
    Executor::new(w.client.clone())
        .run(authorized, 0, Mode::Apply, w.now)
        .await
        .expect("rolled back");
    if completed {
        store
            .complete_action(id, hash, 0, ActionOutcome::Succeeded, "rolled back", w.now)
            .await
            .expect("complete");
    }
    Controllers::new(w.cluster.clone(), Settings::default()).step_now();
}

#[tokio::test]
async fn an_action_that_succeeded_before_a_restart_is_not_dry_run_again_and_the_incident_resolves()
{
    let w = world().await;
    let broken = w.deployment_image();
    let (id, authorized) = executing(&w).await;
    rolled_back(&w, &id, &authorized, true).await;
    let _tx = spawn(&w.engine(), &w.shutdown);
    w.wait_for(&id, IncidentState::Resolved).await;
    assert_ne!(w.deployment_image(), broken);
    let record = w.record(&id).await;
    assert_eq!(record.actions.len(), 1, "{}", story(&record));
    assert_eq!(record.actions[0].outcome, ActionOutcome::Succeeded);
}

#[tokio::test]
async fn a_restart_long_after_execution_began_finishes_the_plan_instead_of_escalating_it() {
    let w = world().await;
    let (id, authorized) = executing(&w).await;
    rolled_back(&w, &id, &authorized, true).await;
    // The daemon comes back two hours later: far past the approval's 30 minutes.
    *w.clock.lock().expect("clock") = w.now + SignedDuration::from_hours(2);
    let _tx = spawn(&w.engine(), &w.shutdown);
    w.wait_for(&id, IncidentState::Resolved).await;
}

#[tokio::test]
async fn an_action_left_started_that_the_cluster_shows_applied_is_settled_as_succeeded() {
    let w = world().await;
    let (id, authorized) = executing(&w).await;
    // Sent, then the daemon died before recording the answer.
    rolled_back(&w, &id, &authorized, false).await;
    let _tx = spawn(&w.engine(), &w.shutdown);
    w.wait_for(&id, IncidentState::Resolved).await;
    let record = w.record(&id).await;
    assert_eq!(record.actions.len(), 1);
    assert_eq!(record.actions[0].outcome, ActionOutcome::Succeeded);
    assert!(
        record.actions[0]
            .detail
            .contains("found applied after a restart"),
        "{}",
        record.actions[0].detail
    );
}

#[tokio::test]
async fn approving_an_already_approved_plan_says_so_and_records_nothing() {
    let w = world().await;
    let (id, hash) = waiting_without_a_loop(&w).await;
    let approve = |who: &'static str| {
        nightshift::approval::answer(&w.store, &id, Some(&hash), Decision::Approved, who, w.now)
    };
    let first = approve("alice").await.expect("approve");
    assert!(matches!(first, nightshift::approval::Answered::Recorded(_)));
    let audit_rows = |r: &nightshift::store::IncidentRecord| {
        r.audit
            .iter()
            .filter(|a| a.kind == kinds::APPROVAL_RECORDED)
            .count()
    };
    let before = w.record(&id).await;
    // Before the engine picked it up, and after.
    for moved in [false, true] {
        if moved {
            let store = &w.store;
            store
                .transition(&id, IncidentState::Approved, "alice", w.now)
                .await
                .expect("move");
        }
        let again = approve("bob")
            .await
            .expect("a second approval is not an error");
        match again {
            nightshift::approval::Answered::AlreadyDecided { actor, .. } => {
                assert_eq!(actor, "alice")
            }
            other => panic!("said nothing about the first approval: {other:?}"),
        }
        let after = w.record(&id).await;
        assert_eq!(after.approvals.len(), 1);
        assert_eq!(audit_rows(&after), audit_rows(&before), "no audit row");
    }
}

#[tokio::test]
async fn an_approval_that_expired_while_the_daemon_was_down_never_starts_execution() {
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
    // The daemon recorded the approval's effect and died before executing; it comes back
    // two hours later, past the approval's 30 minutes.
    w.store
        .transition(&id, IncidentState::Approved, "alice", w.now)
        .await
        .expect("approved");
    *w.clock.lock().expect("clock") = w.now + SignedDuration::from_hours(2);
    let _tx = spawn(&w.engine(), &w.shutdown);
    w.wait_for(&id, IncidentState::Escalated).await;
    assert_eq!(w.deployment_image(), broken, "nothing was sent");
    assert!(w.record(&id).await.actions.is_empty());
}

#[tokio::test]
async fn incidents_approve_twice_says_the_plan_is_already_approved_and_records_nothing() {
    let w = world().await;
    let (id, hash) = waiting_without_a_loop(&w).await;
    let url = format!("sqlite://{}", w.store.location());
    let approve = |who: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_nightshift"))
            .args([
                "incidents",
                "approve",
                &id,
                "--plan",
                &hash[..12],
                "--as",
                who,
            ])
            .args(["--store", &url])
            .env_remove("NIGHTSHIFT_CONFIG")
            .output()
            .expect("run nightshift")
    };
    let first = approve("alice");
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let second = approve("bob");
    assert!(
        second.status.success(),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    let said = String::from_utf8_lossy(&second.stdout);
    assert!(
        said.contains("already approved by alice") && said.contains("nothing recorded"),
        "{said}"
    );
    let record = w.record(&id).await;
    assert_eq!(record.approvals.len(), 1);
    let audited = record
        .audit
        .iter()
        .filter(|a| a.kind == kinds::APPROVAL_RECORDED);
    assert_eq!(audited.count(), 1, "one approval in the audit log");
}
