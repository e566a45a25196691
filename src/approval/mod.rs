//! A human's answer to a page, recorded in the store. An approval names the plan it approves
//! by hash (a prefix of at least 8 hex digits is enough to type): if the incident's current plan
//! has another hash — the plan changed after the page — the answer is refused, so an approval
//! can never run a plan the human did not see. The engine picks recorded answers up.

use jiff::Timestamp;

use crate::domain::approvers::{Approver, ApproverPolicy, Intent, NotAllowed};
use crate::domain::incident::IncidentState;
use crate::store::{Answer, AnswerOutcome, Decision, IncidentRecord, Store, StoreError};

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
    /// The approver rules do not let this caller answer this plan.
    #[error(transparent)]
    NotAllowed(#[from] NotAllowed),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What [`answer`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answered {
    /// The decision was recorded on the plan with this hash.
    Recorded(String),
    /// The approval was recorded, and the plan needs more distinct approvers (two-person rule).
    Awaiting {
        /// The plan's hash.
        hash: String,
        /// Distinct approvers so far.
        have: usize,
        /// How many it needs.
        need: usize,
    },
    /// The link was used before: nothing recorded.
    LinkUsed {
        /// The plan hash the link named.
        hash: String,
        /// Who used it.
        actor: String,
        /// When.
        at: Timestamp,
    },
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
            Answered::Recorded(hash)
            | Answered::Awaiting { hash, .. }
            | Answered::AlreadyDecided { hash, .. }
            | Answered::LinkUsed { hash, .. } => hash,
        }
    }
}

/// Records `decision` by `actor` on incident `id`'s current plan, which must be the plan whose
/// hash starts with `plan_hash` (required for approvals; for a denial any current plan is
/// denied). The same decision on the same plan a second time — before or after the engine acted
/// on the first — records nothing and returns [`Answered::AlreadyDecided`]. The operator's path
/// (the CLI on the store's machine): no approver rules, one approval is enough.
pub async fn answer(
    store: &Store,
    id: &str,
    plan_hash: Option<&str>,
    decision: Decision,
    actor: &str,
    now: Timestamp,
) -> Result<Answered, AnswerError> {
    let request = Request {
        id,
        plan_hash,
        decision,
        actor,
        groups: &[],
        checked: false,
        reason: None,
        nonce: None,
        via: "cli",
    };
    answer_with(store, &ApproverPolicy::default(), &request, now).await
}

/// One answer, from any path (CLI, link).
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The incident.
    pub id: &'a str,
    /// The plan hash (or a prefix of at least [`MIN_PREFIX`] hex digits).
    pub plan_hash: Option<&'a str>,
    /// Approve or deny.
    pub decision: Decision,
    /// Who answers.
    pub actor: &'a str,
    /// Their groups (from the proxy's group header).
    pub groups: &'a [String],
    /// Whether the approver rules apply (`false` only for the operator at the store).
    pub checked: bool,
    /// Why, if given.
    pub reason: Option<&'a str>,
    /// The link's nonce, consumed with the decision.
    pub nonce: Option<&'a str>,
    /// How the answer arrived (`cli`, `link`).
    pub via: &'a str,
}

/// Records `request` under `policy`: the approver rules (when `request.checked`), the
/// two-person rule's count, the plan hash, single use of a link — see [`answer`].
pub async fn answer_with(
    store: &Store,
    policy: &ApproverPolicy,
    request: &Request<'_>,
    now: Timestamp,
) -> Result<Answered, AnswerError> {
    let id = request.id;
    if let Some(nonce) = request.nonce
        && let Some((actor, at)) = store.link_used(nonce).await?
    {
        let hash = request.plan_hash.unwrap_or_default().to_owned();
        return Ok(Answered::LinkUsed { hash, actor, at });
    }
    let record = store
        .load(id)
        .await?
        .ok_or_else(|| AnswerError::UnknownIncident(id.to_owned()))?;
    let plan = record
        .plans
        .last()
        .ok_or_else(|| AnswerError::UnknownIncident(format!("{id} (no plan)")))?;
    let current = plan.hash.clone();
    let decision = request.decision;
    check_hash(id, request.plan_hash, decision, &current)?;
    if request.checked {
        let intent = match decision {
            Decision::Approved => Intent::Approve,
            Decision::Denied | Decision::Expired => Intent::Deny,
        };
        let who = Approver {
            user: request.actor,
            groups: request.groups,
        };
        let namespace = record.incident.target.namespace.as_deref();
        policy.allows(&who, namespace, plan.plan.risk, intent)?;
    }
    let required = policy.required(plan.plan.risk);
    if let Some(earlier) = earlier_decision(&record, &current, decision, request.actor, required) {
        return Ok(earlier);
    }
    let state = record.incident.state;
    if state != IncidentState::AwaitingApproval {
        return Err(AnswerError::NotAwaiting {
            id: id.to_owned(),
            state,
        });
    }
    let answer = Answer {
        id,
        plan_hash: &current,
        decision,
        actor: request.actor,
        reason: request.reason,
        nonce: request.nonce,
        required,
        via: request.via,
    };
    match store.record_answer(answer, now).await? {
        AnswerOutcome::Recorded => {
            let have = approvers_of(&record, &current).len() + 1;
            if decision == Decision::Approved && have < required {
                Ok(Answered::Awaiting {
                    hash: current,
                    have,
                    need: required,
                })
            } else {
                Ok(Answered::Recorded(current))
            }
        }
        AnswerOutcome::LinkUsed { actor, at } => Ok(Answered::LinkUsed {
            hash: current,
            actor,
            at,
        }),
        // Another answer won the race: report it.
        AnswerOutcome::AlreadyRecorded => {
            let record = store
                .load(id)
                .await?
                .ok_or_else(|| AnswerError::UnknownIncident(id.to_owned()))?;
            Ok(
                earlier_decision(&record, &current, decision, request.actor, required)
                    .unwrap_or(Answered::Recorded(current)),
            )
        }
    }
}

/// The distinct approvers of the plan with `hash`, in order.
fn approvers_of<'r>(record: &'r IncidentRecord, hash: &str) -> Vec<&'r str> {
    let mut who: Vec<&str> = Vec::new();
    for a in &record.approvals {
        if a.plan_hash == hash
            && a.decision == Decision::Approved
            && !who.contains(&a.actor.as_str())
        {
            who.push(&a.actor);
        }
    }
    who
}

/// The earlier `decision` on the plan with `hash` that makes a new one redundant: this
/// approver's own approval, or (once `required` approvers have approved, or for a denial) the
/// first one.
fn earlier_decision(
    record: &IncidentRecord,
    hash: &str,
    decision: Decision,
    actor: &str,
    required: usize,
) -> Option<Answered> {
    let same: Vec<_> = record
        .approvals
        .iter()
        .filter(|a| a.plan_hash == hash && a.decision == decision)
        .collect();
    let found = match decision {
        Decision::Approved => same.iter().find(|a| a.actor == actor).or_else(|| {
            (approvers_of(record, hash).len() >= required.max(1))
                .then(|| same.first())
                .flatten()
        }),
        Decision::Denied | Decision::Expired => same.first(),
    };
    found.map(|a| Answered::AlreadyDecided {
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
