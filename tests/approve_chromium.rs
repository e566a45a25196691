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
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

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
use tokio::process::Command;
use tokio::task::JoinSet;

mod engine_support;
mod sim_harness;

use engine_support::{spawn, world};

/// The longest one Chromium run may take on a loaded machine.
const CHROMIUM_TIMEOUT: Duration = Duration::from_secs(120);
/// The smallest PNG taken as a real screenshot rather than a blank page.
const MIN_PNG_BYTES: u64 = 8_000;

fn chromium_or_skip() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("NIGHTSHIFT_CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .flat_map(|dir| [dir.join("chromium"), dir.join("chromium-browser")])
            .find(|candidate| candidate.is_file())
    });
    if found.is_some() {
        return found;
    }
    if std::env::var_os("NIGHTSHIFT_SKIP_CHROMIUM").is_some() {
        eprintln!(
            "\n!!! SKIPPED: the Chromium approve flow did not run (NIGHTSHIFT_SKIP_CHROMIUM is set) !!!\n"
        );
        return None;
    }
    panic!(
        "chromium is not installed: run `scripts/services.sh chromium`, set NIGHTSHIFT_CHROMIUM, \
         or set NIGHTSHIFT_SKIP_CHROMIUM=1 to skip this test"
    );
}

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

async fn run(chromium: &Path, profile: &Path, args: &[String]) -> String {
    let mut command = Command::new(chromium);
    command
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .kill_on_drop(true);
    let output = tokio::time::timeout(CHROMIUM_TIMEOUT, command.output())
        .await
        .unwrap_or_else(|_| panic!("chromium did not finish within {CHROMIUM_TIMEOUT:?}: {args:?}"))
        .expect("chromium runs");
    assert!(
        output.status.success(),
        "chromium {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn screenshot_ok(file: &Path) {
    let bytes = std::fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    assert!(
        bytes.len() as u64 > MIN_PNG_BYTES && bytes.starts_with(b"\x89PNG"),
        "{} is {} bytes: a blank page?",
        file.display(),
        bytes.len()
    );
    println!("screenshot: {}", file.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_human_approves_from_the_links_page_in_chromium_and_the_incident_is_verified() {
    let Some(chromium) = chromium_or_skip() else {
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

    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts/approve");
    std::fs::create_dir_all(&dir).expect("artifacts");
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
    screenshot_ok(&confirm);
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
    screenshot_ok(&outcome);
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
    screenshot_ok(&verified);
}
