//! The engine: the loop that moves incidents through their states. Signals come in from the
//! watchers (and later alerts); a matching rule opens an incident (deduplicated by fingerprint in
//! the store); each incident is gathered, diagnosed, planned, routed to a human or a playbook's
//! auto-approval, executed, and verified as a separate step. Every step is recorded in the store
//! before the next begins, so a daemon killed at any point resumes where it stopped and never
//! runs an action twice.

mod act;
mod approvals;
mod concerned;
mod driving;
pub mod external;
mod intake;
mod investigate;
mod lifecycle;
pub mod limits;
pub mod live;
mod pause;
pub mod progress;
mod resume;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::future::BoxFuture;
use jiff::{SignedDuration, Timestamp};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tokio::sync::{Semaphore, broadcast, mpsc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::domain::evidence::Evidence;
use crate::domain::incident::{Incident, IncidentState};
use crate::domain::plan::Plan;
use crate::domain::playbook::EvidenceSpec;
use crate::domain::policy::Policy;
use crate::domain::signal::{ObjectRef, Signal};
use crate::domain::verdict::Verdict;
use crate::k8s::execute::Executor;
use crate::rules::RuleSet;
use crate::store::{Store, StoreError};
use crate::telemetry::Metrics;
use crate::telemetry::events::EventRecorder;

pub use intake::Intake;
pub use investigate::Investigated;
pub use lifecycle::EngineError;
pub use limits::{LimitSettings, Limits};
pub use progress::Progress;

/// Evidence from the live cluster for an incident.
pub struct Gathered {
    /// What was gathered.
    pub evidence: Evidence,
    /// What could not be (missing evidence is normal; it is recorded, not fatal).
    pub problems: Vec<String>,
    /// The workload the evidence is about, when the gatherer resolved one the signal did not
    /// name (the engine keeps it: the plan, the scope and the verification use it).
    pub workload: Option<ObjectRef>,
}

/// Gathers evidence for an incident (the live gatherer in production).
pub trait Gatherer: Send + Sync {
    /// Evidence about `signal`'s target, bounded by `spec`.
    fn gather<'a>(&'a self, signal: &'a Signal, spec: &'a EvidenceSpec) -> BoxFuture<'a, Gathered>;

    /// The signals the detectors raise about what `signal`'s target concerns (a workload's
    /// pods, a CronJob's runs, the object itself), read from the cluster as replay reads a case
    /// ([`crate::replay::concerned_signals`]). None by default (a gatherer without a cluster).
    fn concerned<'a>(
        &'a self,
        _signal: &'a Signal,
        _spec: &'a EvidenceSpec,
        _now: Timestamp,
    ) -> BoxFuture<'a, Vec<Signal>> {
        Box::pin(std::future::ready(Vec::new()))
    }
}

/// Runs a plan's verification checks (the live verifier in production).
pub trait Verifier: Send + Sync {
    /// The verdict on `plan`'s checks for `incident`; `before` is the evidence gathered before
    /// anything ran (restart counts to compare against).
    fn verify<'a>(
        &'a self,
        incident: &'a Incident,
        plan: &'a Plan,
        before: &'a Evidence,
    ) -> BoxFuture<'a, Verdict>;
}

/// Engine settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct EngineSettings {
    /// How often approvals and expiries are looked for, in milliseconds.
    pub poll_millis: u64,
    /// After an escalation, how long nightshift takes no automatic action on that workload.
    #[schemars(with = "String")]
    pub escalation_hold: SignedDuration,
    /// On shutdown, how long in-flight incidents may take to reach a recorded step, in seconds.
    pub drain_seconds: u64,
    /// Action rate limits.
    pub limits: LimitSettings,
    /// Multiplies every verification timeout and window (1.0: as the playbook says). Only the
    /// demo compresses time; the plan and its hash are unchanged.
    pub verification_time_scale: f64,
    /// The kill switch as a setting: while true this daemon sends nothing to the cluster,
    /// whatever the store says (`nightshift pause` / `nightshift resume` switch it for every
    /// daemon on the store). Authorized plans wait, and run once nothing holds them.
    pub paused: bool,
    /// How many incidents are worked on at once (gathering, executing, verifying); the rest
    /// wait their turn, recorded in the store. 1 – 1024.
    pub max_concurrent_incidents: usize,
    /// The approver rules (the settings' top-level `approvers:`, copied here by the daemon):
    /// the gate counts distinct approvers against them (two-person rule).
    #[serde(skip)]
    #[schemars(skip)]
    pub approvers: crate::domain::approvers::ApproverPolicy,
}

impl Default for EngineSettings {
    fn default() -> Self {
        Self {
            poll_millis: 1000,
            escalation_hold: SignedDuration::from_hours(24),
            drain_seconds: 10,
            limits: LimitSettings::default(),
            verification_time_scale: 1.0,
            paused: false,
            max_concurrent_incidents: 32,
            approvers: crate::domain::approvers::ApproverPolicy::default(),
        }
    }
}

/// What the engine works with.
pub struct Parts {
    /// The store.
    pub store: Store,
    /// The current rule set (hot-reloaded by the daemon).
    pub rules: Arc<Mutex<Arc<RuleSet>>>,
    /// The policy ceiling.
    pub policy: Policy,
    /// The executor.
    pub executor: Executor,
    /// The gatherer.
    pub gatherer: Arc<dyn Gatherer>,
    /// The verifier.
    pub verifier: Arc<dyn Verifier>,
    /// Settings.
    pub settings: EngineSettings,
    /// The clock (the system clock in production; tests replay recorded incidents at their
    /// recorded time).
    pub clock: Clock,
    /// Where the engine counts what it does (served on `/metrics`).
    pub metrics: Metrics,
}

/// Where the engine reads the time.
pub type Clock = Arc<dyn Fn() -> Timestamp + Send + Sync>;

/// The system clock.
pub fn system_clock() -> Clock {
    Arc::new(Timestamp::now)
}

/// The engine; cheap to clone.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    parts: Parts,
    limits: Limits,
    /// One permit per incident worked on at once.
    permits: Arc<Semaphore>,
    progress: broadcast::Sender<Progress>,
    intake: Intake,
    /// Incidents whose authorized plan waits for the kill switch to be lifted.
    held: Mutex<BTreeSet<String>>,
    /// Held by a plan with node actions from the read of the node pool to its last action.
    node_actions: tokio::sync::Mutex<()>,
    /// Incidents waiting for a permit.
    waiting: Arc<AtomicUsize>,
    /// Kubernetes Events on the objects acted on.
    events: EventRecorder,
    /// Incidents opened from outside the signal queue (the webhook), for [`Engine::run`] to
    /// drive; the receiver is taken by the first `run`.
    adopt: mpsc::UnboundedSender<Incident>,
    adopted: Mutex<Option<mpsc::UnboundedReceiver<Incident>>>,
    /// Pages humans on state changes; none: the state change is only logged.
    pager: Option<Arc<crate::pagers::Dispatcher>>,
    /// Incidents a task is driving now (see `driving.rs`).
    driving: Mutex<std::collections::HashSet<String>>,
}

impl Engine {
    /// An engine over `parts`.
    pub fn new(parts: Parts) -> Engine {
        Engine::with_pager(parts, None)
    }

    /// An engine over `parts` that reports state changes to `pager` (which records the pages
    /// and sends them in the background).
    pub fn with_pager(parts: Parts, pager: Option<Arc<crate::pagers::Dispatcher>>) -> Engine {
        let (progress, _) = broadcast::channel(1024);
        let events = EventRecorder::new(parts.executor.client().clone(), parts.metrics.clone());
        let (adopt, adopted) = mpsc::unbounded_channel();
        Engine {
            inner: Arc::new(Inner {
                limits: Limits::new(&parts.settings.limits),
                permits: Arc::new(Semaphore::new(
                    parts.settings.max_concurrent_incidents.max(1),
                )),
                intake: Intake::new(parts.store.clone(), parts.rules.clone()),
                parts,
                progress,
                held: Mutex::new(BTreeSet::new()),
                node_actions: tokio::sync::Mutex::new(()),
                waiting: Arc::new(AtomicUsize::new(0)),
                events,
                adopt,
                adopted: Mutex::new(Some(adopted)),
                pager,
                driving: Mutex::default(),
            }),
        }
    }

    /// Every step from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Progress> {
        self.inner.progress.subscribe()
    }

    fn parts(&self) -> &Parts {
        &self.inner.parts
    }

    /// The store it records in.
    pub fn store(&self) -> &Store {
        &self.inner.parts.store
    }

    fn rules(&self) -> Arc<RuleSet> {
        let rules = self
            .parts()
            .rules
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        rules.clone()
    }

    /// The engine's clock (the system clock, or a test's).
    pub fn now(&self) -> Timestamp {
        (self.parts().clock)()
    }

    /// Where it counts what it does (served on `/metrics`).
    pub fn metrics(&self) -> &Metrics {
        &self.inner.parts.metrics
    }

    fn emit(&self, progress: Progress) {
        self.metrics().observe(&progress, self.now());
        // Messages, summaries and executor output are untrusted text: only at debug.
        tracing::info!(incident = %progress.incident(), step = progress.name(), "{}", progress.headline());
        if let Some(detail) = progress.detail() {
            tracing::debug!(incident = %progress.incident(), step = progress.name(), detail, "incident step");
        }
        // No receiver is fine: nobody is narrating.
        let _ = self.inner.progress.send(progress);
    }

    /// Runs until `shutdown`: resumes unfinished incidents, opens incidents for `signals`,
    /// picks up approvals, and runs plans the kill switch held once it is lifted. On shutdown
    /// it stops taking signals and gives in-flight incidents `drain_seconds` to reach their
    /// next recorded step; whatever is left resumes next start.
    pub async fn run(self, mut signals: mpsc::Receiver<Signal>, shutdown: CancellationToken) {
        let mut tasks = JoinSet::new();
        let mut adopted = self
            .inner
            .adopted
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Err(err) = self.resume(&mut tasks).await {
            tracing::error!(error = %err, "could not resume unfinished incidents");
        }
        let mut poll =
            tokio::time::interval(Duration::from_millis(self.parts().settings.poll_millis));
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                signal = signals.recv() => match signal {
                    Some(signal) => {
                        self.metrics().queue_depth("signals", signals.len());
                        self.intake(signal, self.now(), &mut tasks).await;
                    }
                    None => break,
                },
                Some(incident) = external::next(&mut adopted) => self.adopt(incident, &mut tasks),
                _ = poll.tick() => {
                    self.inner.limits.forget_idle();
                    if let Err(err) = self.poll_approvals(self.now(), &mut tasks).await {
                        tracing::warn!(error = %err, "polling approvals failed");
                    }
                    if let Err(err) = self.release_held(&mut tasks).await {
                        tracing::warn!(error = %err, "releasing held plans failed");
                    }
                }
                Some(done) = tasks.join_next(), if !tasks.is_empty() => {
                    if let Err(err) = done {
                        tracing::error!(error = %err, "an incident task panicked or was aborted");
                    }
                }
            }
        }
        let drain = Duration::from_secs(self.parts().settings.drain_seconds);
        if tokio::time::timeout(drain, async { while tasks.join_next().await.is_some() {} })
            .await
            .is_err()
        {
            tracing::warn!(
                left = tasks.len(),
                "drain timed out; unfinished incidents resume on restart"
            );
            tasks.abort_all();
        }
    }

    /// Opens an incident for `signal` when a rule matches and the store admits it.
    pub async fn intake(&self, signal: Signal, now: Timestamp, tasks: &mut JoinSet<()>) {
        self.metrics().signal_received(signal.source);
        match self.open(signal, now).await {
            Ok(Some(incident)) => {
                let engine = self.clone();
                self.spawn_incident(tasks, incident_span(&incident), async move {
                    engine.drive(incident, IncidentState::Open).await;
                });
            }
            Ok(None) => {}
            Err(err) => tracing::error!(error = %err, "could not open an incident"),
        }
    }

    /// The incident a signal opens, if any (recorded in the store, state `open`).
    pub async fn open(
        &self,
        signal: Signal,
        now: Timestamp,
    ) -> Result<Option<Incident>, StoreError> {
        Ok(self.open_all(vec![signal], now).await?.pop().flatten())
    }

    /// [`Engine::open`] for several signals, committed together: one answer per signal.
    pub async fn open_all(
        &self,
        signals: Vec<Signal>,
        now: Timestamp,
    ) -> Result<Vec<Option<Incident>>, StoreError> {
        let opened = self.inner.intake.open_all(signals, now).await?;
        for incident in opened.iter().flatten() {
            self.emit(Progress::Opened {
                incident: incident.id.clone(),
                rule: incident.rule.clone(),
                signal: Box::new(incident.signal.clone()),
            });
        }
        Ok(opened)
    }

    /// Runs one incident's work in `tasks` once a permit is free (at most
    /// `max_concurrent_incidents` at a time; the others wait, their state safe in the store).
    /// Its log lines carry `span` (see [`incident_span`]).
    fn spawn_incident(
        &self,
        tasks: &mut JoinSet<()>,
        span: tracing::Span,
        work: impl std::future::Future<Output = ()> + Send + 'static,
    ) {
        let permits = self.inner.permits.clone();
        let waiting = self.inner.waiting.clone();
        let metrics = self.metrics().clone();
        let depth = waiting.fetch_add(1, Ordering::SeqCst) + 1;
        metrics.queue_depth("incidents", depth);
        tasks.spawn(
            async move {
                let permit = permits.acquire_owned().await;
                let depth = waiting.fetch_sub(1, Ordering::SeqCst) - 1;
                metrics.queue_depth("incidents", depth);
                let Ok(_permit) = permit else {
                    return;
                };
                work.await;
            }
            .instrument(span),
        );
    }

    fn forget_seen(&self) {
        self.inner.intake.forget_seen();
    }

    /// Picks up every unfinished incident after a restart.
    async fn resume(&self, tasks: &mut JoinSet<()>) -> Result<(), StoreError> {
        use IncidentState::{Approved, Diagnosed, Executing, Failed, Open, Verifying};
        // A store written by an older `replay --record` holds replays as `diagnosed`.
        for id in self.store().retire_old_replays(self.now()).await? {
            tracing::warn!(incident = %id, "not resumed: it was recorded by a replay");
        }
        let unfinished = self
            .store()
            .incidents_in(&[Open, Diagnosed, Approved, Executing, Verifying, Failed])
            .await?;
        for summary in unfinished {
            let Some(record) = self.store().load(&summary.id).await? else {
                continue;
            };
            tracing::info!(incident = %summary.id, state = %summary.state, "resuming");
            self.metrics()
                .resumed(&summary.id, summary.state, self.now());
            let engine = self.clone();
            let state = summary.state;
            let span = incident_span(&record.incident);
            self.spawn_incident(tasks, span, async move {
                engine.drive(record.incident, state).await;
            });
        }
        Ok(())
    }
}

/// The span an incident's work runs in: its id, rule and target as fields.
pub fn incident_span(incident: &Incident) -> tracing::Span {
    tracing::info_span!(
        "incident",
        incident = %incident.id,
        rule = %incident.rule,
        target = %incident.target,
    )
}
