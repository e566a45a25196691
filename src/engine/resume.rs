//! Resuming execution after a restart, from what the store and the cluster say was done. The
//! approval's lifetime bounds *starting* execution: an incident found `executing` was authorized
//! when it began, so it is authorized as of that moment. An action the store says succeeded is
//! not sent again (nor dry-run again); an action left `started` by a crash is settled by asking
//! the cluster whether it was applied — applied, it is recorded `succeeded` and execution goes
//! on; not applied or not knowable, it is recorded `failed` or `unknown`, never sent again, and
//! the incident escalates.

use jiff::{SignedDuration, Timestamp};

use super::Engine;
use super::lifecycle::EngineError;
use crate::domain::approval::{Authorized, authorize_quorum};
use crate::domain::incident::{Incident, IncidentState};
use crate::k8s::execute::Observed;
use crate::store::{ActionOutcome, ActionRecord, IncidentRecord, kinds};

impl Engine {
    /// Picks up an incident that was approved, executing or verifying when the daemon stopped.
    pub(super) async fn resume_execution(
        &self,
        incident: &Incident,
        state: IncidentState,
    ) -> Result<(), EngineError> {
        let record = self.load_record(&incident.id).await?;
        let Some(plan) = record.plans.last() else {
            return self.escalate(&incident.id, "no plan was recorded").await;
        };
        if state == IncidentState::Verifying {
            return self.verify(incident).await;
        }
        let decisions = self.decisions_on(&record, &plan.hash, incident);
        let required = self.parts().settings.approvers.required(plan.plan.risk);
        let rules = self.rules();
        let auto = rules
            .playbook(&incident.playbook)
            .map(|p| (p.name.as_str(), &p.approval));
        let namespace = incident.target.namespace.as_deref();
        let at = match state {
            IncidentState::Executing => execution_began(&record).unwrap_or_else(|| self.now()),
            _ => self.now(),
        };
        match authorize_quorum(&plan.plan, &decisions, required, auto, namespace, at) {
            Ok(authorized) => self.execute(incident, authorized).await,
            Err(refusal) => {
                let why = format!("cannot resume execution: {refusal}");
                self.fail(&incident.id, state, &why).await
            }
        }
    }

    /// How long an approval stays good after it is given: the playbook's approval timeout.
    pub(super) fn approval_validity(&self, incident: &Incident) -> SignedDuration {
        self.rules()
            .playbook(&incident.playbook)
            .map_or(SignedDuration::from_mins(30), |p| p.approval.timeout)
    }

    /// An action recorded before a restart. `Ok(Err(why))` when execution may not go on.
    pub(super) async fn resumed(
        &self,
        id: &str,
        authorized: &Authorized,
        earlier: &ActionRecord,
    ) -> Result<Result<(), String>, EngineError> {
        let index = earlier.index;
        let tool = authorized.plan().actions[index].tool;
        match earlier.outcome {
            ActionOutcome::Succeeded => Ok(Ok(())),
            ActionOutcome::Started => self.settle(id, authorized, index, earlier.at).await,
            other => Ok(Err(format!(
                "action {index} ({tool}) was already recorded as {} before a restart; it is not \
                 repeated",
                other.as_str()
            ))),
        }
    }

    /// Settles an action left `started` by asking the cluster whether it was applied; records
    /// the answer. Nothing is sent.
    async fn settle(
        &self,
        id: &str,
        authorized: &Authorized,
        index: usize,
        claimed_at: Timestamp,
    ) -> Result<Result<(), String>, EngineError> {
        let observed = self
            .parts()
            .executor
            .observe(authorized, index, claimed_at)
            .await;
        let (outcome, detail) = match observed {
            Ok(Observed::Applied(d)) => (
                ActionOutcome::Succeeded,
                format!("found applied after a restart: {d}"),
            ),
            Ok(Observed::NotApplied(d)) => (
                ActionOutcome::Failed,
                format!("not applied before a restart ({d}); an action in doubt is not sent again"),
            ),
            Ok(Observed::Unknown(d)) => (ActionOutcome::Unknown, unknowable(&d)),
            Err(err) => (ActionOutcome::Unknown, unknowable(&err.to_string())),
        };
        self.store()
            .complete_action(id, authorized.hash(), index, outcome, &detail, self.now())
            .await?;
        let ok = outcome == ActionOutcome::Succeeded;
        self.report_action(id, authorized, index, ok, &detail);
        let tool = authorized.plan().actions[index].tool;
        Ok(if ok {
            Ok(())
        } else {
            Err(format!("action {index} ({tool}): {detail}"))
        })
    }
}

fn unknowable(why: &str) -> String {
    format!("cannot tell whether it was applied before a restart ({why}); it is not sent again")
}

/// When the incident moved to `executing`, from its audit rows.
fn execution_began(record: &IncidentRecord) -> Option<Timestamp> {
    record
        .audit
        .iter()
        .rev()
        .find(|a| {
            a.kind == kinds::INCIDENT_TRANSITIONED
                && a.detail.get("to").and_then(|t| t.as_str())
                    == Some(IncidentState::Executing.as_str())
        })
        .map(|a| a.at)
}
