//! The engine's steps as metrics: [`Metrics::observe`] reads each [`Progress`] the engine
//! reports, so the engine needs one call per step and the numbers cannot drift from the log.

use std::sync::PoisonError;

use jiff::Timestamp;
use prometheus_client::metrics::gauge::Gauge;

use super::metrics::{
    ACTION_OUTCOMES, Metrics, RuleCategory, RuleLabel, StateLabel, ToolOutcome, Tracked, VERDICTS,
    VerdictLabel,
};
use crate::domain::catalog::Tool;
use crate::domain::incident::IncidentState;
use crate::domain::taxonomy::Category;
use crate::engine::Progress;

impl Metrics {
    /// Counts one engine step that happened at `now`.
    pub fn observe(&self, progress: &Progress, now: Timestamp) {
        match progress {
            Progress::Opened {
                incident,
                rule,
                signal,
            } => {
                let labels = RuleLabel { rule: rule.clone() };
                self.inner.opened.get_or_create(&labels).inc();
                let waited = now.duration_since(signal.observed_at).as_secs_f64();
                self.inner.detection.observe(waited.max(0.0));
                self.entered(incident, IncidentState::Open, now);
            }
            Progress::Moved { incident, to, .. } => self.entered(incident, *to, now),
            Progress::Acted { tool, ok, .. } => {
                let outcome = ACTION_OUTCOMES[usize::from(!*ok)];
                let tool = Tool::ALL.into_iter().find(|t| t.as_str() == tool.as_str());
                // The catalog is closed; an unknown name cannot be executed, so is not counted.
                if let Some(tool) = tool {
                    let labels = ToolOutcome {
                        tool: tool.as_str(),
                        outcome,
                    };
                    self.inner.actions.get_or_create(&labels).inc();
                }
            }
            Progress::Verified { verdict, .. } => {
                let verdict = VERDICTS[usize::from(!verdict.healthy)];
                self.inner
                    .verifications
                    .get_or_create(&VerdictLabel { verdict })
                    .inc();
            }
            Progress::Gathered { .. } | Progress::Decided { .. } => {}
        }
    }

    /// Counts an incident of `rule` diagnosed as `category`.
    pub fn diagnosed(&self, rule: &str, category: Category) {
        let labels = RuleCategory {
            rule: rule.to_owned(),
            category: category.as_str().to_owned(),
        };
        self.inner.diagnosed.get_or_create(&labels).inc();
    }

    /// Counts an unfinished incident found in the store at start.
    pub fn resumed(&self, incident: &str, state: IncidentState, now: Timestamp) {
        self.entered(incident, state, now);
    }

    /// Moves `incident` to `to` in the state gauge; observes the approval latency when a human
    /// answered a page this daemon saw sent.
    fn entered(&self, incident: &str, to: IncidentState, now: Timestamp) {
        let mut tracked = self
            .inner
            .tracked
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let before = tracked.remove(incident);
        if let Some(before) = before {
            self.state_gauge(before.state).dec();
            if let (Some(asked_at), IncidentState::Approved | IncidentState::Denied) =
                (before.asked_at, to)
            {
                let waited = now.duration_since(asked_at).as_secs_f64();
                self.inner.approval.observe(waited.max(0.0));
            }
        }
        self.state_gauge(to).inc();
        if !to.is_terminal() {
            let asked_at = (to == IncidentState::AwaitingApproval).then_some(now);
            tracked.insert(
                incident.to_owned(),
                Tracked {
                    state: to,
                    asked_at,
                },
            );
        }
    }

    fn state_gauge(&self, state: IncidentState) -> Gauge {
        let labels = StateLabel {
            state: state.as_str(),
        };
        self.inner.states.get_or_create_owned(&labels)
    }
}
