//! The real Alertmanager (Debian's `prometheus-alertmanager`, installed by scripts/services.sh)
//! in front of a nightshift server: an alert posted to Alertmanager's own API reaches the
//! webhook with the bearer token from `http_config` and opens an incident; the same alert
//! posted again with `endsAt` in the past reaches it as resolved and lands in the timeline.
//! Set `NIGHTSHIFT_SKIP_ALERTMANAGER=1` to skip it where Alertmanager cannot be installed.

use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use nightshift::domain::scope::NamespaceScope;
use nightshift::http::alertmanager::{PATH, Webhooks};
use nightshift::http::health::Health;
use nightshift::http::{Auth, Parts};
use nightshift::store::kinds;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

mod engine_support;
mod sim_harness;

const TOKEN: &str = "am-token";
const WAIT: Duration = Duration::from_secs(60);

fn binary() -> Option<&'static str> {
    ["prometheus-alertmanager", "alertmanager"]
        .into_iter()
        .find(|b| {
            std::process::Command::new(b)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

/// One HTTP/1.1 request (connection closed after); the status code and body.
async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &str,
) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(addr).await?;
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await?;
    let code = answer.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    Ok((code, answer))
}

/// Polls `check` every 50 ms until it holds, failing with `what` after [`WAIT`].
async fn until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {WAIT:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn config(nightshift: SocketAddr) -> String {
    format!(
        "route:\n  receiver: nightshift\n  group_by: [alertname]\n  group_wait: 100ms\n  group_interval: 500ms\n  repeat_interval: 1h\n\
         receivers:\n  - name: nightshift\n    webhook_configs:\n      - url: http://{nightshift}{PATH}\n        send_resolved: true\n        max_alerts: 50\n\
         \x20       http_config:\n          authorization:\n            type: Bearer\n            credentials: {TOKEN}\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_posted_to_alertmanager_opens_an_incident_and_its_resolve_follows() {
    let Some(binary) = binary() else {
        if std::env::var_os("NIGHTSHIFT_SKIP_ALERTMANAGER").is_some() {
            eprintln!(
                "SKIPPED: Alertmanager is not installed and NIGHTSHIFT_SKIP_ALERTMANAGER is set"
            );
            return;
        }
        panic!(
            "Alertmanager is not installed: run scripts/services.sh (it installs Debian's prometheus-alertmanager) or apt-get install prometheus-alertmanager; NIGHTSHIFT_SKIP_ALERTMANAGER=1 skips this test"
        );
    };
    let w = engine_support::world().await;
    let stop = CancellationToken::new();
    let _stop = stop.clone().drop_guard();
    let app = nightshift::http::app(Parts {
        auth: Arc::new(Auth::bearer(TOKEN)),
        max_body_bytes: 1 << 20,
        health: Health {
            synced: Default::default(),
            draining: stop.clone(),
        },
        webhooks: Webhooks {
            engine: w.engine(),
            watch: NamespaceScope::default(),
        },
        investigator: None,
    });
    let loopback: SocketAddr = ([127, 0, 0, 1], 0).into();
    let (nightshift, _server) = nightshift::http::serve(loopback, app, stop.clone())
        .await
        .expect("serve");
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("am.yaml"), config(nightshift)).expect("config");
    let am: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let mut child = tokio::process::Command::new(binary)
        .arg(format!(
            "--config.file={}",
            dir.path().join("am.yaml").display()
        ))
        .arg(format!(
            "--storage.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address={am}"))
        .arg("--cluster.listen-address=")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("alertmanager starts");
    until("Alertmanager's /-/ready", || async {
        matches!(http(am, "GET", "/-/ready", "").await, Ok((200, _)))
    })
    .await;

    let labels =
        json!({"alertname": "CheckoutLatencyHigh", "namespace": "payments", "service": "checkout"});
    let firing = json!([{"labels": labels, "annotations": {"summary": "p99 over 2s"}}]).to_string();
    let (code, answer) = http(am, "POST", "/api/v2/alerts", &firing)
        .await
        .expect("post");
    assert_eq!(code, 200, "{answer}");
    let store = w.store.clone();
    until("the incident opened by the alert", || {
        let store = store.clone();
        async move {
            store
                .list_incidents(10)
                .await
                .is_ok_and(|list| list.iter().any(|i| i.rule == "alert-catch-all"))
        }
    })
    .await;
    let id = w.store.list_incidents(10).await.expect("list")[0]
        .id
        .clone();

    let past = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(1);
    let resolved = json!([{"labels": labels, "annotations": {"summary": "p99 over 2s"}, "endsAt": past.to_string()}]).to_string();
    let (code, answer) = http(am, "POST", "/api/v2/alerts", &resolved)
        .await
        .expect("post");
    assert_eq!(code, 200, "{answer}");
    until("the resolve in the incident's timeline", || {
        let store = store.clone();
        let id = id.clone();
        async move {
            store.load(&id).await.ok().flatten().is_some_and(|r| {
                r.audit
                    .iter()
                    .any(|a| a.kind == kinds::ALERT_RESOLVED && a.actor == "alertmanager")
            })
        }
    })
    .await;
    child.kill().await.ok();
}
