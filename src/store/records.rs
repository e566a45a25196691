//! What happens to an incident after it opens: evidence, diagnoses, plans, approvals bound to a
//! plan hash, and verification verdicts (actions are in `actions`). Every write is audited in
//! the same transaction.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::AnyConnection;

use super::actions::Recorded;
use super::audit::{self, Entry, kinds};
use super::error::{Context, Result};
use super::incidents::current_state;
use super::{Store, StoreError, from_json, millis, to_json};
use crate::domain::diagnosis::Diagnosis;
use crate::domain::evidence::Evidence;
use crate::domain::plan::Plan;

/// The actor the store names for steps nightshift takes on its own.
pub(crate) const NIGHTSHIFT: &str = "nightshift";

/// What happened to a plan put in front of a human.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Decision {
    /// Approved: the plan with this hash may run.
    Approved,
    /// Refused.
    Denied,
    /// Nobody answered in time.
    Expired,
}

impl Decision {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Approved => "approved",
            Decision::Denied => "denied",
            Decision::Expired => "expired",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Decision> {
        [Decision::Approved, Decision::Denied, Decision::Expired]
            .into_iter()
            .find(|decision| decision.as_str() == s)
    }
}

/// The stored plan for `(id, plan_hash)`, or [`StoreError::UnknownPlan`].
pub(crate) async fn recorded_plan(
    conn: &mut AnyConnection,
    id: &str,
    plan_hash: &str,
) -> Result<Plan> {
    let text: Option<String> =
        sqlx::query_scalar("SELECT plan FROM plans WHERE incident_id = $1 AND hash = $2")
            .bind(id)
            .bind(plan_hash)
            .fetch_optional(&mut *conn)
            .await
            .context("reading a plan")?;
    let text = text.ok_or_else(|| StoreError::UnknownPlan {
        id: id.to_owned(),
        plan_hash: plan_hash.to_owned(),
    })?;
    from_json(&text, &format!("plan {plan_hash} of incident {id}"))
}

impl Store {
    /// Stores evidence items. An item id seen before for this incident has its facts replaced
    /// (re-gathering after a restart is harmless) and keeps its original position.
    pub async fn record_evidence(
        &self,
        id: &str,
        evidence: &Evidence,
        now: Timestamp,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        current_state(&mut tx, id).await?;
        for item in &evidence.items {
            sqlx::query(
                "INSERT INTO evidence (incident_id, item_id, facts) VALUES ($1, $2, $3) \
                 ON CONFLICT (incident_id, item_id) DO UPDATE SET facts = excluded.facts",
            )
            .bind(id)
            .bind(&item.id)
            .bind(to_json(&item.facts, "evidence facts")?)
            .execute(&mut *tx)
            .await
            .context("storing evidence")?;
        }
        let ids: Vec<&str> = evidence.items.iter().map(|item| item.id.as_str()).collect();
        let entry = Entry {
            incident_id: Some(id),
            kind: kinds::EVIDENCE_RECORDED,
            actor: NIGHTSHIFT,
            detail: json!({"items": ids}),
            at: now,
        };
        audit::append(&mut tx, self.backend, entry).await?;
        tx.commit().await.context("committing evidence")
    }

    /// Stores a diagnosis; the newest one is the incident's diagnosis. The audit actor is the
    /// diagnoser (`rules`, `llm:<provider>`).
    pub async fn record_diagnosis(
        &self,
        id: &str,
        diagnosis: &Diagnosis,
        now: Timestamp,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        current_state(&mut tx, id).await?;
        sqlx::query(
            "INSERT INTO diagnoses (incident_id, category, diagnosis, created_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(id)
        .bind(diagnosis.category.as_str())
        .bind(to_json(diagnosis, "a diagnosis")?)
        .bind(millis(now))
        .execute(&mut *tx)
        .await
        .context("storing a diagnosis")?;
        let entry = Entry {
            incident_id: Some(id),
            kind: kinds::DIAGNOSIS_RECORDED,
            actor: &diagnosis.diagnoser,
            detail: json!({
                "category": diagnosis.category,
                "contributing": diagnosis.contributing,
                "confidence": diagnosis.confidence,
                "evidence": diagnosis.evidence,
            }),
            at: now,
        };
        audit::append(&mut tx, self.backend, entry).await?;
        tx.commit().await.context("committing a diagnosis")
    }

    /// Stores a plan under its hash and returns the hash. Recording the same plan again for the
    /// same incident is a no-op (and is not audited twice).
    pub async fn record_plan(&self, id: &str, plan: &Plan, now: Timestamp) -> Result<String> {
        let hash = plan.hash();
        let mut tx = self.begin_write().await?;
        current_state(&mut tx, id).await?;
        let inserted = sqlx::query(
            "INSERT INTO plans (incident_id, hash, plan, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (incident_id, hash) DO NOTHING",
        )
        .bind(id)
        .bind(&hash)
        .bind(to_json(plan, "a plan")?)
        .bind(millis(now))
        .execute(&mut *tx)
        .await
        .context("storing a plan")?;
        if inserted.rows_affected() == 1 {
            let tools: Vec<&str> = plan.actions.iter().map(|a| a.tool.as_str()).collect();
            let entry = Entry {
                incident_id: Some(id),
                kind: kinds::PLAN_RECORDED,
                actor: NIGHTSHIFT,
                detail: json!({
                    "hash": hash,
                    "tools": tools,
                    "requires_approval": plan.requires_approval,
                    "risk": plan.risk,
                    "downgraded": plan.downgraded.as_ref().map(|d| &d.reason),
                }),
                at: now,
            };
            audit::append(&mut tx, self.backend, entry).await?;
        }
        tx.commit().await.context("committing a plan")?;
        Ok(hash)
    }

    /// Records a decision on the plan with `plan_hash`. Refused with
    /// [`StoreError::UnknownPlan`] unless that plan was recorded for this incident, and with
    /// [`StoreError::Replayed`] for a replayed incident. The same decision on the same plan a
    /// second time writes nothing — no row, no audit entry — and says so with
    /// [`Recorded::AlreadyRecorded`].
    pub async fn record_approval(
        &self,
        id: &str,
        plan_hash: &str,
        decision: Decision,
        actor: &str,
        now: Timestamp,
    ) -> Result<Recorded> {
        let answer = super::Answer {
            id,
            plan_hash,
            decision,
            actor,
            reason: None,
            nonce: None,
            required: 1,
            via: "store",
        };
        Ok(match self.record_answer(answer, now).await? {
            super::AnswerOutcome::Recorded => Recorded::Recorded,
            _ => Recorded::AlreadyRecorded,
        })
    }

    /// Stores a verification verdict (whatever the verifier reports, as JSON).
    pub async fn record_verification(
        &self,
        id: &str,
        verdict: &Value,
        now: Timestamp,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        current_state(&mut tx, id).await?;
        sqlx::query("INSERT INTO verifications (incident_id, verdict, at) VALUES ($1, $2, $3)")
            .bind(id)
            .bind(to_json(verdict, "a verification verdict")?)
            .bind(millis(now))
            .execute(&mut *tx)
            .await
            .context("storing a verification verdict")?;
        let entry = Entry {
            incident_id: Some(id),
            kind: kinds::VERIFICATION_RECORDED,
            actor: NIGHTSHIFT,
            detail: verdict.clone(),
            at: now,
        };
        audit::append(&mut tx, self.backend, entry).await?;
        tx.commit()
            .await
            .context("committing a verification verdict")
    }
}
