//! Intake batches: many signals judged and written in ONE write transaction, so concurrent
//! webhook requests (and a group of 50 alerts) share one commit instead of paying one each.
//! The caller (the engine's intake writer) makes the decisions; the batch gives it the reads
//! it decides on — through the same transaction, so a later signal in the batch sees what an
//! earlier one wrote — and the writes. Nothing is visible to anyone else until
//! [`IntakeBatch::commit`]; a failure anywhere drops the whole batch.
//!
//! The audit chain head is read first (locked on PostgreSQL), advanced in memory by every
//! append and written back once at commit. An incident is inserted with `ON CONFLICT DO NOTHING`: the
//! database's one-open-incident-per-fingerprint index stays the authority, and a conflict
//! (another daemon won the race) is an answer, not an error that would abort the transaction.

use jiff::Timestamp;
use serde_json::Value;
use sqlx::{Any, Row, Transaction};

use super::audit::{Entry, Head};
use super::error::{Context, Result};
use super::incidents::{self, IncidentSummary, insert_row, opened_entry};
use super::{Store, from_json};
use crate::domain::incident::Incident;
use crate::domain::rule::Existing;
use crate::domain::signal::ObjectRef;

/// What inserting an incident in a batch did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    /// Stored, with its audit row.
    Opened,
    /// Refused by the database: an incident with this fingerprint is open, or the id is taken.
    Conflict,
}

/// An open write transaction for a batch of intakes.
pub struct IntakeBatch {
    tx: Transaction<'static, Any>,
    head: Head,
    /// Whether any row was appended after `head` (it is written back only then).
    appended: bool,
}

impl Store {
    /// Begins a batch and takes the audit chain head first (on SQLite the write lock is taken
    /// up front; on PostgreSQL the head row is locked): every batch, from whichever daemon on
    /// the database, takes its locks in the same order — head, then incident rows — so two
    /// batches inserting the same fingerprint wait on each other instead of deadlocking.
    pub async fn begin_intake(&self) -> Result<IntakeBatch> {
        let mut tx = self.begin_write().await?;
        let head = Head::read(&mut tx, self.backend).await?;
        Ok(IntakeBatch {
            tx,
            head,
            appended: false,
        })
    }
}

impl IntakeBatch {
    /// The newest non-replayed incident with `fingerprint`, as this batch sees it.
    pub async fn latest_by_fingerprint(&mut self, fingerprint: &str) -> Result<Option<Existing>> {
        incidents::latest_by_fingerprint(&mut *self.tx, fingerprint).await
    }

    /// The oldest open incident about workload `scope`, as this batch sees it.
    pub async fn open_on_scope(&mut self, scope: &ObjectRef) -> Result<Option<IncidentSummary>> {
        incidents::open_on_scope(&mut *self.tx, scope).await
    }

    /// Whether incident `id`'s audit trail already holds a row of `kind` whose detail names
    /// `fingerprint` (a signal recorded as joined before a restart, or earlier in this batch).
    pub async fn has_audit_for(&mut self, id: &str, kind: &str, fingerprint: &str) -> Result<bool> {
        let rows = sqlx::query("SELECT detail FROM audit WHERE incident_id = $1 AND kind = $2")
            .bind(id)
            .bind(kind)
            .fetch_all(&mut *self.tx)
            .await
            .context("reading an incident's audit rows")?;
        for row in rows {
            let text: String = row.try_get("detail").context("reading an audit row")?;
            let detail: Value = from_json(&text, &format!("audit detail of incident {id}"))?;
            if detail.get("fingerprint").and_then(Value::as_str) == Some(fingerprint) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Inserts a newly opened incident and its audit row, unless the database refuses it.
    pub async fn insert_incident(&mut self, incident: &Incident) -> Result<Inserted> {
        let inserted = insert_row(&mut self.tx, incident, "ON CONFLICT DO NOTHING")
            .await?
            .context("inserting an incident")?;
        if inserted == 0 {
            return Ok(Inserted::Conflict);
        }
        self.append(opened_entry(incident)).await?;
        Ok(Inserted::Opened)
    }

    /// Appends an audit row about `incident_id`.
    pub async fn append_audit(
        &mut self,
        incident_id: Option<&str>,
        kind: &str,
        actor: &str,
        detail: &Value,
        at: Timestamp,
    ) -> Result<()> {
        let entry = Entry {
            incident_id,
            kind,
            actor,
            detail: detail.clone(),
            at,
        };
        self.append(entry).await
    }

    async fn append(&mut self, entry: Entry<'_>) -> Result<()> {
        self.head.append(&mut self.tx, entry).await?;
        self.appended = true;
        Ok(())
    }

    /// Writes the audit head and commits: every write of the batch becomes visible at once.
    pub async fn commit(mut self) -> Result<()> {
        if self.appended {
            self.head.write(&mut self.tx).await?;
        }
        self.tx.commit().await.context("committing an intake batch")
    }
}
