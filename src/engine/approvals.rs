//! Approvals: the engine looks for decisions recorded on incidents awaiting approval (by a
//! human through the CLI or an approval link) and acts on them — an approval of the current
//! plan's hash runs it, a denial ends the incident, silence past the playbook's timeout expires
//! it. The decision is the store's; the engine never invents one.

use jiff::Timestamp;
use tokio::task::JoinSet;

use super::Engine;
use super::lifecycle::{EngineError, NIGHTSHIFT};
use crate::domain::approval::{Approval, Decision as Answer, authorize};
use crate::domain::incident::IncidentState;
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
            let incident = record.incident;
            let Some(plan) = record.plans.last() else {
                continue;
            };
            let decision = record
                .approvals
                .iter()
                .rev()
                .find(|a| a.plan_hash == plan.hash);
            let validity = self.approval_validity(&incident);
            let outcome = match decision {
                Some(a) if a.decision == Decision::Approved => {
                    let approval = Approval {
                        plan_hash: a.plan_hash.clone(),
                        decision: Answer::Approved,
                        actor: a.actor.clone(),
                        at: a.at,
                        expires_at: a.at + validity,
                    };
                    match authorize(&plan.plan, Some(&approval), None, None, now) {
                        Ok(authorized) => {
                            let why = format!("approved by {}", a.actor);
                            let moved = self
                                .moved(&incident.id, IncidentState::Approved, &a.actor, &why)
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
                        Err(refusal) => {
                            let why = format!("the approval cannot be used: {refusal}");
                            self.moved(&incident.id, IncidentState::Expired, NIGHTSHIFT, &why)
                                .await
                        }
                    }
                }
                Some(a) => {
                    let to = if a.decision == Decision::Denied {
                        IncidentState::Denied
                    } else {
                        IncidentState::Expired
                    };
                    let why = format!("{} by {}", a.decision.as_str(), a.actor);
                    self.moved(&incident.id, to, &a.actor, &why).await
                }
                None if now >= record.updated_at + validity => {
                    self.expire(&incident.id, &plan.hash, now).await
                }
                None => Ok(()),
            };
            match outcome {
                // Another replica or a concurrent answer moved it first: nothing to do.
                Err(EngineError::Store(StoreError::LostRace { .. })) => {}
                other => other?,
            }
        }
        Ok(())
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
