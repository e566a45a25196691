//! What the engine reports as an incident moves: one value per step, for logs, metrics and the
//! demo's narration. Emitting them never blocks the engine (a slow listener misses some).

use serde::Serialize;

use crate::domain::diagnosis::Diagnosis;
use crate::domain::incident::IncidentState;
use crate::domain::plan::Plan;
use crate::domain::signal::Signal;
use crate::domain::verdict::Verdict;

/// One step of one incident.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "step", rename_all = "kebab-case")]
pub enum Progress {
    /// A rule matched a signal and a new incident was opened.
    Opened {
        /// The incident.
        incident: String,
        /// The rule.
        rule: String,
        /// The signal.
        signal: Box<Signal>,
    },
    /// Evidence was gathered.
    Gathered {
        /// The incident.
        incident: String,
        /// The ids of the items.
        items: Vec<String>,
        /// What could not be gathered.
        problems: Vec<String>,
    },
    /// The diagnosis and the policy-checked plan.
    Decided {
        /// The incident.
        incident: String,
        /// The diagnosis.
        diagnosis: Box<Diagnosis>,
        /// The plan.
        plan: Box<Plan>,
        /// Its hash, to which an approval binds.
        plan_hash: String,
    },
    /// The incident changed state.
    Moved {
        /// The incident.
        incident: String,
        /// The new state.
        to: IncidentState,
        /// Who or what moved it.
        by: String,
        /// Why, in words.
        why: String,
    },
    /// An action ran (or was refused) against the cluster.
    Acted {
        /// The incident.
        incident: String,
        /// The action's index in the plan.
        index: usize,
        /// The tool.
        tool: String,
        /// Whether it succeeded.
        ok: bool,
        /// What the executor said.
        detail: String,
    },
    /// The verifier's verdict.
    Verified {
        /// The incident.
        incident: String,
        /// The verdict.
        verdict: Box<Verdict>,
    },
}

impl Progress {
    /// The incident this is about.
    pub fn incident(&self) -> &str {
        match self {
            Progress::Opened { incident, .. }
            | Progress::Gathered { incident, .. }
            | Progress::Decided { incident, .. }
            | Progress::Moved { incident, .. }
            | Progress::Acted { incident, .. }
            | Progress::Verified { incident, .. } => incident,
        }
    }
}
