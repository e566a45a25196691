//! End to end on the simulated cluster: the engine, with a PagerDuty pager pointed at a local
//! receiver, pages when a crash-looping deployment's rollback awaits approval; the approval
//! acknowledges and the verified fix resolves the page; a denial resolves it with the reason.
//! The incident page lists the pages sent.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::http::Request;
use jiff::{SignedDuration, Timestamp};
use nightshift::domain::incident::IncidentState;
use nightshift::domain::policy::Policy;
use nightshift::engine::{Engine, EngineSettings, Parts};
use nightshift::k8s::execute::Executor;
use nightshift::links::{Key, Keyring, LinkDecision, LinkSigner};
use nightshift::pagers::pagerduty::PagerDuty;
use nightshift::pagers::{Dispatcher, Pager};
use nightshift::store::{Decision, PageStatus};
use tokio::task::JoinSet;
use tower::ServiceExt;

mod engine_support;
mod pagers_support;
mod sim_harness;

use engine_support::{FixtureGatherer, World, spawn, world};
use pagers_support::{Receiver, wait_page};

/// The world's engine, paging through PagerDuty at `receiver`.
fn paging_engine(w: &World, receiver: &Receiver) -> Engine {
    let client = reqwest::Client::new();
    let pd: Arc<dyn Pager> = Arc::new(PagerDuty::new("pd", &receiver.url, "KEY", client));
    let dispatcher = pagers_support::dispatcher(
        &w.store,
        vec![pd],
        pagers_support::settings(),
        &w.metrics,
        nightshift::engine::system_clock(),
    );
    engine_paging_with(w, dispatcher)
}

/// The world's engine, paging through PagerDuty at `receiver` with signed approve / deny links
/// as the daemon makes them when its front door is on.
fn paging_engine_with_links(w: &World, receiver: &Receiver, keys: Keyring) -> Engine {
    let client = reqwest::Client::new();
    let pd: Arc<dyn Pager> = Arc::new(PagerDuty::new("pd", &receiver.url, "KEY", client));
    let signer = LinkSigner::new(
        keys,
        "https://ns.example.org",
        SignedDuration::from_mins(30),
    );
    let dispatcher = Dispatcher::new(
        w.store.clone(),
        vec![pd],
        pagers_support::settings(),
        Arc::new(signer),
        None,
        w.metrics.clone(),
        nightshift::engine::system_clock(),
    );
    engine_paging_with(w, dispatcher)
}

fn engine_paging_with(w: &World, dispatcher: Arc<Dispatcher>) -> Engine {
    tokio::spawn(dispatcher.clone().run(w.shutdown.child_token()));
    let parts = Parts {
        store: w.store.clone(),
        rules: Arc::new(Mutex::new(w.rules.clone())),
        policy: Policy::default(),
        executor: Executor::new(w.client.clone()),
        gatherer: Arc::new(FixtureGatherer(w.evidence.clone())),
        verifier: w.verdict.clone(),
        settings: EngineSettings {
            poll_millis: 20,
            ..EngineSettings::default()
        },
        clock: {
            let clock = w.clock.clone();
            Arc::new(move || *clock.lock().expect("clock"))
        },
        metrics: w.metrics.clone(),
    };
    Engine::with_pager(parts, Some(dispatcher))
}

fn actions(receiver: &Receiver) -> Vec<String> {
    receiver
        .got()
        .iter()
        .map(|r| {
            let body = r.json();
            format!(
                "{} {}",
                body["event_action"].as_str().unwrap_or("?"),
                body["dedup_key"].as_str().unwrap_or("?")
            )
        })
        .collect()
}

#[tokio::test]
async fn a_crash_loop_awaiting_approval_pages_and_the_approved_verified_fix_resolves_the_page() {
    let w = world().await;
    let pd = Receiver::start(&[], 202).await;
    let engine = paging_engine(&w, &pd);
    let _tx = spawn(&engine, &w.shutdown);
    let mut tasks = JoinSet::new();
    let id = w.opened_and_waiting(&engine, &mut tasks).await;
    let trigger = pd.wait_for(1).await[0].json();
    assert_eq!(trigger["event_action"], "trigger");
    assert_eq!(trigger["dedup_key"], id.as_str());
    assert_eq!(
        trigger["payload"]["custom_details"]["diagnosis"]["category"],
        "bad-deploy"
    );
    assert_eq!(
        trigger["payload"]["custom_details"]["plan"]["actions"][0]["tool"],
        "deployment.rollback"
    );
    let hash = w.plan_hash(&id).await;
    assert_eq!(
        trigger["payload"]["custom_details"]["plan"]["hash"],
        hash.as_str()
    );
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
    w.wait_for(&id, IncidentState::Resolved).await;
    pd.wait_for(3).await;
    assert_eq!(
        actions(&pd),
        vec![
            format!("trigger {id}"),
            format!("acknowledge {id}"),
            format!("resolve {id}")
        ]
    );
    wait_page(&w.store, &id, 2, PageStatus::Delivered).await;

    let page = nightshift::pages::router(w.store.clone())
        .oneshot(
            Request::get(format!("/incidents/{id}"))
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("page");
    let html = axum::body::to_bytes(page.into_body(), 1 << 20)
        .await
        .expect("body");
    let html = String::from_utf8_lossy(&html);
    assert!(html.contains("Pages sent"), "{html}");
    assert_eq!(html.matches("<td>delivered</td>").count(), 3, "{html}");
}

#[tokio::test]
async fn a_denied_plan_resolves_its_page_with_the_reason() {
    let w = world().await;
    let pd = Receiver::start(&[], 202).await;
    let engine = paging_engine(&w, &pd);
    let _tx = spawn(&engine, &w.shutdown);
    let mut tasks = JoinSet::new();
    let id = w.opened_and_waiting(&engine, &mut tasks).await;
    pd.wait_for(1).await;
    nightshift::approval::answer(&w.store, &id, None, Decision::Denied, "bob", w.now)
        .await
        .expect("deny");
    w.wait_for(&id, IncidentState::Denied).await;
    let got = pd.wait_for(2).await;
    let resolve = got[1].json();
    assert_eq!(resolve["event_action"], "resolve");
    assert_eq!(resolve["dedup_key"], id.as_str());
    let reason = resolve["payload"]["custom_details"]["reason"]
        .as_str()
        .unwrap_or("");
    assert!(
        reason.contains("denied") && reason.contains("bob"),
        "{reason}"
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        pd.got().len(),
        2,
        "nothing acknowledged or paged after the denial"
    );
}

#[tokio::test]
async fn a_page_carries_signed_links_bound_to_its_incident_and_plan() {
    let w = world().await;
    let pd = Receiver::start(&[], 202).await;
    let keys = Keyring::new(vec![Key::new("k1", vec![7; 32]).expect("key")]).expect("keyring");
    let engine = paging_engine_with_links(&w, &pd, keys.clone());
    let _tx = spawn(&engine, &w.shutdown);
    let mut tasks = JoinSet::new();
    let id = w.opened_and_waiting(&engine, &mut tasks).await;
    let trigger = pd.wait_for(1).await[0].json();
    let hash = w.plan_hash(&id).await;
    let link = |text: &str| -> String {
        trigger["links"]
            .as_array()
            .expect("links")
            .iter()
            .find(|l| l["text"] == text)
            .and_then(|l| l["href"].as_str())
            .unwrap_or_else(|| panic!("no {text:?} link in {trigger}"))
            .to_owned()
    };
    for (text, path, decision) in [
        ("Approve the plan", "approve", LinkDecision::Approve),
        ("Deny the plan", "deny", LinkDecision::Deny),
    ] {
        let href = link(text);
        let prefix = format!("https://ns.example.org/{path}/");
        let token = href
            .strip_prefix(&prefix)
            .unwrap_or_else(|| panic!("{href} is not under {prefix}"));
        let claims = keys
            .verify(token, decision, Timestamp::now())
            .unwrap_or_else(|e| panic!("{text}: the link does not verify: {e}"));
        assert_eq!(claims.incident, id);
        assert_eq!(claims.plan_hash, hash);
        // A link signed for one decision is no use for the other.
        let other = match decision {
            LinkDecision::Approve => LinkDecision::Deny,
            LinkDecision::Deny => LinkDecision::Approve,
        };
        assert!(keys.verify(token, other, Timestamp::now()).is_err());
    }
    assert_eq!(
        link("Incident page"),
        format!("https://ns.example.org/incidents/{id}")
    );
}
