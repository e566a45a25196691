//! Recording replayed incidents in the store, so they can be listed, reported and audited like
//! live ones — and never acted on. A replayed incident is stored in the terminal state
//! `replayed` from the start: the engine never resumes, pages or executes it, the store refuses
//! approvals and actions on it, and it holds no fingerprint (a live signal for the same workload
//! is judged as if the replay had never been recorded).

use jiff::Timestamp;

use crate::domain::incident::{Incident, IncidentState};
use crate::replay::Outcome;
use crate::store::{Store, StoreError};

/// What happened to one outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// Stored as a new replayed incident with this id.
    Replayed(String),
    /// The same replay was already stored under this id (same fingerprint, same instant).
    AlreadyRecorded(String),
    /// No rule matched.
    NoIncident,
}

/// Records an outcome as a replayed incident: its evidence, diagnosis and plan, in state
/// `replayed`.
pub async fn record(
    store: &Store,
    outcome: &Outcome,
    now: Timestamp,
) -> Result<Recorded, StoreError> {
    let Some(i) = &outcome.incident else {
        return Ok(Recorded::NoIncident);
    };
    let incident = Incident {
        id: Incident::id_for(&format!("replay/{}", i.fingerprint), now),
        rule: i.rule.clone(),
        severity: i.severity,
        fingerprint: i.fingerprint.clone(),
        target: i.signal.target.clone(),
        playbook: i.playbook.clone(),
        state: IncidentState::Replayed,
        opened_at: now,
        signal: i.signal.clone(),
    };
    match store.insert_incident(&incident).await {
        Err(StoreError::DuplicateIncident(id)) => return Ok(Recorded::AlreadyRecorded(id)),
        other => other?,
    }
    store
        .record_evidence(&incident.id, &i.evidence, now)
        .await?;
    store
        .record_diagnosis(&incident.id, &i.diagnosis, now)
        .await?;
    store.record_plan(&incident.id, &i.plan, now).await?;
    Ok(Recorded::Replayed(incident.id))
}
