//! `nightshift bench --webhook`: Alertmanager webhook ingest on loopback — a real server, a
//! SQLite store, concurrent keep-alive connections posting groups of 1 and of 50 alerts, half
//! of them re-sends (deduplicated). Each 200 waits for the store's commit, which concurrent
//! requests share. Reports alerts/s and the p50/p99 latency per request, then the time to
//! serve the HTML page of an incident holding 500 evidence items; figures, not timed
//! assertions.

use crate::bench::percentile;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use crate::domain::evidence::{EventFacts, Evidence, Facts, LogFacts};
use crate::domain::policy::Policy;
use crate::domain::scope::NamespaceScope;
use crate::domain::signal::ObjectRef;
use crate::engine::live::{LiveGatherer, LiveVerifier};
use crate::engine::{Engine, EngineSettings, Parts};
use crate::http::alertmanager::{PATH, Webhooks};
use crate::http::health::Health;
use crate::http::{Auth, Parts as HttpParts};
use crate::k8s::execute::Executor;
use crate::k8s::{collect, verify};
use crate::rules::RuleSet;
use crate::store::Store;

const TOKEN: &str = "bench";

/// Runs the ingest benchmark for groups of 1 and 50 alerts, `requests` requests each over
/// `connections` connections.
pub async fn ingest(rules: RuleSet, requests: usize, connections: usize) -> Result<String> {
    let mut out = format!(
        "webhook ingest (loopback, SQLite, 200 after commit, half re-sends, {connections} connections)\n"
    );
    let _ = writeln!(
        out,
        "| group | requests | alerts/s | p50 per request | p99 per request |\n|---|---|---|---|---|"
    );
    for group in [1, 50] {
        let dir = tempfile::tempdir()?;
        let url = format!("sqlite://{}", dir.path().join("bench.db").display());
        let store = Store::connect(&url).await?;
        let stop = CancellationToken::new();
        let addr = server(store.clone(), rules.clone(), stop.clone()).await?;
        let started = Instant::now();
        let mut samples = load(addr, group, requests, connections).await?;
        let total = started.elapsed().as_secs_f64();
        stop.cancel();
        store.close().await;
        samples.sort_by(f64::total_cmp);
        let pct = |p: f64| percentile(&samples, p);
        let _ = writeln!(
            out,
            "| {group} | {} | {:.0} | {:.2} ms | {:.2} ms |",
            samples.len(),
            (samples.len() * group) as f64 / total.max(1e-9),
            pct(0.5),
            pct(0.99)
        );
    }
    out.push_str(&page(rules).await?);
    Ok(out)
}

/// Evidence items on the incident whose page is timed.
const PAGE_EVIDENCE: usize = 500;
/// Page requests timed.
const PAGE_REQUESTS: usize = 50;

/// Opens one incident through the webhook, stores [`PAGE_EVIDENCE`] items on it, and times
/// `GET /incidents/{id}` (store load and HTML render) and the render alone.
async fn page(rules: RuleSet) -> Result<String> {
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("page.db").display());
    let store = Store::connect(&url).await?;
    let stop = CancellationToken::new();
    let addr = server(store.clone(), rules, stop.clone()).await?;
    let mut stream = BufReader::new(TcpStream::connect(addr).await?);
    let receipt = post(&mut stream, &addr, &body(0, 1)).await?;
    let receipt: serde_json::Value = serde_json::from_slice(&receipt)?;
    let id = receipt["opened"][0]
        .as_str()
        .context("the bench alert opened no incident")?
        .to_owned();
    store
        .record_evidence(&id, &many_items(PAGE_EVIDENCE), jiff::Timestamp::now())
        .await?;
    let mut served = Vec::with_capacity(PAGE_REQUESTS);
    let mut bytes = 0;
    for _ in 0..PAGE_REQUESTS {
        let t = Instant::now();
        bytes = get(&mut stream, &addr, &format!("/incidents/{id}"))
            .await?
            .len();
        served.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let record = store
        .load(&id)
        .await?
        .context("the bench incident is gone")?;
    let mut rendered = Vec::with_capacity(PAGE_REQUESTS);
    for _ in 0..PAGE_REQUESTS {
        let t = Instant::now();
        crate::report::render(&record, crate::report::Format::Html)?;
        rendered.push(t.elapsed().as_secs_f64() * 1e3);
    }
    stop.cancel();
    store.close().await;
    served.sort_by(f64::total_cmp);
    rendered.sort_by(f64::total_cmp);
    Ok(format!(
        "incident page with {PAGE_EVIDENCE} evidence items ({bytes} bytes of HTML): \
         served p50 {:.2} ms, p99 {:.2} ms; rendered alone p50 {:.2} ms, p99 {:.2} ms\n",
        percentile(&served, 0.5),
        percentile(&served, 0.99),
        percentile(&rendered, 0.5),
        percentile(&rendered, 0.99),
    ))
}

/// `n` evidence items: Warning events and previous-container logs of 20 lines, alternating.
fn many_items(n: usize) -> Evidence {
    let mut evidence = Evidence::default();
    for i in 0..n {
        let pod = format!("pod-{i}");
        if i % 2 == 0 {
            let facts = Facts::Event(EventFacts {
                kind: "Warning".into(),
                reason: "BackOff".into(),
                message: format!("Back-off restarting failed container app in pod {pod}"),
                object: ObjectRef::namespaced("Pod", "bench", &pod),
                count: 12,
                first_seen: None,
                last_seen: None,
                source: Some("kubelet".into()),
            });
            evidence.push(format!("event/{i}"), facts);
        } else {
            let facts = Facts::Log(LogFacts {
                namespace: "bench".into(),
                pod: pod.clone(),
                container: "app".into(),
                previous: true,
                lines: (0..20)
                    .map(|l| format!("2026-11-20T02:00:{l:02}Z ERROR <db> connection refused"))
                    .collect(),
                truncated: false,
            });
            evidence.push(format!("log/{pod}/app/previous"), facts);
        }
    }
    evidence
}

async fn server(store: Store, rules: RuleSet, stop: CancellationToken) -> Result<SocketAddr> {
    // The engine's loop is not run: the bench measures intake, not gathering.
    let config = kube::Config::new("http://127.0.0.1:9".parse().context("url")?);
    let client = kube::Client::try_from(config).context("a client that is never used")?;
    let engine = Engine::new(Parts {
        store,
        rules: Arc::new(Mutex::new(Arc::new(rules))),
        policy: Policy::default(),
        executor: Executor::new(client.clone()),
        gatherer: Arc::new(LiveGatherer(collect::Gatherer::new(client.clone()))),
        verifier: Arc::new(LiveVerifier(verify::Verifier::new(client))),
        settings: EngineSettings::default(),
        clock: crate::engine::system_clock(),
        metrics: crate::telemetry::Metrics::new(std::iter::empty::<&str>()),
    });
    let app = crate::http::app(HttpParts {
        auth: Arc::new(Auth::bearer(TOKEN)),
        max_body_bytes: 16 << 20,
        health: Health {
            synced: Default::default(),
            draining: stop.clone(),
        },
        webhooks: Webhooks {
            engine,
            watch: NamespaceScope::default(),
        },
        investigator: None,
    });
    let loopback: SocketAddr = ([127, 0, 0, 1], 0).into();
    let (addr, _task) = crate::http::serve(loopback, app, stop).await?;
    Ok(addr)
}

/// The body of request `i`: requests `2k` and `2k+1` carry the same alerts (the re-send).
fn body(i: usize, group: usize) -> Vec<u8> {
    let alerts: Vec<_> = (0..group)
        .map(|a| {
            json!({"status": "firing", "labels": {"alertname": "BenchAlert", "namespace": "bench",
                "pod": format!("pod-{}-{a}", i / 2)}, "annotations": {"summary": "bench"},
                "startsAt": "2026-11-20T02:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
                "fingerprint": format!("{}-{a}", i / 2)})
        })
        .collect();
    let hook = json!({"version": "4", "groupKey": "bench", "status": "firing", "receiver": "nightshift",
        "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {}, "externalURL": "",
        "truncatedAlerts": 0, "alerts": alerts});
    serde_json::to_vec(&hook).unwrap_or_default()
}

async fn load(
    addr: SocketAddr,
    group: usize,
    requests: usize,
    connections: usize,
) -> Result<Vec<f64>> {
    let connections = connections.clamp(1, requests.max(1));
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..connections {
        let mine: Vec<usize> = (0..requests)
            .filter(|i| (i / 2) % connections == c)
            .collect();
        tasks.spawn(async move {
            let mut stream = BufReader::new(TcpStream::connect(addr).await?);
            let mut samples = Vec::with_capacity(mine.len());
            for i in mine {
                let t = Instant::now();
                post(&mut stream, &addr, &body(i, group)).await?;
                samples.push(t.elapsed().as_secs_f64() * 1e3);
            }
            anyhow::Ok(samples)
        });
    }
    let mut all = Vec::with_capacity(requests);
    while let Some(done) = tasks.join_next().await {
        all.extend(done.context("a bench connection panicked")??);
    }
    Ok(all)
}

/// One keep-alive HTTP/1.1 POST of a webhook delivery; its answer, unless it is not a 200.
async fn post(
    stream: &mut BufReader<TcpStream>,
    addr: &SocketAddr,
    body: &[u8],
) -> Result<Vec<u8>> {
    let head = format!(
        "POST {PATH} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.get_mut().write_all(head.as_bytes()).await?;
    stream.get_mut().write_all(body).await?;
    answer(stream).await
}

/// One keep-alive HTTP/1.1 GET; its body, unless the answer is not a 200.
async fn get(stream: &mut BufReader<TcpStream>, addr: &SocketAddr, path: &str) -> Result<Vec<u8>> {
    let head = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {TOKEN}\r\nAccept: text/html\r\n\r\n"
    );
    stream.get_mut().write_all(head.as_bytes()).await?;
    answer(stream).await
}

/// Reads one answer with a `Content-Length`; fails unless it is a 200.
async fn answer(stream: &mut BufReader<TcpStream>) -> Result<Vec<u8>> {
    let mut status = String::new();
    stream.read_line(&mut status).await?;
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        stream.read_line(&mut line).await?;
        if line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().context("content-length")?;
        }
    }
    let mut answer = vec![0; length];
    stream.read_exact(&mut answer).await?;
    if !status.starts_with("HTTP/1.1 200") {
        bail!("{}: {}", status.trim(), String::from_utf8_lossy(&answer));
    }
    Ok(answer)
}
