//! Downgrading: a plan policy refuses becomes a single `notify` that keeps what was proposed and
//! says why.

use serde_json::json;

use crate::domain::catalog::Tool;
use crate::domain::plan::{Action, Check, Downgrade, Plan, Risk};

/// The plan as a single `notify` that says what was proposed and why it may not run; the
/// proposed actions are kept in `downgraded`, never silently changed.
pub fn downgrade(plan: Plan, reason: String) -> Plan {
    let proposed: Vec<String> = plan.actions.iter().map(|a| a.tool.to_string()).collect();
    let message = format!(
        "nightshift proposed {} but policy refused it: {reason}. A human must look. {}",
        proposed.join(", "),
        plan.rationale
    );
    let downgraded = Downgrade {
        reason,
        proposed: plan.actions,
    };
    notify_instead(&message, plan.rationale, downgraded, plan.verification)
}

/// A single `notify` carrying `message` in place of what was proposed, which `downgraded` keeps
/// with the reason: the one shape every refusal (policy, corroboration, a guard) takes.
pub fn notify_instead(
    message: &str,
    rationale: String,
    downgraded: Downgrade,
    verification: Vec<Check>,
) -> Plan {
    Plan {
        actions: vec![Action {
            tool: Tool::Notify,
            params: json!({"message": truncate(message, 4000)}),
        }],
        requires_approval: false,
        risk: Risk::None,
        rationale,
        downgraded: Some(downgraded),
        verification,
    }
}

/// Cuts `text` to at most `max` bytes on a character boundary.
pub fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}
