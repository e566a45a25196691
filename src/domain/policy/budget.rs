//! The cluster-wide action budget: during a wide outage many incidents open at once, each with a
//! plausible plan. However right each is alone, nightshift may change only so much of the
//! cluster per window; past that, humans decide.

use jiff::{SignedDuration, Timestamp};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::domain::plan::Plan;
use crate::domain::policy::PastAction;

/// How many mutating actions nightshift may carry out across the whole cluster per window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ActionBudget {
    /// Mutating actions, counted over every incident and target, within `window`.
    pub max_actions: usize,
    /// The window.
    #[schemars(with = "String")]
    pub window: SignedDuration,
}

impl Default for ActionBudget {
    fn default() -> Self {
        Self {
            max_actions: 10,
            window: SignedDuration::from_hours(1),
        }
    }
}

/// A plan that would overspend the budget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overspent {
    /// Mutating actions already carried out (or in doubt) within the window.
    pub spent: usize,
    /// Mutating actions the plan adds.
    pub planned: usize,
}

impl ActionBudget {
    /// Whether `plan` fits: the mutating actions in `recent` within the window ending at `now`
    /// plus the plan's own must not exceed `max_actions`.
    pub fn check(
        &self,
        plan: &Plan,
        recent: &[PastAction],
        now: Timestamp,
    ) -> Result<(), Overspent> {
        let planned = plan.actions.iter().filter(|a| a.tool.is_mutating()).count();
        if planned == 0 {
            return Ok(());
        }
        let since = now - self.window;
        let spent = recent
            .iter()
            .filter(|past| past.tool.is_mutating() && past.at > since && past.at <= now)
            .count();
        if spent + planned > self.max_actions {
            return Err(Overspent { spent, planned });
        }
        Ok(())
    }
}
