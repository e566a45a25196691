//! The incident pages in a real browser: headless Chromium loads them from the router on a
//! loopback port at phone width (390×844) and desktop width (1280×900), takes screenshots kept
//! under `target/test-artifacts/pages/`, and measures in the page that nothing scrolls
//! sideways at phone width.
//!
//! Chromium is Debian's `chromium` (`scripts/services.sh chromium` installs it; set
//! `NIGHTSHIFT_CHROMIUM` to use another binary). Without it the test fails saying so, unless
//! `NIGHTSHIFT_SKIP_CHROMIUM=1` is set, which skips it loudly.

mod pages_support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::Router;
use axum::response::Html;
use axum::routing::get;
use nightshift::pages::router;
use pages_support::{AWAITING, RESOLVED, store};
use tokio::net::TcpListener;
use tokio::process::Command;

/// The longest one Chromium run may take on a loaded machine.
const CHROMIUM_TIMEOUT: Duration = Duration::from_secs(120);

/// The smallest PNG taken as a real screenshot rather than a blank page.
const MIN_PNG_BYTES: u64 = 8_000;

fn chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("NIGHTSHIFT_CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| [dir.join("chromium"), dir.join("chromium-browser")])
        .find(|candidate| candidate.is_file())
}

/// Chromium, or `None` when the skip is asked for; otherwise a failure saying how to install it.
fn chromium_or_skip() -> Option<PathBuf> {
    if let Some(path) = chromium() {
        return Some(path);
    }
    if std::env::var_os("NIGHTSHIFT_SKIP_CHROMIUM").is_some() {
        eprintln!(
            "\n!!! SKIPPED: the Chromium page screenshots did not run (NIGHTSHIFT_SKIP_CHROMIUM is set) !!!\n"
        );
        return None;
    }
    panic!(
        "chromium is not installed: run `scripts/services.sh chromium` (or `apt-get install chromium`), \
         set NIGHTSHIFT_CHROMIUM to a Chromium binary, or set NIGHTSHIFT_SKIP_CHROMIUM=1 to skip this test"
    );
}

/// A page that loads `u` in a 390 px frame and writes whether it scrolls sideways.
async fn probe(
    axum::extract::Query(q): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> Html<String> {
    let url = q.get("u").cloned().unwrap_or_default();
    Html(format!(
        r#"<!doctype html><body style="margin:0"><pre id="result">pending</pre>
<iframe id="f" style="width:390px;height:844px;border:0" src="{url}"></iframe>
<script>document.getElementById("f").onload=function(){{var d=this.contentDocument.documentElement;
document.getElementById("result").textContent="scrollWidth="+d.scrollWidth+" clientWidth="+d.clientWidth;}};</script>"#
    ))
}

/// A page that does scroll sideways at 390 px: the probe's control.
async fn wide() -> Html<&'static str> {
    Html("<!doctype html><div style=\"width:800px\">wide</div>")
}

async fn serve() -> String {
    let store = store().await;
    let app: Router = router(store)
        .route("/probe", get(probe))
        .route("/wide", get(wide));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    // The socket listens from bind: Chromium's connections queue until the server accepts.
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    format!("http://{addr}")
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

/// The width and height a PNG's IHDR chunk declares.
fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    let word =
        |at: usize| u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    (word(16), word(20))
}

fn artifacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts/pages");
    std::fs::create_dir_all(&dir).expect("artifact directory");
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pages_render_in_headless_chromium_at_phone_and_desktop_width() {
    let Some(chromium) = chromium_or_skip() else {
        return;
    };
    let base = serve().await;
    let profile = tempfile::tempdir().expect("profile");
    let dir = artifacts();
    let pages = [
        ("list", "/incidents".to_owned()),
        ("awaiting", format!("/incidents/{AWAITING}")),
        ("resolved", format!("/incidents/{RESOLVED}")),
    ];
    for (name, path) in &pages {
        for (size, width, height) in [("phone", 390, 844), ("desktop", 1280, 900)] {
            let file = dir.join(format!("{name}-{size}.png"));
            let _ = std::fs::remove_file(&file);
            let args = [
                format!("--window-size={width},{height}"),
                format!("--screenshot={}", file.display()),
                format!("{base}{path}"),
            ];
            run(&chromium, profile.path(), &args).await;
            let bytes = std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            assert!(
                bytes.len() as u64 > MIN_PNG_BYTES,
                "{} is only {} bytes: a blank page?",
                file.display(),
                bytes.len()
            );
            assert_eq!(png_size(&bytes), (width, height), "{}", file.display());
            println!("screenshot: {}", file.display());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_page_scrolls_sideways_at_phone_width() {
    let Some(chromium) = chromium_or_skip() else {
        return;
    };
    let base = serve().await;
    let profile = tempfile::tempdir().expect("profile");
    for path in [
        "/wide".to_owned(),
        "/incidents".to_owned(),
        format!("/incidents/{AWAITING}"),
        format!("/incidents/{RESOLVED}"),
    ] {
        let args = [
            "--window-size=1280,900".to_owned(),
            "--virtual-time-budget=10000".to_owned(),
            "--dump-dom".to_owned(),
            format!("{base}/probe?u={path}"),
        ];
        let dom = run(&chromium, profile.path(), &args).await;
        let result = dom
            .split("<pre id=\"result\">")
            .nth(1)
            .and_then(|rest| rest.split("</pre>").next())
            .unwrap_or_else(|| panic!("no probe result for {path} in:\n{dom}"));
        let number = |key: &str| -> u32 {
            result
                .split(&format!("{key}="))
                .nth(1)
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("{path}: no {key} in `{result}`"))
        };
        let (scroll, client) = (number("scrollWidth"), number("clientWidth"));
        assert!(client > 300, "{path}: the frame is {client} px wide");
        if path == "/wide" {
            assert!(scroll > client, "the probe missed a wide page: {result}");
            continue;
        }
        assert!(
            scroll <= client,
            "{path} scrolls sideways at 390 px: {result}"
        );
        println!("{path}: {result}");
    }
}
