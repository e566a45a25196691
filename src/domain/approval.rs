//! The approval gate. The executor accepts only an [`Authorized`] plan, and the only way to
//! make one is [`authorize`]: a recorded human approval whose plan hash equals the plan's own
//! hash, or a playbook auto-approval of low-risk tools in named namespaces. A denied, expired,
//! missing or mismatched approval cannot reach the executor by any path.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::domain::plan::{Plan, Risk};
use crate::domain::playbook::ApprovalSpec;

/// A human's answer to a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Decision {
    /// Go ahead.
    Approved,
    /// Do not.
    Denied,
}

/// A recorded approval decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Approval {
    /// The hash of the plan that was shown to the human.
    pub plan_hash: String,
    /// Their answer.
    pub decision: Decision,
    /// Who answered.
    pub actor: String,
    /// When.
    pub at: Timestamp,
    /// After this the approval is void.
    pub expires_at: Timestamp,
}

/// Why a plan may not run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Nobody approved it and the playbook does not auto-approve it.
    #[error("the plan needs a human approval and has none")]
    NoApproval,
    /// The approval is for another plan.
    #[error("the approval is for plan {approved}, not for this plan {actual}")]
    HashMismatch {
        /// The approved hash.
        approved: String,
        /// This plan's hash.
        actual: String,
    },
    /// A human said no.
    #[error("the plan was denied by {0}")]
    Denied(String),
    /// The approval expired before execution.
    #[error("the approval expired at {0}")]
    Expired(Timestamp),
    /// The plan needs more distinct approvers than have approved it (two-person rule).
    #[error("the plan needs {need} distinct approvers and has {have}")]
    TooFewApprovers {
        /// Distinct approvers so far.
        have: usize,
        /// How many the plan needs.
        need: usize,
    },
    /// A tool in the plan is not auto-approvable here.
    #[error("{0} is not auto-approved in this namespace")]
    NotAutoApproved(String),
}

/// A plan cleared to run. Its fields are private: only [`authorize`] makes one.
#[derive(Debug, Clone, PartialEq)]
pub struct Authorized {
    plan: Plan,
    hash: String,
    by: String,
}

impl Authorized {
    /// The plan.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The plan's hash, as approved.
    pub fn hash(&self) -> &str {
        &self.hash
    }

    /// Who authorized it (`alice@example.com`, `playbook:workload`).
    pub fn by(&self) -> &str {
        &self.by
    }
}

/// Clears `plan` to run, or says why not. `approval` is the recorded human decision, if any;
/// `auto` is the playbook's approval section, consulted only when no human approved.
pub fn authorize(
    plan: &Plan,
    approval: Option<&Approval>,
    auto: Option<(&str, &ApprovalSpec)>,
    namespace: Option<&str>,
    now: Timestamp,
) -> Result<Authorized, Refusal> {
    let hash = plan.hash();
    if let Some(a) = approval {
        if a.plan_hash != hash {
            return Err(Refusal::HashMismatch {
                approved: a.plan_hash.clone(),
                actual: hash,
            });
        }
        return match a.decision {
            Decision::Denied => Err(Refusal::Denied(a.actor.clone())),
            Decision::Approved if now >= a.expires_at => Err(Refusal::Expired(a.expires_at)),
            Decision::Approved => Ok(Authorized {
                plan: plan.clone(),
                hash,
                by: a.actor.clone(),
            }),
        };
    }
    let Some((playbook, spec)) = auto else {
        return Err(Refusal::NoApproval);
    };
    for action in plan.actions.iter().filter(|a| a.tool.is_mutating()) {
        // Auto-approval is re-checked here rather than trusting `plan.requires_approval`.
        if Risk::of(action.tool) > Risk::Low || !spec.auto_approves(action.tool, namespace) {
            return Err(Refusal::NotAutoApproved(action.tool.to_string()));
        }
    }
    Ok(Authorized {
        plan: plan.clone(),
        hash,
        by: format!("playbook:{playbook}"),
    })
}

/// Clears `plan` to run on the recorded `decisions` about it, or says why not: any denial
/// refuses it; otherwise at least `required` distinct approvers must have approved this exact
/// hash, each approval still valid at `now` (the two-person rule when `required` is 2). Without
/// any approval, the playbook's auto-approval (`auto`) is consulted as in [`authorize`].
pub fn authorize_quorum(
    plan: &Plan,
    decisions: &[Approval],
    required: usize,
    auto: Option<(&str, &ApprovalSpec)>,
    namespace: Option<&str>,
    now: Timestamp,
) -> Result<Authorized, Refusal> {
    let hash = plan.hash();
    let mine: Vec<&Approval> = decisions.iter().filter(|a| a.plan_hash == hash).collect();
    if let Some(denied) = mine.iter().find(|a| a.decision == Decision::Denied) {
        return Err(Refusal::Denied(denied.actor.clone()));
    }
    let Some(last) = mine.last() else {
        // Only approvals of other plans (or none): the single-approval gate says which.
        return authorize(plan, decisions.last(), auto, namespace, now);
    };
    let mut valid: Vec<&str> = Vec::new();
    for a in &mine {
        if now < a.expires_at && !valid.contains(&a.actor.as_str()) {
            valid.push(&a.actor);
        }
    }
    if valid.is_empty() {
        return Err(Refusal::Expired(last.expires_at));
    }
    let need = required.max(1);
    if valid.len() < need {
        return Err(Refusal::TooFewApprovers {
            have: valid.len(),
            need,
        });
    }
    let authorized = authorize(plan, Some(last), None, namespace, now)?;
    Ok(Authorized {
        by: valid.join(" and "),
        ..authorized
    })
}

#[cfg(test)]
mod tests {
    use jiff::SignedDuration;
    use serde_json::json;

    use super::{Approval, Decision, Refusal, authorize, authorize_quorum};
    use crate::domain::catalog::Tool;
    use crate::domain::pattern::Glob;
    use crate::domain::plan::{Action, Plan, Risk};
    use crate::domain::playbook::{ApprovalSpec, AutoApprove};
    use crate::domain::tests::builders::at;

    fn plan(tool: Tool, name: &str) -> Plan {
        Plan {
            actions: vec![Action {
                tool,
                params: json!({"namespace": "shop", "name": name}),
            }],
            requires_approval: true,
            risk: Risk::Medium,
            rationale: String::new(),
            downgraded: None,
            verification: vec![],
        }
    }

    fn approval(plan: &Plan, decision: Decision) -> Approval {
        let now = at("2026-01-01T00:00:00Z");
        Approval {
            plan_hash: plan.hash(),
            decision,
            actor: "alice".into(),
            at: now,
            expires_at: now + SignedDuration::from_mins(30),
        }
    }

    #[test]
    fn an_approval_bound_to_this_plan_hash_authorizes_it() {
        let p = plan(Tool::DeploymentRollback, "api");
        let ok = authorize(
            &p,
            Some(&approval(&p, Decision::Approved)),
            None,
            Some("shop"),
            at("2026-01-01T00:10:00Z"),
        )
        .expect("authorized");
        assert_eq!(ok.hash(), p.hash());
        assert_eq!(ok.by(), "alice");
    }

    #[test]
    fn rollback_is_refused_with_an_approval_for_another_plan_hash() {
        let approved = plan(Tool::DeploymentRollback, "api");
        let swapped = plan(Tool::DeploymentRollback, "payments");
        let err = authorize(
            &swapped,
            Some(&approval(&approved, Decision::Approved)),
            None,
            Some("shop"),
            at("2026-01-01T00:10:00Z"),
        );
        assert!(matches!(err, Err(Refusal::HashMismatch { .. })));
    }

    #[test]
    fn denied_expired_and_missing_approvals_are_refused() {
        let p = plan(Tool::DeploymentRollback, "api");
        let now = at("2026-01-01T00:10:00Z");
        assert!(matches!(
            authorize(&p, Some(&approval(&p, Decision::Denied)), None, None, now),
            Err(Refusal::Denied(_))
        ));
        let late = at("2026-01-01T00:31:00Z");
        assert!(matches!(
            authorize(
                &p,
                Some(&approval(&p, Decision::Approved)),
                None,
                None,
                late
            ),
            Err(Refusal::Expired(_))
        ));
        assert_eq!(
            authorize(&p, None, None, None, now),
            Err(Refusal::NoApproval)
        );
    }

    #[test]
    fn auto_approval_covers_only_low_risk_tools_in_the_named_namespaces() {
        let spec = ApprovalSpec {
            auto_approve: vec![
                AutoApprove {
                    tool: Tool::DeploymentRestart,
                    namespaces: vec![Glob::new("shop").expect("glob")],
                },
                AutoApprove {
                    tool: Tool::DeploymentRollback,
                    namespaces: vec![Glob::new("shop").expect("glob")],
                },
            ],
            ..ApprovalSpec::default()
        };
        let now = at("2026-01-01T00:10:00Z");
        let restart = plan(Tool::DeploymentRestart, "api");
        assert_eq!(
            authorize(&restart, None, Some(("workload", &spec)), Some("shop"), now)
                .expect("auto")
                .by(),
            "playbook:workload"
        );
        assert!(authorize(&restart, None, Some(("workload", &spec)), Some("prod"), now).is_err());
        // Even if a playbook lists it, a medium-risk rollback is never auto-approved.
        let rollback = plan(Tool::DeploymentRollback, "api");
        assert!(matches!(
            authorize(
                &rollback,
                None,
                Some(("workload", &spec)),
                Some("shop"),
                now
            ),
            Err(Refusal::NotAutoApproved(_))
        ));
    }

    fn by(plan: &Plan, actor: &str, at_: &str) -> Approval {
        let at_ = at(at_);
        Approval {
            plan_hash: plan.hash(),
            decision: Decision::Approved,
            actor: actor.into(),
            at: at_,
            expires_at: at_ + SignedDuration::from_mins(30),
        }
    }

    #[test]
    fn two_person_rule_needs_two_distinct_approvers_of_this_plan_hash() {
        let p = plan(Tool::DeploymentRollback, "api");
        let other = plan(Tool::DeploymentRollback, "payments");
        let now = at("2026-01-01T00:10:00Z");
        let alice = by(&p, "alice", "2026-01-01T00:01:00Z");
        let alice_again = by(&p, "alice", "2026-01-01T00:02:00Z");
        let bob_other_plan = by(&other, "bob", "2026-01-01T00:03:00Z");
        let bob = by(&p, "bob", "2026-01-01T00:04:00Z");
        assert_eq!(
            authorize_quorum(
                &p,
                &[alice.clone(), alice_again.clone()],
                2,
                None,
                None,
                now
            ),
            Err(Refusal::TooFewApprovers { have: 1, need: 2 })
        );
        assert_eq!(
            authorize_quorum(&p, &[alice.clone(), bob_other_plan], 2, None, None, now),
            Err(Refusal::TooFewApprovers { have: 1, need: 2 })
        );
        let ok = authorize_quorum(&p, &[alice.clone(), bob.clone()], 2, None, None, now)
            .expect("two approvers");
        assert_eq!(ok.by(), "alice and bob");
        assert_eq!(
            authorize_quorum(&p, std::slice::from_ref(&alice), 1, None, None, now)
                .expect("one is enough")
                .by(),
            "alice"
        );
    }

    #[test]
    fn an_expired_first_approval_does_not_count_towards_two_person() {
        let p = plan(Tool::DeploymentRollback, "api");
        let alice = by(&p, "alice", "2026-01-01T00:00:00Z");
        let bob = by(&p, "bob", "2026-01-01T00:20:00Z");
        let now = at("2026-01-01T00:35:00Z");
        assert_eq!(
            authorize_quorum(&p, &[alice.clone(), bob], 2, None, None, now),
            Err(Refusal::TooFewApprovers { have: 1, need: 2 })
        );
        assert!(matches!(
            authorize_quorum(&p, &[alice], 1, None, None, now),
            Err(Refusal::Expired(_))
        ));
    }

    #[test]
    fn one_denial_refuses_whatever_else_was_approved() {
        let p = plan(Tool::DeploymentRollback, "api");
        let now = at("2026-01-01T00:10:00Z");
        let mut carol = by(&p, "carol", "2026-01-01T00:05:00Z");
        carol.decision = Decision::Denied;
        let decisions = [
            by(&p, "alice", "2026-01-01T00:01:00Z"),
            by(&p, "bob", "2026-01-01T00:02:00Z"),
            carol,
        ];
        assert_eq!(
            authorize_quorum(&p, &decisions, 2, None, None, now),
            Err(Refusal::Denied("carol".into()))
        );
    }

    #[test]
    fn approvals_of_another_plan_alone_are_a_hash_mismatch() {
        let p = plan(Tool::DeploymentRollback, "api");
        let other = plan(Tool::DeploymentRollback, "payments");
        let now = at("2026-01-01T00:10:00Z");
        assert!(matches!(
            authorize_quorum(
                &p,
                &[by(&other, "alice", "2026-01-01T00:01:00Z")],
                1,
                None,
                None,
                now
            ),
            Err(Refusal::HashMismatch { .. })
        ));
        assert_eq!(
            authorize_quorum(&p, &[], 1, None, None, now),
            Err(Refusal::NoApproval)
        );
    }
}
