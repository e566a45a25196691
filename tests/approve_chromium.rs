//! The approve flow in a real browser: headless Chromium opens the approval link's page (a GET,
//! which decides nothing), then a driver page on the same origin loads the link in a frame and
//! presses the page's button — the form's POST approves — and the engine rolls back and verifies
//! on the simulated cluster. Pressing it again from a fresh load answers 410 "used". Screenshots
//! of the confirmation page, the outcome and the verified incident are kept under
//! `target/test-artifacts/approve/`.
//!
//! An auth proxy in front is played by a layer that sets `X-Forwarded-User: alice`, believed
//! from loopback like `http.trusted_proxies`. Chromium is Debian's `chromium`
//! (`scripts/services.sh chromium`; `NIGHTSHIFT_CHROMIUM` for another binary); without it the
//! test fails saying so, unless `NIGHTSHIFT_SKIP_CHROMIUM=1` skips it loudly.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{Query, Request};
use axum::http::HeaderValue;
use axum::middleware::{Next, from_fn};
use axum::response::{Html, Response};
use axum::routing::get;
use jiff::SignedDuration;
use nightshift::domain::incident::IncidentState;
use nightshift::domain::policy::Policy;
use nightshift::engine::EngineSettings;
use nightshift::http::{Auth, HttpSettings};
use nightshift::links::http::{Links, router};
use nightshift::links::{Key, Keyring, LinkSigner};
use nightshift::store::kinds;
use tokio::task::JoinSet;

mod chromium_support;
mod engine_support;
mod sim_harness;

use chromium_support::{artifacts, chromium_or_skip, run, screenshot};
use engine_support::{spawn, world};

/// Plays the auth proxy: every request arrives as alice.
async fn proxy(mut request: Request, next: Next) -> Response {
    request
        .headers_mut()
        .insert("X-Forwarded-User", HeaderValue::from_static("alice"));
    next.run(request).await
}

/// Loads `u` in a full-window frame; on its first load presses `#decide`, and after the next
/// load writes the outcome page's `data-outcome` into `#result`.
async fn driver(Query(q): Query<std::collections::HashMap<String, String>>) -> Html<String> {
    let url = q.get("u").cloned().unwrap_or_default();
    Html(format!(
        r#"<!doctype html><body style="margin:0"><pre id="result" style="margin:0">pending</pre>
<iframe id="f" style="width:100%;height:880px;border:0" src="{url}"></iframe>
<script>var loads=0;document.getElementById("f").onload=function(){{loads++;var d=this.contentDocument;
if(loads===1){{var b=d.getElementById("decide");if(b){{b.click();}}else{{var o=d.getElementById("outcome");
document.getElementById("result").textContent="no-button "+(o?o.getAttribute("data-outcome"):"none");}}return;}}
var o=d.getElementById("outcome");document.getElementById("result").textContent="outcome="+(o?o.getAttribute("data-outcome"):"none");}};</script>"#
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_human_approves_from_the_links_page_in_chromium_and_the_incident_is_verified() {
    let Some(chromium) = chromium_or_skip("the Chromium approve flow") else {
        return;
    };
    let w = world().await;
    let settings = EngineSettings {
        poll_millis: 20,
        ..EngineSettings::default()
    };
    let engine = w.engine_with_settings(Policy::default(), settings);
    let _signals = spawn(&engine, &w.shutdown);
    let mut tasks = JoinSet::new();
    let id = w.opened_and_waiting(&engine, &mut tasks).await;
    let hash = w.plan_hash(&id).await;

    let keys = Keyring::new(vec![Key::new("k1", vec![3; 32]).expect("key")]).expect("ring");
    let http = HttpSettings {
        user_header: Some("X-Forwarded-User".into()),
        trusted_proxies: vec![IpAddr::from([127, 0, 0, 1])],
        ..HttpSettings::default()
    };
    let auth = Arc::new(Auth::load(&http, |_| None).expect("auth"));
    let links = router(Links::new(
        w.store.clone(),
        keys.clone(),
        Default::default(),
    ));
    let pages = nightshift::pages::router(w.store.clone()).layer(
        axum::middleware::from_fn_with_state(auth.clone(), nightshift::http::auth::require),
    );
    let app = nightshift::http::with_links(pages, links, auth, 1 << 20)
        .route("/driver", get(driver))
        .layer(from_fn(proxy));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .expect("serve")
    });
    let base = format!("http://{addr}");
    let signer = LinkSigner::new(keys, &base, SignedDuration::from_mins(30));
    let url = signer.approve_url(&id, &hash);
    let path = url.strip_prefix(&base).expect("under the base").to_owned();

    let dir = artifacts("approve");
    let profile = tempfile::tempdir().expect("profile");

    // The link as a previewer or a human first sees it: the page, nothing decided.
    let confirm = dir.join("confirm-phone.png");
    let _ = std::fs::remove_file(&confirm);
    run(
        &chromium,
        profile.path(),
        &[
            "--window-size=390,1200".into(),
            format!("--screenshot={}", confirm.display()),
            url.clone(),
        ],
    )
    .await;
    screenshot(&confirm);
    assert_eq!(
        w.state(&id).await,
        IncidentState::AwaitingApproval,
        "a GET decided"
    );
    assert!(w.record(&id).await.approvals.is_empty());

    // The human presses the button.
    let outcome = dir.join("approved.png");
    let _ = std::fs::remove_file(&outcome);
    run(
        &chromium,
        profile.path(),
        &[
            "--window-size=800,900".into(),
            "--virtual-time-budget=15000".into(),
            format!("--screenshot={}", outcome.display()),
            format!("{base}/driver?u={path}"),
        ],
    )
    .await;
    screenshot(&outcome);
    w.wait_for(&id, IncidentState::Resolved).await;
    let record = w.record(&id).await;
    assert_eq!(record.approvals.len(), 1);
    assert_eq!(record.approvals[0].actor, "alice");
    assert_eq!(record.actions.len(), 1, "the rollback ran once");
    assert!(
        record
            .audit
            .iter()
            .any(|a| a.kind == kinds::VERIFICATION_RECORDED),
        "verified"
    );

    // Pressing it again from a fresh load: the link is used.
    let dom = run(
        &chromium,
        profile.path(),
        &[
            "--virtual-time-budget=15000".into(),
            "--dump-dom".into(),
            format!("{base}/driver?u={path}"),
        ],
    )
    .await;
    assert!(dom.contains("no-button used"), "{dom}");
    assert_eq!(w.record(&id).await.approvals.len(), 1);

    let verified = dir.join("incident-verified.png");
    let _ = std::fs::remove_file(&verified);
    run(
        &chromium,
        profile.path(),
        &[
            "--window-size=390,1400".into(),
            format!("--screenshot={}", verified.display()),
            format!("{base}/incidents/{id}"),
        ],
    )
    .await;
    screenshot(&verified);
}
