//! Incidents: opening, dedup lookup by fingerprint, state transitions (validated by the domain
//! state machine and applied with a compare-and-set), and listing.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::any::AnyRow;
use sqlx::{Any, AnyConnection, Executor, Row};

use super::audit::{self, Entry, kinds};
use super::error::{Context, Result, is_unique_violation};
use super::{Store, StoreError, from_json, millis, timestamp, to_json};
use crate::domain::incident::{Incident, IncidentState, Severity};
use crate::domain::rule::Existing;
use crate::domain::signal::{ObjectRef, Signal};

/// One line of the incident list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentSummary {
    /// The incident's id.
    pub id: String,
    /// The rule that opened it.
    pub rule: String,
    /// Its severity.
    pub severity: Severity,
    /// Its dedup key.
    pub fingerprint: String,
    /// The object in trouble.
    pub target: ObjectRef,
    /// The playbook handling it.
    pub playbook: String,
    /// Its current state.
    pub state: IncidentState,
    /// When it opened.
    pub opened_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
    /// When it reached a terminal state.
    pub closed_at: Option<Timestamp>,
}

/// The columns [`decode_summary`] reads.
pub(crate) const SUMMARY_COLUMNS: &str = "id, rule, severity, fingerprint, target_kind, \
     target_namespace, target_name, playbook, state, opened_at, updated_at, closed_at";

pub(crate) fn decode_summary(row: &AnyRow) -> Result<IncidentSummary> {
    let get = "reading an incident row";
    let id: String = row.try_get("id").context(get)?;
    let what = |field: &str| format!("{field} of incident {id}");
    let severity: String = row.try_get("severity").context(get)?;
    let state: String = row.try_get("state").context(get)?;
    let closed_at: Option<i64> = row.try_get("closed_at").context(get)?;
    Ok(IncidentSummary {
        rule: row.try_get("rule").context(get)?,
        severity: parse_severity(&severity).ok_or_else(|| StoreError::Corrupt {
            what: what("severity"),
            reason: format!("unknown severity `{severity}`"),
        })?,
        fingerprint: row.try_get("fingerprint").context(get)?,
        target: ObjectRef {
            kind: row.try_get("target_kind").context(get)?,
            namespace: row.try_get("target_namespace").context(get)?,
            name: row.try_get("target_name").context(get)?,
        },
        playbook: row.try_get("playbook").context(get)?,
        state: parse_state(&state, &what("state"))?,
        opened_at: timestamp(row.try_get("opened_at").context(get)?, &what("opened_at"))?,
        updated_at: timestamp(row.try_get("updated_at").context(get)?, &what("updated_at"))?,
        closed_at: closed_at
            .map(|ms| timestamp(ms, &what("closed_at")))
            .transpose()?,
        id,
    })
}

fn parse_severity(s: &str) -> Option<Severity> {
    [Severity::Info, Severity::Warning, Severity::Critical]
        .into_iter()
        .find(|severity| severity.as_str() == s)
}

pub(crate) fn parse_state(s: &str, what: &str) -> Result<IncidentState> {
    IncidentState::parse(s).ok_or_else(|| StoreError::Corrupt {
        what: what.to_owned(),
        reason: format!("unknown state `{s}`"),
    })
}

/// Like [`current_state`], and fails with [`StoreError::Replayed`] for a replayed incident: what
/// approvals and actions call, so nothing can be approved or run for one.
pub(crate) async fn live_state(conn: &mut AnyConnection, id: &str) -> Result<IncidentState> {
    match current_state(conn, id).await? {
        IncidentState::Replayed => Err(StoreError::Replayed(id.to_owned())),
        state => Ok(state),
    }
}

/// Fails with [`StoreError::UnknownIncident`] unless the incident exists; returns its state.
pub(crate) async fn current_state(conn: &mut AnyConnection, id: &str) -> Result<IncidentState> {
    let state: Option<String> = sqlx::query_scalar("SELECT state FROM incidents WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await
        .context("reading an incident's state")?;
    let state = state.ok_or_else(|| StoreError::UnknownIncident(id.to_owned()))?;
    parse_state(&state, &format!("state of incident {id}"))
}

/// Inserts an incident row (with `updated_at = opened_at`); `on_conflict` is appended to the
/// statement (`ON CONFLICT DO NOTHING` in a batch, where a failed statement would abort the
/// whole transaction on PostgreSQL). Returns how many rows were inserted, or the driver's
/// error as it is (the caller tells a uniqueness violation apart).
pub(crate) async fn insert_row(
    conn: &mut AnyConnection,
    incident: &Incident,
    on_conflict: &str,
) -> Result<std::result::Result<u64, sqlx::Error>> {
    let opened_at = millis(incident.opened_at);
    let closed_at = incident.state.is_terminal().then_some(opened_at);
    let signal = to_json(&incident.signal, "the incident's signal")?;
    let sql = format!(
        "INSERT INTO incidents (id, rule, severity, fingerprint, target_kind, \
         target_namespace, target_name, playbook, state, opened_at, updated_at, closed_at, \
         signal, scope) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
         {on_conflict}"
    );
    let done = sqlx::query(&sql)
        .bind(&incident.id)
        .bind(&incident.rule)
        .bind(incident.severity.as_str())
        .bind(&incident.fingerprint)
        .bind(&incident.target.kind)
        .bind(incident.target.namespace.as_deref())
        .bind(&incident.target.name)
        .bind(&incident.playbook)
        .bind(incident.state.as_str())
        .bind(opened_at)
        .bind(opened_at)
        .bind(closed_at)
        .bind(signal)
        .bind(incident.scope().to_string())
        .execute(&mut *conn)
        .await;
    Ok(done.map(|done| done.rows_affected()))
}

/// The audit entry that records `incident` opening.
pub(crate) fn opened_entry(incident: &Incident) -> Entry<'_> {
    Entry {
        incident_id: Some(&incident.id),
        kind: kinds::INCIDENT_OPENED,
        actor: "nightshift",
        detail: json!({
            "rule": incident.rule,
            "severity": incident.severity,
            "fingerprint": incident.fingerprint,
            "target": incident.target,
            "playbook": incident.playbook,
            "state": incident.state,
            "reason": incident.signal.reason,
        }),
        at: incident.opened_at,
    }
}

/// The oldest open incident about workload `scope`, read through `conn` (a pool or a
/// transaction).
pub(crate) async fn open_on_scope<'e>(
    conn: impl Executor<'e, Database = Any>,
    scope: &ObjectRef,
) -> Result<Option<IncidentSummary>> {
    let row = sqlx::query(&format!(
        "SELECT {SUMMARY_COLUMNS} FROM incidents WHERE scope = $1 AND closed_at IS NULL \
         ORDER BY opened_at, id LIMIT 1"
    ))
    .bind(scope.to_string())
    .fetch_optional(conn)
    .await
    .context("looking up the open incident of a workload")?;
    row.as_ref().map(decode_summary).transpose()
}

/// The newest non-replayed incident with `fingerprint`, read through `conn`.
pub(crate) async fn latest_by_fingerprint<'e>(
    conn: impl Executor<'e, Database = Any>,
    fingerprint: &str,
) -> Result<Option<Existing>> {
    let row = sqlx::query(&format!(
        "SELECT {SUMMARY_COLUMNS} FROM incidents WHERE fingerprint = $1 \
         AND state <> 'replayed' ORDER BY opened_at DESC, id DESC LIMIT 1"
    ))
    .bind(fingerprint)
    .fetch_optional(conn)
    .await
    .context("looking up an incident by fingerprint")?;
    let Some(row) = row else {
        return Ok(None);
    };
    let summary = decode_summary(&row)?;
    Ok(Some(Existing {
        id: summary.id,
        state: summary.state,
        opened_at: summary.opened_at,
        closed_at: summary.closed_at,
    }))
}

impl Store {
    /// Stores a newly opened incident (with `updated_at = opened_at`) and audits it. Fails with
    /// [`StoreError::DuplicateIncident`] when the id is taken.
    pub async fn insert_incident(&self, incident: &Incident) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let inserted = insert_row(&mut tx, incident, "").await?;
        match inserted {
            Err(err) if is_unique_violation(&err) => {
                drop(tx);
                return Err(self.why_not_unique(incident).await);
            }
            other => other.context("inserting an incident")?,
        };
        audit::append(&mut tx, self.backend, opened_entry(incident)).await?;
        tx.commit().await.context("committing a new incident")
    }

    /// Which uniqueness an insert broke: the id, or the one-open-incident-per-fingerprint rule.
    async fn why_not_unique(&self, incident: &Incident) -> StoreError {
        match self.open_with_fingerprint(&incident.fingerprint).await {
            Ok(Some(open)) if open != incident.id => StoreError::AlreadyOpen {
                fingerprint: incident.fingerprint.clone(),
                id: open,
            },
            Ok(_) => StoreError::DuplicateIncident(incident.id.clone()),
            Err(err) => err,
        }
    }

    /// The id of the open (not closed) incident with this fingerprint, if there is one.
    pub async fn open_with_fingerprint(&self, fingerprint: &str) -> Result<Option<String>> {
        sqlx::query_scalar(
            "SELECT id FROM incidents WHERE fingerprint = $1 AND closed_at IS NULL LIMIT 1",
        )
        .bind(fingerprint)
        .fetch_optional(&self.pool)
        .await
        .context("looking up the open incident of a fingerprint")
    }

    /// The oldest open (not closed) incident about workload `scope` (see
    /// [`Incident::scope`]), whatever its rule.
    pub async fn open_on_scope(&self, scope: &ObjectRef) -> Result<Option<IncidentSummary>> {
        open_on_scope(&self.pool, scope).await
    }

    /// Incidents in any of `states`, oldest first: what the engine resumes after a restart.
    pub async fn incidents_in(&self, states: &[IncidentState]) -> Result<Vec<IncidentSummary>> {
        let names: Vec<String> = states.iter().map(|s| format!("'{}'", s.as_str())).collect();
        if names.is_empty() {
            return Ok(Vec::new());
        }
        // The state names are our own constants, never user input.
        let rows = sqlx::query(&format!(
            "SELECT {SUMMARY_COLUMNS} FROM incidents WHERE state IN ({}) \
             ORDER BY opened_at, id",
            names.join(", ")
        ))
        .fetch_all(&self.pool)
        .await
        .context("listing incidents by state")?;
        rows.iter().map(decode_summary).collect()
    }

    /// The newest incident about workload `scope` (see [`Incident::scope`]) escalated at or
    /// after `since`: while one exists, nightshift takes no further automatic action on it.
    pub async fn escalated_on(
        &self,
        scope: &ObjectRef,
        since: Timestamp,
    ) -> Result<Option<IncidentSummary>> {
        let row = sqlx::query(&format!(
            "SELECT {SUMMARY_COLUMNS} FROM incidents WHERE scope = $1 \
             AND state = 'escalated' AND closed_at >= $2 ORDER BY closed_at DESC LIMIT 1"
        ))
        .bind(scope.to_string())
        .bind(millis(since))
        .fetch_optional(&self.pool)
        .await
        .context("looking up escalations on a target")?;
        row.as_ref().map(decode_summary).transpose()
    }

    /// The newest incident with this fingerprint, for [`crate::domain::rule::admit`]. A
    /// replayed incident holds no fingerprint: it is never returned.
    pub async fn latest_by_fingerprint(&self, fingerprint: &str) -> Result<Option<Existing>> {
        latest_by_fingerprint(&self.pool, fingerprint).await
    }

    /// Moves an incident to `to`: reads its state, checks the move with
    /// [`IncidentState::transition`], updates only if the state is still the one read
    /// (compare-and-set), sets `closed_at` when `to` is terminal and audits it — all in one
    /// transaction. Returns the state it left.
    pub async fn transition(
        &self,
        id: &str,
        to: IncidentState,
        actor: &str,
        now: Timestamp,
    ) -> Result<IncidentState> {
        let mut tx = self.begin_write().await?;
        let from = current_state(&mut tx, id).await?;
        from.transition(to)
            .map_err(|source| StoreError::InvalidTransition {
                id: id.to_owned(),
                source,
            })?;
        let at = millis(now);
        let closed_at = to.is_terminal().then_some(at);
        let updated = sqlx::query(
            "UPDATE incidents SET state = $1, updated_at = $2, closed_at = COALESCE($3, closed_at) \
             WHERE id = $4 AND state = $5",
        )
        .bind(to.as_str())
        .bind(at)
        .bind(closed_at)
        .bind(id)
        .bind(from.as_str())
        .execute(&mut *tx)
        .await
        .context("updating an incident's state")?;
        if updated.rows_affected() != 1 {
            return Err(StoreError::LostRace {
                id: id.to_owned(),
                expected: from,
                to,
            });
        }
        let entry = Entry {
            incident_id: Some(id),
            kind: kinds::INCIDENT_TRANSITIONED,
            actor,
            detail: json!({"from": from, "to": to}),
            at: now,
        };
        audit::append(&mut tx, self.backend, entry).await?;
        tx.commit().await.context("committing a state transition")?;
        tracing::info!(incident = %id, %from, %to, actor, "incident transitioned");
        Ok(from)
    }

    /// Keeps the workload the gatherer resolved for an incident whose signal named none: the
    /// stored signal and the scope column take it, audited. Does nothing when the signal
    /// already names a workload.
    pub async fn record_workload(
        &self,
        id: &str,
        workload: &ObjectRef,
        now: Timestamp,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let text: Option<String> = sqlx::query_scalar("SELECT signal FROM incidents WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await
            .context("reading an incident's signal")?;
        let text = text.ok_or_else(|| StoreError::UnknownIncident(id.to_owned()))?;
        let mut signal: Signal = from_json(&text, &format!("signal of incident {id}"))?;
        if signal.workload.is_some() {
            return Ok(());
        }
        signal.workload = Some(workload.clone());
        sqlx::query("UPDATE incidents SET signal = $1, scope = $2 WHERE id = $3")
            .bind(to_json(&signal, "the incident's signal")?)
            .bind(workload.to_string())
            .bind(id)
            .execute(&mut *tx)
            .await
            .context("keeping an incident's workload")?;
        let entry = Entry {
            incident_id: Some(id),
            kind: kinds::WORKLOAD_RESOLVED,
            actor: "nightshift",
            detail: json!({"workload": workload.to_string()}),
            at: now,
        };
        audit::append(&mut tx, self.backend, entry).await?;
        tx.commit()
            .await
            .context("committing an incident's workload")
    }

    /// The newest `limit` incidents, newest first.
    pub async fn list_incidents(&self, limit: u32) -> Result<Vec<IncidentSummary>> {
        let rows = sqlx::query(&format!(
            "SELECT {SUMMARY_COLUMNS} FROM incidents ORDER BY opened_at DESC, id DESC LIMIT $1"
        ))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .context("listing incidents")?;
        rows.iter().map(decode_summary).collect()
    }
}
