//! One incident's life up to execution: gather → diagnose → plan → policy → route (escalate a
//! notify-only plan, auto-approve what the playbook allows, or wait for a human). Each step is
//! recorded before the next begins; [`Engine::drive`] picks up from any recorded state.

use jiff::Timestamp;
use serde_json::json;

use super::{Engine, Progress};
use crate::domain::approval::authorize;
use crate::domain::incident::{Incident, IncidentState};
use crate::domain::plan::Plan;
use crate::domain::playbook::Playbook;
use crate::domain::policy::{Escalation, downgrade};
use crate::domain::signal::ObjectRef;
use crate::pipeline::decide;
use crate::store::{StoreError, kinds};

/// Why an incident could not take its next step (it stays where it is and resumes later).
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The incident vanished from the store.
    #[error("incident {0} is not in the store")]
    Missing(String),
}

/// Who the engine is in the audit log.
pub(super) const NIGHTSHIFT: &str = "nightshift";

impl Engine {
    /// Moves `incident` on from `state` as far as it can go without a human.
    pub(super) async fn drive(&self, incident: Incident, state: IncidentState) {
        let id = incident.id.clone();
        let Some(_driving) = self.claim(&id) else {
            tracing::debug!(incident = %id, "already driven by another task");
            return;
        };
        // Another task may have moved it on since `state` was read: that task had it.
        if let Ok(Some(now)) = self.store().load(&id).await
            && now.incident.state != state
        {
            tracing::debug!(incident = %id, %state, now = %now.incident.state, "moved on meanwhile");
            return;
        }
        if let Err(err) = self.step(incident, state).await {
            tracing::error!(incident = %id, error = %err, "incident stopped; it resumes on restart");
        }
    }

    async fn step(&self, incident: Incident, state: IncidentState) -> Result<(), EngineError> {
        use IncidentState::{Approved, Diagnosed, Executing, Failed, Open, Verifying};
        match state {
            Open => {
                let Some(playbook) = self.playbook_or_escalate(&incident).await? else {
                    return Ok(());
                };
                let plan = self.diagnose(&incident, &playbook).await?;
                self.route(&incident, &playbook, plan).await
            }
            Diagnosed => {
                let Some(playbook) = self.playbook_or_escalate(&incident).await? else {
                    return Ok(());
                };
                let plan = self.latest_plan(&incident.id).await?;
                self.route(&incident, &playbook, plan).await
            }
            Approved | Executing | Verifying => self.resume_execution(&incident, state).await,
            Failed => {
                self.escalate(&incident.id, "an action failed before a restart")
                    .await
            }
            _ => Ok(()),
        }
    }

    /// The incident's playbook; when a reload removed it, the incident is escalated.
    pub(super) async fn playbook_or_escalate(
        &self,
        incident: &Incident,
    ) -> Result<Option<Playbook>, EngineError> {
        let rules = self.rules();
        if let Some(p) = rules.playbook(&incident.playbook) {
            return Ok(Some(p.clone()));
        }
        // The built-in investigation playbook serves a rule set without one.
        if let Some((_, p)) = rules
            .investigation()
            .filter(|(_, p)| p.name == incident.playbook)
        {
            return Ok(Some(p));
        }
        let why = format!("playbook {} no longer exists", incident.playbook);
        self.escalate(&incident.id, &why).await?;
        Ok(None)
    }

    pub(super) async fn latest_plan(&self, id: &str) -> Result<Plan, EngineError> {
        let record = self
            .store()
            .load(id)
            .await?
            .ok_or_else(|| EngineError::Missing(id.to_owned()))?;
        match record.plans.last() {
            Some(p) => Ok(p.plan.clone()),
            None => Err(EngineError::Missing(format!("{id} (plan)"))),
        }
    }

    /// Gathers, diagnoses and plans; records all three and moves the incident to `diagnosed`.
    pub(super) async fn diagnose(
        &self,
        incident: &Incident,
        playbook: &Playbook,
    ) -> Result<Plan, EngineError> {
        let store = self.store();
        let parts = self.parts();
        // An alert or a question follows the signal its objects raise, as in replay.
        let considered = self.considered(incident, playbook).await?;
        let (signal, playbook) = match &considered {
            Some((signal, playbook)) => (signal, playbook),
            None => (&incident.signal, playbook),
        };
        let gathered = parts.gatherer.gather(signal, &playbook.evidence).await;
        let id = &incident.id;
        self.emit(Progress::Gathered {
            incident: id.clone(),
            items: gathered
                .evidence
                .items
                .iter()
                .map(|i| i.id.clone())
                .collect(),
            problems: gathered.problems.clone(),
        });
        let now = self.now();
        let incident = &self.keep_workload(incident, gathered.workload, now).await?;
        let recent = store
            .recent_actions(now - parts.policy.lookback(), None)
            .await?;
        let (diagnosis, plan) = decide(
            considered
                .as_ref()
                .map_or(&incident.signal, |(signal, _)| signal),
            playbook,
            &gathered.evidence,
            &parts.policy,
            &recent,
            now,
        );
        let plan = self.hold_after_escalation(incident, plan, now).await?;
        store.record_evidence(id, &gathered.evidence, now).await?;
        if !gathered.problems.is_empty() {
            let detail = json!({"problems": gathered.problems});
            store
                .append_audit(
                    Some(id),
                    kinds::EVIDENCE_INCOMPLETE,
                    NIGHTSHIFT,
                    &detail,
                    now,
                )
                .await?;
        }
        store.record_diagnosis(id, &diagnosis, now).await?;
        let plan_hash = store.record_plan(id, &plan, now).await?;
        self.metrics().diagnosed(&incident.rule, diagnosis.category);
        self.emit(Progress::Decided {
            incident: id.clone(),
            diagnosis: Box::new(diagnosis),
            plan: Box::new(plan.clone()),
            plan_hash,
        });
        self.moved(
            id,
            IncidentState::Diagnosed,
            NIGHTSHIFT,
            "diagnosed and planned",
        )
        .await?;
        Ok(plan)
    }

    /// The incident with the workload the gatherer resolved, when its signal named none: the
    /// store keeps it (signal and scope), so the plan, the escalation hold and the verifier
    /// act on the workload, not on one pod.
    async fn keep_workload(
        &self,
        incident: &Incident,
        resolved: Option<ObjectRef>,
        now: Timestamp,
    ) -> Result<Incident, EngineError> {
        let Some(workload) = resolved.filter(|_| incident.signal.workload.is_none()) else {
            return Ok(incident.clone());
        };
        self.store()
            .record_workload(&incident.id, &workload, now)
            .await?;
        let mut kept = incident.clone();
        kept.signal.workload = Some(workload);
        Ok(kept)
    }

    /// After an escalation on the same workload, a mutating plan becomes `notify`.
    async fn hold_after_escalation(
        &self,
        incident: &Incident,
        plan: Plan,
        now: Timestamp,
    ) -> Result<Plan, EngineError> {
        if !plan.is_mutating() {
            return Ok(plan);
        }
        let Some(escalated) = self.escalation_in_hold(incident, now).await? else {
            return Ok(plan);
        };
        let reason = format!(
            "incident {} on {} was escalated at {}; nightshift takes no further automatic \
             action on it until the hold ends",
            escalated.incident,
            incident.scope(),
            escalated.at
        );
        Ok(downgrade(plan, reason))
    }

    /// The newest escalation of another incident on `incident`'s workload within
    /// `engine.escalation_hold` of `now`: while there is one, nightshift takes no further
    /// automatic action there.
    pub(super) async fn escalation_in_hold(
        &self,
        incident: &Incident,
        now: Timestamp,
    ) -> Result<Option<Escalation>, EngineError> {
        let since = now - self.parts().settings.escalation_hold;
        let escalated = self.store().escalated_on(incident.scope(), since).await?;
        Ok(escalated
            .filter(|e| e.id != incident.id)
            .map(|e| Escalation {
                at: e.closed_at.unwrap_or(e.opened_at),
                incident: e.id,
            }))
    }

    /// Sends a diagnosed incident on: a plan that changes nothing goes to a human as an
    /// escalation; a plan the playbook auto-approves runs; anything else waits for a human.
    pub(super) async fn route(
        &self,
        incident: &Incident,
        playbook: &Playbook,
        plan: Plan,
    ) -> Result<(), EngineError> {
        let id = &incident.id;
        if !plan.is_mutating() {
            let why = match &plan.downgraded {
                Some(d) => format!("policy refused the plan: {}", d.reason),
                None => "the plan is to notify: a human must look".to_owned(),
            };
            return self.escalate(id, &why).await;
        }
        let now = self.now();
        let auto = Some((playbook.name.as_str(), &playbook.approval));
        let namespace = incident.target.namespace.as_deref();
        if let Ok(authorized) = authorize(&plan, None, auto, namespace, now) {
            let why = format!("auto-approved by playbook {}", playbook.name);
            self.moved(id, IncidentState::Approved, authorized.by(), &why)
                .await?;
            return self.execute(incident, authorized).await;
        }
        self.moved(
            id,
            IncidentState::AwaitingApproval,
            NIGHTSHIFT,
            "paged: the plan needs a human approval",
        )
        .await
    }

    /// Records a transition and reports it.
    pub(super) async fn moved(
        &self,
        id: &str,
        to: IncidentState,
        by: &str,
        why: &str,
    ) -> Result<(), EngineError> {
        self.store().transition(id, to, by, self.now()).await?;
        if to.is_terminal() {
            // The next signal of that fingerprint must be judged by the store (cooldown).
            self.forget_seen();
        }
        self.emit(Progress::Moved {
            incident: id.to_owned(),
            to,
            by: by.to_owned(),
            why: why.to_owned(),
        });
        self.page(id, to, by, why).await;
        Ok(())
    }

    /// Tells the pager dispatcher about a state change: it records the pages it sends before
    /// returning and sends them in the background. The state change is already recorded; a
    /// page that cannot be recorded is logged, and the dispatcher's sweep pages an incident
    /// left awaiting approval without one.
    async fn page(&self, id: &str, to: IncidentState, by: &str, why: &str) {
        let Some(pager) = &self.inner.pager else {
            return;
        };
        let notice = crate::pagers::Notice {
            incident: id,
            to,
            by,
            why,
        };
        if let Err(err) = pager.notify(notice).await {
            tracing::error!(incident = %id, error = %err, "the page could not be recorded");
        }
    }

    /// Hands the incident to a human: no further automatic action on it.
    pub(super) async fn escalate(&self, id: &str, why: &str) -> Result<(), EngineError> {
        let detail = json!({"why": why});
        self.store()
            .append_audit(
                Some(id),
                kinds::INCIDENT_ESCALATION,
                NIGHTSHIFT,
                &detail,
                self.now(),
            )
            .await?;
        self.moved(id, IncidentState::Escalated, NIGHTSHIFT, why)
            .await
    }
}
