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

    /// The step's name (`opened`, `gathered`, `decided`, `moved`, `acted`, `verified`).
    pub fn name(&self) -> &'static str {
        match self {
            Progress::Opened { .. } => "opened",
            Progress::Gathered { .. } => "gathered",
            Progress::Decided { .. } => "decided",
            Progress::Moved { .. } => "moved",
            Progress::Acted { .. } => "acted",
            Progress::Verified { .. } => "verified",
        }
    }

    /// The step's untrusted text — the signal's message, what could not be gathered, why it
    /// moved, what the executor said — for debug logs only; `None` when it has none.
    pub fn detail(&self) -> Option<String> {
        match self {
            Progress::Opened { signal, .. } => signal.message.clone(),
            Progress::Gathered { problems, .. } if !problems.is_empty() => {
                Some(problems.join("; "))
            }
            Progress::Decided { diagnosis, .. } => Some(diagnosis.summary.clone()),
            Progress::Moved { why, .. } => Some(why.clone()),
            Progress::Acted { detail, .. } => Some(detail.clone()),
            Progress::Gathered { .. } | Progress::Verified { .. } => None,
        }
    }

    /// The step in words made only of structured fields — rule, target, reason, category,
    /// plan hash, tools, state, outcome — never a message, summary, rationale or executor
    /// output: what the daemon logs at info, where untrusted text does not belong.
    pub fn headline(&self) -> String {
        let line = match self {
            Progress::Opened { rule, signal, .. } => {
                format!(
                    "opened by rule {rule}: {} on {}",
                    signal.reason, signal.target
                )
            }
            Progress::Gathered {
                items, problems, ..
            } => format!(
                "gathered {} evidence item(s), {} problem(s)",
                items.len(),
                problems.len()
            ),
            Progress::Decided {
                diagnosis,
                plan,
                plan_hash,
                ..
            } => {
                let tools: Vec<&str> = plan.actions.iter().map(|a| a.tool.as_str()).collect();
                format!(
                    "diagnosed {} ({:.0}%), plan {} [{}]",
                    diagnosis.category.as_str(),
                    diagnosis.confidence * 100.0,
                    plan_hash.chars().take(12).collect::<String>(),
                    tools.join(", ")
                )
            }
            Progress::Moved { to, by, .. } => format!("moved to {} by {by}", to.as_str()),
            Progress::Acted {
                index, tool, ok, ..
            } => format!(
                "action {} {tool} {}",
                index + 1,
                if *ok { "succeeded" } else { "failed" }
            ),
            Progress::Verified { verdict, .. } => format!(
                "verified: {}",
                if verdict.healthy {
                    "healthy"
                } else {
                    "not healthy"
                }
            ),
        };
        // An alert's name is the one free-form field here: it may not start a log line.
        line.replace(char::is_control, " ")
    }
}

#[cfg(test)]
mod tests {
    use super::Progress;
    use crate::domain::signal::{ObjectRef, Signal, SignalSource};

    #[test]
    fn the_info_headline_carries_no_message_and_no_line_break() {
        let signal = Signal {
            source: SignalSource::Alert,
            target: ObjectRef::namespaced("Pod", "shop", "api-1"),
            workload: None,
            reason: "KubePodCrashLooping\nFAKE log line".into(),
            container: None,
            container_state: None,
            labels: Default::default(),
            alertname: None,
            message: Some("the app printed its config: hello world".into()),
            observed_at: jiff::Timestamp::UNIX_EPOCH,
        };
        let opened = Progress::Opened {
            incident: "inc-1".into(),
            rule: "crash-loop".into(),
            signal: Box::new(signal),
        };
        let line = opened.headline();
        assert_eq!(
            line,
            "opened by rule crash-loop: KubePodCrashLooping FAKE log line on Pod/shop/api-1"
        );
        assert_eq!(opened.name(), "opened");
    }
}
