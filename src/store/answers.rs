//! Recording a human's answer: the decision row, the used link's nonce (single use) and the
//! audit row, all in one transaction. Two answers racing — the same link posted twice, two
//! approvers at once — are serialized by the write lock (SQLite `BEGIN IMMEDIATE`, PostgreSQL
//! `FOR UPDATE` on the incident), and the nonce's primary key backs that up.

use jiff::Timestamp;
use serde_json::json;

use super::audit::{self, Entry, kinds};
use super::error::{Context, Result};
use super::incidents::live_state;
use super::records::{Decision, recorded_plan};
use super::{Backend, Store, millis, timestamp};

/// One answer to record.
#[derive(Debug, Clone, Copy)]
pub struct Answer<'a> {
    /// The incident.
    pub id: &'a str,
    /// The full hash of the plan answered.
    pub plan_hash: &'a str,
    /// The decision.
    pub decision: Decision,
    /// Who answered.
    pub actor: &'a str,
    /// Why, if they said (kept in the audit row).
    pub reason: Option<&'a str>,
    /// The link's nonce when the answer came by link; consumed here.
    pub nonce: Option<&'a str>,
    /// How many distinct approvers the plan needs (1, or 2 under the two-person rule): an
    /// approval beyond that, or a second one by the same approver, records nothing.
    pub required: usize,
    /// How the answer arrived (`link`, `cli`), for the audit row.
    pub via: &'a str,
}

/// What recording an answer did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnswerOutcome {
    /// Recorded (and the link's nonce consumed).
    Recorded,
    /// Nothing new: this decision is already recorded as far as it counts (same approver, or
    /// enough approvers already, or already denied / expired). The link is not consumed.
    AlreadyRecorded,
    /// The link was used before, by `actor` at `at`: nothing recorded.
    LinkUsed {
        /// Who used it.
        actor: String,
        /// When.
        at: Timestamp,
    },
}

impl Store {
    /// Records `answer` atomically (see the module documentation). Refused like
    /// [`Store::record_approval`] for an unknown plan or a replayed incident.
    pub async fn record_answer(&self, answer: Answer<'_>, now: Timestamp) -> Result<AnswerOutcome> {
        let mut tx = self.begin_write().await?;
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT id FROM incidents WHERE id = $1 FOR UPDATE")
                .bind(answer.id)
                .execute(&mut *tx)
                .await
                .context("locking an incident to record a decision")?;
        }
        if let Some(nonce) = answer.nonce {
            let used: Option<(String, i64)> =
                sqlx::query_as("SELECT actor, at FROM link_nonces WHERE nonce = $1")
                    .bind(nonce)
                    .fetch_optional(&mut *tx)
                    .await
                    .context("looking for a used link")?;
            if let Some((actor, at)) = used {
                return Ok(AnswerOutcome::LinkUsed {
                    actor,
                    at: timestamp(at, "a used link's time")?,
                });
            }
        }
        live_state(&mut tx, answer.id).await?;
        recorded_plan(&mut tx, answer.id, answer.plan_hash).await?;
        let earlier: Vec<String> = sqlx::query_scalar(
            "SELECT actor FROM approvals WHERE incident_id = $1 AND plan_hash = $2 \
             AND decision = $3",
        )
        .bind(answer.id)
        .bind(answer.plan_hash)
        .bind(answer.decision.as_str())
        .fetch_all(&mut *tx)
        .await
        .context("looking for an earlier decision")?;
        let mut distinct: Vec<&str> = Vec::new();
        for actor in &earlier {
            if !distinct.contains(&actor.as_str()) {
                distinct.push(actor);
            }
        }
        let enough = match answer.decision {
            Decision::Approved => {
                distinct.contains(&answer.actor) || distinct.len() >= answer.required.max(1)
            }
            Decision::Denied | Decision::Expired => !distinct.is_empty(),
        };
        if enough {
            return Ok(AnswerOutcome::AlreadyRecorded);
        }
        sqlx::query(
            "INSERT INTO approvals (incident_id, plan_hash, decision, actor, at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(answer.id)
        .bind(answer.plan_hash)
        .bind(answer.decision.as_str())
        .bind(answer.actor)
        .bind(millis(now))
        .execute(&mut *tx)
        .await
        .context("storing an approval")?;
        if let Some(nonce) = answer.nonce {
            sqlx::query(
                "INSERT INTO link_nonces (nonce, incident_id, plan_hash, decision, actor, at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(nonce)
            .bind(answer.id)
            .bind(answer.plan_hash)
            .bind(answer.decision.as_str())
            .bind(answer.actor)
            .bind(millis(now))
            .execute(&mut *tx)
            .await
            .context("consuming a link")?;
        }
        let mut detail = json!({
            "plan_hash": answer.plan_hash,
            "decision": answer.decision,
            "via": answer.via,
        });
        if let Some(reason) = answer.reason {
            detail["reason"] = json!(reason);
        }
        if answer.decision == Decision::Approved && answer.required > 1 {
            detail["approvers"] = json!(distinct.len() + 1);
            detail["required"] = json!(answer.required);
        }
        let entry = Entry {
            incident_id: Some(answer.id),
            kind: kinds::APPROVAL_RECORDED,
            actor: answer.actor,
            detail,
            at: now,
        };
        audit::append(&mut tx, self.backend, entry).await?;
        tx.commit().await.context("committing an approval")?;
        Ok(AnswerOutcome::Recorded)
    }

    /// Whether the link with `nonce` was used, and by whom and when.
    pub async fn link_used(&self, nonce: &str) -> Result<Option<(String, Timestamp)>> {
        let used: Option<(String, i64)> =
            sqlx::query_as("SELECT actor, at FROM link_nonces WHERE nonce = $1")
                .bind(nonce)
                .fetch_optional(&self.pool)
                .await
                .context("looking for a used link")?;
        used.map(|(actor, at)| Ok((actor, timestamp(at, "a used link's time")?)))
            .transpose()
    }
}
