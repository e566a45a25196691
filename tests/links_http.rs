//! Approve and deny by link, driven through the real router (`oneshot`) over a real store and a
//! running engine on the simulated cluster: the confirmation page never decides, only the form's
//! POST does, once; forged, expired, superseded and used links are 4xx pages saying which; the
//! approver rules and the two-person rule hold at the gate.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode, header};
use jiff::{SignedDuration, Timestamp};
use nightshift::domain::approvers::{ApproverPolicy, ApproverRule};
use nightshift::domain::incident::IncidentState;
use nightshift::domain::pattern::Glob;
use nightshift::domain::plan::Risk;
use nightshift::domain::policy::Policy;
use nightshift::engine::{Engine, EngineSettings};
use nightshift::http::{Auth, HttpSettings};
use nightshift::links::http::{Links, router};
use nightshift::links::{Key, Keyring, LinkDecision, LinkSigner};
use nightshift::store::{ActionOutcome, Decision, kinds};
use serde_json::Value;
use tokio::task::JoinSet;
use tower::ServiceExt;

mod engine_support;
mod sim_harness;

use engine_support::{World, spawn, world};

const PROXY: [u8; 4] = [127, 0, 0, 1];

fn keys(byte: u8) -> Keyring {
    Keyring::new(vec![Key::new("k1", vec![byte; 32]).expect("key")]).expect("ring")
}

fn signer(byte: u8) -> LinkSigner {
    LinkSigner::new(
        keys(byte),
        "https://ns.example",
        SignedDuration::from_mins(30),
    )
}

/// The links behind a trusted proxy's user and group headers, as the daemon mounts them.
fn app(w: &World, policy: ApproverPolicy) -> Router {
    let settings = HttpSettings {
        user_header: Some("X-Forwarded-User".into()),
        groups_header: Some("X-Forwarded-Groups".into()),
        trusted_proxies: vec![IpAddr::from(PROXY)],
        ..HttpSettings::default()
    };
    let auth = Arc::new(Auth::load(&settings, |_| None).expect("auth"));
    let links = router(Links::new(w.store.clone(), keys(7), policy));
    nightshift::http::with_links(Router::new(), links, auth, 1 << 20)
}

struct Reply {
    status: StatusCode,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

/// Sends `request` as if it came through the trusted proxy.
async fn send(app: &Router, mut request: Request<Body>) -> Reply {
    request
        .extensions_mut()
        .insert(ConnectInfo(SocketAddr::from((PROXY, 40000))));
    let response = app.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body");
    Reply {
        status,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

fn path(decision: LinkDecision, token: &str) -> String {
    format!("/{}/{token}", decision.as_str())
}

async fn get(app: &Router, decision: LinkDecision, token: &str, user: &str, json: bool) -> Reply {
    let mut request = Request::get(path(decision, token)).header("X-Forwarded-User", user);
    if json {
        request = request.header(header::ACCEPT, "application/json");
    }
    send(app, request.body(Body::empty()).expect("request")).await
}

async fn post(app: &Router, decision: LinkDecision, token: &str, user: &str, form: &str) -> Reply {
    let request = Request::post(path(decision, token))
        .header("X-Forwarded-User", user)
        .header(header::ACCEPT, "application/json")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(form.to_owned()))
        .expect("request");
    send(app, request).await
}

/// Loads the confirmation page as `user` and posts its form, as a browser would.
async fn confirm(app: &Router, decision: LinkDecision, token: &str, user: &str) -> Reply {
    let page = get(app, decision, token, user, true).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let field = page.json()["confirm"].as_str().expect("field").to_owned();
    post(
        app,
        decision,
        token,
        user,
        &format!("confirm={field}&reason=looks+right"),
    )
    .await
}

struct Case {
    w: World,
    engine: Engine,
    id: String,
    hash: String,
    _tasks: JoinSet<()>,
    /// Keeps the engine's signal queue (and so its loop) open.
    _signals: tokio::sync::mpsc::Sender<nightshift::domain::signal::Signal>,
}

async fn waiting(policy: &ApproverPolicy) -> Case {
    let w = world().await;
    let settings = EngineSettings {
        poll_millis: 20,
        approvers: policy.clone(),
        ..EngineSettings::default()
    };
    let engine = w.engine_with_settings(Policy::default(), settings);
    let signals = spawn(&engine, &w.shutdown);
    let mut tasks = JoinSet::new();
    let id = w.opened_and_waiting(&engine, &mut tasks).await;
    let hash = w.plan_hash(&id).await;
    Case {
        w,
        engine,
        id,
        hash,
        _tasks: tasks,
        _signals: signals,
    }
}

fn token(c: &Case, decision: LinkDecision) -> String {
    signer(7)
        .token(&c.id, &c.hash, decision, Timestamp::now())
        .expect("token")
}

#[tokio::test]
async fn a_get_from_a_link_previewer_never_decides() {
    let c = waiting(&ApproverPolicy::default()).await;
    let app = app(&c.w, ApproverPolicy::default());
    for decision in [LinkDecision::Approve, LinkDecision::Deny] {
        let t = token(&c, decision);
        for _ in 0..3 {
            let page = get(&app, decision, &t, "previewer", false).await;
            assert_eq!(page.status, StatusCode::OK, "{}", page.body);
            assert!(page.body.contains(&c.hash), "the page names the plan");
            assert!(
                page.body.contains("name=\"confirm\""),
                "the page has the form"
            );
            assert!(page.body.contains("Risk"), "the page says the risk");
        }
    }
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let record = c.w.record(&c.id).await;
    assert_eq!(record.incident.state, IncidentState::AwaitingApproval);
    assert!(record.approvals.is_empty(), "no GET recorded anything");
}

#[tokio::test]
async fn an_http_approval_runs_the_plan_once_and_a_replayed_post_is_410() {
    let c = waiting(&ApproverPolicy::default()).await;
    let app = app(&c.w, ApproverPolicy::default());
    let t = token(&c, LinkDecision::Approve);
    let page = get(&app, LinkDecision::Approve, &t, "alice", true).await;
    let form = format!(
        "confirm={}",
        page.json()["confirm"].as_str().expect("field")
    );
    let first = post(&app, LinkDecision::Approve, &t, "alice", &form).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert_eq!(first.json()["outcome"], "approved");
    c.w.wait_for(&c.id, IncidentState::Resolved).await;
    let replay = post(&app, LinkDecision::Approve, &t, "alice", &form).await;
    assert_eq!(replay.status, StatusCode::GONE, "{}", replay.body);
    assert_eq!(replay.json()["outcome"], "used");
    let record = c.w.record(&c.id).await;
    assert_eq!(record.approvals.len(), 1, "one decision recorded");
    assert_eq!(record.approvals[0].actor, "alice");
    assert_eq!(record.actions.len(), 1);
    assert_eq!(record.actions[0].outcome, ActionOutcome::Succeeded);
    let recorded = record
        .audit
        .iter()
        .find(|a| a.kind == kinds::APPROVAL_RECORDED)
        .expect("audit row");
    assert_eq!(recorded.detail["via"], "link");
    assert!(c.w.store.verify_audit().await.expect("audit").is_intact());
    drop(c.engine);
}

#[tokio::test]
async fn an_http_denial_ends_the_incident_with_the_reason_and_runs_nothing() {
    let c = waiting(&ApproverPolicy::default()).await;
    let app = app(&c.w, ApproverPolicy::default());
    let before = c.w.deployment_image();
    let done = confirm(
        &app,
        LinkDecision::Deny,
        &token(&c, LinkDecision::Deny),
        "bob",
    )
    .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert_eq!(done.json()["outcome"], "denied");
    c.w.wait_for(&c.id, IncidentState::Denied).await;
    let record = c.w.record(&c.id).await;
    assert!(record.actions.is_empty());
    assert_eq!(c.w.deployment_image(), before);
    let row = record
        .audit
        .iter()
        .find(|a| a.kind == kinds::APPROVAL_RECORDED)
        .expect("audit row");
    assert_eq!(row.actor, "bob");
    assert_eq!(row.detail["reason"], "looks right");
}

#[tokio::test]
async fn forged_altered_and_wrong_decision_links_are_403_and_record_nothing() {
    let c = waiting(&ApproverPolicy::default()).await;
    let app = app(&c.w, ApproverPolicy::default());
    let theirs = signer(9)
        .token(&c.id, &c.hash, LinkDecision::Approve, Timestamp::now())
        .expect("token");
    let deny = token(&c, LinkDecision::Deny);
    let mut altered = token(&c, LinkDecision::Approve);
    // Another last character, whatever the random nonce made it.
    let last = altered.pop();
    altered.push(if last == Some('A') { 'B' } else { 'A' });
    for t in [theirs.as_str(), "garbage", altered.as_str()] {
        let page = get(&app, LinkDecision::Approve, t, "alice", false).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{t}: {}", page.body);
        assert!(page.body.contains("not valid"), "{}", page.body);
        let posted = post(&app, LinkDecision::Approve, t, "alice", "confirm=x").await;
        assert_eq!(posted.status, StatusCode::FORBIDDEN, "{}", posted.body);
        assert_eq!(posted.json()["outcome"], "forged");
    }
    // A deny link posted to the approve path.
    let wrong = get(&app, LinkDecision::Approve, &deny, "alice", true).await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN, "{}", wrong.body);
    assert!(c.w.record(&c.id).await.approvals.is_empty());
}

#[tokio::test]
async fn a_post_without_the_pages_field_or_with_another_users_is_403() {
    let c = waiting(&ApproverPolicy::default()).await;
    let app = app(&c.w, ApproverPolicy::default());
    let t = token(&c, LinkDecision::Approve);
    let mallorys = get(&app, LinkDecision::Approve, &t, "mallory", true)
        .await
        .json()["confirm"]
        .as_str()
        .expect("field")
        .to_owned();
    for form in [
        String::new(),
        "reason=x".to_owned(),
        "confirm=AAAA".to_owned(),
        format!("confirm={mallorys}"),
    ] {
        let posted = post(&app, LinkDecision::Approve, &t, "alice", &form).await;
        assert_eq!(
            posted.status,
            StatusCode::FORBIDDEN,
            "{form}: {}",
            posted.body
        );
        assert_eq!(posted.json()["outcome"], "bad-form");
    }
    assert!(c.w.record(&c.id).await.approvals.is_empty());
    // The page's own field works for the user who loaded it.
    let ok = confirm(&app, LinkDecision::Approve, &t, "alice").await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
}

#[tokio::test]
async fn an_expired_link_is_410_and_the_incident_escalates() {
    let c = waiting(&ApproverPolicy::default()).await;
    let app = app(&c.w, ApproverPolicy::default());
    let old = signer(7)
        .token(
            &c.id,
            &c.hash,
            LinkDecision::Approve,
            Timestamp::now() - SignedDuration::from_hours(2),
        )
        .expect("token");
    let page = get(&app, LinkDecision::Approve, &old, "alice", false).await;
    assert_eq!(page.status, StatusCode::GONE, "{}", page.body);
    assert!(page.body.contains("expired"), "{}", page.body);
    c.w.wait_for(&c.id, IncidentState::Expired).await;
    let record = c.w.record(&c.id).await;
    assert!(record.actions.is_empty());
    assert!(
        record
            .approvals
            .iter()
            .all(|a| a.decision == Decision::Expired),
        "nothing but the expiry is recorded"
    );
}

#[tokio::test]
async fn a_link_for_an_older_plan_is_410_superseded() {
    let c = waiting(&ApproverPolicy::default()).await;
    let app = app(&c.w, ApproverPolicy::default());
    let t = token(&c, LinkDecision::Approve);
    let mut newer = c.w.record(&c.id).await.plans[0].plan.clone();
    newer.verification.clear();
    let new_hash =
        c.w.store
            .record_plan(&c.id, &newer, c.w.now)
            .await
            .expect("newer plan");
    assert_ne!(new_hash, c.hash);
    let page = get(&app, LinkDecision::Approve, &t, "alice", true).await;
    assert_eq!(page.status, StatusCode::GONE, "{}", page.body);
    assert_eq!(page.json()["outcome"], "superseded");
    let html = get(&app, LinkDecision::Approve, &t, "alice", false).await;
    assert!(html.body.contains("superseded"), "{}", html.body);
    assert!(c.w.record(&c.id).await.approvals.is_empty());
}

#[tokio::test]
async fn an_unknown_incident_is_404() {
    let c = waiting(&ApproverPolicy::default()).await;
    let app = app(&c.w, ApproverPolicy::default());
    let t = signer(7)
        .token(
            "no-such-incident",
            &c.hash,
            LinkDecision::Approve,
            Timestamp::now(),
        )
        .expect("token");
    let page = get(&app, LinkDecision::Approve, &t, "alice", true).await;
    assert_eq!(page.status, StatusCode::NOT_FOUND, "{}", page.body);
}

fn rule(users: &[&str], groups: &[&str], namespace: &str, max_risk: Risk) -> ApproverRule {
    ApproverRule {
        users: users.iter().map(|s| (*s).to_owned()).collect(),
        groups: groups.iter().map(|s| (*s).to_owned()).collect(),
        namespaces: vec![Glob::new(namespace).expect("glob")],
        max_risk,
    }
}

#[tokio::test]
async fn an_approver_outside_their_namespace_or_risk_is_403_and_a_group_may_approve() {
    let policy = ApproverPolicy {
        rules: vec![
            rule(&["alice"], &[], "elsewhere", Risk::High),
            rule(&["bob"], &[], "*", Risk::Low),
            rule(&[], &["sre"], "*", Risk::High),
        ],
        two_person: None,
    };
    let c = waiting(&policy).await;
    let app = app(&c.w, policy);
    let t = token(&c, LinkDecision::Approve);
    for user in ["alice", "bob", "mallory"] {
        let page = get(&app, LinkDecision::Approve, &t, user, true).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{user}: {}", page.body);
        assert_eq!(page.json()["outcome"], "not-allowed");
    }
    assert!(c.w.record(&c.id).await.approvals.is_empty());
    // carol, in the proxy's sre group, may.
    let page = send(
        &app,
        Request::get(path(LinkDecision::Approve, &t))
            .header("X-Forwarded-User", "carol")
            .header("X-Forwarded-Groups", "dev, sre")
            .header(header::ACCEPT, "application/json")
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let field = page.json()["confirm"].as_str().expect("field").to_owned();
    let posted = send(
        &app,
        Request::post(path(LinkDecision::Approve, &t))
            .header("X-Forwarded-User", "carol")
            .header("X-Forwarded-Groups", "dev, sre")
            .header(header::ACCEPT, "application/json")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(format!("confirm={field}")))
            .expect("request"),
    )
    .await;
    assert_eq!(posted.status, StatusCode::OK, "{}", posted.body);
    c.w.wait_for(&c.id, IncidentState::Resolved).await;
}

#[tokio::test]
async fn a_two_person_plan_runs_only_after_two_distinct_approvers() {
    let policy = ApproverPolicy {
        rules: Vec::new(),
        two_person: Some(Risk::Medium),
    };
    let c = waiting(&policy).await;
    let app = app(&c.w, policy.clone());
    let first = confirm(
        &app,
        LinkDecision::Approve,
        &token(&c, LinkDecision::Approve),
        "alice",
    )
    .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert_eq!(first.json()["outcome"], "awaiting-approver");
    // alice again, with a fresh link: already counted, nothing new.
    let again = confirm(
        &app,
        LinkDecision::Approve,
        &token(&c, LinkDecision::Approve),
        "alice",
    )
    .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);
    // alice through the CLI path: the same answer.
    let cli = nightshift::approval::answer_with(
        &c.w.store,
        &policy,
        &nightshift::approval::Request {
            id: &c.id,
            plan_hash: Some(&c.hash),
            decision: Decision::Approved,
            actor: "alice",
            groups: &[],
            checked: true,
            reason: None,
            nonce: None,
            via: "cli",
        },
        Timestamp::now(),
    )
    .await
    .expect("answer");
    assert!(
        matches!(cli, nightshift::approval::Answered::AlreadyDecided { .. }),
        "{cli:?}"
    );
    tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    let record = c.w.record(&c.id).await;
    assert_eq!(
        record.incident.state,
        IncidentState::AwaitingApproval,
        "one approver is not enough"
    );
    assert!(record.actions.is_empty());
    assert_eq!(record.approvals.len(), 1);
    let second = confirm(
        &app,
        LinkDecision::Approve,
        &token(&c, LinkDecision::Approve),
        "bob",
    )
    .await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.body);
    assert_eq!(second.json()["outcome"], "approved");
    c.w.wait_for(&c.id, IncidentState::Resolved).await;
    let record = c.w.record(&c.id).await;
    assert_eq!(record.approvals.len(), 2);
    assert_eq!(record.actions.len(), 1, "run once");
    let approved = record
        .audit
        .iter()
        .find(|a| a.kind == kinds::INCIDENT_TRANSITIONED && a.detail["to"] == "approved")
        .map(|a| a.actor.clone());
    assert_eq!(approved.as_deref(), Some("alice and bob"));
}
