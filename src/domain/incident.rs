//! Incidents and their lifecycle: an explicit state machine whose transitions are checked here,
//! so no layer can move an incident along a path the design does not allow.

use jiff::Timestamp;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::domain::signal::{ObjectRef, Signal};

/// How urgent an incident is.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Severity {
    /// Informational: record, do not page.
    Info,
    /// Needs attention during working hours.
    Warning,
    /// Page someone now.
    Critical,
}

impl Severity {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

/// Where an incident is in its life.
///
/// ```text
/// open → diagnosed → awaiting-approval → approved | denied | expired | resolved (its alert resolved)
///                 ↘ approved (auto-approved by playbook)   ↘ escalated (notify-only plan)
/// approved → executing → verifying → resolved | escalated
/// executing → failed → escalated
/// replayed                      (born terminal: recorded by `nightshift replay --record`)
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum IncidentState {
    /// Opened by a rule; evidence is being gathered.
    Open,
    /// A diagnosis and a plan exist.
    Diagnosed,
    /// A human has been paged and has not answered yet.
    AwaitingApproval,
    /// The plan (by its hash) was approved.
    Approved,
    /// A human refused the plan.
    Denied,
    /// Nobody answered before the approval expired.
    Expired,
    /// The plan's actions are being carried out.
    Executing,
    /// The separate verification step is running.
    Verifying,
    /// Verification proved the system healthy again.
    Resolved,
    /// An action failed.
    Failed,
    /// Handed to a human; nightshift takes no further automatic action on the target.
    Escalated,
    /// Recorded by `nightshift replay --record` from a fixture's evidence: stored for reading
    /// only. It is born in this state and never leaves it, so it is never resumed, paged or
    /// executed, and its fingerprint never deduplicates a live signal.
    Replayed,
}

impl IncidentState {
    /// Every state.
    pub const ALL: [IncidentState; 12] = [
        IncidentState::Open,
        IncidentState::Diagnosed,
        IncidentState::AwaitingApproval,
        IncidentState::Approved,
        IncidentState::Denied,
        IncidentState::Expired,
        IncidentState::Executing,
        IncidentState::Verifying,
        IncidentState::Resolved,
        IncidentState::Failed,
        IncidentState::Escalated,
        IncidentState::Replayed,
    ];

    /// The wire name (`awaiting-approval`).
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentState::Open => "open",
            IncidentState::Diagnosed => "diagnosed",
            IncidentState::AwaitingApproval => "awaiting-approval",
            IncidentState::Approved => "approved",
            IncidentState::Denied => "denied",
            IncidentState::Expired => "expired",
            IncidentState::Executing => "executing",
            IncidentState::Verifying => "verifying",
            IncidentState::Resolved => "resolved",
            IncidentState::Failed => "failed",
            IncidentState::Escalated => "escalated",
            IncidentState::Replayed => "replayed",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|state| state.as_str() == s)
    }

    /// Whether the incident's life is over in this state.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            IncidentState::Resolved
                | IncidentState::Denied
                | IncidentState::Expired
                | IncidentState::Escalated
                | IncidentState::Replayed
        )
    }

    /// Whether moving from `self` to `next` is allowed. Nothing moves into or out of
    /// [`IncidentState::Replayed`].
    pub fn can_become(self, next: IncidentState) -> bool {
        use IncidentState::{
            Approved, AwaitingApproval, Denied, Diagnosed, Escalated, Executing, Expired, Failed,
            Open, Resolved, Verifying,
        };
        matches!(
            (self, next),
            (Open, Diagnosed | Escalated)
                | (Diagnosed, AwaitingApproval | Approved | Escalated)
                | (AwaitingApproval, Approved | Denied | Expired | Resolved)
                | (Approved, Executing)
                | (Executing, Verifying | Failed)
                | (Verifying, Resolved | Escalated)
                | (Failed, Escalated)
        )
    }

    /// Moves to `next`, or says why it may not.
    pub fn transition(self, next: IncidentState) -> Result<IncidentState, InvalidTransition> {
        if self.can_become(next) {
            Ok(next)
        } else {
            Err(InvalidTransition {
                from: self,
                to: next,
            })
        }
    }
}

impl std::fmt::Display for IncidentState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A transition the state machine does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("an incident cannot go from {from} to {to}")]
pub struct InvalidTransition {
    /// The current state.
    pub from: IncidentState,
    /// The refused next state.
    pub to: IncidentState,
}

/// An incident: what a rule opened for a signal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    /// Stable identifier (derived from the fingerprint and the opening time).
    pub id: String,
    /// The rule that opened it.
    pub rule: String,
    /// Its severity, from the rule.
    pub severity: Severity,
    /// The dedup key: incidents with the same fingerprint are the same incident.
    pub fingerprint: String,
    /// The object in trouble.
    pub target: ObjectRef,
    /// The playbook that will handle it.
    pub playbook: String,
    /// Where it is in its life.
    pub state: IncidentState,
    /// When it was opened.
    pub opened_at: Timestamp,
    /// The signal that opened it.
    pub signal: Signal,
}

impl Incident {
    /// A stable id for the incident opened for `fingerprint` at `opened_at`.
    pub fn id_for(fingerprint: &str, opened_at: Timestamp) -> String {
        use sha2::{Digest, Sha256};
        let mut hasher = Sha256::new();
        hasher.update(fingerprint.as_bytes());
        hasher.update(opened_at.as_millisecond().to_be_bytes());
        let hex = crate::domain::plan::hex(&hasher.finalize());
        format!("inc-{}", &hex[..12])
    }

    /// What the incident is about, for "no further automatic action": the signal's workload
    /// (a Deployment, not the pod that happened to crash), or the target when it has none.
    pub fn scope(&self) -> &ObjectRef {
        self.signal.workload.as_ref().unwrap_or(&self.target)
    }
}

#[cfg(test)]
mod tests {
    use super::IncidentState;
    use super::IncidentState::{
        Approved, AwaitingApproval, Denied, Diagnosed, Escalated, Executing, Expired, Failed, Open,
        Replayed, Resolved, Verifying,
    };

    #[test]
    fn a_replayed_incident_is_terminal_and_no_state_leads_into_or_out_of_it() {
        assert!(Replayed.is_terminal());
        for other in IncidentState::ALL {
            assert!(!other.can_become(Replayed), "{other} -> replayed");
            assert!(!Replayed.can_become(other), "replayed -> {other}");
        }
    }

    #[test]
    fn the_happy_path_walks_from_open_to_resolved() {
        let path = [
            Open,
            Diagnosed,
            AwaitingApproval,
            Approved,
            Executing,
            Verifying,
            Resolved,
        ];
        for pair in path.windows(2) {
            assert_eq!(pair[0].transition(pair[1]), Ok(pair[1]));
        }
    }

    #[test]
    fn nothing_reaches_executing_except_through_approved() {
        for from in IncidentState::ALL {
            if from != Approved {
                assert!(!from.can_become(Executing), "{from} -> executing");
            }
        }
    }

    #[test]
    fn a_denied_or_expired_incident_can_never_be_approved_later() {
        for from in [Denied, Expired] {
            for to in IncidentState::ALL {
                assert!(!from.can_become(to), "{from} -> {to}");
            }
        }
    }

    #[test]
    fn terminal_states_allow_no_further_transition() {
        for from in IncidentState::ALL.into_iter().filter(|s| s.is_terminal()) {
            for to in IncidentState::ALL {
                assert!(from.transition(to).is_err(), "{from} -> {to}");
            }
        }
    }

    #[test]
    fn a_failed_action_escalates_and_a_failed_verification_escalates() {
        assert!(Failed.can_become(Escalated));
        assert!(Verifying.can_become(Escalated));
        assert!(!Failed.can_become(Resolved));
    }

    #[test]
    fn state_names_round_trip() {
        for state in IncidentState::ALL {
            assert_eq!(IncidentState::parse(state.as_str()), Some(state));
        }
        assert_eq!(IncidentState::parse("pending"), None);
    }
}
