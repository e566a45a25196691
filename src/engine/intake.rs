//! Intake: a signal becomes an incident when a rule matches it and the store admits it (no open
//! incident with that fingerprint, no cooldown, no open incident about the same workload). The
//! store decides — the database refuses a second open incident per fingerprint — so re-lists,
//! restarts and racing replicas never open duplicates. One broken rollout raises several
//! signals (the pods crash-loop, the Deployment lacks replicas): they are one incident, and a
//! signal of another rule about a workload that already has an open incident is recorded on
//! that incident (once per rule fingerprint, across restarts) instead of paging again — unless
//! it is more severe, or that incident looks stuck ([`joins_open_sibling`]).
//!
//! Every intake — the watchers' signals and the webhook's alerts alike — goes through one
//! writer task per engine. It takes whatever requests are waiting, judges all their signals in
//! ONE store transaction, commits once and then answers every request: concurrent webhook
//! requests and the 50 alerts of one group share a commit, and an answer still means the
//! outcome is persisted. A failed batch answers the same error to every request in it. A short
//! in-memory memory of recent decisions (updated only after a commit) spares the store a
//! lookup for every update of a crash-looping pod.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use serde_json::json;
use tokio::sync::{mpsc, oneshot};

use crate::domain::incident::{Incident, IncidentState};
use crate::domain::playbook::Playbook;
use crate::domain::rule::{Admission, Rule, admit, joins_open_sibling};
use crate::domain::signal::Signal;
use crate::pipeline::{fingerprint, select};
use crate::rules::RuleSet;
use crate::store::{Inserted, IntakeBatch, Store, StoreError, kinds};

/// How long a fingerprint's store decision is remembered in memory. The store stays
/// authoritative; the memory is cleared whenever an incident ends.
const SEEN_FOR: Duration = Duration::from_secs(5);

/// At most this many waiting requests share one transaction.
const MAX_REQUESTS_PER_BATCH: usize = 256;

/// Requests waiting for the writer before senders wait for room.
const QUEUE: usize = 4096;

/// What each signal of a request came to: the incident it opened, or `None`.
type Answer = Result<Vec<Option<Incident>>, StoreError>;

/// Opens incidents for signals.
pub struct Intake {
    shared: Arc<Shared>,
    /// Started on first use, from inside the runtime.
    writer: OnceLock<mpsc::Sender<Request>>,
}

/// What the writer task and the callers share.
struct Shared {
    store: Store,
    rules: Arc<Mutex<Arc<RuleSet>>>,
    seen: Mutex<HashMap<String, Instant>>,
    /// (open incident, fingerprint) pairs already recorded as joined.
    joined: Mutex<HashSet<(String, String)>>,
}

/// One caller's signals, waiting for the writer.
struct Request {
    signals: Vec<Signal>,
    now: Timestamp,
    reply: oneshot::Sender<Answer>,
}

/// What the batch decided for one signal; memory is updated from it only after the commit.
enum Outcome {
    /// No rule matches, or the memory says it was just decided.
    Skipped,
    /// The store holds an incident that covers it (deduplicated, cooling down, or the
    /// database refused a second open incident).
    Known(String),
    /// Recorded (now or before) as joined to the workload's open incident.
    Joined { fingerprint: String, open: String },
    /// A new incident.
    Opened(Box<Incident>),
}

impl Intake {
    /// Intake over a store and the current rule set.
    pub fn new(store: Store, rules: Arc<Mutex<Arc<RuleSet>>>) -> Intake {
        Intake {
            shared: Arc::new(Shared {
                store,
                rules,
                seen: Mutex::default(),
                joined: Mutex::default(),
            }),
            writer: OnceLock::new(),
        }
    }

    /// The incident `signal` opens, recorded in the store in state `open`; `None` when no rule
    /// matches, or the fingerprint's incident is open, or its cooldown holds.
    pub async fn open(
        &self,
        signal: Signal,
        now: Timestamp,
    ) -> Result<Option<Incident>, StoreError> {
        Ok(self.open_all(vec![signal], now).await?.pop().flatten())
    }

    /// [`Intake::open`] for several signals at once, committed together (with whatever other
    /// requests are waiting): one answer per signal, in order, once all are persisted.
    pub async fn open_all(
        &self,
        signals: Vec<Signal>,
        now: Timestamp,
    ) -> Result<Vec<Option<Incident>>, StoreError> {
        if signals.is_empty() {
            return Ok(Vec::new());
        }
        let (reply, answer) = oneshot::channel();
        let request = Request {
            signals,
            now,
            reply,
        };
        self.writer()
            .send(request)
            .await
            .map_err(|_| StoreError::WriterStopped)?;
        answer.await.map_err(|_| StoreError::WriterStopped)?
    }

    fn writer(&self) -> &mpsc::Sender<Request> {
        self.writer.get_or_init(|| {
            let (sender, receiver) = mpsc::channel(QUEUE);
            tokio::spawn(write_loop(self.shared.clone(), receiver));
            sender
        })
    }

    /// Forgets every remembered decision (an incident ended: its fingerprint's next signal must
    /// be judged by the store).
    pub fn forget_seen(&self) {
        lock(&self.shared.seen).clear();
        lock(&self.shared.joined).clear();
    }
}

/// Takes every waiting request (up to [`MAX_REQUESTS_PER_BATCH`]) and writes them as one batch,
/// until every [`Intake`] handle is gone.
async fn write_loop(shared: Arc<Shared>, mut requests: mpsc::Receiver<Request>) {
    let mut batch = Vec::with_capacity(MAX_REQUESTS_PER_BATCH);
    while requests.recv_many(&mut batch, MAX_REQUESTS_PER_BATCH).await > 0 {
        shared.write(std::mem::take(&mut batch)).await;
    }
}

impl Shared {
    /// Judges every signal of `requests` in one transaction, commits, remembers, answers.
    async fn write(&self, requests: Vec<Request>) {
        let rules = lock(&self.rules).clone();
        match self.judge_all(&requests, &rules).await {
            Ok(outcomes) => {
                for (request, outcomes) in requests.into_iter().zip(outcomes) {
                    let opened = outcomes.into_iter().map(|o| self.remember(o)).collect();
                    // A caller that went away (its connection closed) needs no answer.
                    let _ = request.reply.send(Ok(opened));
                }
            }
            Err(err) => {
                tracing::error!(error = %err, requests = requests.len(), "an intake batch failed; nothing in it was stored");
                let err = Arc::new(err);
                for request in requests {
                    let _ = request.reply.send(Err(StoreError::Batch(err.clone())));
                }
            }
        }
    }

    async fn judge_all(
        &self,
        requests: &[Request],
        rules: &RuleSet,
    ) -> Result<Vec<Vec<Outcome>>, StoreError> {
        let built_in = rules.investigation();
        let mut batch: Option<IntakeBatch> = None;
        let mut all = Vec::with_capacity(requests.len());
        for request in requests {
            let mut outcomes = Vec::with_capacity(request.signals.len());
            for signal in &request.signals {
                // A person's question no loaded rule matches opens under the built-in
                // `investigate` rule, as in replay.
                let selected = select(std::slice::from_ref(signal), rules)
                    .map(|(_, rule, playbook)| (rule, playbook))
                    .or_else(|| {
                        built_in
                            .as_ref()
                            .filter(|_| signal.is_investigation())
                            .map(|(rule, playbook)| (rule, playbook))
                    });
                let Some((rule, playbook)) = selected else {
                    outcomes.push(Outcome::Skipped);
                    continue;
                };
                let fingerprint = fingerprint(rule, signal);
                if self.recently_seen(&fingerprint) {
                    outcomes.push(Outcome::Skipped);
                    continue;
                }
                let batch = match &mut batch {
                    Some(batch) => batch,
                    None => batch.insert(self.store.begin_intake().await?),
                };
                let judged = Judged {
                    rule,
                    playbook,
                    fingerprint,
                    signal,
                    now: request.now,
                };
                outcomes.push(self.judge(batch, judged).await?);
            }
            all.push(outcomes);
        }
        if let Some(batch) = batch {
            batch.commit().await?;
        }
        Ok(all)
    }

    /// What one matched signal comes to, written into `batch`.
    async fn judge(&self, batch: &mut IntakeBatch, it: Judged<'_>) -> Result<Outcome, StoreError> {
        let Judged {
            rule,
            playbook,
            fingerprint,
            signal,
            now,
        } = it;
        let existing = batch.latest_by_fingerprint(&fingerprint).await?;
        let admission = admit(rule, existing.as_ref(), now);
        if admission != Admission::Open {
            tracing::debug!(%fingerprint, ?admission, "signal not opened");
            return Ok(Outcome::Known(fingerprint));
        }
        let scope = signal.workload.as_ref().unwrap_or(&signal.target);
        if let Some(open) = batch.open_on_scope(scope).await?
            && joins_open_sibling(rule.severity, open.severity, open.updated_at, now)
        {
            self.join(batch, &open.id, &fingerprint, &rule.name, signal, now)
                .await?;
            return Ok(Outcome::Joined {
                fingerprint,
                open: open.id,
            });
        }
        let incident = Incident {
            id: Incident::id_for(&fingerprint, now),
            rule: rule.name.clone(),
            severity: rule.severity,
            fingerprint,
            target: signal.target.clone(),
            playbook: playbook.name.clone(),
            state: IncidentState::Open,
            opened_at: now,
            signal: signal.clone(),
        };
        Ok(match batch.insert_incident(&incident).await? {
            Inserted::Opened => Outcome::Opened(Box::new(incident)),
            Inserted::Conflict => Outcome::Known(incident.fingerprint),
        })
    }

    /// Records, once, that a signal of another rule about `open`'s workload joined it.
    async fn join(
        &self,
        batch: &mut IntakeBatch,
        open: &str,
        fingerprint: &str,
        rule: &str,
        signal: &Signal,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let key = (open.to_owned(), fingerprint.to_owned());
        if lock(&self.joined).contains(&key) {
            return Ok(());
        }
        // Before a restart, or earlier in this batch, it may have been recorded already.
        if batch
            .has_audit_for(open, kinds::SIGNAL_JOINED, fingerprint)
            .await?
        {
            return Ok(());
        }
        tracing::info!(incident = %open, %fingerprint, "signal joined the workload's open incident");
        let detail = json!({
            "rule": rule,
            "fingerprint": fingerprint,
            "reason": signal.reason,
            "target": signal.target.to_string(),
        });
        batch
            .append_audit(Some(open), kinds::SIGNAL_JOINED, "nightshift", &detail, now)
            .await
    }

    /// Keeps a committed outcome in memory; the incident it opened, if any.
    fn remember(&self, outcome: Outcome) -> Option<Incident> {
        match outcome {
            Outcome::Skipped => None,
            Outcome::Known(fingerprint) => {
                self.seen_now(fingerprint);
                None
            }
            Outcome::Joined { fingerprint, open } => {
                lock(&self.joined).insert((open, fingerprint.clone()));
                self.seen_now(fingerprint);
                None
            }
            Outcome::Opened(incident) => {
                self.seen_now(incident.fingerprint.clone());
                Some(*incident)
            }
        }
    }

    fn recently_seen(&self, fingerprint: &str) -> bool {
        lock(&self.seen)
            .get(fingerprint)
            .is_some_and(|at| at.elapsed() < SEEN_FOR)
    }

    fn seen_now(&self, fingerprint: String) {
        let mut seen = lock(&self.seen);
        if seen.len() > 10_000 {
            seen.retain(|_, at| at.elapsed() < SEEN_FOR);
        }
        seen.insert(fingerprint, Instant::now());
    }
}

/// A signal a rule matched, to be judged.
struct Judged<'a> {
    rule: &'a Rule,
    playbook: &'a Playbook,
    fingerprint: String,
    signal: &'a Signal,
    now: Timestamp,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use jiff::Timestamp;
    use serde_json::json;
    use sqlx::Executor as _;
    use tokio::sync::oneshot;

    use super::{Intake, Request};
    use crate::alerts::Webhook;
    use crate::domain::signal::Signal;
    use crate::rules::RuleSet;
    use crate::store::{Store, StoreError};

    fn signals(pods: &[&str], now: Timestamp) -> Vec<Signal> {
        let alerts: Vec<_> = pods
            .iter()
            .map(|pod| {
                json!({"status": "firing", "labels": {"alertname": "A", "namespace": "n",
                    "pod": pod}, "annotations": {}, "startsAt": "2026-11-20T02:00:00Z",
                    "endsAt": "0001-01-01T00:00:00Z", "fingerprint": pod})
            })
            .collect();
        let hook: Webhook =
            serde_json::from_value(json!({"version": "4", "alerts": alerts})).expect("a webhook");
        hook.alerts.iter().map(|alert| alert.signal(now)).collect()
    }

    async fn intake() -> (Intake, Store, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("n.db").display());
        let store = Store::connect(&url).await.expect("store");
        let rules = RuleSet::load_from(None, None).expect("built-in rules");
        let intake = Intake::new(store.clone(), Arc::new(Mutex::new(Arc::new(rules))));
        (intake, store, dir)
    }

    #[tokio::test]
    async fn a_failure_anywhere_in_a_batch_answers_every_request_in_it_and_stores_nothing() {
        let (intake, store, dir) = intake().await;
        let raw =
            sqlx::SqlitePool::connect(&format!("sqlite://{}", dir.path().join("n.db").display()))
                .await
                .expect("raw");
        raw.execute(
            "CREATE TRIGGER poison BEFORE INSERT ON incidents WHEN NEW.target_name = 'poison' \
             BEGIN SELECT RAISE(ABORT, 'poisoned'); END",
        )
        .await
        .expect("trigger");
        let now = Timestamp::now();
        let mut answers = Vec::new();
        let mut requests = Vec::new();
        for pods in [&["a", "b"][..], &["c", "poison"][..], &["d"][..]] {
            let (reply, answer) = oneshot::channel();
            answers.push(answer);
            requests.push(Request {
                signals: signals(pods, now),
                now,
                reply,
            });
        }
        intake.shared.write(requests).await;
        for answer in answers {
            let answer = answer.await.expect("answered");
            assert!(
                matches!(&answer, Err(StoreError::Batch(err)) if err.to_string().contains("poisoned")),
                "{answer:?}"
            );
        }
        assert!(store.list_incidents(10).await.expect("list").is_empty());
        // Nothing was remembered: the same signals are judged again, and stored.
        let opened = intake.open_all(signals(&["a", "b"], now), now).await;
        assert_eq!(opened.expect("stored").iter().flatten().count(), 2);
    }

    #[tokio::test]
    async fn one_request_gets_one_answer_per_signal_and_a_repeat_within_it_is_deduplicated() {
        let (intake, store, _dir) = intake().await;
        let now = Timestamp::now();
        let opened = intake
            .open_all(signals(&["a", "b", "a"], now), now)
            .await
            .expect("stored");
        assert_eq!(opened.len(), 3);
        assert!(opened[0].is_some() && opened[1].is_some());
        assert!(opened[2].is_none(), "the repeat opened a second incident");
        assert_eq!(store.list_incidents(10).await.expect("list").len(), 2);
        assert!(
            intake
                .open_all(Vec::new(), now)
                .await
                .expect("empty")
                .is_empty()
        );
    }
}
