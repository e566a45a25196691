//! `nightshift bench --approve`: link POST → executor start. A real HTTP server with the link
//! routes over a SQLite store and a running engine; for each sample a fixture's incident waits
//! for approval, its confirmation page is fetched, and the clock runs from sending the form's
//! POST until the engine reports the incident `executing` (the executor's first step). The
//! engine finds decisions by polling the store every `engine.poll_millis`, so the figures
//! follow that setting. The cluster is unreachable: execution fails right after it starts,
//! which is outside the measured span (the bench sets no escalation hold, so the next sample
//! on the same workload may run). Figures, not timed assertions.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use jiff::{SignedDuration, Timestamp};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

use crate::bench::percentile;
use crate::domain::incident::{Incident, IncidentState};
use crate::domain::policy::Policy;
use crate::engine::live::{LiveGatherer, LiveVerifier};
use crate::engine::{Engine, EngineSettings, Parts, Progress};
use crate::http::Auth;
use crate::k8s::execute::Executor;
use crate::k8s::{collect, verify};
use crate::links::http::{Links, router};
use crate::links::{Key, Keyring, LinkDecision, LinkSigner};
use crate::replay::{Case, Replayed};
use crate::rules::RuleSet;
use crate::store::Store;

const TOKEN: &str = "bench";

/// Measures `samples` approvals of the incident `case` opens, with the engine polling every
/// `poll_millis`.
pub async fn latency(
    case: &Path,
    rules: RuleSet,
    samples: usize,
    poll_millis: u64,
) -> Result<String> {
    let where_ = case.display().to_string();
    let case = Case::load(case)?;
    let replayed = crate::replay::run(&case, &rules, &Policy::default())
        .incident
        .with_context(|| format!("{where_}: no incident opens"))?;
    if !replayed.plan.requires_approval {
        bail!("{where_}: the plan needs no approval");
    }
    let dir = tempfile::tempdir()?;
    let store = Store::connect(&format!(
        "sqlite://{}",
        dir.path().join("bench.db").display()
    ))
    .await?;
    let stop = CancellationToken::new();
    let _stop = stop.clone().drop_guard();
    let engine = engine(store.clone(), rules, poll_millis)?;
    let (_signals, queue) = tokio::sync::mpsc::channel(1);
    tokio::spawn(engine.clone().run(queue, stop.child_token()));
    let keys = Keyring::new(vec![
        Key::new("bench", vec![7; 32]).map_err(anyhow::Error::msg)?,
    ])
    .map_err(anyhow::Error::msg)?;
    let links = router(Links::new(store.clone(), keys.clone(), Default::default()));
    let auth = Arc::new(Auth::bearer(TOKEN));
    let app = crate::http::with_links(axum::Router::new(), links, auth, 1 << 20);
    let (addr, _task) = crate::http::serve(([127, 0, 0, 1], 0).into(), app, stop.clone()).await?;
    let signer = LinkSigner::new(
        keys,
        &format!("http://{addr}"),
        SignedDuration::from_mins(30),
    );
    let mut times = Vec::with_capacity(samples);
    for i in 0..samples {
        let id = waiting(&store, &replayed, i).await?;
        let hash = replayed.plan.hash();
        let token = signer
            .token(&id, &hash, LinkDecision::Approve, Timestamp::now())
            .map_err(anyhow::Error::msg)?;
        let path = format!("/approve/{token}");
        let page = request(addr, "GET", &path, "").await?;
        let field = serde_json::from_str::<serde_json::Value>(&page)
            .ok()
            .and_then(|v| v["confirm"].as_str().map(str::to_owned))
            .with_context(|| format!("no confirmation field in {page}"))?;
        let mut progress = engine.subscribe();
        let started = Instant::now();
        request(addr, "POST", &path, &format!("confirm={field}")).await?;
        executing(&mut progress, &id).await?;
        times.push(started.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    let mut out = String::from("approval latency: link POST → executor start (SQLite, loopback)\n");
    let _ = writeln!(out, "  engine.poll_millis {poll_millis}");
    let _ = writeln!(out, "  approvals          {}", times.len());
    let _ = writeln!(
        out,
        "  p50                {:.2} ms",
        percentile(&times, 0.5)
    );
    let _ = writeln!(
        out,
        "  p99                {:.2} ms",
        percentile(&times, 0.99)
    );
    let _ = writeln!(
        out,
        "  max                {:.2} ms",
        percentile(&times, 1.0)
    );
    // The last execution is still failing against no cluster: stop the engine first.
    stop.cancel();
    Ok(out)
}

fn engine(store: Store, rules: RuleSet, poll_millis: u64) -> Result<Engine> {
    // Nothing listens on port 9: the executor's first request fails, after the measured span.
    let config = kube::Config::new("http://127.0.0.1:9".parse().context("url")?);
    let client = kube::Client::try_from(config).context("a client for no cluster")?;
    Ok(Engine::new(Parts {
        store,
        rules: Arc::new(Mutex::new(Arc::new(rules))),
        policy: Policy::default(),
        executor: Executor::new(client.clone()),
        gatherer: Arc::new(LiveGatherer(collect::Gatherer::new(client.clone()))),
        verifier: Arc::new(LiveVerifier(verify::Verifier::new(client))),
        settings: EngineSettings {
            poll_millis,
            // Every sample's execution fails (no cluster) and escalates its workload, the same
            // one each time: without this, the hold would stop the next sample's execution.
            escalation_hold: SignedDuration::ZERO,
            ..EngineSettings::default()
        },
        clock: crate::engine::system_clock(),
        metrics: crate::telemetry::Metrics::new(std::iter::empty::<&str>()),
    }))
}

/// Sample `i`'s incident, stored with its plan and awaiting approval.
async fn waiting(store: &Store, replayed: &Replayed, i: usize) -> Result<String> {
    let now = Timestamp::now();
    let fingerprint = format!("{}/bench-{i}", replayed.fingerprint);
    let incident = Incident {
        id: Incident::id_for(&fingerprint, now),
        rule: replayed.rule.clone(),
        severity: replayed.severity,
        fingerprint,
        target: replayed.signal.target.clone(),
        playbook: replayed.playbook.clone(),
        state: IncidentState::Open,
        opened_at: now,
        signal: replayed.signal.clone(),
    };
    store.insert_incident(&incident).await?;
    store.record_plan(&incident.id, &replayed.plan, now).await?;
    for to in [IncidentState::Diagnosed, IncidentState::AwaitingApproval] {
        store.transition(&incident.id, to, "bench", now).await?;
    }
    Ok(incident.id)
}

async fn executing(
    progress: &mut tokio::sync::broadcast::Receiver<Progress>,
    id: &str,
) -> Result<()> {
    let wait = Duration::from_secs(30);
    tokio::time::timeout(wait, async {
        loop {
            match progress.recv().await {
                Ok(Progress::Moved { incident, to, .. })
                    if incident == id && to == IncidentState::Executing =>
                {
                    return Ok(());
                }
                Ok(_) | Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => bail!("the engine stopped"),
            }
        }
    })
    .await
    .with_context(|| format!("{id} did not start executing within {wait:?}"))?
}

/// One HTTP/1.1 request on its own connection; the body of a 2xx answer.
async fn request(addr: SocketAddr, method: &str, path: &str, form: &str) -> Result<String> {
    let mut stream = TcpStream::connect(addr).await?;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {TOKEN}\r\n\
         Accept: application/json\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{form}",
        form.len()
    );
    stream.write_all(head.as_bytes()).await?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await?;
    let status = answer.split_whitespace().nth(1).unwrap_or("");
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    if !status.starts_with('2') {
        bail!("{method} {path}: {status} {body}");
    }
    Ok(body.to_owned())
}
