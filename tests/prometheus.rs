//! The real Prometheus (Debian's `prometheus`, installed by scripts/services.sh) scraping a local
//! endpoint that serves known series, and nightshift's metrics client querying it: instant and
//! range queries become the MetricFacts replay reads from `metrics/*.json`, a bad query is
//! Prometheus' own error, an answer over the byte ceiling is refused. The same endpoint read as a
//! pod scrape gives the facts replay reads from `metrics/*.prom`.
//! Set `NIGHTSHIFT_SKIP_PROMETHEUS=1` to skip the Prometheus part where it cannot be installed.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use jiff::Timestamp;
use nightshift::k8s::collect::prometheus::{MetricsClient, MetricsError, PrometheusSettings};

const WAIT: Duration = Duration::from_secs(90);

/// What the test endpoint serves: a pod's memory, its pool and a request counter.
const EXPOSITION: &str = "\
# HELP container_memory_working_set_bytes Current working set of the container in bytes.
# TYPE container_memory_working_set_bytes gauge
container_memory_working_set_bytes{namespace=\"shop\",pod=\"api-7d9f-x2k4q\",container=\"api\"} 5.24288e+08
# HELP hikaricp_connections_pending Pending threads
# TYPE hikaricp_connections_pending gauge
hikaricp_connections_pending{pool=\"HikariPool-1\"} 46
# HELP unrelated_total A family the diagnoser does not read.
# TYPE unrelated_total counter
unrelated_total 3
";

fn binary() -> Option<&'static str> {
    ["prometheus"].into_iter().find(|b| {
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

/// Serves [`EXPOSITION`] on `/metrics` on a loopback port.
async fn endpoint() -> SocketAddr {
    let app = Router::new().route("/metrics", get(|| async { EXPOSITION }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

fn client(settings: PrometheusSettings) -> MetricsClient {
    settings.validate().expect("valid settings");
    MetricsClient::new(settings).expect("client")
}

#[tokio::test]
async fn a_pod_scrape_keeps_the_known_families_labelled_with_the_pod() {
    let addr = endpoint().await;
    let scraper = client(PrometheusSettings::default());
    let target = BTreeMap::from([
        ("namespace".to_owned(), "pay".to_owned()),
        ("pod".to_owned(), "payout-1".to_owned()),
    ]);
    let families = scraper
        .scrape(&format!("http://{addr}/metrics"), &target, Timestamp::now())
        .await
        .expect("scraped");
    let names: Vec<&str> = families.iter().map(|f| f.query.as_str()).collect();
    assert_eq!(
        names,
        [
            "container_memory_working_set_bytes",
            "hikaricp_connections_pending"
        ]
    );
    let pending = &families[1].series[0];
    assert_eq!(pending.latest, 46.0);
    assert_eq!(pending.labels["pod"], "payout-1");
    // A series' own pod label is kept over the scrape target's.
    assert_eq!(families[0].series[0].labels["pod"], "api-7d9f-x2k4q");

    let tiny = client(PrometheusSettings {
        max_bytes: 64,
        ..PrometheusSettings::default()
    });
    let refused = tiny
        .scrape(&format!("http://{addr}/metrics"), &target, Timestamp::now())
        .await
        .unwrap_err();
    assert!(
        matches!(refused, MetricsError::TooLarge { max: 64, .. }),
        "{refused}"
    );
    let closed = tiny
        .scrape(
            &format!("http://127.0.0.1:{}/metrics", free_port()),
            &target,
            Timestamp::now(),
        )
        .await
        .unwrap_err();
    assert!(matches!(closed, MetricsError::Request { .. }), "{closed}");
}

fn config(target: SocketAddr) -> String {
    format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
         scrape_configs:\n  - job_name: pods\n    honor_labels: true\n    static_configs:\n      - targets: ['{target}']\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_answers_the_playbook_queries_as_metric_facts() {
    let Some(binary) = binary() else {
        if std::env::var_os("NIGHTSHIFT_SKIP_PROMETHEUS").is_some() {
            eprintln!("SKIPPED: Prometheus is not installed and NIGHTSHIFT_SKIP_PROMETHEUS is set");
            return;
        }
        panic!(
            "Prometheus is not installed: run scripts/services.sh (it installs Debian's prometheus) or apt-get install prometheus; NIGHTSHIFT_SKIP_PROMETHEUS=1 skips this test"
        );
    };
    let target = endpoint().await;
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("prometheus.yml"), config(target)).expect("config");
    let listen: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let mut child = tokio::process::Command::new(binary)
        .arg(format!(
            "--config.file={}",
            dir.path().join("prometheus.yml").display()
        ))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address={listen}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("prometheus starts");

    let prometheus = client(PrometheusSettings {
        url: Some(format!("http://{listen}/")),
        range_minutes: 5,
        step_seconds: 1,
        ..PrometheusSettings::default()
    });
    let query = r#"container_memory_working_set_bytes{namespace="shop", pod="api-7d9f-x2k4q"}"#;
    // Ready, then scraped at least twice: poll until the series is queryable.
    let deadline = tokio::time::Instant::now() + WAIT;
    let range = loop {
        if let Ok(facts) = prometheus
            .query("memory", query, Timestamp::now(), true)
            .await
            && facts.series.first().is_some_and(|s| s.points.len() >= 2)
        {
            break facts;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {WAIT:?} waiting for Prometheus to scrape {target}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(range.query, "memory");
    let series = &range.series[0];
    assert_eq!(series.labels["container"], "api");
    assert_eq!(
        series.labels["__name__"],
        "container_memory_working_set_bytes"
    );
    assert_eq!((series.latest, series.max), (524_288_000.0, 524_288_000.0));
    assert!(series.points.windows(2).all(|w| w[0].at < w[1].at));

    let instant = prometheus
        .query(
            "pending",
            "max(hikaricp_connections_pending)",
            Timestamp::now(),
            false,
        )
        .await
        .expect("instant query");
    assert_eq!(instant.series.len(), 1);
    assert_eq!(instant.series[0].latest, 46.0);
    assert_eq!(instant.series[0].points.len(), 1);

    let bad = prometheus
        .query("bad", "sum(", Timestamp::now(), false)
        .await
        .unwrap_err();
    match &bad {
        MetricsError::Status { status, body, .. } => {
            assert_eq!(*status, 400, "{bad}");
            assert!(body.contains("parse error"), "{bad}");
        }
        other => panic!("expected Prometheus' own error, got {other}"),
    }

    let small = client(PrometheusSettings {
        url: Some(format!("http://{listen}")),
        max_bytes: 32,
        ..PrometheusSettings::default()
    });
    let refused = small
        .query("memory", query, Timestamp::now(), false)
        .await
        .unwrap_err();
    assert!(
        matches!(refused, MetricsError::TooLarge { .. }),
        "{refused}"
    );
    child.kill().await.ok();
}
