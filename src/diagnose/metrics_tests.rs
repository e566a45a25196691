//! Metric findings over builder-made evidence: what each series says, and that metrics sharpen
//! a diagnosis without overriding a structural fact.

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};

use super::{MetricKind, findings, regression_score};
use crate::diagnose::diagnose;
use crate::domain::evidence::{
    ContainerState, EventFacts, Facts, MetricFacts, MetricPoint, MetricSeries,
};
use crate::domain::signal::{ObjectRef, Signal};
use crate::domain::taxonomy::Category;
use crate::domain::tests::builders::{at, evidence, pod, revision, rollout, signal};

const NOW: &str = "2026-11-20T02:13:00Z";

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// A series sampled every minute for an hour up to `NOW`, `before` until `change`, then `after`.
fn series(pairs: &[(&str, &str)], change: Timestamp, before: f64, after: f64) -> MetricSeries {
    let end = at(NOW);
    let points: Vec<MetricPoint> = (0..=60)
        .map(|i| {
            let t = end - SignedDuration::from_mins(60 - i);
            MetricPoint {
                at: t,
                value: if t < change { before } else { after },
            }
        })
        .collect();
    MetricSeries {
        labels: labels(pairs),
        latest: after,
        max: before.max(after),
        points,
    }
}

fn flat(pairs: &[(&str, &str)], value: f64) -> MetricSeries {
    series(pairs, at(NOW), value, value)
}

fn metric(query: &str, series: Vec<MetricSeries>) -> Facts {
    Facts::Metric(MetricFacts {
        query: query.into(),
        series,
    })
}

fn investigation() -> Signal {
    let mut s = signal(crate::domain::signal::INVESTIGATION);
    s.source = crate::domain::signal::SignalSource::Manual;
    s.target = ObjectRef::namespaced("Deployment", "shop", "api");
    s.workload = Some(s.target.clone());
    s
}

#[test]
fn metric_kinds_are_known_by_name_not_by_workload() {
    assert_eq!(
        MetricKind::of("container_memory_working_set_bytes"),
        Some(MetricKind::MemoryWorkingSet)
    );
    assert_eq!(
        MetricKind::of("container_cpu_cfs_throttled_ratio"),
        Some(MetricKind::CpuThrottleRatio)
    );
    assert_eq!(
        MetricKind::of("container_cpu_cfs_throttled_periods_total"),
        Some(MetricKind::CpuThrottledPeriods)
    );
    assert_eq!(
        MetricKind::of("http_5xx_ratio"),
        Some(MetricKind::ErrorRatio)
    );
    assert_eq!(
        MetricKind::of("http_request_duration_seconds:p99"),
        Some(MetricKind::Latency)
    );
    assert_eq!(
        MetricKind::of("hikaricp_connections_pending"),
        Some(MetricKind::PoolPending)
    );
    assert_eq!(MetricKind::of("jvm_threads_live_threads"), None);
    assert_eq!(MetricKind::of("apiserver_event_create_rate"), None);
}

#[test]
fn memory_near_the_limit_names_the_container_and_the_figures() {
    let ev = evidence(vec![
        ("pod/shop/api-1", Facts::pod(pod("api-1").build())),
        (
            "metric/mem",
            metric(
                "container_memory_working_set_bytes",
                vec![flat(
                    &[("pod", "api-1"), ("container", "api")],
                    500.0 * 1048576.0,
                )],
            ),
        ),
    ]);
    let found = findings(&ev);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].category, Category::OomKilled);
    assert!(
        found[0].note.contains("container api of pod api-1"),
        "{}",
        found[0].note
    );
    assert!(
        found[0].note.contains("500Mi of its 512Mi"),
        "{}",
        found[0].note
    );
}

#[test]
fn memory_well_under_the_limit_or_of_an_unknown_container_says_nothing() {
    let ev = evidence(vec![
        ("pod/shop/api-1", Facts::pod(pod("api-1").build())),
        (
            "metric/mem",
            metric(
                "container_memory_working_set_bytes",
                vec![
                    flat(&[("pod", "api-1"), ("container", "api")], 200.0 * 1048576.0),
                    flat(&[("pod", "api-1"), ("container", "sidecar")], 9e12),
                ],
            ),
        ),
    ]);
    assert!(findings(&ev).is_empty());
}

#[test]
fn a_metric_never_overrides_an_oomkilled_exit_or_a_missing_image() {
    let mut crashed = pod("api-1").crash_looping(137, "OOMKilled").build();
    crashed.containers[0].state = Some(ContainerState::Waiting {
        reason: Some("ImagePullBackOff".into()),
        message: Some("Back-off pulling image \"shop/api:v9\"".into()),
    });
    let ev = evidence(vec![
        ("pod/shop/api-1", Facts::pod(crashed)),
        (
            "metric/pool",
            metric(
                "hikaricp_connections_pending",
                vec![flat(&[("pool", "HikariPool-1")], 40.0)],
            ),
        ),
    ]);
    let d = diagnose(&signal("ImagePullBackOff"), &ev, &[], at(NOW));
    assert_eq!(d.category, Category::ImagePull, "{}", d.summary);
}

#[test]
fn latency_that_jumped_with_the_newest_rollout_blames_it() {
    let rolled = at("2026-11-20T01:50:00Z");
    let mut r = rollout(vec![
        revision(3, "aaa", "shop/api:v1", "2026-11-01T00:00:00Z", 0),
        revision(4, "7d9f", "shop/api:v2", "2026-11-20T01:50:00Z", 3),
    ]);
    r.updated_replicas = 3;
    let ev = evidence(vec![
        ("pod/shop/api-1", Facts::pod(pod("api-1").build())),
        ("rollout/shop/api", Facts::rollout(r)),
        (
            "metric/http_request_duration_p99_seconds",
            metric(
                "http_request_duration_p99_seconds",
                vec![series(&[("service", "api")], rolled, 0.1, 1.9)],
            ),
        ),
    ]);
    let found = findings(&ev);
    assert!(regression_score(&found) >= 0.6);
    let d = diagnose(&investigation(), &ev, &[], at(NOW));
    assert_eq!(d.category, Category::BadDeploy, "{}", d.summary);
    assert!(d.summary.contains("from 100ms to 1.9s"), "{}", d.summary);
    assert!(d.summary.contains("revision 4"), "{}", d.summary);
}

#[test]
fn an_error_ratio_that_rose_without_a_rollout_does_not_blame_one() {
    let rose = at("2026-11-20T01:50:00Z");
    let ev = evidence(vec![
        ("pod/shop/api-1", Facts::pod(pod("api-1").build())),
        (
            "metric/http_5xx_ratio",
            metric(
                "http_5xx_ratio",
                vec![series(&[("service", "api")], rose, 0.001, 0.2)],
            ),
        ),
    ]);
    let found = findings(&ev);
    assert_eq!(regression_score(&found), 0.0);
    assert_eq!(found[0].category, Category::DependencyUnavailable);
    assert!(found[0].weight < crate::diagnose::UNKNOWN_BELOW);
}

#[test]
fn a_steady_error_ratio_and_latency_say_nothing() {
    let ev = evidence(vec![
        (
            "metric/http_5xx_ratio",
            metric("http_5xx_ratio", vec![flat(&[("service", "api")], 0.002)]),
        ),
        (
            "metric/p99",
            metric("latency_p99", vec![flat(&[("service", "api")], 0.09)]),
        ),
    ]);
    assert!(findings(&ev).is_empty());
}

fn unhealthy() -> Facts {
    Facts::Event(EventFacts {
        kind: "Warning".into(),
        reason: "Unhealthy".into(),
        message: "Readiness probe failed: context deadline exceeded".into(),
        object: ObjectRef::namespaced("Pod", "shop", "api-1"),
        count: 40,
        first_seen: None,
        last_seen: None,
        source: Some("kubelet".into()),
    })
}

#[test]
fn cpu_throttling_explains_probe_timeouts_and_names_the_limit() {
    let mut starved = pod("api-1").probe("readiness").build();
    starved.containers[0].cpu_limit = Some(500);
    let throttled = metric(
        "container_cpu_cfs_throttled_ratio",
        vec![flat(&[("pod", "api-1"), ("container", "api")], 0.62)],
    );
    let ev = evidence(vec![
        ("pod/shop/api-1", Facts::pod(starved.clone())),
        ("event/shop/api-1.1", unhealthy()),
        ("metric/throttled", throttled.clone()),
    ]);
    let found = findings(&ev);
    assert_eq!(found[0].category, Category::ProbeFailure);
    assert!(found[0].note.contains("62%"), "{}", found[0].note);
    assert!(found[0].note.contains("500m"), "{}", found[0].note);
    // Without failing probes, throttling is named but decides nothing.
    let quiet = evidence(vec![
        ("pod/shop/api-1", Facts::pod(starved)),
        ("metric/throttled", throttled),
    ]);
    assert_eq!(findings(&quiet)[0].category, Category::Unknown);
}

#[test]
fn throttling_from_a_scrape_is_throttled_periods_over_all_periods() {
    let who = [
        ("namespace", "shop"),
        ("pod", "api-1"),
        ("container", "api"),
    ];
    let ev = evidence(vec![
        ("event/shop/api-1.1", unhealthy()),
        (
            "metric/api-1/t",
            metric(
                "container_cpu_cfs_throttled_periods_total",
                vec![flat(&who, 300.0)],
            ),
        ),
        (
            "metric/api-1/p",
            metric("container_cpu_cfs_periods_total", vec![flat(&who, 1000.0)]),
        ),
    ]);
    let found = findings(&ev);
    assert_eq!(found.len(), 1);
    assert!(found[0].note.contains("30%"), "{}", found[0].note);
}

#[test]
fn an_exhausted_connection_pool_points_at_the_dependency() {
    let pool = [("pool", "HikariPool-1"), ("pod", "api-1")];
    let ev = evidence(vec![
        (
            "metric/api-1/pending",
            metric("hikaricp_connections_pending", vec![flat(&pool, 12.0)]),
        ),
        (
            "metric/api-1/active",
            metric("hikaricp_connections_active", vec![flat(&pool, 10.0)]),
        ),
        (
            "metric/api-1/max",
            metric("hikaricp_connections_max", vec![flat(&pool, 10.0)]),
        ),
    ]);
    let found = findings(&ev);
    assert_eq!(found[0].category, Category::DependencyUnavailable);
    assert!(found[0].note.contains("HikariPool-1"), "{}", found[0].note);
    assert!(found[0].note.contains("10/10"), "{}", found[0].note);
    // Waiting threads with free connections are not exhaustion.
    let roomy = evidence(vec![
        (
            "metric/p",
            metric("hikaricp_connections_pending", vec![flat(&pool, 2.0)]),
        ),
        (
            "metric/a",
            metric("hikaricp_connections_active", vec![flat(&pool, 3.0)]),
        ),
        (
            "metric/m",
            metric("hikaricp_connections_max", vec![flat(&pool, 10.0)]),
        ),
    ]);
    assert!(findings(&roomy).is_empty());
}

#[test]
fn file_descriptors_near_the_limit_and_a_goroutine_explosion_are_app_problems() {
    let who = [("pod", "api-1")];
    let ev = evidence(vec![
        (
            "metric/o",
            metric("process_open_fds", vec![flat(&who, 1020.0)]),
        ),
        (
            "metric/m",
            metric("process_max_fds", vec![flat(&who, 1024.0)]),
        ),
        (
            "metric/g",
            metric("go_goroutines", vec![flat(&who, 250_000.0)]),
        ),
    ]);
    let found = findings(&ev);
    assert_eq!(found.len(), 2);
    assert!(found.iter().all(|f| f.category == Category::AppCrash));
    assert!(found.iter().any(|f| f.note.contains("1020 of its 1024")));
}

#[test]
fn a_healthy_investigation_with_quiet_metrics_is_an_honest_unknown() {
    let ev = evidence(vec![
        ("pod/shop/api-1", Facts::pod(pod("api-1").build())),
        (
            "metric/mem",
            metric(
                "container_memory_working_set_bytes",
                vec![flat(
                    &[("pod", "api-1"), ("container", "api")],
                    100.0 * 1048576.0,
                )],
            ),
        ),
        (
            "metric/http_5xx_ratio",
            metric("http_5xx_ratio", vec![flat(&[("service", "api")], 0.001)]),
        ),
    ]);
    let d = diagnose(&investigation(), &ev, &[], at(NOW));
    assert_eq!(d.category, Category::Unknown);
    assert!(d.summary.contains("2 metric queries"), "{}", d.summary);
}
