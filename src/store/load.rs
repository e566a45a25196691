//! Reading an incident back whole: the incident, its evidence, latest diagnosis, plans,
//! approvals, actions, verification verdicts and audit rows, from one consistent snapshot —
//! with the kill switch as it stood then.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::actions::ActionOutcome;
use super::audit::{self, AuditRow};
use super::error::{Context, Result};
use super::incidents::{SUMMARY_COLUMNS, decode_summary};
use super::pause::{self, Pause};
use super::records::Decision;
use super::{Store, StoreError, from_json, timestamp};
use crate::domain::catalog::Tool;
use crate::domain::diagnosis::Diagnosis;
use crate::domain::evidence::{Evidence, EvidenceItem};
use crate::domain::incident::Incident;
use crate::domain::plan::{Action, Plan};

/// Everything stored about one incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentRecord {
    /// The incident, in its current state.
    pub incident: Incident,
    /// When it last changed.
    pub updated_at: Timestamp,
    /// When it reached a terminal state.
    pub closed_at: Option<Timestamp>,
    /// Its evidence, in gathering order.
    pub evidence: Evidence,
    /// The newest diagnosis.
    pub diagnosis: Option<DiagnosisRecord>,
    /// Its plans, oldest first.
    pub plans: Vec<PlanRecord>,
    /// Decisions on its plans, oldest first.
    pub approvals: Vec<ApprovalRecord>,
    /// Actions recorded, oldest first.
    pub actions: Vec<ActionRecord>,
    /// Verification verdicts, oldest first.
    pub verifications: Vec<VerificationRecord>,
    /// Its audit rows, in chain order.
    pub audit: Vec<AuditRow>,
    /// nightshift's kill switch when the record was read: while paused nothing is sent to the
    /// cluster, for this incident or any other. Every report and page shows it.
    #[serde(default)]
    pub paused: Option<Pause>,
}

/// A stored diagnosis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiagnosisRecord {
    /// The diagnosis.
    pub diagnosis: Diagnosis,
    /// When it was recorded.
    pub at: Timestamp,
}

/// A stored plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanRecord {
    /// Its hash, to which approvals bind.
    pub hash: String,
    /// The plan.
    pub plan: Plan,
    /// When it was recorded.
    pub at: Timestamp,
}

/// A decision on a plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApprovalRecord {
    /// The plan decided on.
    pub plan_hash: String,
    /// The decision.
    pub decision: Decision,
    /// Who decided.
    pub actor: String,
    /// When.
    pub at: Timestamp,
}

/// A recorded action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionRecord {
    /// The plan it belongs to.
    pub plan_hash: String,
    /// Its index in the plan.
    pub index: usize,
    /// The action.
    pub action: Action,
    /// Where it stands.
    pub outcome: ActionOutcome,
    /// What the executor said.
    pub detail: String,
    /// When it was last recorded.
    pub at: Timestamp,
}

/// A verification verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerificationRecord {
    /// The verdict, as the verifier reported it.
    pub verdict: Value,
    /// When.
    pub at: Timestamp,
}

async fn rows(
    conn: &mut AnyConnection,
    sql: &str,
    id: &str,
    what: &'static str,
) -> Result<Vec<AnyRow>> {
    sqlx::query(sql)
        .bind(id)
        .fetch_all(&mut *conn)
        .await
        .context(what)
}

fn text(row: &AnyRow, column: &str) -> Result<String> {
    row.try_get(column).context("reading a stored row")
}

fn at(row: &AnyRow, column: &str, what: &str) -> Result<Timestamp> {
    timestamp(row.try_get(column).context("reading a stored row")?, what)
}

fn corrupt(what: String, reason: String) -> StoreError {
    StoreError::Corrupt { what, reason }
}

impl Store {
    /// Everything stored about an incident, or `None` when there is no such incident.
    pub async fn load(&self, id: &str) -> Result<Option<IncidentRecord>> {
        let mut tx = self.begin_read().await?;
        let conn: &mut AnyConnection = &mut tx;
        let row = sqlx::query(&format!(
            "SELECT {SUMMARY_COLUMNS}, signal FROM incidents WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await
        .context("loading an incident")?;
        let Some(row) = row else {
            return Ok(None);
        };
        let summary = decode_summary(&row)?;
        let signal = from_json(&text(&row, "signal")?, &format!("signal of incident {id}"))?;
        let incident = Incident {
            id: summary.id,
            rule: summary.rule,
            severity: summary.severity,
            fingerprint: summary.fingerprint,
            target: summary.target,
            playbook: summary.playbook,
            state: summary.state,
            opened_at: summary.opened_at,
            signal,
        };

        let sql = "SELECT item_id, facts FROM evidence WHERE incident_id = $1 ORDER BY id";
        let mut evidence = Evidence::default();
        for row in rows(conn, sql, id, "loading evidence").await? {
            let item_id = text(&row, "item_id")?;
            let facts = from_json(&text(&row, "facts")?, &format!("evidence {item_id}"))?;
            evidence.items.push(EvidenceItem { id: item_id, facts });
        }

        let sql = "SELECT diagnosis, created_at FROM diagnoses WHERE incident_id = $1 \
                   ORDER BY id DESC LIMIT 1";
        let diagnosis = match rows(conn, sql, id, "loading the diagnosis").await?.first() {
            Some(row) => Some(DiagnosisRecord {
                diagnosis: from_json(&text(row, "diagnosis")?, "a diagnosis")?,
                at: at(row, "created_at", "a diagnosis's time")?,
            }),
            None => None,
        };

        let sql = "SELECT hash, plan, created_at FROM plans WHERE incident_id = $1 ORDER BY id";
        let plans = rows(conn, sql, id, "loading plans")
            .await?
            .iter()
            .map(|row| {
                let hash = text(row, "hash")?;
                Ok(PlanRecord {
                    plan: from_json(&text(row, "plan")?, &format!("plan {hash}"))?,
                    at: at(row, "created_at", "a plan's time")?,
                    hash,
                })
            })
            .collect::<Result<_>>()?;

        let sql = "SELECT plan_hash, decision, actor, at FROM approvals WHERE incident_id = $1 \
                   ORDER BY id";
        let approvals = rows(conn, sql, id, "loading approvals")
            .await?
            .iter()
            .map(decode_approval)
            .collect::<Result<_>>()?;

        let sql = "SELECT plan_hash, action_index, tool, params, outcome, detail, at FROM actions \
                   WHERE incident_id = $1 ORDER BY id";
        let actions = rows(conn, sql, id, "loading actions")
            .await?
            .iter()
            .map(decode_action)
            .collect::<Result<_>>()?;

        let sql = "SELECT verdict, at FROM verifications WHERE incident_id = $1 ORDER BY id";
        let verifications = rows(conn, sql, id, "loading verification verdicts")
            .await?
            .iter()
            .map(|row| {
                Ok(VerificationRecord {
                    verdict: from_json(&text(row, "verdict")?, "a verification verdict")?,
                    at: at(row, "at", "a verification's time")?,
                })
            })
            .collect::<Result<_>>()?;

        let sql = format!(
            "SELECT {} FROM audit WHERE incident_id = $1 ORDER BY seq",
            audit::COLUMNS
        );
        let audit = audit::decode(&rows(conn, &sql, id, "loading audit rows").await?)?;

        let switch = sqlx::query("SELECT paused, actor, reason, at FROM pause WHERE id = 1")
            .fetch_one(&mut *conn)
            .await
            .context("reading the kill switch")?;
        let paused = pause::decode(&switch)?;

        Ok(Some(IncidentRecord {
            incident,
            updated_at: summary.updated_at,
            closed_at: summary.closed_at,
            evidence,
            diagnosis,
            plans,
            approvals,
            actions,
            verifications,
            audit,
            paused,
        }))
    }
}

fn decode_approval(row: &AnyRow) -> Result<ApprovalRecord> {
    let decision = text(row, "decision")?;
    Ok(ApprovalRecord {
        plan_hash: text(row, "plan_hash")?,
        decision: Decision::parse(&decision).ok_or_else(|| {
            corrupt(
                "an approval".into(),
                format!("unknown decision `{decision}`"),
            )
        })?,
        actor: text(row, "actor")?,
        at: at(row, "at", "an approval's time")?,
    })
}

fn decode_action(row: &AnyRow) -> Result<ActionRecord> {
    let index: i64 = row
        .try_get("action_index")
        .context("reading a stored row")?;
    let what = format!("action {index}");
    let tool = text(row, "tool")?;
    let outcome = text(row, "outcome")?;
    Ok(ActionRecord {
        plan_hash: text(row, "plan_hash")?,
        index: usize::try_from(index).map_err(|err| corrupt(what.clone(), err.to_string()))?,
        action: Action {
            tool: tool
                .parse::<Tool>()
                .map_err(|err| corrupt(what.clone(), err))?,
            params: from_json(&text(row, "params")?, &what)?,
        },
        outcome: ActionOutcome::parse(&outcome)
            .ok_or_else(|| corrupt(what.clone(), format!("unknown outcome `{outcome}`")))?,
        detail: text(row, "detail")?,
        at: at(row, "at", &what)?,
    })
}
