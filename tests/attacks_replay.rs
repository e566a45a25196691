//! Attack corpus — replays: `nightshift replay --record` into the store a daemon uses must never
//! make the daemon act. A replayed incident is stored `replayed` (terminal), is never resumed,
//! paged, approved or executed, and holds no fingerprint; replays an older version left
//! `diagnosed` are closed as `replayed` when the engine starts.

use std::process::Command;

use nightshift::domain::incident::IncidentState;
use nightshift::domain::policy::Policy;
use nightshift::replay::{Case, run};
use nightshift::store::{Decision, StoreError};
use tokio::task::JoinSet;

mod engine_support;
mod sim_harness;

use engine_support::{CASE, World, root, spawn, world};

/// The fixture replayed and recorded into the world's store, as `replay --record` does.
async fn recorded_replay(w: &World) -> String {
    let case = Case::load(&root().join(CASE)).expect("case");
    let outcome = run(&case, &w.rules, &Policy::default());
    match nightshift::replay::record::record(&w.store, &outcome, w.now)
        .await
        .expect("record")
    {
        nightshift::replay::record::Recorded::Replayed(id) => id,
        other => panic!("the fixture is recorded as a replay, not {other:?}"),
    }
}

#[tokio::test]
async fn a_recorded_replay_is_stored_replayed_and_the_live_signal_still_opens_its_incident() {
    let w = world().await;
    let replayed = recorded_replay(&w).await;
    assert_eq!(w.state(&replayed).await, IncidentState::Replayed);
    let live = w
        .engine()
        .open(w.signal.clone(), w.now)
        .await
        .expect("open");
    let live = live.expect("the replay holds no fingerprint: the real signal opens an incident");
    assert_ne!(live.id, replayed);
}

#[tokio::test]
async fn a_running_engine_never_resumes_pages_or_executes_a_recorded_replay() {
    let w = world().await;
    let before = w.deployment_image();
    let replayed = recorded_replay(&w).await;
    let engine = w.engine();
    let _tx = spawn(&engine, &w.shutdown);
    // The live incident reaching awaiting-approval proves the engine resumed and polled.
    let mut tasks = JoinSet::new();
    let live = w.opened_and_waiting(&engine, &mut tasks).await;
    assert_ne!(live, replayed);
    let record = w.record(&replayed).await;
    assert_eq!(record.incident.state, IncidentState::Replayed);
    assert!(record.actions.is_empty() && record.approvals.is_empty());
    let hash = record.plans[0].hash.clone();
    let answer = nightshift::approval::answer(
        &w.store,
        &replayed,
        Some(&hash),
        Decision::Approved,
        "mallory",
        w.now,
    )
    .await;
    assert!(answer.is_err(), "a replay cannot be approved: {answer:?}");
    let forced = w
        .store
        .record_approval(&replayed, &hash, Decision::Approved, "mallory", w.now)
        .await;
    assert!(
        matches!(forced, Err(StoreError::Replayed(_))),
        "the store itself refuses: {forced:?}"
    );
    assert_eq!(w.deployment_image(), before, "nothing was executed");
}

#[tokio::test]
async fn a_replay_an_older_version_left_diagnosed_is_closed_as_replayed_when_the_engine_starts() {
    let w = world().await;
    let before = w.deployment_image();
    // What `replay --record` wrote before the `replayed` state existed.
    let case = Case::load(&root().join(CASE)).expect("case");
    let outcome = run(&case, &w.rules, &Policy::default());
    let old = outcome.incident.expect("incident");
    let opened = w
        .engine()
        .open(old.signal.clone(), w.now)
        .await
        .expect("open")
        .expect("opened");
    w.store
        .record_plan(&opened.id, &old.plan, w.now)
        .await
        .expect("plan");
    w.store
        .transition(&opened.id, IncidentState::Diagnosed, "replay", w.now)
        .await
        .expect("diagnosed by replay");
    let _tx = spawn(&w.engine(), &w.shutdown);
    w.wait_for(&opened.id, IncidentState::Replayed).await;
    let record = w.record(&opened.id).await;
    assert!(
        record
            .audit
            .iter()
            .all(|a| !a.detail.to_string().contains("awaiting-approval")),
        "never paged"
    );
    assert_eq!(w.deployment_image(), before);
    assert!(w.store.verify_audit().await.expect("audit").is_intact());
    // Its fingerprint no longer holds the real signal back (a minute later: another id).
    let later = w.now + jiff::SignedDuration::from_mins(1);
    let live = w
        .engine()
        .open(w.signal.clone(), later)
        .await
        .expect("open");
    assert!(live.is_some());
}

#[tokio::test]
async fn incidents_list_shows_a_recorded_replay_in_state_replayed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("replays.db").display());
    let nightshift = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_nightshift"))
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env_remove("NIGHTSHIFT_CONFIG")
            .env_remove("NIGHTSHIFT_STORE")
            .output()
            .expect("run nightshift")
    };
    let out = nightshift(&["replay", CASE, "--record", &url]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = nightshift(&["incidents", "list", "--store", &url]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed = String::from_utf8(out.stdout).expect("utf-8");
    let states: Vec<&str> = listed
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .collect();
    assert_eq!(states, ["replayed"], "{listed}");
}
