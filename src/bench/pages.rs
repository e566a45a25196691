//! `nightshift bench --pages N`: signal → page delivered. N times, one recorded crash loop's
//! signal goes through the engine — intake, the store, diagnosis, plan, policy, awaiting
//! approval — and the dispatcher records the page and posts it to a local PagerDuty-like
//! receiver. The time is taken from the signal handed to the engine to the receiver holding
//! the page; then the incident is denied and the next round begins (the rules' cooldowns are
//! set to zero for the bench). Figures, not assertions.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use futures::future::BoxFuture;
use jiff::{SignedDuration, Timestamp};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use crate::bench::percentile;
use crate::domain::evidence::Evidence;
use crate::domain::incident::IncidentState;
use crate::domain::playbook::EvidenceSpec;
use crate::domain::policy::Policy;
use crate::domain::signal::Signal;
use crate::engine::live::LiveVerifier;
use crate::engine::{Clock, Engine, EngineSettings, Gathered, Gatherer, Parts};
use crate::k8s::execute::Executor;
use crate::k8s::verify;
use crate::pagers::pagerduty::PagerDuty;
use crate::pagers::{Dispatcher, IncidentLinksOnly, Pager, PagingSettings};
use crate::replay::Case;
use crate::rules::RuleSet;
use crate::store::{Decision, Store};

/// Where the receiver reports the next page asking for an approval: when, and its incident.
type Waiter = Arc<Mutex<Option<oneshot::Sender<(Instant, String)>>>>;

/// The recorded evidence, for every signal.
struct Recorded(Evidence);

impl Gatherer for Recorded {
    fn gather<'a>(&'a self, _: &'a Signal, _: &'a EvidenceSpec) -> BoxFuture<'a, Gathered> {
        Box::pin(async move {
            Gathered {
                evidence: self.0.clone(),
                problems: Vec::new(),
                workload: None,
            }
        })
    }
}

/// Measures `n` signals of `case` (a case whose plan needs an approval) to their page.
pub async fn latency(case: &Case, mut rules: RuleSet, n: usize) -> Result<String> {
    for loaded in &mut rules.rules {
        loaded.rule.cooldown = SignedDuration::ZERO;
    }
    let replayed = crate::replay::run(case, &rules, &Policy::default())
        .incident
        .context("the case opens no incident")?;
    if !replayed.plan.is_mutating() {
        bail!("the case's plan only notifies: it never waits for an approval");
    }
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let store = Store::connect(&url).await?;
    let stop = CancellationToken::new();
    let waiter: Waiter = Arc::default();
    let receiver = receiver(waiter.clone(), stop.clone()).await?;
    // The rules' cooldowns are zero and each round the clock moves a second on, so after the
    // denial that ends one round's incident the same recorded signal opens the next one.
    let offset = Arc::new(AtomicI64::new(0));
    // The recorded time, moving with the wall clock: the diagnosis weighs how recent the
    // rollout is.
    let (recorded_at, wall) = (replayed.now, Timestamp::now());
    let clock: Clock = {
        let offset = offset.clone();
        Arc::new(move || {
            let elapsed = Timestamp::now().duration_since(wall);
            recorded_at + elapsed + SignedDuration::from_secs(offset.load(Ordering::SeqCst))
        })
    };
    let recorded = Recorded(replayed.evidence.clone());
    let engine = engine(&store, rules, recorded, &receiver, clock.clone(), &stop)?;
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    tokio::spawn(engine.clone().run(rx, stop.clone()));
    let mut samples = Vec::with_capacity(n);
    for i in 0..n {
        let (done, arrived) = oneshot::channel();
        *waiter.lock().unwrap_or_else(PoisonError::into_inner) = Some(done);
        let started = Instant::now();
        tx.send(replayed.signal.clone())
            .await
            .context("the engine stopped")?;
        let (at, id) = tokio::time::timeout(Duration::from_secs(30), arrived)
            .await
            .with_context(|| format!("signal {i} was not paged for approval within 30 s"))?
            .context("the receiver stopped")?;
        samples.push(at.duration_since(started).as_secs_f64() * 1e3);
        crate::approval::answer(&store, &id, None, Decision::Denied, "bench", clock())
            .await
            .with_context(|| format!("denying {id}"))?;
        ended(&store, &id).await?;
        offset.fetch_add(1, Ordering::SeqCst);
    }
    stop.cancel();
    samples.sort_by(f64::total_cmp);
    let pct = |p: f64| percentile(&samples, p);
    let mut out = String::from(
        "signal → page delivered (engine, SQLite, PagerDuty Events v2 to a loopback receiver)\n",
    );
    let _ = writeln!(out, "| pages | p50 | p99 | max |\n|---|---|---|---|");
    let _ = writeln!(
        out,
        "| {} | {:.1} ms | {:.1} ms | {:.1} ms |",
        samples.len(),
        pct(0.5),
        pct(0.99),
        samples.last().copied().unwrap_or(0.0)
    );
    let _ = writeln!(
        out,
        "| target | p99 < 1 s: {} |",
        if pct(0.99) < 1000.0 { "met" } else { "NOT met" }
    );
    Ok(out)
}

fn engine(
    store: &Store,
    rules: RuleSet,
    recorded: Recorded,
    receiver: &str,
    clock: Clock,
    stop: &CancellationToken,
) -> Result<Engine> {
    // The executor and verifier are never reached: every plan waits for an approval.
    let config = kube::Config::new("http://127.0.0.1:9".parse().context("url")?);
    let client = kube::Client::try_from(config).context("a client that is never used")?;
    let metrics = crate::telemetry::Metrics::new(rules.rules.iter().map(|r| r.rule.name.as_str()));
    let pd: Arc<dyn Pager> = Arc::new(PagerDuty::new(
        "pagerduty",
        receiver,
        "bench",
        reqwest::Client::new(),
    ));
    let mut settings = PagingSettings {
        per_minute: 1_000_000,
        burst: 1_000_000,
        ..PagingSettings::default()
    };
    settings.group.threshold = 0;
    let dispatcher = Dispatcher::new(
        store.clone(),
        vec![pd],
        settings,
        Arc::new(IncidentLinksOnly::new(Some("http://127.0.0.1"))),
        None,
        metrics.clone(),
        crate::engine::system_clock(),
    );
    tokio::spawn(dispatcher.clone().run(stop.clone()));
    let parts = Parts {
        store: store.clone(),
        rules: Arc::new(Mutex::new(Arc::new(rules))),
        policy: Policy::default(),
        executor: Executor::new(client.clone()),
        gatherer: Arc::new(recorded),
        verifier: Arc::new(LiveVerifier(verify::Verifier::new(client))),
        settings: EngineSettings {
            poll_millis: 10,
            ..EngineSettings::default()
        },
        clock,
        metrics,
    };
    Ok(Engine::with_pager(parts, Some(dispatcher)))
}

/// Waits (at most 30 s) until the engine has recorded `id`'s denial.
async fn ended(store: &Store, id: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let record = store.load(id).await?.context("the incident vanished")?;
        if record.incident.state == IncidentState::Denied {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("{id} is {} 30 s after its denial", record.incident.state);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A PagerDuty-like receiver: answers 202 and reports each trigger asking for an approval.
async fn receiver(waiter: Waiter, stop: CancellationToken) -> Result<String> {
    async fn take(State(waiter): State<Waiter>, body: Bytes) -> StatusCode {
        let at = Instant::now();
        let Ok(event) = serde_json::from_slice::<serde_json::Value>(&body) else {
            return StatusCode::BAD_REQUEST;
        };
        let state = event["payload"]["custom_details"]["state"].as_str();
        if event["event_action"] == "trigger" && state == Some("awaiting-approval") {
            let id = event["dedup_key"].as_str().unwrap_or_default().to_owned();
            let next = waiter.lock().unwrap_or_else(PoisonError::into_inner).take();
            if let Some(next) = next {
                let _ = next.send((at, id));
            }
        }
        StatusCode::ACCEPTED
    }
    let app = Router::new()
        .route("/v2/enqueue", post(take))
        .with_state(waiter);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(stop.cancelled_owned())
            .await;
        if let Err(err) = served {
            tracing::warn!(error = %err, "the bench receiver stopped");
        }
    });
    Ok(format!("http://{addr}/v2/enqueue"))
}
