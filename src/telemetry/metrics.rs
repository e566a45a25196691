//! The metrics registry: every series named `nightshift_`, with bounded label sets. Each labelled
//! family is pre-registered with its known values (rules from the loaded rule set, categories
//! from the taxonomy, tools from the catalog, states, sources and outcomes from their enums), so
//! every series exists at zero from the start and dashboards need no `absent()`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use jiff::Timestamp;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::domain::catalog::Tool;
use crate::domain::incident::IncidentState;
use crate::domain::signal::SignalSource;
use crate::domain::taxonomy::Category;

/// Seconds: 0.1 s to about 27 minutes, doubling.
const DETECTION_BUCKETS: (f64, f64, u16) = (0.1, 2.0, 15);
/// Seconds: 5 s to about 23 hours, doubling.
const APPROVAL_BUCKETS: (f64, f64, u16) = (5.0, 2.0, 15);

/// Labels naming a rule.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct RuleLabel {
    pub rule: String,
}

/// Labels naming a rule and a diagnosed category.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct RuleCategory {
    pub rule: String,
    pub category: String,
}

/// One label with a fixed set of values.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct StateLabel {
    pub state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct SourceLabel {
    pub source: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct OutcomeLabel {
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct ToolOutcome {
    pub tool: &'static str,
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct VerdictLabel {
    pub verdict: &'static str,
}

/// Labels of a page: the pager (a configured name), the event and how it went.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct PageLabels {
    pub pager: String,
    pub event: String,
    pub outcome: &'static str,
}

/// Page events as labelled.
pub(super) const PAGE_EVENTS: [&str; 3] = ["trigger", "acknowledge", "resolve"];
/// Page outcomes as labelled: delivered; an attempt failed and is retried now; a round failed
/// and the sweep tries again later; nightshift gave up (or the pager refused); folded into a
/// grouped page.
pub(super) const PAGE_OUTCOMES: [&str; 5] =
    ["delivered", "retried", "deferred", "failed", "grouped"];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct QueueLabel {
    pub queue: &'static str,
}

/// How a call to the outside went (pages, LLM calls, Kubernetes Events).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// It worked.
    Ok,
    /// It did not.
    Failed,
}

impl Outcome {
    const ALL: [Outcome; 2] = [Outcome::Ok, Outcome::Failed];

    fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Failed => "failed",
        }
    }
}

/// What the webhook receiver answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WebhookOutcome {
    /// Stored (2xx).
    Accepted,
    /// Not a valid payload (4xx a retry cannot fix).
    Invalid,
    /// No or a wrong signature or token.
    Unauthorized,
    /// Over the rate limit.
    RateLimited,
    /// Could not be stored (5xx: Alertmanager retries).
    Failed,
}

impl WebhookOutcome {
    const ALL: [WebhookOutcome; 5] = [
        WebhookOutcome::Accepted,
        WebhookOutcome::Invalid,
        WebhookOutcome::Unauthorized,
        WebhookOutcome::RateLimited,
        WebhookOutcome::Failed,
    ];

    fn as_str(self) -> &'static str {
        match self {
            WebhookOutcome::Accepted => "accepted",
            WebhookOutcome::Invalid => "invalid",
            WebhookOutcome::Unauthorized => "unauthorized",
            WebhookOutcome::RateLimited => "rate-limited",
            WebhookOutcome::Failed => "failed",
        }
    }
}

/// Action outcomes as labelled.
pub(super) const ACTION_OUTCOMES: [&str; 2] = ["succeeded", "failed"];
/// Verification verdicts as labelled.
pub(super) const VERDICTS: [&str; 2] = ["healthy", "unhealthy"];
/// The queues whose depth is reported.
pub(super) const QUEUES: [&str; 2] = ["signals", "incidents"];

/// The metrics; cheap to clone (one registry behind an `Arc`).
#[derive(Clone)]
pub struct Metrics {
    pub(super) inner: Arc<Inner>,
}

pub(super) struct Inner {
    registry: Registry,
    pub opened: Family<RuleLabel, Counter>,
    pub diagnosed: Family<RuleCategory, Counter>,
    pub states: Family<StateLabel, Gauge>,
    pub signals: Family<SourceLabel, Counter>,
    pub detection: Histogram,
    pub webhooks: Family<OutcomeLabel, Counter>,
    pub actions: Family<ToolOutcome, Counter>,
    pub verifications: Family<VerdictLabel, Counter>,
    pub pages: Family<PageLabels, Counter>,
    pub pages_undelivered: Family<StateLabel, Gauge>,
    pub approval: Histogram,
    pub queue: Family<QueueLabel, Gauge>,
    pub llm_calls: Family<OutcomeLabel, Counter>,
    pub events: Family<OutcomeLabel, Counter>,
    /// Unfinished incidents this daemon knows, by id: their state and, while a human is asked,
    /// since when.
    pub tracked: Mutex<HashMap<String, Tracked>>,
}

/// What the state gauge and the approval histogram remember about one unfinished incident.
#[derive(Clone, Copy, Debug)]
pub(super) struct Tracked {
    pub state: IncidentState,
    pub asked_at: Option<Timestamp>,
}

impl Metrics {
    /// Every series registered, at zero; `rules` are the names of the loaded rules.
    pub fn new<'a>(rules: impl IntoIterator<Item = &'a str>) -> Metrics {
        let mut registry = Registry::with_prefix("nightshift");
        let inner = Inner {
            opened: register(
                &mut registry,
                "incidents_opened",
                "Incidents opened, by rule",
            ),
            diagnosed: register(
                &mut registry,
                "incidents",
                "Incidents by rule and diagnosed category, counted when diagnosed",
            ),
            states: register(
                &mut registry,
                "incidents_in_state",
                "Incidents by current state: unfinished ones this daemon resumed or opened, and those that reached a terminal state since it started",
            ),
            signals: register(
                &mut registry,
                "signals_received",
                "Signals received, by source",
            ),
            detection: histogram(
                &mut registry,
                "detection_latency_seconds",
                "From a signal's observation to its incident recorded",
                DETECTION_BUCKETS,
            ),
            webhooks: register(
                &mut registry,
                "webhook_requests",
                "Webhook requests, by outcome",
            ),
            actions: register(
                &mut registry,
                "actions",
                "Actions run against the cluster, by tool and outcome",
            ),
            verifications: register(&mut registry, "verifications", "Verifications, by verdict"),
            pages: register(
                &mut registry,
                "pages",
                "Pages to humans, by pager, event and outcome",
            ),
            pages_undelivered: register(
                &mut registry,
                "pages_undelivered",
                "Pages not delivered, in the store: pending (to be retried) and failed",
            ),
            approval: histogram(
                &mut registry,
                "approval_latency_seconds",
                "From a page to a human's answer",
                APPROVAL_BUCKETS,
            ),
            queue: register(
                &mut registry,
                "queue_depth",
                "Work waiting: signals not yet taken in, incidents waiting for a worker",
            ),
            llm_calls: register(
                &mut registry,
                "llm_calls",
                "Calls to a language model, by outcome",
            ),
            events: register(
                &mut registry,
                "kubernetes_events",
                "Kubernetes Events recorded on objects acted on, by outcome",
            ),
            tracked: Mutex::new(HashMap::new()),
            registry,
        };
        preregister(&inner, rules);
        Metrics {
            inner: Arc::new(inner),
        }
    }

    /// The text exposition (OpenMetrics) of every series.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.inner.registry)?;
        Ok(text)
    }

    /// Adds a rule's series (a rule loaded after start).
    pub fn add_rule(&self, rule: &str) {
        add_rule(&self.inner, rule);
    }

    /// Counts a webhook request by what it was answered.
    pub fn webhook_request(&self, outcome: WebhookOutcome) {
        let labels = OutcomeLabel {
            outcome: outcome.as_str(),
        };
        self.inner.webhooks.get_or_create(&labels).inc();
    }

    /// Registers a pager's series at zero.
    pub fn add_pager(&self, pager: &str) {
        for event in PAGE_EVENTS {
            for outcome in PAGE_OUTCOMES {
                self.inner.pages.get_or_create_owned(&PageLabels {
                    pager: pager.to_owned(),
                    event: event.to_owned(),
                    outcome,
                });
            }
        }
    }

    /// Counts a page to `pager` (`event`: trigger, acknowledge, resolve) by `outcome` (one of
    /// delivered, retried, deferred, failed, grouped).
    pub fn page(&self, pager: &str, event: &str, outcome: &'static str) {
        let labels = PageLabels {
            pager: pager.to_owned(),
            event: event.to_owned(),
            outcome,
        };
        self.inner.pages.get_or_create(&labels).inc();
    }

    /// Sets how many pages wait in the store to be delivered and how many failed.
    pub fn pages_undelivered(&self, pending: i64, failed: i64) {
        let set = |state, n| {
            self.inner
                .pages_undelivered
                .get_or_create(&StateLabel { state })
                .set(n);
        };
        set("pending", pending);
        set("failed", failed);
    }

    /// Counts a call to a language model.
    pub fn llm_call(&self, outcome: Outcome) {
        let labels = OutcomeLabel {
            outcome: outcome.as_str(),
        };
        self.inner.llm_calls.get_or_create(&labels).inc();
    }

    /// Counts a Kubernetes Event recorded (or not) on an object acted on.
    pub fn kubernetes_event(&self, outcome: Outcome) {
        let labels = OutcomeLabel {
            outcome: outcome.as_str(),
        };
        self.inner.events.get_or_create(&labels).inc();
    }

    /// Sets how many items wait in `queue` (`signals` or `incidents`).
    pub fn queue_depth(&self, queue: &'static str, depth: usize) {
        let depth = i64::try_from(depth).unwrap_or(i64::MAX);
        self.inner
            .queue
            .get_or_create(&QueueLabel { queue })
            .set(depth);
    }

    /// Counts a signal received.
    pub fn signal_received(&self, source: SignalSource) {
        let labels = SourceLabel {
            source: source.as_str(),
        };
        self.inner.signals.get_or_create(&labels).inc();
    }
}

impl Default for Metrics {
    /// The registry with no rules.
    fn default() -> Self {
        Metrics::new([])
    }
}

fn register<M: prometheus_client::registry::Metric + Clone + Default>(
    registry: &mut Registry,
    name: &str,
    help: &str,
) -> M {
    let metric = M::default();
    registry.register(name, help, metric.clone());
    metric
}

fn histogram(
    registry: &mut Registry,
    name: &str,
    help: &str,
    (start, factor, count): (f64, f64, u16),
) -> Histogram {
    let histogram = Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
        start, factor, count,
    ));
    registry.register(name, help, histogram.clone());
    histogram
}

fn add_rule(inner: &Inner, rule: &str) {
    inner.opened.get_or_create_owned(&RuleLabel {
        rule: rule.to_owned(),
    });
    for category in Category::ALL {
        let category = category.as_str().to_owned();
        let labels = RuleCategory {
            rule: rule.to_owned(),
            category,
        };
        inner.diagnosed.get_or_create_owned(&labels);
    }
}

fn preregister<'a>(inner: &Inner, rules: impl IntoIterator<Item = &'a str>) {
    for rule in rules {
        add_rule(inner, rule);
    }
    for state in IncidentState::ALL {
        inner.states.get_or_create_owned(&StateLabel {
            state: state.as_str(),
        });
    }
    for source in [
        SignalSource::Kubernetes,
        SignalSource::Alert,
        SignalSource::Manual,
    ] {
        inner.signals.get_or_create_owned(&SourceLabel {
            source: source.as_str(),
        });
    }
    for outcome in WebhookOutcome::ALL {
        inner.webhooks.get_or_create_owned(&OutcomeLabel {
            outcome: outcome.as_str(),
        });
    }
    for tool in Tool::ALL {
        for outcome in ACTION_OUTCOMES {
            inner.actions.get_or_create_owned(&ToolOutcome {
                tool: tool.as_str(),
                outcome,
            });
        }
    }
    for verdict in VERDICTS {
        inner
            .verifications
            .get_or_create_owned(&VerdictLabel { verdict });
    }
    for outcome in Outcome::ALL {
        let labels = OutcomeLabel {
            outcome: outcome.as_str(),
        };
        inner.llm_calls.get_or_create_owned(&labels);
        inner.events.get_or_create_owned(&labels);
    }
    for state in ["pending", "failed"] {
        inner
            .pages_undelivered
            .get_or_create_owned(&StateLabel { state });
    }
    for queue in QUEUES {
        inner.queue.get_or_create_owned(&QueueLabel { queue });
    }
}
