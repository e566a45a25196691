//! The kill switch: one row saying whether nightshift is paused, by whom, why and since when.
//! Every daemon on the store reads it right before it sends anything to the cluster, so
//! `nightshift pause` stops every mutation of every replica at once. Each switch is a
//! compare-and-set on the row and an audit row, in one transaction.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::Row;

use super::audit::{self, Entry, kinds};
use super::error::{Context, Result};
use super::{Store, millis, timestamp};

/// A pause in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pause {
    /// Who paused nightshift.
    pub by: String,
    /// Why.
    pub reason: String,
    /// Since when.
    pub since: Timestamp,
}

impl std::fmt::Display for Pause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "paused by {} since {}: {}",
            self.by, self.since, self.reason
        )
    }
}

/// What a pause or resume did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Switched {
    /// The switch moved; an audit row records it.
    Changed,
    /// It was already in that position; nothing was written.
    AlreadySo,
}

impl Store {
    /// The pause in force, if nightshift is paused.
    pub async fn paused(&self) -> Result<Option<Pause>> {
        let row = sqlx::query("SELECT paused, actor, reason, at FROM pause WHERE id = 1")
            .fetch_one(&self.pool)
            .await
            .context("reading the kill switch")?;
        decode(&row)
    }

    /// Pauses every mutation by every daemon on this store until [`Store::resume`].
    pub async fn pause(&self, by: &str, reason: &str, now: Timestamp) -> Result<Switched> {
        self.switch(true, by, reason, now).await
    }

    /// Lifts a pause.
    pub async fn resume(&self, by: &str, reason: &str, now: Timestamp) -> Result<Switched> {
        self.switch(false, by, reason, now).await
    }

    async fn switch(&self, on: bool, by: &str, reason: &str, now: Timestamp) -> Result<Switched> {
        let mut tx = self.begin_write().await?;
        let changed = sqlx::query(
            "UPDATE pause SET paused = $1, actor = $2, reason = $3, at = $4 \
             WHERE id = 1 AND paused = $5",
        )
        .bind(i64::from(on))
        .bind(by)
        .bind(reason)
        .bind(millis(now))
        .bind(i64::from(!on))
        .execute(&mut *tx)
        .await
        .context("switching the kill switch")?;
        if changed.rows_affected() == 0 {
            return Ok(Switched::AlreadySo);
        }
        let entry = Entry {
            incident_id: None,
            kind: if on {
                kinds::NIGHTSHIFT_PAUSED
            } else {
                kinds::NIGHTSHIFT_RESUMED
            },
            actor: by,
            detail: json!({"reason": reason}),
            at: now,
        };
        audit::append(&mut tx, self.backend, entry).await?;
        tx.commit().await.context("committing the kill switch")?;
        Ok(Switched::Changed)
    }
}

/// The pause a `pause` row describes, if it is on.
pub(crate) fn decode(row: &sqlx::any::AnyRow) -> Result<Option<Pause>> {
    let get = "reading the kill switch";
    let paused: i64 = row.try_get("paused").context(get)?;
    if paused == 0 {
        return Ok(None);
    }
    Ok(Some(Pause {
        by: row.try_get("actor").context(get)?,
        reason: row.try_get("reason").context(get)?,
        since: timestamp(row.try_get("at").context(get)?, "pause time")?,
    }))
}
