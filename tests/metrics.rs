//! `GET /metrics`: scraped through the telemetry router and parsed with `prometheus-parse` as a
//! Prometheus server would read it — every series the daemon promises exists at zero from the
//! start with its bounded label set, and the counters move when an incident on the simulated
//! cluster is opened, paged, approved, rolled back and verified.

use std::collections::BTreeMap;

use axum::body::Body;
use http::Request;
use nightshift::domain::incident::IncidentState;
use nightshift::store::Decision;
use nightshift::telemetry::{self, Metrics, WebhookOutcome};
use prometheus_parse::{Sample, Scrape, Value};
use tokio::task::JoinSet;
use tower::ServiceExt;

mod engine_support;
mod sim_harness;

use engine_support::{spawn, world};

/// The body of `GET /metrics`, checked for its status and content type.
async fn scrape_text(metrics: &Metrics) -> String {
    let request = Request::get("/metrics")
        .body(Body::empty())
        .expect("request");
    let response = telemetry::router(metrics.clone())
        .oneshot(request)
        .await
        .expect("the router answers");
    assert_eq!(response.status(), 200);
    let kind = response.headers()[http::header::CONTENT_TYPE]
        .to_str()
        .expect("ascii");
    assert!(kind.starts_with("application/openmetrics-text"), "{kind}");
    let body = axum::body::to_bytes(response.into_body(), 1 << 22)
        .await
        .expect("body");
    String::from_utf8(body.to_vec()).expect("utf-8")
}

async fn scrape(metrics: &Metrics) -> (String, Scrape) {
    let text = scrape_text(metrics).await;
    let lines = text.lines().map(|l| Ok(l.to_owned()));
    (
        text.clone(),
        Scrape::parse(lines).expect("prometheus-parse reads it"),
    )
}

/// The value of the sample `name` whose labels include every pair of `labels`.
fn value(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    let sample = find(scrape, name, labels);
    match &sample.value {
        Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
        other => panic!("{name} is not a number: {other:?}"),
    }
}

fn find<'a>(scrape: &'a Scrape, name: &str, labels: &[(&str, &str)]) -> &'a Sample {
    scrape
        .samples
        .iter()
        .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .unwrap_or_else(|| panic!("no sample {name} {labels:?}"))
}

/// The label names of each sample of `name`.
fn label_names(scrape: &Scrape, name: &str) -> Vec<Vec<String>> {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == name)
        .map(|s| {
            let mut keys: Vec<String> = s.labels.keys().cloned().collect();
            keys.sort();
            keys
        })
        .collect()
}

#[tokio::test]
async fn every_promised_series_exists_at_zero_with_its_type_and_labels() {
    let metrics = Metrics::new(["crash-loop"]);
    // Page series exist for each configured pager.
    metrics.add_pager("pagerduty");
    let (text, scrape) = scrape(&metrics).await;
    let types: BTreeMap<&str, &str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_once(' '))
        .collect();
    let expected = [
        ("nightshift_incidents_opened", "counter", vec!["rule"]),
        ("nightshift_incidents", "counter", vec!["category", "rule"]),
        ("nightshift_incidents_in_state", "gauge", vec!["state"]),
        ("nightshift_signals_received", "counter", vec!["source"]),
        ("nightshift_detection_latency_seconds", "histogram", vec![]),
        ("nightshift_webhook_requests", "counter", vec!["outcome"]),
        ("nightshift_actions", "counter", vec!["outcome", "tool"]),
        ("nightshift_verifications", "counter", vec!["verdict"]),
        (
            "nightshift_pages",
            "counter",
            vec!["event", "outcome", "pager"],
        ),
        ("nightshift_pages_undelivered", "gauge", vec!["state"]),
        ("nightshift_approval_latency_seconds", "histogram", vec![]),
        ("nightshift_queue_depth", "gauge", vec!["queue"]),
        ("nightshift_llm_calls", "counter", vec!["outcome"]),
        ("nightshift_kubernetes_events", "counter", vec!["outcome"]),
    ];
    for (name, kind, labels) in &expected {
        assert_eq!(types.get(name), Some(kind), "# TYPE of {name}");
        let sample = match *kind {
            "counter" => format!("{name}_total"),
            // prometheus-parse gathers a histogram's buckets into one sample of its name.
            _ => (*name).to_owned(),
        };
        let names = label_names(&scrape, &sample);
        assert!(!names.is_empty(), "{sample} has samples at start");
        for keys in names {
            let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
            assert_eq!(&keys, labels, "labels of {sample}");
        }
    }
    assert_eq!(types.len(), expected.len(), "no other series: {types:?}");
    assert_eq!(
        value(
            &scrape,
            "nightshift_incidents_opened_total",
            &[("rule", "crash-loop")]
        ),
        0.0
    );
    let bad_deploy = [("rule", "crash-loop"), ("category", "bad-deploy")];
    assert_eq!(
        value(&scrape, "nightshift_incidents_total", &bad_deploy),
        0.0
    );
    let rollback = [("tool", "deployment.rollback"), ("outcome", "failed")];
    assert_eq!(value(&scrape, "nightshift_actions_total", &rollback), 0.0);
    let awaiting = [("state", "awaiting-approval")];
    assert_eq!(
        value(&scrape, "nightshift_incidents_in_state", &awaiting),
        0.0
    );
    for outcome in [
        "accepted",
        "invalid",
        "unauthorized",
        "rate-limited",
        "failed",
    ] {
        let labels = [("outcome", outcome)];
        assert_eq!(
            value(&scrape, "nightshift_webhook_requests_total", &labels),
            0.0
        );
    }
    let Value::Histogram(buckets) =
        &find(&scrape, "nightshift_detection_latency_seconds", &[]).value
    else {
        panic!("the detection latency is a histogram");
    };
    assert!(buckets.iter().all(|b| b.count == 0.0), "{buckets:?}");
}

#[tokio::test]
async fn the_webhook_counter_counts_by_outcome() {
    let metrics = Metrics::default();
    metrics.webhook_request(WebhookOutcome::Invalid);
    metrics.webhook_request(WebhookOutcome::Invalid);
    let (_, scrape) = scrape(&metrics).await;
    let invalid = [("outcome", "invalid")];
    assert_eq!(
        value(&scrape, "nightshift_webhook_requests_total", &invalid),
        2.0
    );
    let accepted = [("outcome", "accepted")];
    assert_eq!(
        value(&scrape, "nightshift_webhook_requests_total", &accepted),
        0.0
    );
}

#[tokio::test]
async fn an_incident_run_to_resolution_moves_the_counters() {
    let w = world().await;
    let engine = w.engine();
    let _tx = spawn(&engine, &w.shutdown);
    let mut tasks = JoinSet::new();
    let id = w.opened_and_waiting(&engine, &mut tasks).await;
    let (_, waiting) = scrape(&w.metrics).await;
    let awaiting = [("state", "awaiting-approval")];
    assert_eq!(
        value(&waiting, "nightshift_incidents_in_state", &awaiting),
        1.0
    );
    let hash = w.plan_hash(&id).await;
    nightshift::approval::answer(
        &w.store,
        &id,
        Some(&hash),
        Decision::Approved,
        "alice",
        w.now,
    )
    .await
    .expect("approve");
    w.wait_for(&id, IncidentState::Resolved).await;
    let record = w.record(&id).await;
    let rule = record.incident.rule.as_str();
    let category = record
        .diagnosis
        .as_ref()
        .expect("diagnosed")
        .diagnosis
        .category
        .as_str();
    let (_, after) = scrape(&w.metrics).await;
    let source = [("source", w.signal.source.as_str())];
    assert_eq!(
        value(&after, "nightshift_signals_received_total", &source),
        1.0
    );
    assert_eq!(
        value(
            &after,
            "nightshift_incidents_opened_total",
            &[("rule", rule)]
        ),
        1.0
    );
    let diagnosed = [("rule", rule), ("category", category)];
    assert_eq!(value(&after, "nightshift_incidents_total", &diagnosed), 1.0);
    let rolled_back = [("tool", "deployment.rollback"), ("outcome", "succeeded")];
    assert_eq!(value(&after, "nightshift_actions_total", &rolled_back), 1.0);
    assert_eq!(
        value(
            &after,
            "nightshift_verifications_total",
            &[("verdict", "healthy")]
        ),
        1.0
    );
    assert_eq!(
        value(&after, "nightshift_incidents_in_state", &awaiting),
        0.0
    );
    assert_eq!(
        value(
            &after,
            "nightshift_incidents_in_state",
            &[("state", "resolved")]
        ),
        1.0
    );
    // The simulated cluster serves no events.k8s.io: the Event on the rolled-back Deployment
    // is attempted in the background, fails harmlessly, and is counted.
    let mut events = 0.0;
    for _ in 0..250 {
        let (_, now) = scrape(&w.metrics).await;
        let total = |outcome| {
            value(
                &now,
                "nightshift_kubernetes_events_total",
                &[("outcome", outcome)],
            )
        };
        events = total("ok") + total("failed");
        if events > 0.0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(
        events, 1.0,
        "one Event attempted on the object acted on within 5 s"
    );
    for histogram in [
        "nightshift_detection_latency_seconds",
        "nightshift_approval_latency_seconds",
    ] {
        let Value::Histogram(buckets) = &find(&after, histogram, &[]).value else {
            panic!("{histogram} is a histogram");
        };
        let total = buckets.iter().map(|b| b.count).fold(0.0, f64::max);
        assert_eq!(total, 1.0, "{histogram} observed once: {buckets:?}");
    }
}
