//! The live gatherer: the one module that reads the apiserver to gather evidence. It fetches
//! exactly what the pure [`gather`](crate::k8s::gather::gather) needs about an incident into an
//! [`ObjectSet`] and a [`LogSet`], then lets `gather` pick the evidence, so a live incident and
//! a replayed fixture are judged alike.
//!
//! Every request is scoped: the target, its owner chain (Pod → ReplicaSet → Deployment,
//! Job → CronJob), the Deployment's ReplicaSets and the workload's pods by label selector, events
//! by `fieldSelector` per object, the node, claims and ConfigMaps by name, and the namespace's
//! quotas and limit ranges; lists carry a `limit`, logs `tailLines` and `limitBytes`. Secrets
//! are never requested. Gathering is bounded by one overall timeout; a failed or timed-out
//! request degrades the evidence and is reported in [`Gathered::errors`], never aborts.
//!
//! With a [`MetricsClient`] ([`Gatherer::with_metrics`]) the playbook's PromQL queries run
//! against Prometheus, or the target's annotated pods are scraped ([`metrics`]); their failures
//! are reported the same way.

mod fetch;
mod logs;
pub mod metrics;
mod plan;
pub mod prometheus;
pub mod series;

use std::time::Duration;

use crate::domain::evidence::{Evidence, Facts};
use crate::domain::playbook::EvidenceSpec;
use crate::domain::signal::ObjectRef;
use crate::k8s::gather::{LogSet, gather};
use crate::k8s::objects::ObjectSet;

use fetch::Fetch;
use prometheus::{MetricsClient, MetricsError};

/// Bounds on live gathering, on top of the playbook's [`EvidenceSpec`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatherLimits {
    /// The whole gathering; when it runs out, what was fetched so far is used.
    pub timeout: Duration,
    /// One request (never more than what remains of `timeout`).
    pub request_timeout: Duration,
    /// `limit` on pod lists.
    pub max_pods: u32,
    /// `limit` on the ReplicaSet list of a Deployment and the Job list of a CronJob.
    pub max_history: u32,
    /// `limit` on each event list (one per object).
    pub max_events_per_object: u32,
    /// `limit` on the namespace's ResourceQuota and LimitRange lists.
    pub max_namespace_objects: u32,
    /// Containers whose logs are read, per pod.
    pub max_log_containers: usize,
}

impl Default for GatherLimits {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(10),
            max_pods: 50,
            max_history: 50,
            max_events_per_object: 50,
            max_namespace_objects: 20,
            max_log_containers: 6,
        }
    }
}

/// Why one request of the gathering yielded nothing.
#[derive(Debug, thiserror::Error)]
pub enum GatherError {
    /// The apiserver refused or failed (403, 500, unreachable, undecodable...).
    #[error("{what}: {source}")]
    Api {
        /// What was asked (`GET /api/v1/nodes/worker-1`).
        what: String,
        /// Why it failed.
        #[source]
        source: kube::Error,
    },
    /// The request did not answer within its share of the time.
    #[error("{what}: no answer within {after:?}")]
    RequestTimeout {
        /// What was asked.
        what: String,
        /// How long it was given.
        after: Duration,
    },
    /// A Prometheus query or a pod scrape failed.
    #[error(transparent)]
    Metrics(#[from] MetricsError),
    /// The whole gathering ran out of time; later steps were skipped.
    #[error("gathering stopped after {after:?} while reading {stage}; later evidence is missing")]
    Timeout {
        /// The overall timeout.
        after: Duration,
        /// The step under way (`events`, `logs`...).
        stage: &'static str,
    },
}

impl GatherError {
    /// A bounded label for metrics.
    pub fn metric_label(&self) -> &'static str {
        match self {
            GatherError::Api { source, .. } => match source {
                kube::Error::Api(status) if status.is_forbidden() => "forbidden",
                kube::Error::Api(_) => "api",
                _ => "transport",
            },
            GatherError::RequestTimeout { .. } => "request_timeout",
            GatherError::Metrics(_) => "metrics",
            GatherError::Timeout { .. } => "timeout",
        }
    }
}

/// What was fetched: the raw objects and logs, and what went wrong.
#[derive(Debug, Default)]
pub struct Fetched {
    /// The objects read.
    pub objects: ObjectSet,
    /// The container logs read, raw (the pure gatherer reduces and redacts them).
    pub logs: LogSet,
    /// The workload used: the caller's, or the one the owner chain led to.
    pub workload: Option<ObjectRef>,
    /// Requests that failed; the evidence lacks what they would have read.
    pub errors: Vec<GatherError>,
}

/// The evidence about an incident, and what could not be read.
#[derive(Debug)]
pub struct Gathered {
    /// The evidence, as the pure gatherer picks it from what was fetched.
    pub evidence: Evidence,
    /// The workload the evidence is about (the caller's, or resolved from the owner chain).
    pub workload: Option<ObjectRef>,
    /// Failed requests and a timeout, if any: the caller records them; none is fatal.
    pub errors: Vec<GatherError>,
}

impl Gathered {
    /// Whether the overall timeout cut the gathering short.
    pub fn timed_out(&self) -> bool {
        self.errors
            .iter()
            .any(|e| matches!(e, GatherError::Timeout { .. }))
    }
}

/// Gathers evidence from the apiserver.
#[derive(Clone)]
pub struct Gatherer {
    client: kube::Client,
    limits: GatherLimits,
    metrics: Option<MetricsClient>,
}

impl Gatherer {
    /// A gatherer with the default [`GatherLimits`].
    pub fn new(client: kube::Client) -> Self {
        Self::with_limits(client, GatherLimits::default())
    }

    /// A gatherer with the given limits.
    pub fn with_limits(client: kube::Client, limits: GatherLimits) -> Self {
        Self {
            client,
            limits,
            metrics: None,
        }
    }

    /// Also gathers metrics: the playbook's queries against Prometheus, or pod scrapes.
    pub fn with_metrics(mut self, metrics: MetricsClient) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Gathers the evidence about `target` (owned by `workload`, when known), bounded by the
    /// playbook's `spec` and this gatherer's limits. Never fails: what could not be read is
    /// missing from the evidence and listed in [`Gathered::errors`].
    pub async fn gather(
        &self,
        target: &ObjectRef,
        workload: Option<&ObjectRef>,
        spec: &EvidenceSpec,
    ) -> Gathered {
        let fetched = self.fetch(target, workload, spec).await;
        let mut evidence = gather(
            &fetched.objects,
            target,
            fetched.workload.as_ref(),
            spec,
            &fetched.logs,
        );
        let mut errors = fetched.errors;
        if let Some(client) = &self.metrics {
            let gathering = metrics::gather(
                client,
                &fetched.objects,
                &evidence,
                fetched.workload.as_ref(),
                spec,
                jiff::Timestamp::now(),
            );
            match tokio::time::timeout(self.limits.timeout, gathering).await {
                Ok(gathered) => {
                    for (id, facts) in gathered.items {
                        evidence.push(id, Facts::Metric(facts));
                    }
                    errors.extend(gathered.errors.into_iter().map(GatherError::Metrics));
                }
                Err(_) => errors.push(GatherError::Timeout {
                    after: self.limits.timeout,
                    stage: "metrics",
                }),
            }
        }
        Gathered {
            evidence,
            workload: fetched.workload,
            errors,
        }
    }

    /// Fetches the objects and logs the pure gatherer needs, without picking evidence.
    pub async fn fetch(
        &self,
        target: &ObjectRef,
        workload: Option<&ObjectRef>,
        spec: &EvidenceSpec,
    ) -> Fetched {
        let mut fetch = Fetch::new(self.client.clone(), self.limits.clone(), target, workload);
        // Each request gets at most what remains of the time, so the deadline ends the gathering
        // at a request boundary; the outer timeout only backs that up.
        let backstop = self.limits.timeout + Duration::from_secs(1);
        if tokio::time::timeout(backstop, plan::run(&mut fetch, spec))
            .await
            .is_err()
        {
            fetch.expire();
        }
        fetch.finish()
    }
}

/// The live gatherer for `settings`: with metrics (Prometheus queries or pod scrapes) unless the
/// HTTP client cannot be built, which is logged and leaves metrics out.
pub fn live_gatherer(client: kube::Client, settings: &prometheus::PrometheusSettings) -> Gatherer {
    let gatherer = Gatherer::new(client);
    match MetricsClient::new(settings.clone()) {
        Ok(metrics) => gatherer.with_metrics(metrics),
        Err(error) => {
            tracing::error!(%error, "metrics are not gathered");
            gatherer
        }
    }
}
