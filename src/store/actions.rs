//! Actions: each action of a plan is recorded at most once per incident, plan hash and index,
//! and only if it is the plan's own action at that index. An executor records `Started` before
//! it calls the apiserver and completes the row afterwards, so a restart never runs it twice.

use std::str::FromStr;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::Row;

use super::audit::{self, Entry, kinds};
use super::error::{Context, Result};
use super::incidents::live_state;
use super::records::{NIGHTSHIFT, recorded_plan};
use super::{Store, StoreError, from_json, millis, timestamp, to_json};
use crate::domain::catalog::Tool;
use crate::domain::plan::Action;
use crate::domain::policy::{PastAction, target_key};

/// Where an action stands. Executors record `Started` *before* calling the apiserver and
/// complete it afterwards, so a daemon restarted in between finds the claim and does not run the
/// action again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ActionOutcome {
    /// Claimed; the call may or may not have reached the cluster.
    Started,
    /// The call succeeded.
    Succeeded,
    /// The dry-run or the call failed.
    Failed,
    /// Not attempted (policy, rate limit, an earlier action failed).
    Skipped,
    /// Claimed before a restart, and the cluster cannot tell whether it was applied: it is not
    /// sent again and the incident escalates.
    Unknown,
}

impl ActionOutcome {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            ActionOutcome::Started => "started",
            ActionOutcome::Succeeded => "succeeded",
            ActionOutcome::Failed => "failed",
            ActionOutcome::Skipped => "skipped",
            ActionOutcome::Unknown => "unknown",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<ActionOutcome> {
        [
            Self::Started,
            Self::Succeeded,
            Self::Failed,
            Self::Skipped,
            Self::Unknown,
        ]
        .into_iter()
        .find(|outcome| outcome.as_str() == s)
    }
}

/// Whether `record_action` wrote a new row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// This call recorded the action: the caller owns carrying it out.
    Recorded,
    /// The action was already recorded: do not carry it out again.
    AlreadyRecorded,
}

impl Store {
    /// Records action `index` of the plan with `plan_hash`. The action must be the plan's own
    /// action at that index. Returns [`Recorded::AlreadyRecorded`] — and writes nothing — when
    /// this incident already has a row for that plan and index, so a retried or restarted
    /// executor never runs an action twice.
    #[allow(clippy::too_many_arguments)]
    pub async fn record_action(
        &self,
        id: &str,
        plan_hash: &str,
        index: usize,
        action: &Action,
        outcome: ActionOutcome,
        detail: &str,
        now: Timestamp,
    ) -> Result<Recorded> {
        let mut tx = self.begin_write().await?;
        live_state(&mut tx, id).await?;
        let plan = recorded_plan(&mut tx, id, plan_hash).await?;
        match plan.actions.get(index) {
            None => {
                return Err(StoreError::UnknownAction {
                    id: id.to_owned(),
                    plan_hash: plan_hash.to_owned(),
                    index,
                });
            }
            Some(planned) if planned != action => {
                return Err(StoreError::ActionMismatch {
                    id: id.to_owned(),
                    plan_hash: plan_hash.to_owned(),
                    index,
                });
            }
            Some(_) => {}
        }
        let inserted = sqlx::query(
            "INSERT INTO actions (incident_id, plan_hash, action_index, tool, params, outcome, \
             detail, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (incident_id, plan_hash, action_index) DO NOTHING",
        )
        .bind(id)
        .bind(plan_hash)
        .bind(index_value(index))
        .bind(action.tool.as_str())
        .bind(to_json(&action.params, "action params")?)
        .bind(outcome.as_str())
        .bind(detail)
        .bind(millis(now))
        .execute(&mut *tx)
        .await
        .context("storing an action")?;
        if inserted.rows_affected() == 0 {
            return Ok(Recorded::AlreadyRecorded);
        }
        let entry = Entry {
            incident_id: Some(id),
            kind: kinds::ACTION_RECORDED,
            actor: NIGHTSHIFT,
            detail: action_detail(plan_hash, index, action, outcome, detail),
            at: now,
        };
        audit::append(&mut tx, self.backend, entry).await?;
        tx.commit().await.context("committing an action")?;
        Ok(Recorded::Recorded)
    }

    /// Finishes an action recorded as [`ActionOutcome::Started`] with its final outcome.
    /// Fails with [`StoreError::ActionNotStarted`] when there is no started action to finish.
    pub async fn complete_action(
        &self,
        id: &str,
        plan_hash: &str,
        index: usize,
        outcome: ActionOutcome,
        detail: &str,
        now: Timestamp,
    ) -> Result<()> {
        let not_started = || StoreError::ActionNotStarted {
            id: id.to_owned(),
            plan_hash: plan_hash.to_owned(),
            index,
        };
        if outcome == ActionOutcome::Started {
            return Err(not_started());
        }
        let mut tx = self.begin_write().await?;
        live_state(&mut tx, id).await?;
        let updated = sqlx::query(
            "UPDATE actions SET outcome = $1, detail = $2, at = $3 WHERE incident_id = $4 \
             AND plan_hash = $5 AND action_index = $6 AND outcome = $7",
        )
        .bind(outcome.as_str())
        .bind(detail)
        .bind(millis(now))
        .bind(id)
        .bind(plan_hash)
        .bind(index_value(index))
        .bind(ActionOutcome::Started.as_str())
        .execute(&mut *tx)
        .await
        .context("completing an action")?;
        if updated.rows_affected() != 1 {
            return Err(not_started());
        }
        let entry = Entry {
            incident_id: Some(id),
            kind: kinds::ACTION_COMPLETED,
            actor: NIGHTSHIFT,
            detail: json!({"plan_hash": plan_hash, "index": index, "outcome": outcome, "detail": detail}),
            at: now,
        };
        audit::append(&mut tx, self.backend, entry).await?;
        tx.commit().await.context("committing an action's outcome")
    }
}

impl Store {
    /// Mutating actions started or carried out since `since` by any incident but `except`, for
    /// the policy's actions-per-target window. An action in doubt (`started`) counts: it may
    /// have run.
    pub async fn recent_actions(
        &self,
        since: Timestamp,
        except: Option<&str>,
    ) -> Result<Vec<PastAction>> {
        let rows = sqlx::query(
            "SELECT tool, params, at FROM actions WHERE at >= $1 AND outcome IN ($2, $3) \
             AND incident_id <> $4 ORDER BY at",
        )
        .bind(millis(since))
        .bind(ActionOutcome::Started.as_str())
        .bind(ActionOutcome::Succeeded.as_str())
        // No incident id is empty.
        .bind(except.unwrap_or(""))
        .fetch_all(&self.pool)
        .await
        .context("listing recent actions")?;
        let mut past = Vec::new();
        for row in &rows {
            let tool: String = row.try_get("tool").context("reading an action row")?;
            let Ok(tool) = Tool::from_str(&tool) else {
                continue;
            };
            if !tool.is_mutating() {
                continue;
            }
            let params: String = row.try_get("params").context("reading an action row")?;
            let action = Action {
                tool,
                params: from_json(&params, "an action's params")?,
            };
            past.push(PastAction {
                tool,
                target: target_key(&action),
                at: timestamp(
                    row.try_get("at").context("reading an action row")?,
                    "action time",
                )?,
            });
        }
        Ok(past)
    }
}

/// An action index as stored. Plans never hold `i64::MAX` actions; saturate rather than wrap.
fn index_value(index: usize) -> i64 {
    i64::try_from(index).unwrap_or(i64::MAX)
}

fn action_detail(
    plan_hash: &str,
    index: usize,
    action: &Action,
    outcome: ActionOutcome,
    detail: &str,
) -> Value {
    json!({
        "plan_hash": plan_hash,
        "index": index,
        "tool": action.tool,
        "params": action.params,
        "outcome": outcome,
        "detail": detail,
    })
}
