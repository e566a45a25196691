//! Intake: a signal becomes an incident when a rule matches it and the store admits it (no open
//! incident with that fingerprint, no cooldown, no open incident about the same workload). The
//! store decides — the database refuses a second open incident per fingerprint — so re-lists,
//! restarts and racing replicas never open duplicates. One broken rollout raises several
//! signals (the pods crash-loop, the Deployment lacks replicas): they are one incident, and a
//! signal of another rule about a workload that already has an open incident is recorded on
//! that incident (once per rule fingerprint, across restarts) instead of paging again — unless
//! it is more severe, or that incident looks stuck ([`joins_open_sibling`]). A short in-memory memory
//! of recent decisions spares the store a lookup for every update of a crash-looping pod.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use serde_json::json;

use crate::domain::incident::{Incident, IncidentState};
use crate::domain::rule::{Admission, admit, joins_open_sibling};
use crate::domain::signal::Signal;
use crate::pipeline::{fingerprint, select};
use crate::rules::RuleSet;
use crate::store::kinds;
use crate::store::{Store, StoreError};

/// How long a fingerprint's store decision is remembered in memory. The store stays
/// authoritative; the memory is cleared whenever an incident ends.
const SEEN_FOR: Duration = Duration::from_secs(5);

/// Opens incidents for signals.
pub struct Intake {
    store: Store,
    rules: Arc<Mutex<Arc<RuleSet>>>,
    seen: Mutex<HashMap<String, Instant>>,
    /// (open incident, fingerprint) pairs already recorded as joined.
    joined: Mutex<HashSet<(String, String)>>,
}

impl Intake {
    /// Intake over a store and the current rule set.
    pub fn new(store: Store, rules: Arc<Mutex<Arc<RuleSet>>>) -> Intake {
        Intake {
            store,
            rules,
            seen: Mutex::default(),
            joined: Mutex::default(),
        }
    }

    /// The incident `signal` opens, recorded in the store in state `open`; `None` when no rule
    /// matches, or the fingerprint's incident is open, or its cooldown holds.
    pub async fn open(
        &self,
        signal: Signal,
        now: Timestamp,
    ) -> Result<Option<Incident>, StoreError> {
        let rules = self
            .rules
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        // A person's question no loaded rule matches opens under the built-in `investigate`
        // rule, as in replay.
        let built_in = rules.investigation();
        let selected = select(std::slice::from_ref(&signal), &rules)
            .map(|(_, rule, playbook)| (rule, playbook))
            .or_else(|| {
                built_in
                    .as_ref()
                    .filter(|_| signal.is_investigation())
                    .map(|(rule, playbook)| (rule, playbook))
            });
        let Some((rule, playbook)) = selected else {
            return Ok(None);
        };
        let signal = &signal;
        let fingerprint = fingerprint(rule, signal);
        if self.recently_seen(&fingerprint) {
            return Ok(None);
        }
        let existing = self.store.latest_by_fingerprint(&fingerprint).await?;
        let admission = admit(rule, existing.as_ref(), now);
        if admission != Admission::Open {
            self.remember(&fingerprint);
            tracing::debug!(%fingerprint, ?admission, "signal not opened");
            return Ok(None);
        }
        // Remembered only once the outcome is committed: a signal whose write failed (the
        // webhook answered 503) must be judged again when it is re-sent, not skipped as seen.
        let scope = signal.workload.as_ref().unwrap_or(&signal.target);
        if let Some(open) = self.store.open_on_scope(scope).await?
            && joins_open_sibling(rule.severity, open.severity, open.updated_at, now)
        {
            self.join(&open.id, &fingerprint, &rule.name, signal, now)
                .await?;
            self.remember(&fingerprint);
            return Ok(None);
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
        match self.store.insert_incident(&incident).await {
            Err(StoreError::AlreadyOpen { .. } | StoreError::DuplicateIncident(_)) => {
                self.remember(&incident.fingerprint);
                Ok(None)
            }
            Err(err) => Err(err),
            Ok(()) => {
                self.remember(&incident.fingerprint);
                Ok(Some(incident))
            }
        }
    }

    /// Records, once, that a signal of another rule about `open`'s workload joined it.
    async fn join(
        &self,
        open: &str,
        fingerprint: &str,
        rule: &str,
        signal: &Signal,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let key = (open.to_owned(), fingerprint.to_owned());
        let joined = |key| {
            self.joined
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(key);
        };
        let known = self
            .joined
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(&key);
        if known {
            return Ok(());
        }
        // Before a restart it may have been recorded already.
        let recorded = self.store.load(open).await?.is_some_and(|r| {
            r.audit.iter().any(|a| {
                a.kind == kinds::SIGNAL_JOINED
                    && a.detail.get("fingerprint").and_then(|f| f.as_str()) == Some(fingerprint)
            })
        });
        if recorded {
            joined(key);
            return Ok(());
        }
        tracing::info!(incident = %open, %fingerprint, "signal joined the workload's open incident");
        let detail = json!({
            "rule": rule,
            "fingerprint": fingerprint,
            "reason": signal.reason,
            "target": signal.target.to_string(),
        });
        self.store
            .append_audit(Some(open), kinds::SIGNAL_JOINED, "nightshift", &detail, now)
            .await?;
        // Only once committed: a failed write is tried again when the signal comes back.
        joined(key);
        Ok(())
    }

    fn recently_seen(&self, fingerprint: &str) -> bool {
        let seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        seen.get(fingerprint)
            .is_some_and(|at| at.elapsed() < SEEN_FOR)
    }

    fn remember(&self, fingerprint: &str) {
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        if seen.len() > 10_000 {
            seen.retain(|_, at| at.elapsed() < SEEN_FOR);
        }
        seen.insert(fingerprint.to_owned(), Instant::now());
    }

    /// Forgets every remembered decision (an incident ended: its fingerprint's next signal must
    /// be judged by the store).
    pub fn forget_seen(&self) {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        self.joined
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}
