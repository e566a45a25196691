//! Signals from outside the watch loop — Alertmanager's webhook — taken with a persistence
//! guarantee: [`Engine::accept`] / [`Engine::accept_all`] return only once the store holds the
//! decision — the incident opened, the join recorded, or the open incident that deduplicates
//! it — committed in a batch shared with the other waiting requests, so a 2xx to the sender
//! means nothing is lost. An incident opened here is handed to the running loop to be
//! driven; with no loop running it stays `open` in the store and is resumed on the next start.
//! [`Engine::resolve_alert`] records a resolved alert in its incident's timeline and closes the
//! incident when it is still only waiting for a human's approval: nothing ran, and the condition
//! that called for the plan is over.

use jiff::Timestamp;
use serde_json::json;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::Engine;
use crate::domain::incident::{Incident, IncidentState};
use crate::domain::signal::Signal;
use crate::pipeline::{fingerprint, select};
use crate::store::{StoreError, kinds};

/// Who resolves an incident on an alert's word, in the audit trail.
const ALERTMANAGER: &str = "alertmanager";

/// The next adopted incident, or never when this loop has no receiver.
pub(super) async fn next(
    adopted: &mut Option<mpsc::UnboundedReceiver<Incident>>,
) -> Option<Incident> {
    match adopted {
        Some(receiver) => receiver.recv().await,
        None => std::future::pending().await,
    }
}

/// What became of a resolved alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// No incident knows the alert (never opened, ignored by a rule).
    Unknown,
    /// Recorded in the incident's timeline; it stays as it is.
    Recorded(String),
    /// Recorded, and the incident, which was only awaiting approval, is closed as resolved.
    Closed(String),
}

impl Engine {
    /// Opens (or deduplicates, or joins) an incident for `signal` and returns once the store
    /// holds the outcome. An opened incident is driven by the running loop.
    pub async fn accept(
        &self,
        signal: Signal,
        now: Timestamp,
    ) -> Result<Option<Incident>, StoreError> {
        Ok(self.accept_all(vec![signal], now).await?.pop().flatten())
    }

    /// [`Engine::accept`] for several signals (the firing alerts of one webhook delivery):
    /// judged and committed in one transaction, shared with whatever other requests are
    /// waiting; one answer per signal, in order. A store failure fails them all.
    pub async fn accept_all(
        &self,
        signals: Vec<Signal>,
        now: Timestamp,
    ) -> Result<Vec<Option<Incident>>, StoreError> {
        for signal in &signals {
            self.metrics().signal_received(signal.source);
        }
        let opened = self.open_all(signals, now).await?;
        for incident in opened.iter().flatten() {
            // No loop running: it stays `open` in the store and resumes on the next start.
            let _ = self.inner.adopt.send(incident.clone());
        }
        Ok(opened)
    }

    pub(super) fn adopt(&self, incident: Incident, tasks: &mut JoinSet<()>) {
        let engine = self.clone();
        let span = super::incident_span(&incident);
        self.spawn_incident(tasks, span, async move {
            engine.drive(incident, IncidentState::Open).await;
        });
    }

    /// Records that the alert behind `signal` resolved, on the incident its fingerprint (or its
    /// workload's open incident) names; closes that incident if it only awaits an approval.
    pub async fn resolve_alert(
        &self,
        signal: &Signal,
        alert_fingerprint: &str,
        now: Timestamp,
    ) -> Result<Resolution, StoreError> {
        let Some(id) = self.incident_of(signal).await? else {
            return Ok(Resolution::Unknown);
        };
        let detail = json!({
            "alertname": signal.alertname,
            "fingerprint": alert_fingerprint,
            "target": signal.target.to_string(),
        });
        let store = self.store();
        store
            .append_audit(Some(&id), kinds::ALERT_RESOLVED, ALERTMANAGER, &detail, now)
            .await?;
        let Some(record) = store.load(&id).await? else {
            return Ok(Resolution::Recorded(id));
        };
        if record.incident.state != IncidentState::AwaitingApproval {
            return Ok(Resolution::Recorded(id));
        }
        match store
            .transition(&id, IncidentState::Resolved, ALERTMANAGER, now)
            .await
        {
            Ok(_) => {
                self.forget_seen();
                Ok(Resolution::Closed(id))
            }
            // Approved or denied meanwhile: the human's answer stands.
            Err(StoreError::LostRace { .. } | StoreError::InvalidTransition { .. }) => {
                Ok(Resolution::Recorded(id))
            }
            Err(err) => Err(err),
        }
    }

    /// The incident a resolved alert speaks of: the latest one with its rule fingerprint, else
    /// the open incident on its workload (which it joined).
    async fn incident_of(&self, signal: &Signal) -> Result<Option<String>, StoreError> {
        let rules = self.rules();
        let Some((signal, rule, _)) = select(std::slice::from_ref(signal), &rules) else {
            return Ok(None);
        };
        let fingerprint = fingerprint(rule, signal);
        if let Some(existing) = self.store().latest_by_fingerprint(&fingerprint).await?
            && existing.state != IncidentState::Replayed
        {
            return Ok(Some(existing.id));
        }
        let scope = signal.workload.as_ref().unwrap_or(&signal.target);
        Ok(self.store().open_on_scope(scope).await?.map(|open| open.id))
    }
}
