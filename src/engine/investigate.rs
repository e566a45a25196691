//! Investigations a person asked for (`nightshift investigate`, `POST /api/v1/investigations`):
//! the incident is opened and decided through the engine's normal path — intake, gather,
//! diagnose, plan, policy — and stops there. Nothing is executed: a mutating plan waits for a
//! human approval (the person who asked is at hand; an investigation is never auto-approved),
//! and a daemon on the store executes it once approved. A plan that changes nothing escalates.

use jiff::Timestamp;
use serde_json::json;

use super::Engine;
use super::lifecycle::{EngineError, NIGHTSHIFT};
use crate::domain::incident::{Incident, IncidentState};
use crate::domain::signal::Signal;
use crate::store::kinds;

/// What an investigation came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Investigated {
    /// A new incident, opened and decided (diagnosed, awaiting approval or escalated).
    Opened(String),
    /// The object's workload already had an open incident: that one answers (the question is
    /// recorded on it), and nothing new is opened.
    Joined(String),
    /// No incident could be opened (the rules open none for these signals, or a recent
    /// incident's cooldown holds).
    NotOpened,
}

impl Engine {
    /// Opens and decides the incident `signals` call for: the detectors' signals about the
    /// object first, the person's question (an investigation signal) last, exactly as
    /// [`crate::replay::investigation_signals`] orders them. Never executes anything.
    pub async fn investigate(
        &self,
        signals: Vec<Signal>,
        now: Timestamp,
    ) -> Result<Investigated, EngineError> {
        let Some(asked) = signals.iter().rev().find(|s| s.is_investigation()) else {
            return Ok(Investigated::NotOpened);
        };
        let scope = asked.workload.as_ref().unwrap_or(&asked.target);
        if let Some(open) = self.store().open_on_scope(scope).await? {
            self.record_question(&open.id, asked, now).await?;
            return Ok(Investigated::Joined(open.id));
        }
        let question = asked.clone();
        for signal in signals {
            if let Some(incident) = self.open(signal, now).await? {
                // Whichever signal opened it, the question is kept with the incident.
                self.record_question(&incident.id, &question, now).await?;
                self.decide_without_executing(&incident).await?;
                return Ok(Investigated::Opened(incident.id));
            }
        }
        Ok(Investigated::NotOpened)
    }

    /// Gathers, diagnoses and plans; a mutating plan waits for a human, one that changes
    /// nothing escalates.
    async fn decide_without_executing(&self, incident: &Incident) -> Result<(), EngineError> {
        let Some(playbook) = self.playbook_or_escalate(incident).await? else {
            return Ok(());
        };
        let plan = self.diagnose(incident, &playbook).await?;
        if plan.is_mutating() {
            let why = "investigated on request: the plan needs a human approval";
            self.moved(
                &incident.id,
                IncidentState::AwaitingApproval,
                NIGHTSHIFT,
                why,
            )
            .await
        } else {
            self.route(incident, &playbook, plan).await
        }
    }

    async fn record_question(
        &self,
        id: &str,
        asked: &Signal,
        now: Timestamp,
    ) -> Result<(), EngineError> {
        let detail = json!({
            "target": asked.target.to_string(),
            "question": asked.message,
        });
        self.store()
            .append_audit(
                Some(id),
                kinds::INVESTIGATION_ASKED,
                NIGHTSHIFT,
                &detail,
                now,
            )
            .await?;
        Ok(())
    }
}
