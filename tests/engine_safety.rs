//! The engine's last check before anything reaches the cluster, over a real store and the
//! simulated cluster: an approval that predates an escalation on the workload, or that policy
//! would refuse now (another incident acted on the target meanwhile), sends nothing; a dry run
//! the apiserver refuses is recorded as an action that was never sent for real; a second action
//! on a target within the rate limit's minute is skipped.

use jiff::SignedDuration;
use nightshift::domain::catalog::Tool;
use nightshift::domain::incident::IncidentState;
use nightshift::domain::plan::{Action, Plan};
use nightshift::domain::policy::Policy;
use nightshift::engine::{EngineSettings, LimitSettings};
use nightshift::store::{ActionOutcome, Decision};

mod engine_support;
mod sim_harness;

use engine_support::{World, spawn, story, waiting_without_a_loop, world};

async fn approve(w: &World, id: &str, hash: &str) {
    nightshift::approval::answer(&w.store, id, Some(hash), Decision::Approved, "alice", w.now)
        .await
        .expect("approve");
}

#[tokio::test]
async fn an_approval_given_before_an_escalation_on_the_workload_does_not_run_after_it() {
    let w = world().await;
    let broken = w.deployment_image();
    let (id, hash) = waiting_without_a_loop(&w).await;
    approve(&w, &id, &hash).await;
    // Before the engine acts on the approval, another incident on the same Deployment is
    // escalated (its verification failed, say).
    let escalated_at = w.now + SignedDuration::from_mins(1);
    let (other, _) = w.another_incident(&id, escalated_at).await;
    w.store
        .transition(&other, IncidentState::Escalated, "nightshift", escalated_at)
        .await
        .expect("escalate the other");
    *w.clock.lock().expect("clock") = w.now + SignedDuration::from_mins(2);
    let _tx = spawn(&w.engine(), &w.shutdown);
    w.wait_for(&id, IncidentState::Escalated).await;
    assert_eq!(w.deployment_image(), broken, "nothing was sent");
    let record = w.record(&id).await;
    assert!(record.actions.is_empty(), "no action was even claimed");
    let story = story(&record);
    assert!(
        story.contains(&other) && story.contains("no further automatic action"),
        "{story}"
    );
}

#[tokio::test]
async fn an_approval_that_policy_would_refuse_now_sends_nothing() {
    let w = world().await;
    let broken = w.deployment_image();
    let policy = Policy {
        max_actions_per_target: 1,
        ..Policy::default()
    };
    let (id, hash) = waiting_without_a_loop(&w).await;
    // While the page waited, another incident rolled back the same Deployment.
    let acted_at = w.now + SignedDuration::from_mins(1);
    let (other, other_hash) = w.another_incident(&id, acted_at).await;
    let plan = w.record(&id).await.plans[0].plan.clone();
    w.store
        .record_action(
            &other,
            &other_hash,
            0,
            &plan.actions[0],
            ActionOutcome::Started,
            "",
            acted_at,
        )
        .await
        .expect("claim");
    w.store
        .complete_action(
            &other,
            &other_hash,
            0,
            ActionOutcome::Succeeded,
            "rolled back",
            acted_at,
        )
        .await
        .expect("complete");
    // ...and was verified healthy: it is over, not something for the engine to resume.
    for to in [
        IncidentState::Diagnosed,
        IncidentState::AwaitingApproval,
        IncidentState::Approved,
        IncidentState::Executing,
        IncidentState::Verifying,
        IncidentState::Resolved,
    ] {
        w.store
            .transition(&other, to, "nightshift", acted_at)
            .await
            .expect("the other incident's life");
    }
    approve(&w, &id, &hash).await;
    *w.clock.lock().expect("clock") = w.now + SignedDuration::from_mins(2);
    let _tx = spawn(&w.engine_with(policy), &w.shutdown);
    w.wait_for(&id, IncidentState::Escalated).await;
    assert_eq!(w.deployment_image(), broken, "nothing was sent");
    let record = w.record(&id).await;
    assert!(record.actions.is_empty());
    let story = story(&record);
    assert!(story.contains("policy now refuses it"), "{story}");
}

#[tokio::test]
async fn a_dry_run_the_apiserver_refuses_is_recorded_and_nothing_is_sent_for_real() {
    let w = world().await;
    let broken = w.deployment_image();
    let (id, hash) = waiting_without_a_loop(&w).await;
    w.cluster
        .update_with("Deployment", "payments", "payments-api", |d| {
            d["spec"]["paused"] = serde_json::json!(true)
        })
        .expect("pause");
    approve(&w, &id, &hash).await;
    let _tx = spawn(&w.engine(), &w.shutdown);
    w.wait_for(&id, IncidentState::Escalated).await;
    assert_eq!(w.deployment_image(), broken);
    let record = w.record(&id).await;
    assert_eq!(record.actions.len(), 1, "the refused dry run is on record");
    assert_eq!(record.actions[0].outcome, ActionOutcome::Skipped);
    assert!(
        record.actions[0].detail.contains("paused"),
        "{}",
        record.actions[0].detail
    );
    assert!(w.store.verify_audit().await.expect("audit").is_intact());
}

#[tokio::test]
async fn a_second_action_on_the_same_target_within_the_minute_is_skipped_by_the_rate_limit() {
    let w = world().await;
    let (id, _) = waiting_without_a_loop(&w).await;
    // A plan of two actions on one Deployment, shown to (and approved by) the human.
    let target = serde_json::json!({"namespace": "payments", "name": "payments-api"});
    let mut scale = target.clone();
    scale["replicas"] = serde_json::json!(3);
    let plan = Plan {
        actions: vec![
            Action {
                tool: Tool::DeploymentRestart,
                params: target,
            },
            Action {
                tool: Tool::DeploymentScale,
                params: scale,
            },
        ],
        ..w.record(&id).await.plans[0].plan.clone()
    };
    let hash = w.store.record_plan(&id, &plan, w.now).await.expect("plan");
    approve(&w, &id, &hash).await;
    let settings = EngineSettings {
        poll_millis: 20,
        limits: LimitSettings {
            per_target_per_minute: 1,
            per_namespace_per_minute: 10,
            max_wait_seconds: 0,
        },
        ..EngineSettings::default()
    };
    let _tx = spawn(
        &w.engine_with_settings(Policy::default(), settings),
        &w.shutdown,
    );
    w.wait_for(&id, IncidentState::Escalated).await;
    let record = w.record(&id).await;
    let outcomes: Vec<ActionOutcome> = record.actions.iter().map(|a| a.outcome).collect();
    assert_eq!(
        outcomes,
        vec![ActionOutcome::Succeeded, ActionOutcome::Skipped],
        "{:?}",
        record.actions
    );
    assert!(
        record.actions[1].detail.contains("rate limited"),
        "{}",
        record.actions[1].detail
    );
}
