//! The last check before execution: the plan against the world as it is when it is about to
//! run, not as it was when it was made.

use jiff::Timestamp;

use super::{Policy, PolicyContext};
use crate::domain::plan::Plan;

/// An escalation on the workload a plan acts on.
#[derive(Debug, Clone, PartialEq)]
pub struct Escalation {
    /// The escalated incident.
    pub incident: String,
    /// When it was escalated.
    pub at: Timestamp,
}

/// The last check before an authorized plan reaches the executor, against the world as it is
/// now rather than when the plan was made (an approval may come half an hour later): every
/// action must still pass policy, counting the actions carried out since (`ctx.recent`,
/// without this plan's own) against the per-target limit and the cluster-wide budget; node
/// actions are judged against every node of the cluster as read now (`ctx.nodes` must be
/// complete, or they may not run); and no escalation on the workload may have happened since the
/// plan was made at `planned_at` — after one, nightshift takes no further action there on its
/// own plans (a plan made after it is already only `notify`), and neither the plan nor whoever
/// approved it knew of it. `Err` says why the plan may not run.
pub fn recheck_before_execution(
    policy: &Policy,
    plan: &Plan,
    ctx: &PolicyContext<'_>,
    planned_at: Timestamp,
    escalation: Option<&Escalation>,
    now: Timestamp,
) -> Result<(), String> {
    if let Some(e) = escalation.filter(|e| e.at >= planned_at) {
        return Err(format!(
            "incident {} on the same workload was escalated at {} after this plan was made at \
             {planned_at}; nightshift takes no further automatic action there",
            e.incident, e.at
        ));
    }
    let touches_nodes = plan.actions.iter().any(|a| a.tool.is_cluster_scoped());
    if touches_nodes && !ctx.nodes.complete {
        return Err(
            "the cluster's nodes could not all be read, so node policy cannot be judged".into(),
        );
    }
    policy
        .check_plan(plan, ctx, now)
        .map_err(|v| format!("policy now refuses it: {v}"))
}
