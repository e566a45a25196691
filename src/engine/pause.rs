//! The kill switch in the engine. Right before anything is sent to the cluster the engine asks
//! whether nightshift is paused — by the `engine.paused` setting or by the store's switch, which
//! every daemon on the store reads. A plan not yet started is held (recorded on the incident,
//! still `approved`) and runs once the switch is lifted; a plan paused between two actions stops
//! there and escalates, since half of it already ran.

use serde_json::json;
use tokio::task::JoinSet;

use super::Engine;
use super::lifecycle::{EngineError, NIGHTSHIFT};
use crate::domain::incident::IncidentState;
use crate::store::kinds;

impl Engine {
    /// Why nothing may be sent now, if nightshift is paused.
    pub(super) async fn pause_in_force(&self) -> Result<Option<String>, EngineError> {
        if self.parts().settings.paused {
            return Ok(Some("paused by the engine.paused setting".into()));
        }
        Ok(self.store().paused().await?.map(|pause| pause.to_string()))
    }

    /// Holds an authorized plan while nightshift is paused: recorded on the incident and run
    /// by [`Engine::release_held`] once nothing holds it.
    pub(super) async fn hold(&self, id: &str, why: &str) -> Result<(), EngineError> {
        let detail = json!({"why": format!("{why}; the plan runs once nightshift is resumed")});
        self.store()
            .append_audit(
                Some(id),
                kinds::EXECUTION_HELD,
                NIGHTSHIFT,
                &detail,
                self.now(),
            )
            .await?;
        tracing::info!(incident = %id, why, "execution held: nightshift is paused");
        self.held_ids().insert(id.to_owned());
        Ok(())
    }

    /// Runs every held plan once nightshift is no longer paused. Each goes through the same
    /// path as after a restart: the approval is checked again (one that expired meanwhile
    /// escalates), then the last check before execution.
    pub(super) async fn release_held(&self, tasks: &mut JoinSet<()>) -> Result<(), EngineError> {
        if self.held_ids().is_empty() || self.pause_in_force().await?.is_some() {
            return Ok(());
        }
        let held = std::mem::take(&mut *self.held_ids());
        for id in held {
            let Some(record) = self.store().load(&id).await? else {
                continue;
            };
            let state = record.incident.state;
            if matches!(state, IncidentState::Approved | IncidentState::Executing) {
                tracing::info!(incident = %id, "nightshift resumed: running the held plan");
                let engine = self.clone();
                let span = super::incident_span(&record.incident);
                let work = async move { engine.drive(record.incident, state).await };
                tasks.spawn(tracing::Instrument::instrument(work, span));
            }
        }
        Ok(())
    }

    fn held_ids(&self) -> std::sync::MutexGuard<'_, std::collections::BTreeSet<String>> {
        self.inner
            .held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
