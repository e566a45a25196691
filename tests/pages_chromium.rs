//! The incident pages in a real browser: headless Chromium loads them from the router on a
//! loopback port at phone width (390×844) and desktop width (1280×900), takes screenshots kept
//! under `target/test-artifacts/pages/`, and measures in the page that nothing scrolls
//! sideways at phone width.
//!
//! Chromium is Debian's `chromium` (`scripts/services.sh chromium` installs it; set
//! `NIGHTSHIFT_CHROMIUM` to use another binary). Without it the test fails saying so, unless
//! `NIGHTSHIFT_SKIP_CHROMIUM=1` is set, which skips it loudly.

mod chromium_support;
mod pages_support;

use axum::Router;
use axum::response::Html;
use axum::routing::get;
use chromium_support::{artifacts, chromium_or_skip, png_size, run, screenshot};
use nightshift::pages::router;
use pages_support::{AWAITING, RESOLVED, store};
use tokio::net::TcpListener;

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pages_render_in_headless_chromium_at_phone_and_desktop_width() {
    let Some(chromium) = chromium_or_skip("the Chromium page screenshots") else {
        return;
    };
    let base = serve().await;
    let profile = tempfile::tempdir().expect("profile");
    let dir = artifacts("pages");
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
            let bytes = screenshot(&file);
            assert_eq!(png_size(&bytes), (width, height), "{}", file.display());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_page_scrolls_sideways_at_phone_width() {
    let Some(chromium) = chromium_or_skip("the Chromium page screenshots") else {
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
