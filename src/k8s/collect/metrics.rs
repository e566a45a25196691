//! Metrics about an incident's pods: with Prometheus configured, the playbook's PromQL queries
//! ([`MetricQuery`]) rendered for each pod (`{{ namespace }}`, `{{ pod }}`, `{{ container }}`,
//! `{{ workload }}`, `{{ node }}`) and run; without it, the pods' own scrape endpoints named by
//! their `prometheus.io/scrape|port|path|scheme` annotations, read over the pod network (no
//! apiserver proxy, no extra RBAC). Results carry the ids replay gives them (`metric/<query>`,
//! `metric/<pod>/<family>`); failures are reported, never fatal.

use std::collections::BTreeMap;

use futures::future::join_all;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::Pod;

use super::prometheus::{MetricsClient, MetricsError};
use crate::domain::evidence::{ContainerState, Evidence, MetricFacts, PodFacts};
use crate::domain::playbook::{EvidenceSpec, MetricQuery};
use crate::domain::signal::ObjectRef;
use crate::k8s::objects::ObjectSet;

/// What a query's template may name.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct QueryContext {
    /// The pod's namespace.
    pub namespace: String,
    /// The pod.
    pub pod: String,
    /// Its failing container, else its first.
    pub container: String,
    /// The workload that owns it (Deployment, StatefulSet...), else the pod.
    pub workload: String,
    /// The node it runs on.
    pub node: String,
}

impl QueryContext {
    /// The context of `pod`, owned by `workload` when known.
    pub fn of(pod: &PodFacts, workload: Option<&ObjectRef>) -> QueryContext {
        let failing = pod.containers.iter().find(|c| {
            !c.ready
                || matches!(
                    c.state,
                    Some(ContainerState::Waiting { .. } | ContainerState::Terminated { .. })
                )
        });
        let container = failing.or(pod.containers.first());
        QueryContext {
            namespace: pod.namespace.clone(),
            pod: pod.name.clone(),
            container: container.map(|c| c.name.clone()).unwrap_or_default(),
            workload: pod
                .workload
                .as_ref()
                .or(workload)
                .map_or_else(|| pod.name.clone(), |w| w.name.clone()),
            node: pod.node.clone().unwrap_or_default(),
        }
    }
}

/// A PromQL string literal's content: backslashes and quotes escaped, so a value can never
/// close the literal it is placed in.
fn promql_escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Renders `query`'s PromQL for `context`. An unknown variable is an error, never an empty
/// string that would widen the selector.
pub fn render(query: &MetricQuery, context: &QueryContext) -> Result<String, String> {
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    let values = BTreeMap::from([
        ("namespace", promql_escape(&context.namespace)),
        ("pod", promql_escape(&context.pod)),
        ("container", promql_escape(&context.container)),
        ("workload", promql_escape(&context.workload)),
        ("node", promql_escape(&context.node)),
    ]);
    env.render_str(&query.query, values)
        .map_err(|e| format!("metric query {}: template: {e}", query.name))
}

/// What metric gathering produced.
#[derive(Debug, Default)]
pub struct MetricsGathered {
    /// Facts with their evidence ids.
    pub items: Vec<(String, MetricFacts)>,
    /// Queries and scrapes that yielded nothing.
    pub errors: Vec<MetricsError>,
}

/// The metrics about the pods in `evidence` (at most `prometheus.max_pods`, in evidence order:
/// the target first).
pub async fn gather(
    client: &MetricsClient,
    objects: &ObjectSet,
    evidence: &Evidence,
    workload: Option<&ObjectRef>,
    spec: &EvidenceSpec,
    now: Timestamp,
) -> MetricsGathered {
    let settings = client.settings();
    let pods: Vec<&PodFacts> = evidence
        .pods()
        .map(|(_, p)| p)
        .take(settings.max_pods)
        .collect();
    if settings.url.is_some() {
        query_all(client, &pods, workload, &spec.metrics, now).await
    } else if settings.scrape_pods {
        scrape_all(client, objects, &pods, now).await
    } else {
        MetricsGathered::default()
    }
}

async fn query_all(
    client: &MetricsClient,
    pods: &[&PodFacts],
    workload: Option<&ObjectRef>,
    queries: &[MetricQuery],
    now: Timestamp,
) -> MetricsGathered {
    let mut out = MetricsGathered::default();
    for query in queries {
        let mut rendered: Vec<String> = Vec::new();
        for pod in pods {
            match render(query, &QueryContext::of(pod, workload)) {
                Ok(promql) if !rendered.contains(&promql) => rendered.push(promql),
                Ok(_) => {}
                Err(message) => out.errors.push(MetricsError::Invalid {
                    what: format!("prometheus query {}", query.name),
                    message,
                }),
            }
        }
        let answers = join_all(
            rendered
                .iter()
                .map(|promql| client.query(&query.name, promql, now, query.range)),
        )
        .await;
        let mut merged = MetricFacts {
            query: query.name.clone(),
            series: Vec::new(),
        };
        let mut answered = false;
        for answer in answers {
            match answer {
                Ok(facts) => {
                    answered = true;
                    merged.series.extend(facts.series);
                }
                Err(e) => out.errors.push(e),
            }
        }
        merged.series.truncate(client.settings().max_series);
        if answered {
            out.items.push((format!("metric/{}", query.name), merged));
        }
    }
    out
}

/// Where a pod's annotations say it is scraped, if they say so.
pub fn scrape_url(pod: &Pod) -> Option<String> {
    let annotations = pod.metadata.annotations.as_ref()?;
    if annotations.get("prometheus.io/scrape").map(String::as_str) != Some("true") {
        return None;
    }
    let ip = pod.status.as_ref()?.pod_ip.as_deref()?;
    let port = match annotations.get("prometheus.io/port") {
        Some(port) => port.trim().parse::<u16>().ok()?,
        None => pod
            .spec
            .as_ref()?
            .containers
            .iter()
            .flat_map(|c| c.ports.iter().flatten())
            .find_map(|p| u16::try_from(p.container_port).ok())?,
    };
    let path = annotations
        .get("prometheus.io/path")
        .map_or("/metrics", String::as_str);
    let path = if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("/{path}")
    };
    let scheme = match annotations.get("prometheus.io/scheme").map(String::as_str) {
        Some("https") => "https",
        _ => "http",
    };
    let host = if ip.contains(':') {
        format!("[{ip}]")
    } else {
        ip.to_owned()
    };
    Some(format!("{scheme}://{host}:{port}{path}"))
}

async fn scrape_all(
    client: &MetricsClient,
    objects: &ObjectSet,
    pods: &[&PodFacts],
    now: Timestamp,
) -> MetricsGathered {
    let targets: Vec<(&PodFacts, String)> = pods
        .iter()
        .filter_map(|facts| {
            let pod = objects.pods.iter().find(|p| {
                p.metadata.name.as_deref() == Some(facts.name.as_str())
                    && p.metadata.namespace.as_deref() == Some(facts.namespace.as_str())
            })?;
            Some((*facts, scrape_url(pod)?))
        })
        .collect();
    let answers = join_all(targets.iter().map(|(pod, url)| {
        let labels = BTreeMap::from([
            ("namespace".to_owned(), pod.namespace.clone()),
            ("pod".to_owned(), pod.name.clone()),
        ]);
        async move { client.scrape(url, &labels, now).await }
    }))
    .await;
    let mut out = MetricsGathered::default();
    for ((pod, _), answer) in targets.iter().zip(answers) {
        match answer {
            Ok(families) => out.items.extend(
                families
                    .into_iter()
                    .map(|f| (format!("metric/{}/{}", pod.name, f.query), f)),
            ),
            Err(e) => out.errors.push(e),
        }
    }
    out
}

#[cfg(test)]
#[path = "metrics_tests.rs"]
mod tests;
