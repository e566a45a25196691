//! Findings from metrics: what a Prometheus query or a pod's own scrape says about memory against
//! the limit, restarts, CPU throttling, error rate and latency (before and after the newest
//! rollout), connection pools, goroutines and file descriptors. Metrics corroborate or sharpen:
//! their weights stay below the structural facts (an `OOMKilled` exit, a missing image), so they
//! never override one. Series are recognised by the metric's name and labels, never by a
//! workload's name.

use jiff::Timestamp;

use crate::diagnose::findings::Finding;
use crate::domain::evidence::{Evidence, MetricFacts, MetricPoint, MetricSeries, PodFacts};
use crate::domain::quantity::{format_cpu, format_memory};
use crate::domain::taxonomy::Category;

/// What a metric measures, from its name (a query's name or a scraped family's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    /// A container's memory working set, in bytes.
    MemoryWorkingSet,
    /// Container restarts (a count or an increase).
    Restarts,
    /// The share of CFS periods in which a container was throttled, 0 – 1.
    CpuThrottleRatio,
    /// `container_cpu_cfs_throttled_periods_total`.
    CpuThrottledPeriods,
    /// `container_cpu_cfs_periods_total`.
    CpuPeriods,
    /// The share of requests answered with a server error, 0 – 1.
    ErrorRatio,
    /// A high latency quantile, in seconds.
    Latency,
    /// A request counter labelled by status code.
    Requests,
    /// Requests waiting for a pooled (database) connection.
    PoolPending,
    /// Pooled connections in use.
    PoolActive,
    /// The pool's size.
    PoolMax,
    /// Connection acquisitions that timed out.
    PoolTimeouts,
    /// Go goroutines.
    Goroutines,
    /// Open file descriptors.
    OpenFds,
    /// The file descriptor limit.
    MaxFds,
}

impl MetricKind {
    /// The kind of a metric named `name`, if the diagnoser reads it.
    pub fn of(name: &str) -> Option<MetricKind> {
        let n = name.to_ascii_lowercase();
        let has = |s: &str| n.contains(s);
        let kind = if has("memory_working_set") {
            MetricKind::MemoryWorkingSet
        } else if has("restarts") {
            MetricKind::Restarts
        } else if has("cfs_throttled_periods") && !has("ratio") {
            MetricKind::CpuThrottledPeriods
        } else if has("cfs_periods") {
            MetricKind::CpuPeriods
        } else if has("throttl") {
            MetricKind::CpuThrottleRatio
        } else if has("5xx") || (has("error") && (has("ratio") || has("rate"))) {
            MetricKind::ErrorRatio
        } else if has("p99") || has("latency") {
            MetricKind::Latency
        } else if has("connections_pending") {
            MetricKind::PoolPending
        } else if has("connections_active") {
            MetricKind::PoolActive
        } else if has("connections_max") {
            MetricKind::PoolMax
        } else if has("connections_timeout") {
            MetricKind::PoolTimeouts
        } else if n == "go_goroutines" {
            MetricKind::Goroutines
        } else if n == "process_open_fds" {
            MetricKind::OpenFds
        } else if n == "process_max_fds" {
            MetricKind::MaxFds
        } else if n.ends_with("requests_total") || n.ends_with("requests_seconds_count") {
            MetricKind::Requests
        } else {
            return None;
        };
        Some(kind)
    }
}

/// Memory at or above this share of the limit is pressure.
const MEMORY_NEAR_LIMIT: f64 = 0.9;
/// Throttled in at least this share of CFS periods is starvation.
const THROTTLED: f64 = 0.25;
/// A server-error share at least this high is a failure.
const ERROR_RATIO: f64 = 0.05;
/// Latency at least this many times its baseline is a jump.
const LATENCY_JUMP: f64 = 2.0;
/// Goroutines beyond this are a leak.
const GOROUTINES: f64 = 10_000.0;
/// Open file descriptors at or above this share of the limit are exhaustion.
const FDS_NEAR_MAX: f64 = 0.9;

fn finding(category: Category, weight: f64, id: &str, note: String) -> Finding {
    Finding {
        category,
        weight,
        evidence: id.to_owned(),
        note,
        contradicted: None,
    }
}

/// Every finding the metrics in `evidence` support.
pub fn findings(evidence: &Evidence) -> Vec<Finding> {
    let pods: Vec<&PodFacts> = evidence.pods().map(|(_, p)| p).collect();
    let rolled_out = newest_rollout(evidence);
    let probes_failing = evidence
        .events()
        .any(|(_, e)| e.is_warning() && e.reason == "Unhealthy" && e.object.kind == "Pod");
    let metrics: Vec<(&str, &MetricFacts, MetricKind)> = evidence
        .metrics()
        .filter_map(|(id, m)| Some((id, m, kind_of(m)?)))
        .collect();
    let mut out = Vec::new();
    for (id, metric, kind) in &metrics {
        let found = match kind {
            MetricKind::MemoryWorkingSet => memory(id, metric, &pods),
            MetricKind::Restarts => restarts(id, metric),
            MetricKind::CpuThrottleRatio => throttled(
                id,
                metric,
                metric.series.iter().map(|s| (s, s.latest.max(s.max))),
                &pods,
                probes_failing,
            ),
            MetricKind::ErrorRatio | MetricKind::Latency => {
                regression(id, metric, *kind, rolled_out)
            }
            MetricKind::Goroutines => goroutines(id, metric),
            _ => None,
        };
        out.extend(found);
    }
    out.extend(throttled_counters(&metrics, &pods, probes_failing));
    out.extend(requests(&metrics, rolled_out));
    out.extend(pools(&metrics));
    out.extend(fds(&metrics));
    out
}

/// The strongest rollout regression the metrics show (a `bad-deploy` finding), 0 without one:
/// the diagnoser weighs it like the rollout analysis.
pub fn regression_score(findings: &[Finding]) -> f64 {
    findings
        .iter()
        .filter(|f| f.category == Category::BadDeploy && f.evidence.starts_with("metric/"))
        .map(|f| f.weight)
        .fold(0.0, f64::max)
}

fn kind_of(metric: &MetricFacts) -> Option<MetricKind> {
    MetricKind::of(&metric.query).or_else(|| {
        let name = metric.series.first()?.labels.get("__name__")?;
        MetricKind::of(name)
    })
}

/// The newest revision's number and creation time.
fn newest_rollout(evidence: &Evidence) -> Option<(u64, Timestamp)> {
    evidence.rollouts().find_map(|(_, r)| {
        r.previous()?;
        let newest = r.newest()?;
        Some((newest.revision, newest.created_at?))
    })
}

/// Who a series is about: `container c of pod p`, `pod p`, or its labels.
fn who(series: &MetricSeries) -> String {
    let l = &series.labels;
    match (l.get("container"), l.get("pod")) {
        (Some(c), Some(p)) => format!("container {c} of pod {p}"),
        (None, Some(p)) => format!("pod {p}"),
        (Some(c), None) => format!("container {c}"),
        (None, None) if l.contains_key("service") => format!("service {}", l["service"]),
        (None, None) => {
            let shown: Vec<String> = l
                .iter()
                .filter(|(k, _)| !k.starts_with("__") && *k != "job" && *k != "instance")
                .take(3)
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            if shown.is_empty() {
                "the workload".into()
            } else {
                shown.join(", ")
            }
        }
    }
}

fn percent(ratio: f64) -> String {
    let p = ratio * 100.0;
    if p >= 10.0 {
        format!("{p:.0}%")
    } else {
        format!("{p:.1}%")
    }
}

fn seconds(value: f64) -> String {
    if value >= 1.0 {
        format!("{value:.1}s")
    } else {
        format!("{:.0}ms", value * 1000.0)
    }
}

/// The container a series names, in the pods of the evidence.
fn container_of<'a>(
    series: &MetricSeries,
    pods: &[&'a PodFacts],
) -> Option<&'a crate::domain::evidence::ContainerFacts> {
    let name = series.labels.get("container")?;
    let pod = series.labels.get("pod");
    pods.iter()
        .filter(|p| pod.is_none_or(|n| *n == p.name))
        .flat_map(|p| p.all_containers())
        .find(|c| &c.name == name)
}

fn memory(id: &str, metric: &MetricFacts, pods: &[&PodFacts]) -> Option<Finding> {
    let worst = metric
        .series
        .iter()
        .filter_map(|s| {
            let limit = container_of(s, pods)?.memory_limit.filter(|l| *l > 0)?;
            let peak = s.max.max(s.latest);
            Some((s, peak, limit, peak / limit as f64))
        })
        .max_by(|a, b| a.3.total_cmp(&b.3))?;
    let (series, peak, limit, ratio) = worst;
    if ratio < MEMORY_NEAR_LIMIT {
        return None;
    }
    let (weight, meaning) = if ratio >= 1.0 {
        (0.6, "at the limit the kernel kills it")
    } else {
        (
            0.5,
            "memory pressure: the kernel kills it when it reaches the limit",
        )
    };
    Some(finding(
        Category::OomKilled,
        weight,
        id,
        format!(
            "{} peaked at {} of its {} memory limit ({}, {}): {meaning}",
            who(series),
            format_memory(peak as u64),
            format_memory(limit),
            percent(ratio),
            metric.query
        ),
    ))
}

fn restarts(id: &str, metric: &MetricFacts) -> Option<Finding> {
    let series = metric
        .series
        .iter()
        .max_by(|a, b| a.max.total_cmp(&b.max))
        .filter(|s| s.max >= 1.0)?;
    Some(finding(
        Category::AppCrash,
        0.3,
        id,
        format!(
            "{} restarted {:.0} times in the window ({})",
            who(series),
            series.max.round(),
            metric.query
        ),
    ))
}

/// A throttling finding from `(series, ratio)` pairs: the probes that fail while the container
/// is starved of CPU are explained by it; alone it is named, not decided on.
fn throttled<'a>(
    id: &str,
    metric: &MetricFacts,
    ratios: impl Iterator<Item = (&'a MetricSeries, f64)>,
    pods: &[&PodFacts],
    probes_failing: bool,
) -> Option<Finding> {
    let (series, ratio) = ratios
        .filter(|(_, r)| r.is_finite())
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .filter(|(_, r)| *r >= THROTTLED)?;
    let limit = container_of(series, pods)
        .and_then(|c| c.cpu_limit)
        .map_or_else(String::new, |l| {
            format!(" at its {} CPU limit", format_cpu(l))
        });
    let mut note = format!(
        "{} was CPU-throttled in {} of its CFS periods{limit} ({})",
        who(series),
        percent(ratio),
        metric.query
    );
    let (category, weight) = if probes_failing {
        note.push_str(": starved of CPU, it answers its probes too late");
        (Category::ProbeFailure, 0.6)
    } else {
        (Category::Unknown, 0.4)
    };
    Some(finding(category, weight, id, note))
}

/// Throttling from a scrape's raw counters: throttled periods over all periods, per container.
fn throttled_counters(
    metrics: &[(&str, &MetricFacts, MetricKind)],
    pods: &[&PodFacts],
    probes_failing: bool,
) -> Option<Finding> {
    let (id, throttled_periods) = pick(metrics, MetricKind::CpuThrottledPeriods)?;
    let (_, periods) = pick(metrics, MetricKind::CpuPeriods)?;
    let ratios = throttled_periods.series.iter().filter_map(|t| {
        let total = periods.series.iter().find(|p| same_target(p, t))?;
        (total.latest > 0.0).then(|| (t, t.latest / total.latest))
    });
    throttled(id, throttled_periods, ratios, pods, probes_failing)
}

fn same_target(a: &MetricSeries, b: &MetricSeries) -> bool {
    ["namespace", "pod", "container"]
        .iter()
        .all(|k| a.labels.get(*k) == b.labels.get(*k))
}

fn pick<'a>(
    metrics: &[(&'a str, &'a MetricFacts, MetricKind)],
    kind: MetricKind,
) -> Option<(&'a str, &'a MetricFacts)> {
    metrics
        .iter()
        .find(|(_, _, k)| *k == kind)
        .map(|(id, m, _)| (*id, *m))
}

fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    Some(values[values.len() / 2])
}

/// Whether `after` is bad where `before` was not.
fn jumped(kind: MetricKind, before: f64, after: f64) -> bool {
    match kind {
        MetricKind::ErrorRatio => after >= ERROR_RATIO && after >= before * 3.0 + 0.01,
        _ => after >= before * LATENCY_JUMP && after - before >= 0.05,
    }
}

fn shown(kind: MetricKind, value: f64) -> String {
    match kind {
        MetricKind::ErrorRatio => percent(value),
        _ => seconds(value),
    }
}

/// Error-rate and latency series: a jump that began with the newest rollout is `bad-deploy`; a
/// bad value with no rollout to blame points weakly at what the workload depends on.
fn regression(
    id: &str,
    metric: &MetricFacts,
    kind: MetricKind,
    rolled_out: Option<(u64, Timestamp)>,
) -> Option<Finding> {
    let what = match kind {
        MetricKind::ErrorRatio => "server-error ratio",
        _ => "p99 latency",
    };
    let mut best: Option<Finding> = None;
    for series in &metric.series {
        let split = |p: &&MetricPoint| rolled_out.is_some_and(|(_, at)| p.at < at);
        let mut before: Vec<f64> = series
            .points
            .iter()
            .filter(split)
            .map(|p| p.value)
            .collect();
        let mut after: Vec<f64> = series
            .points
            .iter()
            .filter(|p| !split(p))
            .map(|p| p.value)
            .collect();
        let found = match (rolled_out, median(&mut before), median(&mut after)) {
            (Some((revision, at)), Some(b), Some(a)) if jumped(kind, b, a) => finding(
                Category::BadDeploy,
                0.75,
                id,
                format!(
                    "{what} of {} rose from {} to {} after revision {revision} rolled out at {at} ({})",
                    who(series),
                    shown(kind, b),
                    shown(kind, a),
                    metric.query
                ),
            ),
            _ => {
                let first = series.points.first().map_or(0.0, |p| p.value);
                if !jumped(
                    kind,
                    first.min(series.latest),
                    series.latest.max(series.max),
                ) {
                    continue;
                }
                finding(
                    Category::DependencyUnavailable,
                    0.3,
                    id,
                    format!(
                        "{what} of {} reached {} (was {}) with no rollout to blame ({})",
                        who(series),
                        shown(kind, series.max.max(series.latest)),
                        shown(kind, first),
                        metric.query
                    ),
                )
            }
        };
        if best.as_ref().is_none_or(|b| found.weight > b.weight) {
            best = Some(found);
        }
    }
    best
}

/// A scraped request counter labelled by status code: the share of server errors since start.
fn requests(
    metrics: &[(&str, &MetricFacts, MetricKind)],
    rolled_out: Option<(u64, Timestamp)>,
) -> Option<Finding> {
    let (id, metric) = pick(metrics, MetricKind::Requests)?;
    let code = |s: &MetricSeries| {
        ["code", "status", "status_code"]
            .iter()
            .find_map(|k| s.labels.get(*k).cloned())
    };
    let total: f64 = metric
        .series
        .iter()
        .filter(|s| code(s).is_some())
        .map(|s| s.latest)
        .sum();
    let errors: f64 = metric
        .series
        .iter()
        .filter(|s| code(s).is_some_and(|c| c.starts_with('5')))
        .map(|s| s.latest)
        .sum();
    if total <= 0.0 || errors / total < ERROR_RATIO {
        return None;
    }
    let since = rolled_out.map_or_else(String::new, |(r, _)| format!(" (revision {r})"));
    Some(finding(
        Category::DependencyUnavailable,
        0.3,
        id,
        format!(
            "{} of {:.0} requests counted in {}{since} were server errors",
            percent(errors / total),
            total,
            metric.query
        ),
    ))
}

/// A connection pool with every connection in use and requests waiting: the database (or
/// whatever the pool connects to) is not keeping up.
fn pools(metrics: &[(&str, &MetricFacts, MetricKind)]) -> Option<Finding> {
    let (id, pending) = pick(metrics, MetricKind::PoolPending)?;
    let active = pick(metrics, MetricKind::PoolActive).map(|(_, m)| m);
    let max = pick(metrics, MetricKind::PoolMax).map(|(_, m)| m);
    let timeouts = pick(metrics, MetricKind::PoolTimeouts).map(|(_, m)| m);
    let pool_of = |s: &MetricSeries| s.labels.get("pool").cloned().unwrap_or_default();
    let matching = |m: Option<&MetricFacts>, s: &MetricSeries| {
        m.and_then(|m| {
            m.series
                .iter()
                .find(|o| pool_of(o) == pool_of(s) && o.labels.get("pod") == s.labels.get("pod"))
                .map(|o| o.latest)
        })
    };
    pending
        .series
        .iter()
        .filter(|s| s.latest >= 1.0)
        .find_map(|s| {
            let in_use = matching(active, s);
            let size = matching(max, s);
            let full = match (in_use, size) {
                (Some(a), Some(m)) => m > 0.0 && a >= m,
                _ => true,
            };
            if !full {
                return None;
            }
            let pool = pool_of(s);
            let name = if pool.is_empty() {
                "its connection pool".to_owned()
            } else {
                format!("connection pool {pool}")
            };
            let usage = match (in_use, size) {
                (Some(a), Some(m)) => format!("{a:.0}/{m:.0} connections in use, "),
                _ => String::new(),
            };
            let timed_out = matching(timeouts, s)
                .filter(|t| *t >= 1.0)
                .map_or_else(String::new, |t| {
                    format!(", {t:.0} connection requests timed out")
                });
            let pod = s
                .labels
                .get("pod")
                .map_or_else(String::new, |p| format!(" of pod {p}"));
            Some(finding(
                Category::DependencyUnavailable,
                0.6,
                id,
                format!(
                    "{name}{pod} is exhausted: {usage}{:.0} requests waiting for a connection{timed_out}",
                    s.latest
                ),
            ))
        })
}

fn goroutines(id: &str, metric: &MetricFacts) -> Option<Finding> {
    let series = metric
        .series
        .iter()
        .max_by(|a, b| a.latest.total_cmp(&b.latest))
        .filter(|s| s.latest >= GOROUTINES)?;
    Some(finding(
        Category::AppCrash,
        0.35,
        id,
        format!(
            "{} runs {:.0} goroutines: a leak ({})",
            who(series),
            series.latest,
            metric.query
        ),
    ))
}

fn fds(metrics: &[(&str, &MetricFacts, MetricKind)]) -> Option<Finding> {
    let (id, open) = pick(metrics, MetricKind::OpenFds)?;
    let (_, max) = pick(metrics, MetricKind::MaxFds)?;
    open.series.iter().find_map(|s| {
        let limit = max.series.iter().find(|m| same_target(m, s))?.latest;
        (limit > 0.0 && s.latest >= limit * FDS_NEAR_MAX).then(|| {
            finding(
                Category::AppCrash,
                0.45,
                id,
                format!(
                    "{} has {:.0} of its {:.0} file descriptors open",
                    who(s),
                    s.latest,
                    limit
                ),
            )
        })
    })
}

#[cfg(test)]
#[path = "metrics_tests.rs"]
mod tests;
