//! `nightshift demo`: the whole loop, end to end, in under a minute. A simulated cluster is
//! served on loopback (real HTTP, the real Kubernetes REST API), `nightshift run`'s daemon runs
//! against it through a kubeconfig exactly as against a real cluster, a broken release rolls
//! out, and the demo narrates what the daemon does: detect → evidence → diagnosis → plan →
//! approval → rollback → verification → report. The one thing a real deployment does not do:
//! the demo answers the page itself, and says so.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use jiff::Timestamp;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::config::Settings;
use crate::daemon::{Daemon, client};
use crate::domain::diagnosis::Diagnosis;
use crate::domain::incident::IncidentState;
use crate::domain::plan::Plan;
use crate::domain::verdict::Verdict;
use crate::engine::Progress;
use crate::engine::live::{LiveGatherer, LiveVerifier};
use crate::k8s::{collect, verify};
use crate::sim::scenario::Scenario;
use crate::sim::{SimCluster, controllers, serve, write_kubeconfig};
use crate::store::{Decision, Store};

/// The scenario, built in so the demo runs from anywhere.
const SCENARIO: &str = include_str!("../scenarios/demo.yaml");
/// Who answers the page in the demo (recorded as such in the audit log).
const DEMO_APPROVER: &str = "demo-auto-approver (demo only; a real page waits for a human)";
/// The demo gives up after this.
const DEADLINE: Duration = Duration::from_secs(90);
/// Verification windows and timeouts are compressed this much (5 minutes → 9 seconds).
const TIME_SCALE: f64 = 0.03;

/// Where the demo writes its store and report.
pub struct DemoPaths {
    /// The SQLite store (recreated on every run).
    pub store: PathBuf,
    /// The Markdown incident report.
    pub report: PathBuf,
}

impl DemoPaths {
    /// `nightshift-demo.db` and `nightshift-demo-report.md` in `dir`.
    pub fn in_dir(dir: &Path) -> DemoPaths {
        DemoPaths {
            store: dir.join("nightshift-demo.db"),
            report: dir.join("nightshift-demo-report.md"),
        }
    }
}

/// Runs the demo, narrating to `out`.
pub async fn run(settings: Settings, paths: &DemoPaths, out: &mut impl Write) -> Result<ExitCode> {
    let started = Instant::now();
    let shutdown = CancellationToken::new();
    let _stop = shutdown.clone().drop_guard();
    let scenario = Scenario::from_yaml(SCENARIO, Path::new("scenarios/demo.yaml"))?;
    let cluster = SimCluster::new();
    scenario.install(&cluster)?;
    let dir = tempfile::tempdir()?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let kubeconfig = dir.path().join("kubeconfig");
    write_kubeconfig(&kubeconfig, &url)?;
    tokio::spawn(serve(cluster.clone(), listener, shutdown.clone()));
    controllers::spawn(cluster.clone(), scenario.settings(), shutdown.clone());
    say(
        out,
        started,
        &format!("simulated cluster serving the Kubernetes API at {url}"),
    )?;
    wait_healthy(&cluster, "shop", "checkout", started + DEADLINE).await?;
    say(
        out,
        started,
        "shop/checkout 1.4.2 is rolled out: 3/3 pods ready",
    )?;

    let daemon_shutdown = shutdown.child_token();
    let (store, engine_rx) = start_daemon(settings, &kubeconfig, paths, daemon_shutdown).await?;
    say(
        out,
        started,
        &format!(
            "nightshift is watching it over HTTP (kubeconfig {}), store {}",
            kubeconfig.display(),
            paths.store.display()
        ),
    )?;
    // Let the watchers list the cluster before the breakage.
    tokio::time::sleep(Duration::from_millis(800)).await;
    tokio::spawn({
        let cluster = cluster.clone();
        let shutdown = shutdown.clone();
        async move { scenario.run_timeline(cluster, shutdown).await }
    });
    say(
        out,
        started,
        "rolling out shop/checkout 1.5.0 (this release crash-loops)",
    )?;
    let resolved = narrate(engine_rx, &store, out, started).await?;
    write_report(&store, &resolved, paths, out, started).await?;
    Ok(ExitCode::SUCCESS)
}

/// Writes the incident's Markdown report and says how to read the store.
async fn write_report(
    store: &Store,
    id: &str,
    paths: &DemoPaths,
    out: &mut impl Write,
    started: Instant,
) -> Result<()> {
    let record = store.load(id).await?.context("the incident vanished")?;
    let report = crate::report::render(&record, crate::report::Format::Markdown)?;
    std::fs::write(&paths.report, report)
        .with_context(|| format!("writing {}", paths.report.display()))?;
    say(out, started, &format!("report: {}", paths.report.display()))?;
    writeln!(
        out,
        "\n  nightshift report {id} --store sqlite://{}\n  nightshift audit verify --store sqlite://{}",
        paths.store.display(),
        paths.store.display()
    )?;
    Ok(())
}

async fn start_daemon(
    mut settings: Settings,
    kubeconfig: &Path,
    paths: &DemoPaths,
    shutdown: CancellationToken,
) -> Result<(Store, broadcast::Receiver<Progress>)> {
    if let Some(dir) = paths.store.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    for suffix in ["", "-wal", "-shm"] {
        let file = PathBuf::from(format!("{}{suffix}", paths.store.display()));
        if file.exists() {
            std::fs::remove_file(&file).with_context(|| format!("removing {}", file.display()))?;
        }
    }
    let store = Store::connect(&format!("sqlite://{}", paths.store.display())).await?;
    let client = client(Some(kubeconfig)).await?;
    settings.engine.poll_millis = 200;
    settings.engine.verification_time_scale = TIME_SCALE;
    let verifier =
        verify::Verifier::new(client.clone()).with_poll_interval(Duration::from_millis(500));
    let daemon = Daemon {
        settings,
        gatherer: std::sync::Arc::new(LiveGatherer(collect::Gatherer::new(client.clone()))),
        verifier: std::sync::Arc::new(LiveVerifier(verifier)),
        client,
        store: store.clone(),
        listen: None,
    };
    let (tx, rx) = tokio::sync::oneshot::channel();
    let running = tokio::spawn(async move {
        daemon
            .run(shutdown, move |engine| {
                let _ = tx.send(engine.subscribe());
            })
            .await
    });
    let Ok(progress) = rx.await else {
        // The daemon returned before starting its engine: say why.
        let why = match running.await {
            Ok(Err(err)) => format!("{err:#}"),
            Ok(Ok(())) => "it stopped at once".to_owned(),
            Err(err) => format!("it panicked: {err}"),
        };
        bail!("the daemon did not start: {why}");
    };
    tokio::spawn(async move {
        if let Ok(Err(err)) = running.await {
            tracing::error!(error = %format!("{err:#}"), "the demo daemon stopped");
        }
    });
    Ok((store, progress))
}

/// Prints every step until the first incident with a mutating plan is resolved; answers its
/// page. Returns that incident's id.
async fn narrate(
    mut progress: broadcast::Receiver<Progress>,
    store: &Store,
    out: &mut impl Write,
    started: Instant,
) -> Result<String> {
    let deadline = tokio::time::Instant::from_std(started + DEADLINE);
    loop {
        let step = match tokio::time::timeout_at(deadline, progress.recv()).await {
            Err(_) => bail!("no resolved incident within {DEADLINE:?}"),
            Ok(Err(broadcast::error::RecvError::Lagged(n))) => {
                say(out, started, &format!("({n} steps not shown)"))?;
                continue;
            }
            Ok(Err(broadcast::error::RecvError::Closed)) => bail!("the daemon stopped"),
            Ok(Ok(step)) => step,
        };
        say(out, started, &describe(&step))?;
        match step {
            Progress::Moved {
                incident,
                to: IncidentState::AwaitingApproval,
                ..
            } => {
                approve(store, &incident, out, started).await?;
            }
            Progress::Moved {
                incident,
                to: IncidentState::Resolved,
                ..
            } => return Ok(incident),
            Progress::Moved {
                incident,
                to: IncidentState::Escalated,
                why,
                ..
            } if why.starts_with("verification failed") => {
                bail!("incident {incident} was escalated: {why}");
            }
            _ => {}
        }
    }
}

async fn approve(store: &Store, id: &str, out: &mut impl Write, started: Instant) -> Result<()> {
    let record = store.load(id).await?.context("the incident vanished")?;
    let hash = record
        .plans
        .last()
        .map(|p| p.hash.clone())
        .context("no plan")?;
    let answered = crate::approval::answer(
        store,
        id,
        Some(&hash),
        Decision::Approved,
        DEMO_APPROVER,
        Timestamp::now(),
    )
    .await?;
    let answered = answered.hash();
    say(
        out,
        started,
        &format!(
            "[DEMO ONLY] approved plan {} automatically as {DEMO_APPROVER}",
            &answered[..12.min(answered.len())]
        ),
    )
}

fn describe(step: &Progress) -> String {
    match step {
        Progress::Opened {
            incident,
            rule,
            signal,
        } => format!(
            "DETECTED  {} on {} (rule {rule}) → incident {incident}",
            signal.reason, signal.target
        ),
        Progress::Gathered {
            items, problems, ..
        } => gathered(items, problems),
        Progress::Decided {
            diagnosis,
            plan,
            plan_hash,
            ..
        } => decided(diagnosis, plan, plan_hash),
        Progress::Moved { to, by, why, .. } if why.contains(by.as_str()) => {
            format!("STATE     → {to}: {why}")
        }
        Progress::Moved { to, by, why, .. } => format!("STATE     → {to}: {why} (by {by})"),
        Progress::Acted {
            tool, ok, detail, ..
        } => {
            let result = if *ok { "done" } else { "FAILED" };
            format!("EXECUTED  {tool}: {result} — {detail}")
        }
        Progress::Verified { verdict, .. } => verified(verdict),
    }
}

fn gathered(items: &[String], problems: &[String]) -> String {
    let mut kinds: Vec<&str> = items.iter().filter_map(|i| i.split('/').next()).collect();
    kinds.dedup();
    let missing = if problems.is_empty() {
        String::new()
    } else {
        format!(
            "; {} request(s) failed, evidence is partial",
            problems.len()
        )
    };
    format!(
        "EVIDENCE  {} items ({}){missing}",
        items.len(),
        kinds.join(", ")
    )
}

fn decided(diagnosis: &Diagnosis, plan: &Plan, plan_hash: &str) -> String {
    let actions: Vec<String> = plan
        .actions
        .iter()
        .map(|a| format!("{} {}", a.tool, a.params))
        .collect();
    format!(
        "DIAGNOSIS {} (confidence {:.2}): {}\n          PLAN      {} — hash {}",
        diagnosis.category.as_str(),
        diagnosis.confidence,
        diagnosis.summary,
        actions.join(", "),
        &plan_hash[..12.min(plan_hash.len())]
    )
}

fn verified(verdict: &Verdict) -> String {
    let checks: Vec<String> = verdict
        .results
        .iter()
        .map(|r| format!("{} {}", if r.passed { "✓" } else { "✗" }, r.observed))
        .collect();
    let healthy = if verdict.healthy {
        "healthy"
    } else {
        "NOT healthy"
    };
    format!("VERIFIED  {healthy}: {}", checks.join("; "))
}

fn say(out: &mut impl Write, started: Instant, text: &str) -> Result<()> {
    writeln!(out, "[{:>5.1}s] {text}", started.elapsed().as_secs_f64())?;
    out.flush()?;
    Ok(())
}

/// Waits until the Deployment's rollout is complete.
async fn wait_healthy(cluster: &SimCluster, ns: &str, name: &str, deadline: Instant) -> Result<()> {
    while Instant::now() < deadline {
        if let Some(d) = cluster.get("Deployment", ns, name) {
            let want = d["spec"]["replicas"].as_i64().unwrap_or(1);
            let status = &d["status"];
            let ready = status["availableReplicas"].as_i64() == Some(want)
                && status["updatedReplicas"].as_i64() == Some(want)
                && status["observedGeneration"] == d["metadata"]["generation"];
            if ready {
                return Ok(());
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("{ns}/{name} never became healthy in the simulated cluster")
}
