//! The pagers against local HTTP receivers (real axum servers on 127.0.0.1:0) over a real
//! store: PagerDuty Events v2 and Slack bodies checked field by field, retries of 429 / 5xx,
//! a 400 recorded failed and never retried, signed webhooks verified as a receiver would,
//! routing, grouping during a wide outage, the rate limit, and deliveries that survive a
//! restart.

use std::sync::Arc;
use std::time::Duration;

use jiff::SignedDuration;
use nightshift::domain::incident::{IncidentState, Severity};
use nightshift::pagers::pagerduty::PagerDuty;
use nightshift::pagers::settings::Route;
use nightshift::pagers::slack::Slack;
use nightshift::pagers::webhook::{self, Webhook};
use nightshift::pagers::{Notice, Pager};
use nightshift::store::PageStatus;
use nightshift::telemetry::Metrics;
use tokio_util::sync::CancellationToken;

mod pagers_support;

use pagers_support::{
    Receiver, awaiting, clock, dispatcher, series, settings, store, wait_page, wait_page_until,
};

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

fn pagerduty(name: &str, receiver: &Receiver) -> Arc<dyn Pager> {
    Arc::new(PagerDuty::new(name, &receiver.url, "R0UT1NGKEY", client()))
}

fn notice(id: &str, to: IncidentState, by: &'static str, why: &'static str) -> Notice<'static> {
    // Tests keep the id alive for the call; leak a copy to keep signatures simple.
    let id: &'static str = Box::leak(id.to_owned().into_boxed_str());
    Notice {
        incident: id,
        to,
        by,
        why,
    }
}

const WAITING: &str = "paged: the plan needs a human approval";

#[tokio::test]
async fn a_pagerduty_trigger_carries_every_documented_field_and_acknowledge_and_resolve_follow() {
    let (store, _dir) = store().await;
    let pd = Receiver::start(&[], 202).await;
    let metrics = Metrics::default();
    let (clock, _) = clock();
    let d = dispatcher(
        &store,
        vec![pagerduty("pd", &pd)],
        settings(),
        &metrics,
        clock,
    );
    tokio::spawn(d.clone().run(CancellationToken::new()));
    let id = awaiting(&store, 1, Severity::Critical, "payments", &[]).await;
    d.notify(notice(
        &id,
        IncidentState::AwaitingApproval,
        "nightshift",
        WAITING,
    ))
    .await
    .expect("notify");
    let got = pd.wait_for(1).await;
    let body = got[0].json();
    assert_eq!(body["routing_key"], "R0UT1NGKEY");
    assert_eq!(body["event_action"], "trigger");
    assert_eq!(body["dedup_key"], id.as_str());
    let payload = &body["payload"];
    let summary = payload["summary"].as_str().expect("summary");
    assert!(
        !summary.is_empty() && summary.chars().count() <= 1024,
        "{summary}"
    );
    assert!(summary.contains("approval needed"), "{summary}");
    assert_eq!(payload["severity"], "critical");
    for field in ["source", "component", "group", "class"] {
        assert!(
            payload[field].as_str().is_some_and(|s| !s.is_empty()),
            "{field}: {payload}"
        );
    }
    assert_eq!(payload["group"], "payments");
    assert_eq!(payload["component"], "payments-api");
    let details = &payload["custom_details"];
    assert_eq!(details["diagnosis"]["category"], "bad-deploy");
    assert_eq!(details["plan"]["actions"][0]["tool"], "deployment.rollback");
    assert!(details["plan"]["hash"].as_str().is_some());
    let incident_link = format!("https://ns.example.org/incidents/{id}");
    assert_eq!(body["links"][0]["href"], incident_link.as_str());
    assert_eq!(body["client_url"], incident_link.as_str());
    assert_eq!(
        body["links"].as_array().map(Vec::len),
        Some(1),
        "no approve/deny links without a signer"
    );
    let content_type = got[0].headers.get("content-type").expect("content type");
    assert_eq!(content_type, "application/json");

    store
        .transition(
            &id,
            IncidentState::Approved,
            "alice",
            jiff::Timestamp::now(),
        )
        .await
        .expect("approve");
    d.notify(notice(
        &id,
        IncidentState::Approved,
        "alice",
        "approved by alice",
    ))
    .await
    .expect("notify");
    let got = pd.wait_for(2).await;
    assert_eq!(got[1].json()["event_action"], "acknowledge");
    assert_eq!(got[1].json()["dedup_key"], id.as_str());
    for to in [
        IncidentState::Executing,
        IncidentState::Verifying,
        IncidentState::Resolved,
    ] {
        store
            .transition(&id, to, "nightshift", jiff::Timestamp::now())
            .await
            .expect("move");
    }
    d.notify(notice(
        &id,
        IncidentState::Resolved,
        "nightshift",
        "verified healthy",
    ))
    .await
    .expect("notify");
    let got = pd.wait_for(3).await;
    let resolve = got[2].json();
    assert_eq!(resolve["event_action"], "resolve");
    assert_eq!(resolve["dedup_key"], id.as_str());
    assert_eq!(
        resolve["payload"]["custom_details"]["reason"],
        "verified healthy"
    );
    let pages = wait_page(&store, &id, 2, PageStatus::Delivered).await;
    assert_eq!(pages.attempts, 1);
    let labels = [
        ("pager", "pd"),
        ("event", "trigger"),
        ("outcome", "delivered"),
    ];
    assert_eq!(series(&metrics, "nightshift_pages_total", &labels), 1.0);
}

#[tokio::test]
async fn a_429_and_a_500_are_retried_until_pagerduty_answers_202() {
    let (store, _dir) = store().await;
    let pd = Receiver::start(&[429, 500], 202).await;
    let metrics = Metrics::default();
    let (clock, _) = clock();
    let d = dispatcher(
        &store,
        vec![pagerduty("pd", &pd)],
        settings(),
        &metrics,
        clock,
    );
    tokio::spawn(d.clone().run(CancellationToken::new()));
    let id = awaiting(&store, 1, Severity::Warning, "payments", &[]).await;
    d.notify(notice(
        &id,
        IncidentState::AwaitingApproval,
        "nightshift",
        WAITING,
    ))
    .await
    .expect("notify");
    let page = wait_page(&store, &id, 0, PageStatus::Delivered).await;
    assert_eq!(page.attempts, 3, "429, 500, then 202");
    let got = pd.got();
    assert_eq!(got.len(), 3);
    assert!(
        got.iter().all(|r| r.json() == got[0].json()),
        "the same page each time"
    );
    let retried = [
        ("pager", "pd"),
        ("event", "trigger"),
        ("outcome", "retried"),
    ];
    assert_eq!(series(&metrics, "nightshift_pages_total", &retried), 2.0);
}

#[tokio::test]
async fn a_400_is_not_retried_and_stays_visible_as_failed_in_the_store_and_metrics() {
    let (store, _dir) = store().await;
    let pd = Receiver::start(&[400], 202).await;
    let metrics = Metrics::default();
    let (clock, _) = clock();
    let d = dispatcher(
        &store,
        vec![pagerduty("pd", &pd)],
        settings(),
        &metrics,
        clock,
    );
    tokio::spawn(d.clone().run(CancellationToken::new()));
    let id = awaiting(&store, 1, Severity::Critical, "payments", &[]).await;
    d.notify(notice(
        &id,
        IncidentState::AwaitingApproval,
        "nightshift",
        WAITING,
    ))
    .await
    .expect("notify");
    let page = wait_page(&store, &id, 0, PageStatus::Failed).await;
    assert_eq!(page.attempts, 1);
    assert!(
        page.last_error
            .as_deref()
            .is_some_and(|e| e.contains("400")),
        "{page:?}"
    );
    assert_eq!(pd.got().len(), 1, "never retried");
    let failed = [("pager", "pd"), ("event", "trigger"), ("outcome", "failed")];
    assert_eq!(series(&metrics, "nightshift_pages_total", &failed), 1.0);
    assert_eq!(
        series(
            &metrics,
            "nightshift_pages_undelivered",
            &[("state", "failed")]
        ),
        1.0
    );
    let record = store.load(&id).await.expect("load").expect("incident");
    assert!(
        record.audit.iter().any(|a| a.kind == "page.failed"),
        "audited"
    );
}

#[tokio::test]
async fn a_slack_message_holds_the_diagnosis_the_plan_and_the_incident_link() {
    let (store, _dir) = store().await;
    let hook = Receiver::start(&[], 200).await;
    let metrics = Metrics::default();
    let (clock, _) = clock();
    let slack: Arc<dyn Pager> = Arc::new(Slack::new("slack", &hook.url, client()));
    let d = dispatcher(&store, vec![slack], settings(), &metrics, clock);
    tokio::spawn(d.clone().run(CancellationToken::new()));
    let id = awaiting(&store, 1, Severity::Critical, "payments", &[]).await;
    d.notify(notice(
        &id,
        IncidentState::AwaitingApproval,
        "nightshift",
        WAITING,
    ))
    .await
    .expect("notify");
    let body = hook.wait_for(1).await[0].json();
    assert!(
        body["text"]
            .as_str()
            .is_some_and(|t| t.contains("approval needed")),
        "{body}"
    );
    let blocks = body["blocks"].as_array().expect("blocks");
    let text = serde_json::to_string(blocks).expect("json");
    assert!(text.contains("*Diagnosis* (bad-deploy"), "{text}");
    assert!(text.contains("deployment.rollback"), "{text}");
    let actions = blocks
        .iter()
        .find(|b| b["type"] == "actions")
        .expect("buttons");
    let incident_link = format!("https://ns.example.org/incidents/{id}");
    assert_eq!(actions["elements"][0]["url"], incident_link.as_str());
    assert_eq!(actions["elements"][0]["type"], "button");
}

#[tokio::test]
async fn a_signed_webhook_verifies_at_the_receiver_and_a_replay_outside_the_window_does_not() {
    let (store, _dir) = store().await;
    let hook = Receiver::start(&[], 204).await;
    let metrics = Metrics::default();
    let (clock, _) = clock();
    let pager: Arc<dyn Pager> = Arc::new(Webhook::new("hook", &hook.url, b"s3cret", client()));
    let d = dispatcher(&store, vec![pager], settings(), &metrics, clock);
    tokio::spawn(d.clone().run(CancellationToken::new()));
    let id = awaiting(&store, 1, Severity::Critical, "payments", &[]).await;
    d.notify(notice(
        &id,
        IncidentState::AwaitingApproval,
        "nightshift",
        WAITING,
    ))
    .await
    .expect("notify");
    let got = hook.wait_for(1).await;
    let header = |name: &str| got[0].headers.get(name).and_then(|v| v.to_str().ok());
    let ts = header(webhook::TIMESTAMP_HEADER);
    let sig = header(webhook::SIGNATURE_HEADER);
    let now = jiff::Timestamp::now().as_second();
    let window = webhook::DEFAULT_REPLAY_WINDOW_SECONDS;
    let secrets: [&[u8]; 2] = [b"old", b"s3cret"];
    assert_eq!(
        webhook::verify(&secrets, ts, sig, &got[0].body, now, window),
        Ok(())
    );
    let later = now + window + 60;
    assert!(matches!(
        webhook::verify(&secrets, ts, sig, &got[0].body, later, window),
        Err(webhook::VerifyError::Stale(_))
    ));
    let mut tampered = got[0].body.to_vec();
    tampered.extend_from_slice(b" ");
    assert_eq!(
        webhook::verify(&secrets, ts, sig, &tampered, now, window),
        Err(webhook::VerifyError::Mismatch)
    );
    let body = got[0].json();
    assert_eq!(body["dedup_key"], id.as_str());
    assert_eq!(body["page"]["event"], "trigger");
    assert_eq!(body["page"]["diagnosis"]["category"], "bad-deploy");
}

#[tokio::test]
async fn routes_send_each_incident_to_the_pagers_its_severity_namespace_and_labels_pick() {
    let (store, _dir) = store().await;
    let (a, b) = (
        Receiver::start(&[], 202).await,
        Receiver::start(&[], 202).await,
    );
    let metrics = Metrics::default();
    let (clock, _) = clock();
    let mut s = settings();
    s.routes = vec![
        Route {
            pagers: vec!["team-a".into()],
            severity: vec![Severity::Critical],
            namespaces: vec!["payments".into()],
            labels: [("team".to_owned(), "a".to_owned())].into(),
        },
        Route {
            pagers: vec!["team-b".into()],
            severity: vec![],
            namespaces: vec!["search".into()],
            labels: Default::default(),
        },
    ];
    let pagers = vec![pagerduty("team-a", &a), pagerduty("team-b", &b)];
    let d = dispatcher(&store, pagers, s, &metrics, clock);
    tokio::spawn(d.clone().run(CancellationToken::new()));
    let to_a = awaiting(&store, 1, Severity::Critical, "payments", &[("team", "a")]).await;
    let wrong_label = awaiting(&store, 2, Severity::Critical, "payments", &[("team", "b")]).await;
    let too_mild = awaiting(&store, 3, Severity::Warning, "payments", &[("team", "a")]).await;
    let to_b = awaiting(&store, 4, Severity::Info, "search", &[]).await;
    for id in [&to_a, &wrong_label, &too_mild, &to_b] {
        d.notify(notice(
            id,
            IncidentState::AwaitingApproval,
            "nightshift",
            WAITING,
        ))
        .await
        .expect("notify");
    }
    assert_eq!(a.wait_for(1).await[0].json()["dedup_key"], to_a.as_str());
    assert_eq!(b.wait_for(1).await[0].json()["dedup_key"], to_b.as_str());
    for id in [&wrong_label, &too_mild] {
        assert!(
            store.pages_of(id).await.expect("pages").is_empty(),
            "no route matched {id}"
        );
    }
    assert_eq!(a.got().len(), 1);
    assert_eq!(b.got().len(), 1);
}

#[tokio::test]
async fn during_a_wide_outage_pages_past_the_threshold_become_one_grouped_page() {
    let (store, _dir) = store().await;
    let pd = Receiver::start(&[], 202).await;
    let metrics = Metrics::default();
    let (clock, _) = clock();
    let mut s = settings();
    s.group.threshold = 2;
    s.group.window_seconds = 600;
    let d = dispatcher(&store, vec![pagerduty("pd", &pd)], s, &metrics, clock);
    let mut ids = Vec::new();
    for n in 0..5 {
        let id = awaiting(&store, n, Severity::Critical, "payments", &[]).await;
        d.notify(notice(
            &id,
            IncidentState::AwaitingApproval,
            "nightshift",
            WAITING,
        ))
        .await
        .expect("notify");
        ids.push(id);
    }
    tokio::spawn(d.clone().run(CancellationToken::new()));
    let got = pd.wait_for(3).await;
    let keys: Vec<String> = got
        .iter()
        .map(|r| r.json()["dedup_key"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(keys[0], ids[0]);
    assert_eq!(keys[1], ids[1]);
    let group = got[2].json();
    assert!(keys[2].starts_with("nightshift-group-pd-"), "{keys:?}");
    assert!(
        group["payload"]["summary"]
            .as_str()
            .is_some_and(|s| s.contains("wide outage"))
    );
    assert_eq!(
        group["payload"]["custom_details"]["grouped_incidents"],
        serde_json::json!([ids[2]]),
        "the grouped page names the incident that opened the group"
    );
    for id in &ids[2..] {
        let pages = store.pages_of(id).await.expect("pages");
        let own = pages
            .iter()
            .find(|p| !p.intent.starts_with("group:"))
            .expect("own row");
        assert_eq!(
            own.status,
            PageStatus::Grouped,
            "{id} is recorded, folded into the group"
        );
    }
    let grouped = [
        ("pager", "pd"),
        ("event", "trigger"),
        ("outcome", "grouped"),
    ];
    assert_eq!(series(&metrics, "nightshift_pages_total", &grouped), 3.0);
    // Acknowledge and resolve go only where a page of the incident's own went.
    store
        .transition(
            &ids[4],
            IncidentState::Denied,
            "bob",
            jiff::Timestamp::now(),
        )
        .await
        .expect("deny");
    d.notify(notice(
        &ids[4],
        IncidentState::Denied,
        "bob",
        "denied by bob",
    ))
    .await
    .expect("notify");
    store
        .transition(
            &ids[0],
            IncidentState::Denied,
            "bob",
            jiff::Timestamp::now(),
        )
        .await
        .expect("deny");
    d.notify(notice(
        &ids[0],
        IncidentState::Denied,
        "bob",
        "denied by bob",
    ))
    .await
    .expect("notify");
    let got = pd.wait_for(4).await;
    assert_eq!(got[3].json()["event_action"], "resolve");
    assert_eq!(got[3].json()["dedup_key"], ids[0].as_str());
}

#[tokio::test]
async fn the_rate_limit_holds_pages_back_beyond_the_burst_and_records_them_pending() {
    let (store, _dir) = store().await;
    let pd = Receiver::start(&[], 202).await;
    let metrics = Metrics::default();
    let (clock, _) = clock();
    let mut s = settings();
    s.per_minute = 1;
    s.burst = 2;
    let d = dispatcher(&store, vec![pagerduty("pd", &pd)], s, &metrics, clock);
    tokio::spawn(d.clone().run(CancellationToken::new()));
    let mut ids = Vec::new();
    for n in 0..3 {
        let id = awaiting(&store, n, Severity::Critical, "payments", &[]).await;
        d.notify(notice(
            &id,
            IncidentState::AwaitingApproval,
            "nightshift",
            WAITING,
        ))
        .await
        .expect("notify");
        ids.push(id);
    }
    pd.wait_for(2).await;
    wait_page(&store, &ids[1], 0, PageStatus::Delivered).await;
    // The third waits for the quota (a minute): it is pending, in the store, not lost.
    let third = &store.pages_of(&ids[2]).await.expect("pages")[0];
    assert_eq!(third.status, PageStatus::Pending);
    assert_eq!(pd.got().len(), 2);
    assert_eq!(
        series(
            &metrics,
            "nightshift_pages_undelivered",
            &[("state", "pending")]
        ),
        1.0
    );
}

#[tokio::test]
async fn pending_deliveries_and_unpaged_incidents_are_sent_after_a_restart() {
    let (store, _dir) = store().await;
    let down = Receiver::start(&[], 503).await;
    let metrics = Metrics::default();
    let (clock, now) = clock();
    let mut s = settings();
    s.attempts = 1;
    // The first daemon: PagerDuty is down; the page stays pending.
    let first = dispatcher(
        &store,
        vec![pagerduty("pd", &down)],
        s.clone(),
        &metrics,
        clock.clone(),
    );
    let stop = CancellationToken::new();
    let running = tokio::spawn(first.clone().run(stop.clone()));
    let id = awaiting(&store, 1, Severity::Critical, "payments", &[]).await;
    first
        .notify(notice(
            &id,
            IncidentState::AwaitingApproval,
            "nightshift",
            WAITING,
        ))
        .await
        .expect("notify");
    down.wait_for(1).await;
    let pending = wait_page_until(&store, &id, 0, |p| p.attempts == 1).await;
    assert_eq!(
        pending.status,
        PageStatus::Pending,
        "a 503 is retried later, not given up"
    );
    assert!(
        pending
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("503"))
    );
    // An incident whose page was never recorded (a crash right after the state change).
    let unpaged = awaiting(&store, 2, Severity::Critical, "payments", &[]).await;
    stop.cancel();
    running.await.expect("stopped");
    drop(first);

    // The next daemon, a retry interval later, with PagerDuty back.
    *now.lock().expect("clock") += SignedDuration::from_secs(61);
    let up = Receiver::start(&[], 202).await;
    let second = dispatcher(&store, vec![pagerduty("pd", &up)], s, &metrics, clock);
    tokio::spawn(second.run(CancellationToken::new()));
    let got = up.wait_for(2).await;
    let mut keys: Vec<String> = got
        .iter()
        .map(|r| r.json()["dedup_key"].as_str().unwrap_or("").to_owned())
        .collect();
    keys.sort();
    let mut want = vec![id.clone(), unpaged.clone()];
    want.sort();
    assert_eq!(keys, want);
    let delivered = wait_page(&store, &id, 0, PageStatus::Delivered).await;
    assert_eq!(delivered.attempts, 2);
    wait_page(&store, &unpaged, 0, PageStatus::Delivered).await;
}

#[tokio::test]
async fn a_page_undeliverable_past_the_give_up_time_is_recorded_failed() {
    let (store, _dir) = store().await;
    let down = Receiver::start(&[], 500).await;
    let metrics = Metrics::default();
    let (clock, now) = clock();
    let mut s = settings();
    s.attempts = 1;
    s.give_up_minutes = 1;
    let d = dispatcher(&store, vec![pagerduty("pd", &down)], s, &metrics, clock);
    let id = awaiting(&store, 1, Severity::Critical, "payments", &[]).await;
    d.notify(notice(
        &id,
        IncidentState::AwaitingApproval,
        "nightshift",
        WAITING,
    ))
    .await
    .expect("notify");
    let row = store.pages_of(&id).await.expect("pages")[0].clone();
    d.deliver("pd", row.id).await;
    assert_eq!(
        store.pages_of(&id).await.expect("pages")[0].status,
        PageStatus::Pending
    );
    *now.lock().expect("clock") += SignedDuration::from_secs(120);
    d.deliver("pd", row.id).await;
    let row = store.pages_of(&id).await.expect("pages")[0].clone();
    assert_eq!(row.status, PageStatus::Failed);
    assert!(
        row.last_error
            .as_deref()
            .is_some_and(|e| e.starts_with("gave up")),
        "{row:?}"
    );
    assert_eq!(row.attempts, 2);
}

#[tokio::test]
async fn an_escalation_after_an_acknowledge_pages_again_under_a_fresh_key() {
    let (store, _dir) = store().await;
    let pd = Receiver::start(&[], 202).await;
    let metrics = Metrics::default();
    let (clock, _) = clock();
    let d = dispatcher(
        &store,
        vec![pagerduty("pd", &pd)],
        settings(),
        &metrics,
        clock,
    );
    tokio::spawn(d.clone().run(CancellationToken::new()));
    let id = awaiting(&store, 1, Severity::Critical, "payments", &[]).await;
    let now = jiff::Timestamp::now();
    d.notify(notice(
        &id,
        IncidentState::AwaitingApproval,
        "nightshift",
        WAITING,
    ))
    .await
    .expect("notify");
    store
        .transition(&id, IncidentState::Approved, "alice", now)
        .await
        .expect("approve");
    d.notify(notice(
        &id,
        IncidentState::Approved,
        "alice",
        "approved by alice",
    ))
    .await
    .expect("notify");
    for to in [
        IncidentState::Executing,
        IncidentState::Verifying,
        IncidentState::Escalated,
    ] {
        store
            .transition(&id, to, "nightshift", now)
            .await
            .expect("move");
    }
    d.notify(notice(
        &id,
        IncidentState::Escalated,
        "nightshift",
        "verification failed",
    ))
    .await
    .expect("notify");
    let got = pd.wait_for(3).await;
    let actions: Vec<String> = got
        .iter()
        .map(|r| {
            format!(
                "{} {}",
                r.json()["event_action"].as_str().unwrap_or(""),
                r.json()["dedup_key"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(
        actions,
        vec![
            format!("trigger {id}"),
            format!("acknowledge {id}"),
            format!("trigger {id}/1")
        ]
    );
    assert!(
        got[2].json()["payload"]["summary"]
            .as_str()
            .is_some_and(|s| s.contains("verification failed"))
    );
}
