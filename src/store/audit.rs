//! The audit log: append-only and hash-chained. Each row's `hash` is the SHA-256 (hex) of its
//! predecessor's hash followed by the canonical JSON of its own fields, so changing, removing or
//! reordering any row breaks every link after it. Triggers refuse UPDATE and DELETE; the chain
//! catches whatever gets past them (a dropped trigger, a hand-edited file).

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::error::{Context, Result};
use super::{Backend, Store, StoreError, millis, timestamp};
use crate::domain::plan::{canonical_json, hex};

/// The `prev_hash` of the first row.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The `kind`s of audit rows: the ones the store appends itself, and the engine's.
pub mod kinds {
    /// An incident was stored.
    pub const INCIDENT_OPENED: &str = "incident.opened";
    /// An incident changed state.
    pub const INCIDENT_TRANSITIONED: &str = "incident.transitioned";
    /// Evidence items were stored.
    pub const EVIDENCE_RECORDED: &str = "evidence.recorded";
    /// A diagnosis was stored.
    pub const DIAGNOSIS_RECORDED: &str = "diagnosis.recorded";
    /// A plan was stored.
    pub const PLAN_RECORDED: &str = "plan.recorded";
    /// A human (or the expiry timer) decided on a plan.
    pub const APPROVAL_RECORDED: &str = "approval.recorded";
    /// An action of a plan was claimed or carried out.
    pub const ACTION_RECORDED: &str = "action.recorded";
    /// A started action finished.
    pub const ACTION_COMPLETED: &str = "action.completed";
    /// A verification verdict was stored.
    pub const VERIFICATION_RECORDED: &str = "verification.recorded";
    /// The engine handed an incident to a human, and why.
    pub const INCIDENT_ESCALATION: &str = "incident.escalation";
    /// Some evidence could not be gathered (which requests failed).
    pub const EVIDENCE_INCOMPLETE: &str = "evidence.incomplete";
    /// A signal of another rule about the same workload joined an open incident.
    pub const SIGNAL_JOINED: &str = "signal.joined";
    /// A person asked nightshift to investigate the incident's object (`nightshift investigate`,
    /// `POST /api/v1/investigations`): the object and the question.
    pub const INVESTIGATION_ASKED: &str = "investigation.asked";
    /// Someone pulled the kill switch: no mutation until resumed (detail: the reason).
    pub const NIGHTSHIFT_PAUSED: &str = "nightshift.paused";
    /// Someone lifted the kill switch.
    pub const NIGHTSHIFT_RESUMED: &str = "nightshift.resumed";
    /// An authorized plan waits because nightshift is paused; it runs once resumed.
    pub const EXECUTION_HELD: &str = "execution.held";
    /// The gatherer named the workload of an incident whose signal did not; it was kept.
    pub const WORKLOAD_RESOLVED: &str = "incident.workload_resolved";
    /// An alert's or a question's incident is diagnosed with a signal its objects raise (detail:
    /// that signal's rule, playbook, reason and target), as replay would.
    pub const SIGNAL_CONSIDERED: &str = "signal.considered";
    /// Alertmanager said an alert of this incident resolved (detail: alertname, fingerprint).
    pub const ALERT_RESOLVED: &str = "alert.resolved";
}

/// One audit row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRow {
    /// Position in the chain, from 1, without gaps.
    pub seq: i64,
    /// When it happened.
    pub at: Timestamp,
    /// The incident concerned, if any.
    pub incident_id: Option<String>,
    /// What happened (see [`kinds`]).
    pub kind: String,
    /// Who did it (`nightshift`, a diagnoser, a person's name).
    pub actor: String,
    /// The specifics.
    pub detail: Value,
    /// The previous row's hash ([`GENESIS_HASH`] for the first).
    pub prev_hash: String,
    /// This row's hash.
    pub hash: String,
}

/// The result of walking the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditReport {
    /// How many rows were read.
    pub rows: u64,
    /// The first row that does not verify, if any.
    pub first_broken: Option<BrokenRow>,
}

impl AuditReport {
    /// Whether every row verified.
    pub fn is_intact(&self) -> bool {
        self.first_broken.is_none()
    }
}

/// A row that does not verify, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BrokenRow {
    /// The row's `seq`.
    pub seq: i64,
    /// What is wrong with it.
    pub reason: String,
}

/// What an append writes; `seq`, `prev_hash` and `hash` come from the chain head.
pub(crate) struct Entry<'a> {
    pub incident_id: Option<&'a str>,
    pub kind: &'a str,
    pub actor: &'a str,
    pub detail: Value,
    pub at: Timestamp,
}

/// The hash of a row: SHA-256 over `prev_hash` and the canonical JSON of the other fields.
pub fn row_hash(
    prev_hash: &str,
    seq: i64,
    at_ms: i64,
    incident_id: Option<&str>,
    kind: &str,
    actor: &str,
    detail: &Value,
) -> String {
    let fields = json!({
        "seq": seq,
        "at": at_ms,
        "incident_id": incident_id,
        "kind": kind,
        "actor": actor,
        "detail": detail,
    });
    let mut hasher = Sha256::new();
    hasher.update(prev_hash.as_bytes());
    hasher.update(canonical_json(&fields).as_bytes());
    hex(&hasher.finalize())
}

/// Appends a row inside the caller's transaction. On PostgreSQL the chain head is locked
/// `FOR UPDATE` until the transaction ends; on SQLite the caller holds the write lock.
pub(crate) async fn append(
    conn: &mut AnyConnection,
    backend: Backend,
    entry: Entry<'_>,
) -> Result<AuditRow> {
    let mut head = Head::read(conn, backend).await?;
    let row = head.append(conn, entry).await?;
    head.write(conn).await?;
    Ok(row)
}

/// The chain head as a transaction sees it: several rows can be appended after one read of it
/// and one write of it at the end (a batch of intakes), inside the same transaction.
pub(crate) struct Head {
    seq: i64,
    hash: String,
}

impl Head {
    /// Reads (and on PostgreSQL locks until the transaction ends) the chain head.
    pub(crate) async fn read(conn: &mut AnyConnection, backend: Backend) -> Result<Head> {
        let head_sql = match backend {
            Backend::Postgres => "SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE",
            Backend::Sqlite => "SELECT seq, hash FROM audit_head WHERE id = 1",
        };
        let head = sqlx::query(head_sql)
            .fetch_one(&mut *conn)
            .await
            .context("reading the audit chain head")?;
        Ok(Head {
            seq: head
                .try_get("seq")
                .context("reading the audit chain head")?,
            hash: head
                .try_get("hash")
                .context("reading the audit chain head")?,
        })
    }

    /// Inserts the row after this head and moves the head past it (in memory; see
    /// [`Head::write`]).
    pub(crate) async fn append(
        &mut self,
        conn: &mut AnyConnection,
        entry: Entry<'_>,
    ) -> Result<AuditRow> {
        let seq = self.seq + 1;
        let prev_hash = self.hash.clone();
        let at_ms = millis(entry.at);
        let hash = row_hash(
            &prev_hash,
            seq,
            at_ms,
            entry.incident_id,
            entry.kind,
            entry.actor,
            &entry.detail,
        );
        sqlx::query(
            "INSERT INTO audit (seq, at, incident_id, kind, actor, detail, prev_hash, hash) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(seq)
        .bind(at_ms)
        .bind(entry.incident_id)
        .bind(entry.kind)
        .bind(entry.actor)
        .bind(canonical_json(&entry.detail))
        .bind(&prev_hash)
        .bind(&hash)
        .execute(&mut *conn)
        .await
        .context("appending an audit row")?;
        self.seq = seq;
        self.hash.clone_from(&hash);
        Ok(AuditRow {
            seq,
            at: entry.at,
            incident_id: entry.incident_id.map(str::to_owned),
            kind: entry.kind.to_owned(),
            actor: entry.actor.to_owned(),
            detail: entry.detail,
            prev_hash,
            hash,
        })
    }

    /// Stores the head as it now stands.
    pub(crate) async fn write(&self, conn: &mut AnyConnection) -> Result<()> {
        sqlx::query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1")
            .bind(self.seq)
            .bind(&self.hash)
            .execute(&mut *conn)
            .await
            .context("advancing the audit chain head")?;
        Ok(())
    }
}

/// The columns of an audit row, in `decode` order.
pub(crate) const COLUMNS: &str = "seq, at, incident_id, kind, actor, detail, prev_hash, hash";

/// A stored row as read, before its detail is parsed.
struct RawRow {
    seq: i64,
    at_ms: i64,
    incident_id: Option<String>,
    kind: String,
    actor: String,
    detail: String,
    prev_hash: String,
    hash: String,
}

impl RawRow {
    fn read(row: &AnyRow) -> Result<RawRow> {
        let get = "reading an audit row";
        Ok(RawRow {
            seq: row.try_get("seq").context(get)?,
            at_ms: row.try_get("at").context(get)?,
            incident_id: row.try_get("incident_id").context(get)?,
            kind: row.try_get("kind").context(get)?,
            actor: row.try_get("actor").context(get)?,
            detail: row.try_get("detail").context(get)?,
            prev_hash: row.try_get("prev_hash").context(get)?,
            hash: row.try_get("hash").context(get)?,
        })
    }

    /// Why this row does not verify after `prev` (seq and hash of the row before), if it does not.
    fn fault(&self, prev_seq: i64, prev_hash: &str) -> Option<String> {
        if self.seq != prev_seq + 1 {
            return Some(format!(
                "expected seq {} after {prev_seq}: rows are missing",
                prev_seq + 1
            ));
        }
        if self.prev_hash != prev_hash {
            return Some(format!(
                "prev_hash {} does not link to the hash of seq {prev_seq} ({prev_hash})",
                self.prev_hash
            ));
        }
        let detail: Value = match serde_json::from_str(&self.detail) {
            Ok(detail) => detail,
            Err(err) => return Some(format!("detail is not JSON: {err}")),
        };
        if canonical_json(&detail) != self.detail {
            return Some("detail is not in canonical JSON form".to_owned());
        }
        let expected = row_hash(
            &self.prev_hash,
            self.seq,
            self.at_ms,
            self.incident_id.as_deref(),
            &self.kind,
            &self.actor,
            &detail,
        );
        (expected != self.hash).then(|| {
            format!(
                "hash {} does not match the row's contents (expected {expected})",
                self.hash
            )
        })
    }

    fn into_row(self) -> Result<AuditRow> {
        let what = format!("audit row {}", self.seq);
        Ok(AuditRow {
            at: timestamp(self.at_ms, &what)?,
            detail: serde_json::from_str(&self.detail).map_err(|err| StoreError::Corrupt {
                what,
                reason: err.to_string(),
            })?,
            seq: self.seq,
            incident_id: self.incident_id,
            kind: self.kind,
            actor: self.actor,
            prev_hash: self.prev_hash,
            hash: self.hash,
        })
    }
}

/// Decodes audit rows selected with [`COLUMNS`].
pub(crate) fn decode(rows: &[AnyRow]) -> Result<Vec<AuditRow>> {
    rows.iter()
        .map(|row| RawRow::read(row)?.into_row())
        .collect()
}

/// How many rows `verify_audit` reads per query.
const PAGE: usize = 500;

impl Store {
    /// Appends an audit row on its own (for events outside the incident tables: a config
    /// reload, a denied login, a manual note).
    pub async fn append_audit(
        &self,
        incident_id: Option<&str>,
        kind: &str,
        actor: &str,
        detail: &Value,
        now: Timestamp,
    ) -> Result<AuditRow> {
        let mut tx = self.begin_write().await?;
        let entry = Entry {
            incident_id,
            kind,
            actor,
            detail: detail.clone(),
            at: now,
        };
        let row = append(&mut tx, self.backend, entry).await?;
        tx.commit().await.context("committing an audit row")?;
        Ok(row)
    }

    /// Walks the chain in `seq` order and reports the first row whose `seq`, `prev_hash` link or
    /// `hash` does not verify; then checks the chain head agrees with the last row (which
    /// catches rows removed from the end).
    pub async fn verify_audit(&self) -> Result<AuditReport> {
        let mut conn = self.begin_read().await?;
        let mut rows = 0u64;
        let (mut prev_seq, mut prev_hash) = (0i64, GENESIS_HASH.to_owned());
        loop {
            let page = sqlx::query(&format!(
                "SELECT {COLUMNS} FROM audit WHERE seq > $1 ORDER BY seq LIMIT {PAGE}"
            ))
            .bind(prev_seq)
            .fetch_all(&mut *conn)
            .await
            .context("reading the audit log")?;
            for row in &page {
                let raw = RawRow::read(row)?;
                rows += 1;
                if let Some(reason) = raw.fault(prev_seq, &prev_hash) {
                    let first_broken = Some(BrokenRow {
                        seq: raw.seq,
                        reason,
                    });
                    return Ok(AuditReport { rows, first_broken });
                }
                (prev_seq, prev_hash) = (raw.seq, raw.hash);
            }
            if page.len() < PAGE {
                break;
            }
        }
        let head = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1")
            .fetch_one(&mut *conn)
            .await
            .context("reading the audit chain head")?;
        let head_seq: i64 = head
            .try_get("seq")
            .context("reading the audit chain head")?;
        let head_hash: String = head
            .try_get("hash")
            .context("reading the audit chain head")?;
        let first_broken = (head_seq != prev_seq || head_hash != prev_hash).then(|| BrokenRow {
            seq: prev_seq + 1,
            reason: format!(
                "the chain head is seq {head_seq} ({head_hash}) but the last row is seq {prev_seq}: \
                 rows are missing from the end or the head was altered"
            ),
        });
        Ok(AuditReport { rows, first_broken })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{GENESIS_HASH, row_hash};

    #[test]
    fn a_row_hash_depends_on_every_field_and_the_previous_hash() {
        let detail = json!({"from": "open", "to": "diagnosed"});
        let base = row_hash(GENESIS_HASH, 1, 1000, Some("inc-1"), "k", "a", &detail);
        assert_eq!(base.len(), 64);
        assert_eq!(
            base,
            row_hash(GENESIS_HASH, 1, 1000, Some("inc-1"), "k", "a", &detail)
        );
        let variants = [
            row_hash(&"1".repeat(64), 1, 1000, Some("inc-1"), "k", "a", &detail),
            row_hash(GENESIS_HASH, 2, 1000, Some("inc-1"), "k", "a", &detail),
            row_hash(GENESIS_HASH, 1, 1001, Some("inc-1"), "k", "a", &detail),
            row_hash(GENESIS_HASH, 1, 1000, None, "k", "a", &detail),
            row_hash(GENESIS_HASH, 1, 1000, Some("inc-1"), "K", "a", &detail),
            row_hash(GENESIS_HASH, 1, 1000, Some("inc-1"), "k", "b", &detail),
            row_hash(GENESIS_HASH, 1, 1000, Some("inc-1"), "k", "a", &json!({})),
        ];
        for variant in variants {
            assert_ne!(base, variant);
        }
    }

    #[test]
    fn key_order_in_the_detail_does_not_change_the_hash() {
        let a: serde_json::Value = serde_json::from_str(r#"{"a":1,"b":2}"#).expect("json");
        let b: serde_json::Value = serde_json::from_str(r#"{"b":2,"a":1}"#).expect("json");
        assert_eq!(
            row_hash(GENESIS_HASH, 1, 0, None, "k", "a", &a),
            row_hash(GENESIS_HASH, 1, 0, None, "k", "a", &b)
        );
    }
}
