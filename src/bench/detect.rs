//! `nightshift bench --detect`: detection latency on a large simulated cluster — from an
//! apiserver change (a pod starts crash-looping) to the incident persisted in the store — through
//! the real path: the simulated apiserver over HTTP, the kube-runtime watchers, the detectors,
//! the rules and the store. And, when asked, the resident memory of a real `nightshift run`
//! process watching a cluster of that size. Figures, not assertions: this machine is shared.

use crate::bench::percentile;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use jiff::Timestamp;
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::domain::scope::NamespaceScope;
use crate::engine::Intake;
use crate::k8s::watch;
use crate::rules::RuleSet;
use crate::sim::{SimCluster, serve, write_kubeconfig};
use crate::store::Store;

/// Namespaces the generated pods spread over.
const NAMESPACES: usize = 10;

/// A healthy, Running, Ready pod with no owner (each is its own workload, so each crash opens
/// its own incident).
pub fn healthy_pod(index: usize, now: Timestamp) -> Value {
    let ns = format!("bench-{}", index % NAMESPACES);
    let name = format!("svc-{index:05}");
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": {"app": name}},
        "spec": {"nodeName": "worker-1", "containers": [{"name": "app", "image": "bench/app:1.0",
                 "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}]},
        "status": {"phase": "Running", "startTime": now.to_string(),
            "conditions": [{"type": "Ready", "status": "True"}, {"type": "ContainersReady", "status": "True"}],
            "containerStatuses": [{"name": "app", "image": "bench/app:1.0", "ready": true,
                "started": true, "restartCount": 0,
                "state": {"running": {"startedAt": now.to_string()}}}]}
    })
}

/// The same pod, now crash-looping.
fn crash(pod: &mut Value, now: Timestamp) {
    pod["status"]["conditions"] =
        json!([{"type": "Ready", "status": "False", "reason": "ContainersNotReady"}]);
    pod["status"]["containerStatuses"] = json!([{"name": "app", "image": "bench/app:1.0",
        "ready": false, "started": false, "restartCount": 5,
        "state": {"waiting": {"reason": "CrashLoopBackOff",
            "message": "back-off 2m40s restarting failed container=app"}},
        "lastState": {"terminated": {"exitCode": 1, "reason": "Error",
            "startedAt": now.to_string(), "finishedAt": now.to_string()}}}]);
}

type Waiters = Arc<Mutex<HashMap<String, oneshot::Sender<Instant>>>>;

/// A cluster of `pods` healthy pods served on loopback, with a kubeconfig written in `dir`.
pub async fn serve_cluster(
    pods: usize,
    dir: &std::path::Path,
    shutdown: &CancellationToken,
) -> Result<(SimCluster, std::path::PathBuf)> {
    let cluster = SimCluster::new();
    let now = Timestamp::now();
    for i in 0..pods {
        cluster
            .apply(healthy_pod(i, now))
            .context("creating a pod")?;
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let kubeconfig = dir.join("kubeconfig");
    write_kubeconfig(&kubeconfig, &url)?;
    tokio::spawn(serve(cluster.clone(), listener, shutdown.clone()));
    Ok((cluster, kubeconfig))
}

/// Measures detection latency over `changes` crashes on a cluster of `pods` pods.
pub async fn latency(pods: usize, changes: usize, rules: RuleSet) -> Result<String> {
    let dir = tempfile::tempdir()?;
    let shutdown = CancellationToken::new();
    let _stop = shutdown.clone().drop_guard();
    let (cluster, kubeconfig) = serve_cluster(pods, dir.path(), &shutdown).await?;
    let client = crate::daemon::client(Some(&kubeconfig)).await?;
    let store = Store::connect(&format!(
        "sqlite://{}",
        dir.path().join("bench.db").display()
    ))
    .await?;
    let intake = Arc::new(Intake::new(store, Arc::new(Mutex::new(Arc::new(rules)))));
    let (tx, mut signals) = mpsc::channel(4096);
    tokio::spawn(watch::run(
        client,
        NamespaceScope::default(),
        tx,
        shutdown.clone(),
    ));
    let waiters: Waiters = Arc::default();
    let opened = waiters.clone();
    tokio::spawn(async move {
        while let Some(signal) = signals.recv().await {
            let name = signal.target.name.clone();
            if let Ok(Some(_)) = intake.open(signal, Timestamp::now()).await {
                let waiter = opened
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(&name);
                if let Some(waiter) = waiter {
                    let _ = waiter.send(Instant::now());
                }
            }
        }
    });
    // The first crash also proves the watchers have listed every pod.
    let warmup = Duration::from_secs(120);
    one_crash(&cluster, &waiters, 0, warmup)
        .await
        .context("the watchers never caught up")?;
    let mut samples = Vec::with_capacity(changes);
    for i in 1..=changes.min(pods.saturating_sub(1)) {
        samples.push(one_crash(&cluster, &waiters, i, Duration::from_secs(10)).await?);
    }
    Ok(table(pods, &mut samples))
}

async fn one_crash(
    cluster: &SimCluster,
    waiters: &Waiters,
    i: usize,
    wait: Duration,
) -> Result<f64> {
    let (tx, rx) = oneshot::channel();
    let name = format!("svc-{i:05}");
    waiters
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(name.clone(), tx);
    let ns = format!("bench-{}", i % NAMESPACES);
    let started = Instant::now();
    cluster
        .update_with("Pod", &ns, &name, |p| crash(p, Timestamp::now()))
        .context("crashing a pod")?;
    let done = tokio::time::timeout(wait, rx)
        .await
        .with_context(|| format!("no incident for {ns}/{name} within {wait:?}"))??;
    Ok(done.duration_since(started).as_secs_f64() * 1e3)
}

fn table(pods: usize, samples: &mut [f64]) -> String {
    samples.sort_by(f64::total_cmp);
    let pct = |p: f64| percentile(samples, p);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "detection latency: apiserver change → incident persisted"
    );
    let _ = writeln!(out, "  pods in cluster   {pods}");
    let _ = writeln!(out, "  changes measured  {}", samples.len());
    let _ = writeln!(out, "  p50               {:.2} ms", pct(0.5));
    let _ = writeln!(
        out,
        "  p99               {:.2} ms   (target < 50 ms)",
        pct(0.99)
    );
    let _ = writeln!(out, "  max               {:.2} ms", pct(1.0));
    out
}

/// Resident memory of a real `nightshift run` process (this binary, as a child) watching a
/// simulated cluster of `pods` pods, once its watchers have listed everything and memory has
/// settled. The cluster runs in this process, so it does not count.
pub async fn rss(
    pods: usize,
    rules: Option<&std::path::Path>,
    playbooks: Option<&std::path::Path>,
) -> Result<String> {
    let dir = tempfile::tempdir()?;
    let shutdown = CancellationToken::new();
    let _stop = shutdown.clone().drop_guard();
    let (_cluster, kubeconfig) = serve_cluster(pods, dir.path(), &shutdown).await?;
    let store = format!("sqlite://{}", dir.path().join("rss.db").display());
    let mut daemon = tokio::process::Command::new(std::env::current_exe()?);
    daemon
        .arg("run")
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .args(["--store", &store]);
    if let Some(rules) = rules {
        daemon.arg("--rules").arg(rules);
    }
    if let Some(playbooks) = playbooks {
        daemon.arg("--playbooks").arg(playbooks);
    }
    let mut child = daemon
        .kill_on_drop(true)
        .spawn()
        .context("starting `nightshift run`")?;
    let pid = child.id().context("the daemon exited at once")?;
    let mut readings: Vec<u64> = Vec::new();
    for _ in 0..120 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        if let Some(status) = child.try_wait()? {
            anyhow::bail!("`nightshift run` exited early: {status}");
        }
        readings.push(status_kib(pid, "VmRSS:")?);
        let settled = readings.len() >= 6
            && readings[readings.len() - 4..]
                .windows(2)
                .all(|w| w[0].abs_diff(w[1]) < 256);
        if settled {
            break;
        }
    }
    let rss = readings.last().copied().unwrap_or(0);
    let peak = status_kib(pid, "VmHWM:")?;
    child.kill().await.ok();
    let mut out = String::new();
    let _ = writeln!(out, "daemon memory: `nightshift run` watching {pods} pods");
    let _ = writeln!(
        out,
        "  RSS settled       {:.1} MiB   (target ≤ 64 MiB)",
        rss as f64 / 1024.0
    );
    let _ = writeln!(out, "  RSS peak          {:.1} MiB", peak as f64 / 1024.0);
    Ok(out)
}

fn status_kib(pid: u32, field: &str) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .context("reading the daemon's /proc status (Linux only)")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .with_context(|| format!("no {field} in /proc/{pid}/status"))
}
