//! `nightshift run` as a process, the way it is deployed: against the simulated cluster through a
//! kubeconfig, with `/healthz` and `/readyz` on `--listen`, an incident persisted in its SQLite
//! store, and a clean exit on SIGTERM. Not ready while it cannot list the cluster; a kubeconfig
//! that does not exist is an error that names it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use nightshift::sim::{SimCluster, write_kubeconfig};
use nightshift::store::Store;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};

mod sim_harness;

const CASE: &str = "fixtures/incidents/payments-api-missing-deploy-env-after-v2-3-1";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A loopback address nothing listens on yet.
fn free_addr() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr")
}

/// `nightshift run`, killed if the test ends before it does.
struct Daemon {
    child: Child,
    listen: SocketAddr,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// Runs from the store's directory, not the repository: the built-in rules and playbooks serve.
fn run(kubeconfig: &Path, store: &Path) -> Daemon {
    run_with(kubeconfig, store, &[("NIGHTSHIFT_LOG", "info")])
}

/// `nightshift run` with `env` (and no `NIGHTSHIFT_LOG*` from the test's own environment).
fn run_with(kubeconfig: &Path, store: &Path, env: &[(&str, &str)]) -> Daemon {
    let listen = free_addr();
    let child = Command::new(env!("CARGO_BIN_EXE_nightshift"))
        .current_dir(store.parent().expect("the store is in a directory"))
        .env_remove("NIGHTSHIFT_RULES")
        .env_remove("NIGHTSHIFT_PLAYBOOKS")
        .env_remove("NIGHTSHIFT_CONFIG")
        .args(["run", "--kubeconfig"])
        .arg(kubeconfig)
        .args(["--listen", &listen.to_string(), "--store"])
        .arg(format!("sqlite://{}", store.display()))
        .env_remove("NIGHTSHIFT_LOG")
        .env_remove("NIGHTSHIFT_LOG_FORMAT")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("nightshift run starts");
    Daemon { child, listen }
}

/// `GET path` over plain HTTP/1.0: the status code and the body, or `None` if nothing answers.
async fn get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
    let request = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await.ok()?;
    let code = response.split(' ').nth(1)?.parse().ok()?;
    let body = response.split("\r\n\r\n").nth(1).unwrap_or("").to_owned();
    Some((code, body))
}

/// Polls `path` until it answers `code` (10 s at most); the last answer.
async fn until(addr: SocketAddr, path: &str, code: u16) -> Option<(u16, String)> {
    let mut last = None;
    for _ in 0..200 {
        last = get(addr, path).await;
        if last.as_ref().is_some_and(|(c, _)| *c == code) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    last
}

async fn terminate(daemon: &mut Daemon) -> std::process::ExitStatus {
    let pid = daemon.child.id().expect("running").to_string();
    let sent = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .expect("kill");
    assert!(sent.success());
    tokio::time::timeout(Duration::from_secs(20), daemon.child.wait())
        .await
        .expect("it drains and exits within 20 s")
        .expect("wait")
}

async fn stderr(daemon: &mut Daemon) -> String {
    let mut text = String::new();
    if let Some(mut err) = daemon.child.stderr.take() {
        let _ = err.read_to_string(&mut text).await;
    }
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nightshift_run_watches_the_cluster_opens_an_incident_is_ready_and_exits_on_sigterm() {
    let cluster = SimCluster::new();
    let objects = std::fs::read_to_string(root().join(CASE).join("objects.yaml")).expect("objects");
    cluster.apply_yaml(&objects).expect("objects load");
    let sim = sim_harness::start(cluster).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("nightshift.db");
    // The default level, as JSON lines.
    let mut daemon = run_with(&sim.kubeconfig, &db, &[("NIGHTSHIFT_LOG_FORMAT", "json")]);
    let health = until(daemon.listen, "/healthz", 200).await;
    assert_eq!(health.map(|h| h.0), Some(200), "/healthz answers");
    let ready = until(daemon.listen, "/readyz", 200).await;
    assert_eq!(
        ready.as_ref().map(|r| r.0),
        Some(200),
        "ready once every watcher has listed: {ready:?}"
    );
    let store = Store::connect(&format!("sqlite://{}", db.display()))
        .await
        .expect("the daemon's store");
    let mut incidents = Vec::new();
    for _ in 0..200 {
        incidents = store.list_incidents(10).await.expect("list");
        if !incidents.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let incident = incidents
        .first()
        .expect("the crash loop opened an incident");
    assert_eq!(incident.fingerprint, "crash-loop/payments/payments-api");
    store.close().await;
    let opened = r#"nightshift_incidents_opened_total{rule="crash-loop"} 1"#;
    let metrics = until_body(daemon.listen, "/metrics", opened).await;
    assert!(
        metrics.contains(opened),
        "/metrics counts the incident:\n{metrics}"
    );
    let status = terminate(&mut daemon).await;
    let log = stderr(&mut daemon).await;
    assert!(status.success(), "exit {status:?}:\n{log}");
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let said = |text: &str| {
        lines.iter().any(|l| {
            l["fields"]["message"]
                .as_str()
                .is_some_and(|m| m.contains(text))
        })
    };
    assert!(
        said("opened by rule crash-loop"),
        "the opening at the default level:\n{log}"
    );
    assert!(said("shutting down"), "{log}");
    let in_span = lines
        .iter()
        .find(|l| l["span"]["incident"] == incident.id.as_str());
    let span = &in_span.unwrap_or_else(|| panic!("a line in the incident's span:\n{log}"))["span"];
    assert_eq!(span["rule"], "crash-loop");
    assert_eq!(span["target"], incident.target.to_string());
}

/// Polls `path` until its body contains `text` (10 s at most); the last body.
async fn until_body(addr: SocketAddr, path: &str, text: &str) -> String {
    let mut last = String::new();
    for _ in 0..200 {
        if let Some((_, body)) = get(addr, path).await {
            last = body;
            if last.contains(text) {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    last
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nightshift_run_is_alive_but_not_ready_while_it_cannot_list_the_cluster() {
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = dir.path().join("kubeconfig");
    // An apiserver address nothing answers on.
    write_kubeconfig(&kubeconfig, &format!("http://{}", free_addr())).expect("kubeconfig");
    let mut daemon = run(&kubeconfig, &dir.path().join("nightshift.db"));
    let health = until(daemon.listen, "/healthz", 200).await;
    assert_eq!(health.map(|h| h.0), Some(200));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (code, body) = get(daemon.listen, "/readyz")
        .await
        .expect("/readyz answers");
    assert_eq!(code, 503, "{body}");
    assert!(
        body.starts_with("not ready: waiting for the first list of") && body.contains("pods"),
        "{body}"
    );
    let status = terminate(&mut daemon).await;
    assert!(status.success(), "{status:?}");
}

#[tokio::test]
async fn nightshift_run_with_a_kubeconfig_that_does_not_exist_says_which_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing: PathBuf = dir.path().join("no-such-kubeconfig");
    let mut daemon = run(&missing, &dir.path().join("nightshift.db"));
    let status = tokio::time::timeout(Duration::from_secs(20), daemon.child.wait())
        .await
        .expect("exits")
        .expect("wait");
    let log = stderr(&mut daemon).await;
    assert!(!status.success());
    assert!(log.contains(&missing.display().to_string()), "{log}");
}
