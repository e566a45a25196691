//! A human's answer to a page, recorded in the store. An approval names the plan it approves
//! by hash (a prefix of at least 8 hex digits is enough to type): if the incident's current plan
//! has another hash — the plan changed after the page — the answer is refused, so an approval
//! can never run a plan the human did not see. The engine picks recorded answers up.

use jiff::Timestamp;

use crate::domain::incident::IncidentState;
use crate::store::{Decision, Store, StoreError};

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

/// Records `decision` by `actor` on incident `id`'s current plan, which must be the plan whose
/// hash starts with `plan_hash` (required for approvals; for a denial any current plan is
/// denied). Returns the full hash decided on.
pub async fn answer(
    store: &Store,
    id: &str,
    plan_hash: Option<&str>,
    decision: Decision,
    actor: &str,
    now: Timestamp,
) -> Result<String, AnswerError> {
    let record = store
        .load(id)
        .await?
        .ok_or_else(|| AnswerError::UnknownIncident(id.to_owned()))?;
    let state = record.incident.state;
    if state != IncidentState::AwaitingApproval {
        return Err(AnswerError::NotAwaiting {
            id: id.to_owned(),
            state,
        });
    }
    let current = record
        .plans
        .last()
        .map(|p| p.hash.clone())
        .ok_or_else(|| AnswerError::UnknownIncident(format!("{id} (no plan)")))?;
    match plan_hash {
        Some(given)
            if given.len() < MIN_PREFIX || !given.chars().all(|c| c.is_ascii_hexdigit()) =>
        {
            return Err(AnswerError::ShortHash(given.to_owned()));
        }
        Some(given) if !current.starts_with(&given.to_ascii_lowercase()) => {
            return Err(AnswerError::WrongPlan {
                id: id.to_owned(),
                given: given.to_owned(),
                current,
            });
        }
        None if decision == Decision::Approved => {
            return Err(AnswerError::ShortHash(String::new()));
        }
        _ => {}
    }
    store
        .record_approval(id, &current, decision, actor, now)
        .await?;
    Ok(current)
}
