//! Approvals: the engine looks for decisions recorded on incidents awaiting approval (by a
//! human through the CLI or an approval link) and acts on them — an approval of the current
//! plan's hash runs it, a denial ends the incident, silence past the playbook's timeout expires
//! it. The decision is the store's; the engine never invents one.

use jiff::Timestamp;
use tokio::task::JoinSet;

use super::Engine;
use super::lifecycle::{EngineError, NIGHTSHIFT};
use crate::domain::approval::{Approval, Decision as Answer, Refusal, authorize_quorum};
use crate::domain::incident::Incident;
use crate::domain::incident::IncidentState;
use crate::store::IncidentRecord;
use crate::store::{Decision, StoreError};

impl Engine {
    /// Acts on every decision recorded since the last poll, and expires unanswered pages.
    pub(super) async fn poll_approvals(
        &self,
        now: Timestamp,
        tasks: &mut JoinSet<()>,
    ) -> Result<(), EngineError> {
        let waiting = self
            .store()
            .incidents_in(&[IncidentState::AwaitingApproval])
            .await?;
        for summary in waiting {
            let Some(record) = self.store().load(&summary.id).await? else {
                continue;
            };
            let incident = record.incident.clone();
            let Some(plan) = record.plans.last() else {
                continue;
            };
            let decisions = self.decisions_on(&record, &plan.hash, &incident);
            let denied = decisions.iter().find(|a| a.decision == Answer::Denied);
            let expired = record
                .approvals
                .iter()
                .find(|a| a.plan_hash == plan.hash && a.decision == Decision::Expired);
            let required = self.parts().settings.approvers.required(plan.plan.risk);
            let outcome = if let Some(a) = expired {
                let why = "the approval request expired";
                self.moved(&incident.id, IncidentState::Expired, &a.actor, why)
                    .await
            } else if let Some(a) = denied {
                let why = format!("denied by {}", a.actor);
                self.moved(&incident.id, IncidentState::Denied, &a.actor, &why)
                    .await
            } else if decisions.is_empty() {
                if now >= record.updated_at + self.approval_validity(&incident) {
                    self.expire(&incident.id, &plan.hash, now).await
                } else {
                    Ok(())
                }
            } else {
                match authorize_quorum(&plan.plan, &decisions, required, None, None, now) {
                    Ok(authorized) => {
                        let by = authorized.by().to_owned();
                        let why = format!("approved by {by}");
                        let moved = self
                            .moved(&incident.id, IncidentState::Approved, &by, &why)
                            .await;
                        if moved.is_ok() {
                            let engine = self.clone();
                            let span = super::incident_span(&incident);
                            self.spawn_incident(tasks, span, async move {
                                if let Err(err) = engine.execute(&incident, authorized).await {
                                    tracing::error!(incident = %incident.id, error = %err, "execution stopped; it resumes on restart");
                                }
                            });
                        }
                        moved
                    }
                    // One of two approvers so far: keep waiting, until the page expires.
                    Err(Refusal::TooFewApprovers { .. })
                        if now < record.updated_at + self.approval_validity(&incident) =>
                    {
                        Ok(())
                    }
                    Err(refusal) => {
                        let why = format!("the approval cannot be used: {refusal}");
                        self.moved(&incident.id, IncidentState::Expired, NIGHTSHIFT, &why)
                            .await
                    }
                }
            };
            match outcome {
                // Another replica or a concurrent answer moved it first: nothing to do.
                Err(EngineError::Store(StoreError::LostRace { .. })) => {}
                other => other?,
            }
        }
        Ok(())
    }

    /// The decisions recorded on the plan with `hash`, oldest first, each valid for the
    /// playbook's approval timeout from when it was given; an expiry counts as a denial.
    pub(super) fn decisions_on(
        &self,
        record: &IncidentRecord,
        hash: &str,
        incident: &Incident,
    ) -> Vec<Approval> {
        let validity = self.approval_validity(incident);
        record
            .approvals
            .iter()
            .filter(|a| a.plan_hash == hash)
            .map(|a| {
                // An expired request refuses the plan as a denial does.
                let decision = match a.decision {
                    Decision::Approved => Answer::Approved,
                    Decision::Denied | Decision::Expired => Answer::Denied,
                };
                Approval {
                    plan_hash: a.plan_hash.clone(),
                    decision,
                    actor: a.actor.clone(),
                    at: a.at,
                    expires_at: a.at + validity,
                }
            })
            .collect()
    }

    async fn expire(&self, id: &str, plan_hash: &str, now: Timestamp) -> Result<(), EngineError> {
        self.store()
            .record_approval(id, plan_hash, Decision::Expired, NIGHTSHIFT, now)
            .await?;
        self.moved(
            id,
            IncidentState::Expired,
            NIGHTSHIFT,
            "nobody answered the page in time",
        )
        .await
    }
}
