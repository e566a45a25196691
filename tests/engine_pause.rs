//! The kill switch and the cluster-wide budget in the engine, over a real store and the
//! simulated cluster: a paused store makes the engine send nothing at all — not even a dry run
//! or a read — until `resume`, and then the held plan runs; a plan past the budget escalates with
//! the reason and sends nothing; node actions are judged against the cluster's nodes as they are
//! right before execution.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use jiff::SignedDuration;
use nightshift::domain::catalog::Tool;
use nightshift::domain::incident::IncidentState;
use nightshift::domain::plan::{Action, Plan};
use nightshift::domain::policy::Policy;
use nightshift::domain::policy::budget::ActionBudget;
use nightshift::engine::{Engine, EngineSettings, Parts};
use nightshift::k8s::execute::Executor;
use nightshift::store::{ActionOutcome, Decision, kinds};
use serde_json::json;

mod engine_support;
mod sim_harness;

use engine_support::{FixtureGatherer, World, spawn, story, waiting_without_a_loop, world};

/// A client for the simulated cluster that counts every request it sends.
fn counting(client: &kube::Client) -> (kube::Client, Arc<AtomicUsize>) {
    let sent = Arc::new(AtomicUsize::new(0));
    let (inner, count) = (client.clone(), sent.clone());
    let service = tower::service_fn(move |request| {
        count.fetch_add(1, Ordering::SeqCst);
        let inner = inner.clone();
        async move { inner.send(request).await }
    });
    (kube::Client::new(service, "default"), sent)
}

fn polling() -> EngineSettings {
    EngineSettings {
        poll_millis: 20,
        ..EngineSettings::default()
    }
}

/// An engine whose executor talks through `client`.
fn engine_on(w: &World, client: kube::Client, policy: Policy, settings: EngineSettings) -> Engine {
    let clock = w.clock.clone();
    Engine::new(Parts {
        store: w.store.clone(),
        rules: Arc::new(Mutex::new(w.rules.clone())),
        policy,
        executor: Executor::new(client),
        gatherer: Arc::new(FixtureGatherer(w.evidence.clone())),
        verifier: w.verdict.clone(),
        settings,
        clock: Arc::new(move || *clock.lock().expect("clock")),
        metrics: w.metrics.clone(),
    })
}

async fn approve(w: &World, id: &str, hash: &str) {
    nightshift::approval::answer(&w.store, id, Some(hash), Decision::Approved, "alice", w.now)
        .await
        .expect("approve");
}

async fn audited(w: &World, id: &str, kind: &str) -> bool {
    w.record(id).await.audit.iter().any(|row| row.kind == kind)
}

/// Waits up to 5s for an audit row of `kind` on the incident.
async fn wait_audited(w: &World, id: &str, kind: &str) {
    for _ in 0..500 {
        if audited(w, id, kind).await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("no {kind} on {id}:\n{}", story(&w.record(id).await));
}

#[tokio::test]
async fn a_paused_store_sends_nothing_and_the_held_plan_runs_once_resumed() {
    let w = world().await;
    let broken = w.deployment_image();
    let (id, hash) = waiting_without_a_loop(&w).await;
    w.store
        .pause("carol", "region-wide outage: hands off", w.now)
        .await
        .expect("pause");
    approve(&w, &id, &hash).await;
    let (client, sent) = counting(&w.client);
    let _tx = spawn(
        &engine_on(&w, client, Policy::default(), polling()),
        &w.shutdown,
    );
    wait_audited(&w, &id, kinds::EXECUTION_HELD).await;
    // Many polls later: still held, and not one request went out.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(w.state(&id).await, IncidentState::Approved);
    assert_eq!(sent.load(Ordering::SeqCst), 0, "radio silence while paused");
    assert_eq!(w.deployment_image(), broken);
    let record = w.record(&id).await;
    assert!(record.actions.is_empty());
    let report =
        nightshift::report::render(&record, nightshift::report::Format::Markdown).expect("report");
    assert!(
        report.contains("nightshift is paused") && report.contains("held, nothing sent"),
        "{report}"
    );
    let pause = record.paused.expect("the record shows the pause");
    assert_eq!(pause.by, "carol");
    w.store
        .resume("dave", "outage over", w.now)
        .await
        .expect("resume");
    w.wait_for(&id, IncidentState::Resolved).await;
    assert_ne!(w.deployment_image(), broken, "the held rollback ran");
    assert!(sent.load(Ordering::SeqCst) > 0);
    let record = w.record(&id).await;
    assert_eq!(record.actions.len(), 1);
    assert_eq!(record.actions[0].outcome, ActionOutcome::Succeeded);
    assert!(record.paused.is_none());
    assert!(w.store.verify_audit().await.expect("audit").is_intact());
}

#[tokio::test]
async fn the_paused_setting_holds_a_plan_whatever_the_store_says() {
    let w = world().await;
    let broken = w.deployment_image();
    let (id, hash) = waiting_without_a_loop(&w).await;
    approve(&w, &id, &hash).await;
    let (client, sent) = counting(&w.client);
    let settings = EngineSettings {
        paused: true,
        ..polling()
    };
    let _tx = spawn(
        &engine_on(&w, client, Policy::default(), settings),
        &w.shutdown,
    );
    wait_audited(&w, &id, kinds::EXECUTION_HELD).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(w.state(&id).await, IncidentState::Approved);
    assert_eq!(sent.load(Ordering::SeqCst), 0);
    assert_eq!(w.deployment_image(), broken);
}

#[tokio::test]
async fn a_plan_past_the_cluster_wide_budget_escalates_with_the_reason_and_sends_nothing() {
    let w = world().await;
    let broken = w.deployment_image();
    let (id, hash) = waiting_without_a_loop(&w).await;
    // While the page waited, another incident spent the whole budget elsewhere.
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
            "done",
            acted_at,
        )
        .await
        .expect("complete");
    // ...and is over: nothing for the engine to resume.
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
    let policy = Policy {
        budget: ActionBudget {
            max_actions: 1,
            window: SignedDuration::from_hours(1),
        },
        // The other action was on the same Deployment: lift the per-target limit out of the way.
        max_actions_per_target: 10,
        ..Policy::default()
    };
    let (client, sent) = counting(&w.client);
    let _tx = spawn(&engine_on(&w, client, policy, polling()), &w.shutdown);
    w.wait_for(&id, IncidentState::Escalated).await;
    assert_eq!(
        sent.load(Ordering::SeqCst),
        0,
        "nothing was sent, not even a dry run"
    );
    assert_eq!(w.deployment_image(), broken);
    let record = w.record(&id).await;
    assert!(record.actions.is_empty());
    let story = story(&record);
    assert!(story.contains("cluster-wide action budget"), "{story}");
}

/// A plan of one action, recorded on `id` and approved; its hash.
async fn approved_plan(w: &World, id: &str, action: Action) -> String {
    let plan = Plan {
        actions: vec![action],
        ..w.record(id).await.plans[0].plan.clone()
    };
    let hash = w.store.record_plan(id, &plan, w.now).await.expect("plan");
    approve(w, id, &hash).await;
    hash
}

fn add_node(w: &World, name: &str, labels: serde_json::Value, unschedulable: bool) {
    w.cluster
        .apply(json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": labels},
            "spec": {"unschedulable": unschedulable},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]},
        }))
        .expect("node");
}

fn is_cordoned(w: &World, name: &str) -> bool {
    let node = w.cluster.get("Node", "", name).expect("node");
    node["spec"]["unschedulable"] == json!(true)
}

#[tokio::test]
async fn a_cordon_of_a_control_plane_node_is_refused_against_the_live_cluster() {
    let w = world().await;
    for i in 1..=4 {
        add_node(&w, &format!("pool-{i}"), json!({}), false);
    }
    add_node(
        &w,
        "cp-1",
        json!({"node-role.kubernetes.io/control-plane": ""}),
        false,
    );
    let (id, _) = waiting_without_a_loop(&w).await;
    let cordon = Action {
        tool: Tool::NodeCordon,
        params: json!({"name": "cp-1"}),
    };
    approved_plan(&w, &id, cordon).await;
    let _tx = spawn(&w.engine(), &w.shutdown);
    w.wait_for(&id, IncidentState::Escalated).await;
    assert!(!is_cordoned(&w, "cp-1"));
    let story = story(&w.record(&id).await);
    assert!(story.contains("control-plane"), "{story}");
}

#[tokio::test]
async fn a_cordon_past_max_cordoned_counting_nodes_already_cordoned_is_refused() {
    let w = world().await;
    for i in 1..=9 {
        add_node(&w, &format!("pool-{i}"), json!({}), i <= 2);
    }
    let (id, _) = waiting_without_a_loop(&w).await;
    let cordon = Action {
        tool: Tool::NodeCordon,
        params: json!({"name": "pool-3"}),
    };
    approved_plan(&w, &id, cordon).await;
    let _tx = spawn(&w.engine(), &w.shutdown);
    w.wait_for(&id, IncidentState::Escalated).await;
    assert!(
        !is_cordoned(&w, "pool-3"),
        "two are down already; a third is over the limit"
    );
    let story = story(&w.record(&id).await);
    assert!(story.contains("max_cordoned"), "{story}");
}

#[tokio::test]
async fn a_cordon_within_node_policy_runs() {
    let w = world().await;
    for i in 1..=9 {
        add_node(&w, &format!("pool-{i}"), json!({}), i == 1);
    }
    let (id, _) = waiting_without_a_loop(&w).await;
    let cordon = Action {
        tool: Tool::NodeCordon,
        params: json!({"name": "pool-3"}),
    };
    approved_plan(&w, &id, cordon).await;
    let _tx = spawn(&w.engine(), &w.shutdown);
    w.wait_for(&id, IncidentState::Resolved).await;
    assert!(is_cordoned(&w, "pool-3"));
}

#[tokio::test]
async fn a_pause_between_two_actions_stops_the_plan_there_and_escalates() {
    let w = world().await;
    let (id, _) = waiting_without_a_loop(&w).await;
    let target = json!({"namespace": "payments", "name": "payments-api"});
    let mut scale = target.clone();
    scale["replicas"] = json!(3);
    let hash = {
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
        w.store.record_plan(&id, &plan, w.now).await.expect("plan")
    };
    approve(&w, &id, &hash).await;
    // Someone pulls the kill switch the moment the first real change reaches the cluster.
    let (inner, store, now) = (w.client.clone(), w.store.clone(), w.now);
    let service = tower::service_fn(move |request: http::Request<kube::client::Body>| {
        let real = request.method() == http::Method::PATCH
            && !request.uri().query().unwrap_or("").contains("dryRun");
        let (inner, store) = (inner.clone(), store.clone());
        async move {
            let answer = inner.send(request).await;
            if real {
                store
                    .pause("carol", "stop everything", now)
                    .await
                    .expect("pause");
            }
            answer
        }
    });
    let client = kube::Client::new(service, "default");
    let _tx = spawn(
        &engine_on(&w, client, Policy::default(), polling()),
        &w.shutdown,
    );
    w.wait_for(&id, IncidentState::Escalated).await;
    let record = w.record(&id).await;
    let outcomes: Vec<ActionOutcome> = record.actions.iter().map(|a| a.outcome).collect();
    assert_eq!(
        outcomes,
        vec![ActionOutcome::Succeeded],
        "the scale was never claimed"
    );
    let replicas = w
        .cluster
        .get("Deployment", "payments", "payments-api")
        .expect("deployment")["spec"]["replicas"]
        .clone();
    assert_ne!(replicas, json!(3));
    let story = story(&record);
    assert!(story.contains("paused after 1 of 2 actions"), "{story}");
}

#[tokio::test]
async fn two_cordons_at_once_are_judged_one_after_the_other_on_the_live_count() {
    let w = world().await;
    for i in 1..=9 {
        add_node(&w, &format!("pool-{i}"), json!({}), false);
    }
    let (id, _) = waiting_without_a_loop(&w).await;
    let (other, _) = w.another_incident(&id, w.now).await;
    for to in [IncidentState::Diagnosed, IncidentState::AwaitingApproval] {
        w.store
            .transition(&other, to, "nightshift", w.now)
            .await
            .expect("the other incident waits for approval too");
    }
    for (incident, node) in [(&id, "pool-1"), (&other, "pool-2")] {
        let cordon = Action {
            tool: Tool::NodeCordon,
            params: json!({"name": node}),
        };
        approved_plan(&w, incident, cordon).await;
    }
    let policy = Policy {
        nodes: nightshift::domain::policy::nodes::NodePolicy {
            max_cordoned: 1,
            max_cordoned_fraction: 1.0,
            ..Default::default()
        },
        ..Policy::default()
    };
    // Every change takes a while to land, so each plan's read of the pool comes well before
    // the other's cordon would show in it, unless the reads wait for the cordons.
    let inner = w.client.clone();
    let slow = tower::service_fn(move |request: http::Request<kube::client::Body>| {
        let inner = inner.clone();
        async move {
            if request.method() == http::Method::PATCH {
                tokio::time::sleep(Duration::from_millis(150)).await;
            }
            inner.send(request).await
        }
    });
    let client = kube::Client::new(slow, "default");
    let _tx = spawn(&engine_on(&w, client, policy, polling()), &w.shutdown);
    let mut states = Vec::new();
    for incident in [&id, &other] {
        for _ in 0..500 {
            if w.state(incident).await.is_terminal() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        states.push(w.state(incident).await);
    }
    let cordoned: Vec<bool> = ["pool-1", "pool-2"]
        .iter()
        .map(|n| is_cordoned(&w, n))
        .collect();
    assert_eq!(
        cordoned.iter().filter(|c| **c).count(),
        1,
        "{cordoned:?} {states:?}"
    );
    assert!(states.contains(&IncidentState::Resolved), "{states:?}");
    assert!(states.contains(&IncidentState::Escalated), "{states:?}");
}
