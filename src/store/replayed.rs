//! Replays recorded before the `replayed` state existed were left `diagnosed`, where a daemon
//! would resume, page and execute them. [`Store::retire_old_replays`] finds them by the audit
//! row that moved them (actor `replay`) and closes them as `replayed`, audited — the one move
//! into `replayed` the state machine does not make, because it repairs what it never allowed.

use jiff::Timestamp;
use serde_json::json;

use super::audit::{self, Entry, kinds};
use super::error::{Context, Result};
use super::incidents::current_state;
use super::{Store, millis};
use crate::domain::incident::IncidentState;

/// The actor `nightshift replay --record` wrote on the transitions it recorded.
const REPLAY_ACTOR: &str = "replay";

impl Store {
    /// Closes every unfinished incident a replay recorded as `replayed`; returns their ids.
    pub async fn retire_old_replays(&self, now: Timestamp) -> Result<Vec<String>> {
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT i.id FROM incidents i JOIN audit a ON a.incident_id = i.id \
             WHERE i.closed_at IS NULL AND a.actor = $1 AND a.kind = $2 ORDER BY i.id",
        )
        .bind(REPLAY_ACTOR)
        .bind(kinds::INCIDENT_TRANSITIONED)
        .fetch_all(&self.pool)
        .await
        .context("looking for incidents recorded by a replay")?;
        let mut retired = Vec::new();
        for id in ids {
            if self.retire_replay(&id, now).await? {
                retired.push(id);
            }
        }
        Ok(retired)
    }

    async fn retire_replay(&self, id: &str, now: Timestamp) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let from = current_state(&mut tx, id).await?;
        let at = millis(now);
        let updated = sqlx::query(
            "UPDATE incidents SET state = $1, updated_at = $2, closed_at = $2 \
             WHERE id = $3 AND state = $4 AND closed_at IS NULL",
        )
        .bind(IncidentState::Replayed.as_str())
        .bind(at)
        .bind(id)
        .bind(from.as_str())
        .execute(&mut *tx)
        .await
        .context("closing an incident recorded by a replay")?;
        if updated.rows_affected() != 1 {
            return Ok(false);
        }
        let entry = Entry {
            incident_id: Some(id),
            kind: kinds::INCIDENT_TRANSITIONED,
            actor: "nightshift",
            detail: json!({
                "from": from,
                "to": IncidentState::Replayed,
                "why": "recorded by `nightshift replay`: a replay is never acted on",
            }),
            at: now,
        };
        audit::append(&mut tx, self.backend, entry).await?;
        tx.commit().await.context("committing a retired replay")?;
        tracing::warn!(incident = %id, %from, "closed an incident recorded by a replay");
        Ok(true)
    }
}
