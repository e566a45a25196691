//! Execution and verification. Each action is claimed in the store (`started`) before the
//! apiserver sees it and completed after, so a restart never repeats one: an action found
//! `started` is settled by asking the cluster (see `resume`). Right before anything is sent the
//! kill switch is read (a paused nightshift holds the plan, see `pause`) and the plan is checked
//! once more against the world as it is then (policy with the node pool read live, the
//! cluster-wide budget, escalations since it was authorized). Verification is a separate step
//! whose verdict is recorded; a failed verdict escalates.

use std::collections::HashMap;

use super::lifecycle::{EngineError, NIGHTSHIFT};
use super::{Engine, Progress};
use crate::domain::approval::Authorized;
use crate::domain::incident::{Incident, IncidentState};
use crate::domain::planner::policy_context;
use crate::domain::policy::nodes::NodeView;
use crate::domain::policy::{recheck_before_execution, target_key};
use crate::k8s::execute::{Mode, Outcome};
use crate::store::{ActionOutcome, ActionRecord, IncidentRecord, Recorded};
use crate::telemetry::events::ActionEvent;

impl Engine {
    /// Runs an authorized plan: every action not yet recorded as a server-side dry run, then
    /// each for real (claimed first, rate-limited), then verification. On a resume, what the
    /// store says was done is not done again: a succeeded action is skipped, an action left
    /// `started` is settled by asking the cluster ([`Engine::settle`]).
    pub(super) async fn execute(
        &self,
        incident: &Incident,
        authorized: Authorized,
    ) -> Result<(), EngineError> {
        let id = &incident.id;
        let record = self.load_record(id).await?;
        if let Some(why) = self.pause_in_force().await? {
            return self.hold(id, &why).await;
        }
        if record.incident.state == IncidentState::Approved {
            self.moved(
                id,
                IncidentState::Executing,
                authorized.by(),
                "carrying out the plan",
            )
            .await?;
        }
        // Node actions are judged against the pool as read right before they run: one plan
        // with node actions at a time, from that read to its last action, so two cordons
        // cannot both pass on the same count.
        let touches_nodes = authorized
            .plan()
            .actions
            .iter()
            .any(|a| a.tool.is_cluster_scoped());
        let guard = if touches_nodes {
            Some(self.inner.node_actions.lock().await)
        } else {
            None
        };
        let sent = self.send(incident, &record, &authorized).await?;
        drop(guard);
        if !sent {
            return Ok(());
        }
        self.moved(
            id,
            IncidentState::Verifying,
            NIGHTSHIFT,
            "every action applied",
        )
        .await?;
        self.verify(incident).await
    }

    /// The last check and the dry runs of what was not done yet, then each action: settled
    /// from the store and the cluster when an earlier run recorded it, sent for real otherwise.
    /// `false` when the plan did not all run (refused, held by the kill switch, or an action
    /// failed): the incident was already held or escalated.
    async fn send(
        &self,
        incident: &Incident,
        record: &IncidentRecord,
        authorized: &Authorized,
    ) -> Result<bool, EngineError> {
        let id = &incident.id;
        let done: HashMap<usize, &ActionRecord> = record
            .actions
            .iter()
            .filter(|a| a.plan_hash == authorized.hash())
            .map(|a| (a.index, a))
            .collect();
        let count = authorized.plan().actions.len();
        let fresh: Vec<usize> = (0..count).filter(|i| !done.contains_key(i)).collect();
        if !fresh.is_empty() {
            if let Some(why) = self.refused_now(record, authorized).await? {
                let why = format!("not carried out: {why}");
                self.fail(id, IncidentState::Executing, &why).await?;
                return Ok(false);
            }
            if let Err(why) = self.dry_run(id, authorized, &fresh).await? {
                self.fail(id, IncidentState::Executing, &why).await?;
                return Ok(false);
            }
        }
        let mut sent_any = !done.is_empty();
        for index in 0..count {
            let step = match done.get(&index) {
                Some(earlier) => self.resumed(id, authorized, earlier).await?,
                None => {
                    if let Some(why) = self.pause_in_force().await? {
                        if !sent_any {
                            self.hold(id, &why).await?;
                            return Ok(false);
                        }
                        let why = format!(
                            "nightshift was paused after {index} of {count} actions ran ({why}); \
                             the rest were not sent"
                        );
                        self.fail(id, IncidentState::Executing, &why).await?;
                        return Ok(false);
                    }
                    sent_any = true;
                    self.apply(incident, authorized, index).await?
                }
            };
            if let Err(why) = step {
                self.fail(id, IncidentState::Executing, &why).await?;
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Server-side dry runs of the actions at `indices`. `Ok(Err(why))` when one is refused (it
    /// is recorded as `skipped`, never sent for real).
    async fn dry_run(
        &self,
        id: &str,
        authorized: &Authorized,
        indices: &[usize],
    ) -> Result<Result<(), String>, EngineError> {
        let executor = &self.parts().executor;
        for &index in indices {
            let Err(err) = executor
                .run(authorized, index, Mode::DryRun, self.now())
                .await
            else {
                continue;
            };
            let why = format!("dry run of action {index} refused: {err}");
            let action = &authorized.plan().actions[index];
            self.store()
                .record_action(
                    id,
                    authorized.hash(),
                    index,
                    action,
                    ActionOutcome::Skipped,
                    &why,
                    self.now(),
                )
                .await?;
            self.report_action(id, authorized, index, false, &why);
            return Ok(Err(why));
        }
        Ok(Ok(()))
    }

    pub(super) async fn load_record(&self, id: &str) -> Result<IncidentRecord, EngineError> {
        self.store()
            .load(id)
            .await?
            .ok_or_else(|| EngineError::Missing(id.to_owned()))
    }

    /// The last check before anything is sent, against the world as it is now: policy, counting
    /// what other incidents did since the plan was made (per target and cluster-wide), node
    /// policy over every node as read now, and no escalation on the workload since the plan was
    /// made. `Some(why)` when the plan may not run.
    async fn refused_now(
        &self,
        record: &IncidentRecord,
        authorized: &Authorized,
    ) -> Result<Option<String>, EngineError> {
        let (parts, now) = (self.parts(), self.now());
        let incident = &record.incident;
        let since = now - parts.policy.lookback();
        let recent = self
            .store()
            .recent_actions(since, Some(&incident.id))
            .await?;
        let mut ctx = policy_context(authorized.plan(), &record.evidence, &recent);
        ctx.signal_namespace = incident.signal.namespace().map(str::to_owned);
        if authorized
            .plan()
            .actions
            .iter()
            .any(|a| a.tool.is_cluster_scoped())
        {
            match parts.executor.nodes().await {
                Ok(nodes) => ctx.nodes = NodeView::complete(nodes),
                Err(err) => return Ok(Some(format!("node policy cannot be judged: {err}"))),
            }
        }
        let escalation = self.escalation_in_hold(incident, now).await?;
        // The plan as recorded: an escalation after it was made was not known to it, whoever
        // authorized it and whenever.
        let planned_at = record
            .plans
            .iter()
            .rev()
            .find(|p| p.hash == authorized.hash())
            .map_or(now, |p| p.at);
        let verdict = recheck_before_execution(
            &parts.policy,
            authorized.plan(),
            &ctx,
            planned_at,
            escalation.as_ref(),
            now,
        );
        Ok(verdict.err())
    }

    /// One action for real. `Ok(Err(why))` is an action that failed or may not run.
    async fn apply(
        &self,
        incident: &Incident,
        authorized: &Authorized,
        index: usize,
    ) -> Result<Result<(), String>, EngineError> {
        let (store, id, hash) = (self.store(), &incident.id, authorized.hash());
        let action = &authorized.plan().actions[index];
        let claim = store
            .record_action(
                id,
                hash,
                index,
                action,
                ActionOutcome::Started,
                "",
                self.now(),
            )
            .await?;
        if claim == Recorded::AlreadyRecorded {
            let record = store.load(id).await?;
            let earlier = record
                .iter()
                .flat_map(|r| &r.actions)
                .find(|a| a.plan_hash == hash && a.index == index)
                .map(|a| a.outcome);
            return Ok(match earlier {
                Some(ActionOutcome::Succeeded) => Ok(()),
                other => Err(format!(
                    "action {index} ({}) was already recorded as {} before a restart; it is not \
                     repeated",
                    action.tool,
                    other.map_or("unknown", ActionOutcome::as_str)
                )),
            });
        }
        let settings = &self.parts().settings.limits;
        let namespace = action.params.get("namespace").and_then(|v| v.as_str());
        if action.tool.is_mutating()
            && let Err(limited) = self
                .inner
                .limits
                .acquire(&target_key(action), namespace, settings)
                .await
        {
            let why = limited.to_string();
            store
                .complete_action(id, hash, index, ActionOutcome::Skipped, &why, self.now())
                .await?;
            self.report_action(id, authorized, index, false, &why);
            return Ok(Err(why));
        }
        let result = self
            .parts()
            .executor
            .run(authorized, index, Mode::Apply, self.now())
            .await;
        let (outcome, detail) = match &result {
            Ok(Outcome::Done(d) | Outcome::Unchanged(d)) => (ActionOutcome::Succeeded, d.clone()),
            Err(err) => (ActionOutcome::Failed, err.to_string()),
        };
        store
            .complete_action(id, hash, index, outcome, &detail, self.now())
            .await?;
        let ok = outcome == ActionOutcome::Succeeded;
        self.report_action(id, authorized, index, ok, &detail);
        self.record_event(incident, authorized, index, ok);
        Ok(if ok {
            Ok(())
        } else {
            Err(format!("action {index} failed: {detail}"))
        })
    }

    /// A Kubernetes Event on the object action `index` changed, in the background: recording
    /// it never delays or fails the action.
    fn record_event(&self, incident: &Incident, authorized: &Authorized, index: usize, ok: bool) {
        let action = authorized.plan().actions[index].clone();
        let what = ActionEvent {
            incident: incident.id.clone(),
            rule: incident.rule.clone(),
            plan: authorized.hash().chars().take(12).collect(),
            authorized_by: authorized.by().to_owned(),
            ok,
        };
        let events = self.inner.events.clone();
        tokio::spawn(async move { events.acted(&action, &what).await });
    }

    pub(super) fn report_action(
        &self,
        id: &str,
        authorized: &Authorized,
        index: usize,
        ok: bool,
        detail: &str,
    ) {
        let tool = authorized.plan().actions[index].tool.to_string();
        self.emit(Progress::Acted {
            incident: id.to_owned(),
            index,
            tool,
            ok,
            detail: detail.to_owned(),
        });
    }

    /// Runs the verifier and records its verdict: healthy resolves, anything else escalates.
    pub(super) async fn verify(&self, incident: &Incident) -> Result<(), EngineError> {
        let id = &incident.id;
        let record = self
            .store()
            .load(id)
            .await?
            .ok_or_else(|| EngineError::Missing(id.clone()))?;
        let Some(plan) = record.plans.last() else {
            return self.escalate(id, "no plan was recorded").await;
        };
        let scale = self.parts().settings.verification_time_scale;
        let mut watched = plan.plan.clone();
        watched.verification = watched
            .verification
            .iter()
            .map(|c| c.time_scaled(scale))
            .collect();
        let verdict = self
            .parts()
            .verifier
            .verify(&record.incident, &watched, &record.evidence)
            .await;
        let value = verdict.to_record();
        self.store()
            .record_verification(id, &value, self.now())
            .await?;
        let healthy = verdict.healthy;
        let summary: Vec<String> = verdict
            .results
            .iter()
            .map(|r| {
                let check = serde_json::to_value(r.check).unwrap_or_default();
                format!("{}: {}", check.as_str().unwrap_or("check"), r.observed)
            })
            .collect();
        self.emit(Progress::Verified {
            incident: id.clone(),
            verdict: Box::new(verdict),
        });
        if healthy {
            let why = format!("verified healthy ({})", summary.join("; "));
            self.moved(id, IncidentState::Resolved, NIGHTSHIFT, &why)
                .await
        } else {
            let why = format!("verification failed ({})", summary.join("; "));
            self.escalate(id, &why).await
        }
    }

    /// An action failed: executing → failed → escalated.
    pub(super) async fn fail(
        &self,
        id: &str,
        state: IncidentState,
        why: &str,
    ) -> Result<(), EngineError> {
        if matches!(state, IncidentState::Executing | IncidentState::Approved) {
            let current = self.store().load(id).await?.map(|r| r.incident.state);
            if current == Some(IncidentState::Approved) {
                self.moved(
                    id,
                    IncidentState::Executing,
                    NIGHTSHIFT,
                    "carrying out the plan",
                )
                .await?;
            }
            self.moved(id, IncidentState::Failed, NIGHTSHIFT, why)
                .await?;
        }
        self.escalate(id, why).await
    }
}
