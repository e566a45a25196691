//! The metric parsers: Prometheus API responses and text-format scrapes become the same facts.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde_json::json;

use super::{SeriesBounds, from_api_response, from_scrape};

fn at(s: &str) -> Timestamp {
    s.parse().expect("timestamp")
}

#[test]
fn a_matrix_keeps_latest_peak_and_points_oldest_first() {
    let response = json!({"status": "success", "data": {"resultType": "matrix", "result": [
        {"metric": {"pod": "api-1", "container": "api"},
         "values": [[1764676800, "10"], [1764676860, "30"], [1764676920, "20"]]}
    ]}});
    let facts = from_api_response("mem", &response, SeriesBounds::default()).expect("parsed");
    assert_eq!(facts.query, "mem");
    let s = &facts.series[0];
    assert_eq!((s.latest, s.max), (20.0, 30.0));
    assert_eq!(s.points.len(), 3);
    assert_eq!(s.points[0].at, at("2025-12-02T12:00:00Z"));
    assert_eq!(s.labels["pod"], "api-1");
}

#[test]
fn a_vector_is_one_point_and_nan_samples_are_dropped() {
    let response = json!({"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": {"pod": "a"}, "value": [1764676800.5, "0.25"]},
        {"metric": {"pod": "b"}, "value": [1764676800.5, "NaN"]}
    ]}});
    let facts = from_api_response("q", &response, SeriesBounds::default()).expect("parsed");
    assert_eq!(facts.series[0].latest, 0.25);
    assert!(facts.series[1].points.is_empty());
}

#[test]
fn series_and_points_are_bounded_keeping_first_and_last() {
    let values: Vec<_> = (0..100)
        .map(|i| json!([1764676800 + i * 60, i.to_string()]))
        .collect();
    let result: Vec<_> = (0..30)
        .map(|i| json!({"metric": {"i": i.to_string()}, "values": values}))
        .collect();
    let response = json!({"status": "success", "data": {"resultType": "matrix", "result": result}});
    let bounds = SeriesBounds {
        max_series: 5,
        max_points: 10,
    };
    let facts = from_api_response("q", &response, bounds).expect("parsed");
    assert_eq!(facts.series.len(), 5);
    let points = &facts.series[0].points;
    assert_eq!(points.len(), 10);
    assert_eq!((points[0].value, points[9].value), (0.0, 99.0));
    assert_eq!(facts.series[0].max, 99.0);
}

#[test]
fn an_error_response_is_refused_with_prometheus_own_words() {
    let response = json!({"status": "error", "errorType": "bad_data",
        "error": "invalid parameter \"query\": 1:5: parse error"});
    let error = from_api_response("q", &response, SeriesBounds::default()).unwrap_err();
    assert!(error.contains("parse error"), "{error}");
}

#[test]
fn a_malformed_sample_names_where_it_is() {
    let response = json!({"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": {}, "value": [1764676800, "1"]},
        {"metric": {}, "value": [1764676800, 7]}
    ]}});
    let error = from_api_response("q", &response, SeriesBounds::default()).unwrap_err();
    assert!(error.starts_with("data.result[1]"), "{error}");
    let not_prometheus = json!({"data": []});
    assert!(from_api_response("q", &not_prometheus, SeriesBounds::default()).is_err());
}

const SCRAPE: &str = r#"# HELP hikaricp_connections_pending Pending threads
# TYPE hikaricp_connections_pending gauge
hikaricp_connections_pending{pool="HikariPool-1",} 46.0
# TYPE jvm_threads_live_threads gauge
jvm_threads_live_threads 241.0
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{le="0.1"} 90
http_request_duration_seconds_bucket{le="1"} 98
http_request_duration_seconds_bucket{le="5"} 100
http_request_duration_seconds_bucket{le="+Inf"} 100
http_request_duration_seconds_sum 40
http_request_duration_seconds_count 100
# TYPE go_goroutines gauge
go_goroutines 187
"#;

#[test]
fn a_scrape_keeps_the_families_the_diagnoser_reads_labelled_with_the_pod() {
    let target = BTreeMap::from([
        ("namespace".to_owned(), "pay".to_owned()),
        ("pod".to_owned(), "api-1".to_owned()),
    ]);
    let now = at("2026-12-02T10:00:00Z");
    let facts = from_scrape(SCRAPE, &target, now, SeriesBounds::default()).expect("parsed");
    let names: Vec<&str> = facts.iter().map(|f| f.query.as_str()).collect();
    assert_eq!(
        names,
        [
            "go_goroutines",
            "hikaricp_connections_pending",
            "http_request_duration_seconds:p99"
        ]
    );
    let pending = &facts[1].series[0];
    assert_eq!(pending.latest, 46.0);
    assert_eq!(pending.labels["pool"], "HikariPool-1");
    assert_eq!(pending.labels["pod"], "api-1");
    assert_eq!(pending.points[0].at, now);
    // Rank 99 of 100 lies in the (1, 5] bucket, one of its two observations: 3s.
    let p99 = facts[2].series[0].latest;
    assert!((p99 - 3.0).abs() < 1e-9, "{p99}");
}

#[test]
fn a_scrape_bounds_series_per_family() {
    let text: String = (0..50)
        .map(|i| format!("process_open_fds{{i=\"{i}\"}} {i}\n"))
        .collect();
    let bounds = SeriesBounds {
        max_series: 3,
        max_points: 1,
    };
    let facts =
        from_scrape(&text, &BTreeMap::new(), at("2026-12-02T10:00:00Z"), bounds).expect("parsed");
    assert_eq!(facts[0].series.len(), 3);
}
