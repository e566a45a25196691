//! Recording replayed incidents in the store, so they can be listed, reported and audited like
//! live ones. Dedup and cooldown are decided by the rule, as for live signals.

use jiff::Timestamp;

use crate::domain::incident::{Incident, IncidentState};
use crate::domain::rule::{Admission, admit};
use crate::replay::Outcome;
use crate::rules::RuleSet;
use crate::store::{Store, StoreError};

/// What happened to one outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// A new incident with this id.
    Opened(String),
    /// Joined (or duplicated) the incident with this id.
    Joined(String),
    /// Held by the rule's cooldown until then.
    Cooldown(Timestamp),
    /// No rule matched.
    NoIncident,
}

/// Records an outcome. The incident ends in `diagnosed`: replay never pages or executes.
pub async fn record(
    store: &Store,
    rules: &RuleSet,
    outcome: &Outcome,
    now: Timestamp,
) -> Result<Recorded, StoreError> {
    let Some(i) = &outcome.incident else {
        return Ok(Recorded::NoIncident);
    };
    let Some(rule) = rules
        .rules
        .iter()
        .map(|r| &r.rule)
        .find(|r| r.name == i.rule)
    else {
        return Ok(Recorded::NoIncident);
    };
    let existing = store.latest_by_fingerprint(&i.fingerprint).await?;
    match admit(rule, existing.as_ref(), now) {
        Admission::Open => {}
        Admission::Group(id) | Admission::Duplicate(id) => return Ok(Recorded::Joined(id)),
        Admission::Cooldown(until) => return Ok(Recorded::Cooldown(until)),
    }
    let incident = Incident {
        id: Incident::id_for(&i.fingerprint, now),
        rule: i.rule.clone(),
        severity: i.severity,
        fingerprint: i.fingerprint.clone(),
        target: i.signal.target.clone(),
        playbook: i.playbook.clone(),
        state: IncidentState::Open,
        opened_at: now,
        signal: i.signal.clone(),
    };
    match store.insert_incident(&incident).await {
        // Another writer opened it between our lookup and insert: join it.
        Err(StoreError::AlreadyOpen { id, .. }) => return Ok(Recorded::Joined(id)),
        other => other?,
    }
    store
        .record_evidence(&incident.id, &i.evidence, now)
        .await?;
    store
        .record_diagnosis(&incident.id, &i.diagnosis, now)
        .await?;
    store.record_plan(&incident.id, &i.plan, now).await?;
    store
        .transition(&incident.id, IncidentState::Diagnosed, "replay", now)
        .await?;
    Ok(Recorded::Opened(incident.id))
}
