//! Metric results as evidence: one parser for a Prometheus HTTP API response (a live query or a
//! fixture's `metrics/<name>.json`) and one for a pod's own scrape in the text exposition format
//! (a live scrape or a fixture's `metrics/<name>.prom`). Both are pure and bounded: at most
//! [`SeriesBounds::max_series`] series per result and [`SeriesBounds::max_points`] points per
//! series, evenly thinned, so a live incident and a replayed one carry the same facts.

use std::collections::BTreeMap;
use std::io::BufRead;

use jiff::Timestamp;
use serde_json::Value;

use crate::diagnose::metrics::MetricKind;
use crate::domain::evidence::{MetricFacts, MetricPoint, MetricSeries};

/// How much of a result is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeriesBounds {
    /// Series kept per result (per query, or per metric family of a scrape).
    pub max_series: usize,
    /// Points kept per series of a range query.
    pub max_points: usize,
}

impl Default for SeriesBounds {
    fn default() -> Self {
        Self {
            max_series: 20,
            max_points: 60,
        }
    }
}

/// A Prometheus API response (`vector`, `matrix` or `scalar`) as facts named `query`.
pub fn from_api_response(
    query: &str,
    response: &Value,
    bounds: SeriesBounds,
) -> Result<MetricFacts, String> {
    match response.get("status").and_then(Value::as_str) {
        Some("success") => {}
        Some(status) => {
            let error = response.get("error").and_then(Value::as_str).unwrap_or("");
            return Err(format!(
                "Prometheus answered status {status:?}: {}",
                error.chars().take(300).collect::<String>()
            ));
        }
        None => return Err("not a Prometheus API response: no \"status\"".into()),
    }
    let data = response.get("data").ok_or("no \"data\" object")?;
    let result = data.get("result").ok_or("no data.result")?;
    let kind = data.get("resultType").and_then(Value::as_str).unwrap_or("");
    let series = match (kind, result) {
        ("scalar", Value::Array(_)) => vec![series(
            BTreeMap::new(),
            point(result)?.into_iter().collect(),
        )],
        (_, Value::Array(results)) => results
            .iter()
            .take(bounds.max_series)
            .enumerate()
            .map(|(i, r)| api_series(r, bounds).map_err(|e| format!("data.result[{i}]: {e}")))
            .collect::<Result<Vec<_>, _>>()?,
        _ => return Err("data.result is not an array".into()),
    };
    Ok(MetricFacts {
        query: query.to_owned(),
        series,
    })
}

fn api_series(result: &Value, bounds: SeriesBounds) -> Result<MetricSeries, String> {
    let labels: BTreeMap<String, String> = match result.get("metric") {
        Some(m) => serde_json::from_value(m.clone()).map_err(|e| format!("metric: {e}"))?,
        None => BTreeMap::new(),
    };
    let points = match (result.get("value"), result.get("values")) {
        (Some(v), _) => vec![point(v)?],
        (None, Some(Value::Array(vs))) => vs.iter().map(point).collect::<Result<Vec<_>, _>>()?,
        _ => return Err("neither \"value\" nor \"values\"".into()),
    };
    let points: Vec<MetricPoint> = points.into_iter().flatten().collect();
    Ok(series(labels, thin(points, bounds.max_points)))
}

/// `[<unix seconds>, "<value>"]`; `None` for NaN and infinities (no sample to reason over).
fn point(v: &Value) -> Result<Option<MetricPoint>, String> {
    let pair = v.as_array().filter(|a| a.len() == 2).ok_or_else(|| {
        format!(
            "a sample must be [time, \"value\"], not {}",
            clip(&v.to_string())
        )
    })?;
    let seconds = pair[0]
        .as_f64()
        .ok_or_else(|| format!("sample time {} is not a number", pair[0]))?;
    let at = Timestamp::from_millisecond((seconds * 1000.0).round() as i64)
        .map_err(|e| format!("sample time {seconds}: {e}"))?;
    let text = pair[1]
        .as_str()
        .ok_or_else(|| format!("sample value {} is not a string", pair[1]))?;
    let value =
        parse_float(text).ok_or_else(|| format!("sample value {text:?} is not a number"))?;
    Ok(value.is_finite().then_some(MetricPoint { at, value }))
}

fn parse_float(text: &str) -> Option<f64> {
    match text.to_ascii_lowercase().as_str() {
        "nan" => Some(f64::NAN),
        "+inf" | "inf" => Some(f64::INFINITY),
        "-inf" => Some(f64::NEG_INFINITY),
        other => other.parse().ok(),
    }
}

fn clip(text: &str) -> String {
    text.chars().take(80).collect()
}

/// Keeps at most `max` points, evenly spaced, always the first and the last.
fn thin(points: Vec<MetricPoint>, max: usize) -> Vec<MetricPoint> {
    if points.len() <= max || max < 2 {
        return points.into_iter().take(max.max(1)).collect();
    }
    let last = points.len() - 1;
    (0..max)
        .map(|i| points[i * last / (max - 1)])
        .collect::<Vec<_>>()
}

fn series(labels: BTreeMap<String, String>, points: Vec<MetricPoint>) -> MetricSeries {
    MetricSeries {
        labels,
        latest: points.last().map_or(0.0, |p| p.value),
        max: points.iter().map(|p| p.value).fold(0.0, f64::max),
        points,
    }
}

/// A pod's scrape in the text exposition format, read at `at`, as facts: one per metric family
/// the diagnoser knows ([`MetricKind::of`]), each series labelled with `target` (the pod's
/// `namespace` and `pod`, as Prometheus would add them). Histograms become their estimated
/// 0.99 quantile (`<family>:p99`), summaries one series per quantile. Unknown families are
/// dropped: a scrape can hold thousands of series the diagnosis has no use for.
pub fn from_scrape(
    text: &str,
    target: &BTreeMap<String, String>,
    at: Timestamp,
    bounds: SeriesBounds,
) -> Result<Vec<MetricFacts>, String> {
    let lines = text.as_bytes().lines();
    let scrape = prometheus_parse::Scrape::parse(lines)
        .map_err(|e| format!("not the Prometheus text format: {e}"))?;
    let mut families: BTreeMap<String, Vec<MetricSeries>> = BTreeMap::new();
    for sample in scrape.samples {
        let (name, value, extra) = match sample.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => (sample.metric.clone(), v, None),
            prometheus_parse::Value::Histogram(buckets) => {
                let Some(p99) = histogram_quantile(0.99, &buckets) else {
                    continue;
                };
                (format!("{}:p99", sample.metric), p99, None)
            }
            prometheus_parse::Value::Summary(quantiles) => {
                let Some(q) = quantiles
                    .iter()
                    .filter(|q| q.count.is_finite())
                    .max_by(|a, b| a.quantile.total_cmp(&b.quantile))
                else {
                    continue;
                };
                (sample.metric.clone(), q.count, Some(q.quantile.to_string()))
            }
        };
        if !value.is_finite() || MetricKind::of(&name).is_none() {
            continue;
        }
        let entry = families.entry(name).or_default();
        if entry.len() >= bounds.max_series {
            continue;
        }
        let mut labels: BTreeMap<String, String> = sample
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if let Some(quantile) = extra {
            labels.insert("quantile".into(), quantile);
        }
        for (k, v) in target {
            labels.entry(k.clone()).or_insert_with(|| v.clone());
        }
        entry.push(series(labels, vec![MetricPoint { at, value }]));
    }
    Ok(families
        .into_iter()
        .map(|(query, mut series)| {
            series.sort_by(|a, b| a.labels.cmp(&b.labels));
            MetricFacts { query, series }
        })
        .collect())
}

/// The `q` quantile of a cumulative histogram, interpolated linearly within its bucket as
/// PromQL's `histogram_quantile` does; `None` without observations.
fn histogram_quantile(q: f64, buckets: &[prometheus_parse::HistogramCount]) -> Option<f64> {
    let mut buckets: Vec<(f64, f64)> = buckets.iter().map(|b| (b.less_than, b.count)).collect();
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total = buckets.last()?.1;
    if total <= 0.0 {
        return None;
    }
    let rank = q * total;
    let mut lower = (0.0, 0.0);
    for &(bound, count) in &buckets {
        if count >= rank {
            if bound.is_infinite() {
                // The +Inf bucket: the highest finite bound is the best estimate.
                return Some(lower.0);
            }
            let within = count - lower.1;
            let fraction = if within > 0.0 {
                (rank - lower.1) / within
            } else {
                1.0
            };
            return Some(lower.0 + (bound - lower.0) * fraction);
        }
        lower = (bound, count);
    }
    Some(lower.0)
}

#[cfg(test)]
#[path = "series_tests.rs"]
mod tests;
