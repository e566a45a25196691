//! An alert or a person's question about a workload is diagnosed the way replay diagnoses it:
//! it also considers the signals the workload's objects raise ([`Gatherer::concerned`], read
//! from the cluster as [`crate::replay::concerned_signals`] reads a case). When one of those
//! matches a specific rule and the incident's own signal matches only the catch-all (an alert
//! named `KubePodCrashLooping` about a pod whose last termination was `OOMKilled`), evidence,
//! diagnosis and plan follow that signal and its playbook, as replay's opening signal does;
//! the incident keeps its rule and fingerprint (dedup stays the same) and an audit row says
//! which signal was considered and why. Auto-approval still follows the incident's own
//! playbook, so a considered signal never widens what runs without a human.
//!
//! [`Gatherer::concerned`]: super::Gatherer::concerned

use serde_json::json;

use super::Engine;
use super::lifecycle::{EngineError, NIGHTSHIFT};
use crate::domain::incident::Incident;
use crate::domain::playbook::Playbook;
use crate::domain::signal::{Signal, SignalSource};
use crate::pipeline::select;
use crate::store::kinds;

impl Engine {
    /// The signal and playbook `incident` is diagnosed with, when not its own: for an alert or
    /// a question, the first of its signal and its objects' signals that a rule matches (a
    /// specific rule before the catch-all, as [`select`] orders them).
    pub(super) async fn considered(
        &self,
        incident: &Incident,
        playbook: &Playbook,
    ) -> Result<Option<(Signal, Playbook)>, EngineError> {
        let own = &incident.signal;
        if !matches!(own.source, SignalSource::Alert | SignalSource::Manual) {
            return Ok(None);
        }
        let now = self.now();
        let concerned = self
            .parts()
            .gatherer
            .concerned(own, &playbook.evidence, now)
            .await;
        let mut signals = vec![own.clone()];
        for signal in concerned {
            if !signals.contains(&signal) {
                signals.push(signal);
            }
        }
        let rules = self.rules();
        let Some((chosen, rule, chosen_playbook)) = select(&signals, &rules) else {
            return Ok(None);
        };
        if chosen == own {
            return Ok(None);
        }
        tracing::info!(incident = %incident.id, rule = %rule.name, target = %chosen.target, "diagnosing with a signal the incident's objects raise");
        let detail = json!({
            "rule": rule.name,
            "playbook": chosen_playbook.name,
            "reason": chosen.reason,
            "target": chosen.target.to_string(),
        });
        self.store()
            .append_audit(
                Some(&incident.id),
                kinds::SIGNAL_CONSIDERED,
                NIGHTSHIFT,
                &detail,
                now,
            )
            .await?;
        Ok(Some((chosen.clone(), chosen_playbook.clone())))
    }
}
