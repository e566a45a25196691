//! A human's answer to a page, recorded in the store. An approval names the plan it approves
//! by hash (a prefix of at least 8 hex digits is enough to type): if the incident's current plan
//! has another hash — the plan changed after the page — the answer is refused, so an approval
//! can never run a plan the human did not see. The engine picks recorded answers up.

use jiff::Timestamp;

use crate::domain::incident::IncidentState;
use crate::store::{Decision, IncidentRecord, Recorded, Store, StoreError};

/// Shortest plan-hash prefix accepted.
pub const MIN_PREFIX: usize = 8;

/// Why an answer was not recorded.
#[derive(Debug, thiserror::Error)]
pub enum AnswerError {
    /// No such incident.
    #[error("no incident {0}")]
    UnknownIncident(String),
    /// The incident is not waiting for an answer.
    #[error("incident {id} is {state}, not awaiting approval")]
    NotAwaiting {
        /// The incident.
        id: String,
        /// Its state.
        state: IncidentState,
    },
    /// The plan hash given is not the current plan's.
    #[error(
        "plan {given} is not the current plan of incident {id} (which is {current}); look at it again with `nightshift incidents show {id}`"
    )]
    WrongPlan {
        /// The incident.
        id: String,
        /// What was given.
        given: String,
        /// The current plan's hash.
        current: String,
    },
    /// The prefix is too short to be unambiguous.
    #[error("give at least {MIN_PREFIX} hex digits of the plan hash, not {0:?}")]
    ShortHash(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What [`answer`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answered {
    /// The decision was recorded on the plan with this hash.
    Recorded(String),
    /// The same decision on this plan was already recorded: nothing new was written.
    AlreadyDecided {
        /// The plan's hash.
        hash: String,
        /// Who decided first.
        actor: String,
        /// When.
        at: Timestamp,
    },
}

impl Answered {
    /// The full hash of the plan decided on.
    pub fn hash(&self) -> &str {
        match self {
            Answered::Recorded(hash) | Answered::AlreadyDecided { hash, .. } => hash,
        }
    }
}

/// Records `decision` by `actor` on incident `id`'s current plan, which must be the plan whose
/// hash starts with `plan_hash` (required for approvals; for a denial any current plan is
/// denied). The same decision on the same plan a second time — before or after the engine acted
/// on the first — records nothing and returns [`Answered::AlreadyDecided`].
pub async fn answer(
    store: &Store,
    id: &str,
    plan_hash: Option<&str>,
    decision: Decision,
    actor: &str,
    now: Timestamp,
) -> Result<Answered, AnswerError> {
    let record = store
        .load(id)
        .await?
        .ok_or_else(|| AnswerError::UnknownIncident(id.to_owned()))?;
    let current = record
        .plans
        .last()
        .map(|p| p.hash.clone())
        .ok_or_else(|| AnswerError::UnknownIncident(format!("{id} (no plan)")))?;
    check_hash(id, plan_hash, decision, &current)?;
    if let Some(earlier) = earlier_decision(&record, &current, decision) {
        return Ok(earlier);
    }
    let state = record.incident.state;
    if state != IncidentState::AwaitingApproval {
        return Err(AnswerError::NotAwaiting {
            id: id.to_owned(),
            state,
        });
    }
    match store
        .record_approval(id, &current, decision, actor, now)
        .await?
    {
        Recorded::Recorded => Ok(Answered::Recorded(current)),
        // Another answer won the race: report it.
        Recorded::AlreadyRecorded => {
            let record = store
                .load(id)
                .await?
                .ok_or_else(|| AnswerError::UnknownIncident(id.to_owned()))?;
            Ok(
                earlier_decision(&record, &current, decision)
                    .unwrap_or(Answered::Recorded(current)),
            )
        }
    }
}

/// The first recorded `decision` on the plan with `hash`, if any.
fn earlier_decision(record: &IncidentRecord, hash: &str, decision: Decision) -> Option<Answered> {
    record
        .approvals
        .iter()
        .find(|a| a.plan_hash == hash && a.decision == decision)
        .map(|a| Answered::AlreadyDecided {
            hash: hash.to_owned(),
            actor: a.actor.clone(),
            at: a.at,
        })
}

/// The plan hash given must be a long enough prefix of the current plan's (and is required to
/// approve).
fn check_hash(
    id: &str,
    given: Option<&str>,
    decision: Decision,
    current: &str,
) -> Result<(), AnswerError> {
    match given {
        Some(given)
            if given.len() < MIN_PREFIX || !given.chars().all(|c| c.is_ascii_hexdigit()) =>
        {
            Err(AnswerError::ShortHash(given.to_owned()))
        }
        Some(given) if !current.starts_with(&given.to_ascii_lowercase()) => {
            Err(AnswerError::WrongPlan {
                id: id.to_owned(),
                given: given.to_owned(),
                current: current.to_owned(),
            })
        }
        None if decision == Decision::Approved => Err(AnswerError::ShortHash(String::new())),
        _ => Ok(()),
    }
}
