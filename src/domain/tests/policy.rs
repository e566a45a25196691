use jiff::SignedDuration;
use serde_json::json;

use super::builders::at;
use crate::domain::catalog::Tool;
use crate::domain::pattern::Glob;
use crate::domain::plan::{Action, Plan, Risk};
use crate::domain::policy::{
    Escalation, PastAction, Policy, PolicyContext, Violation, recheck_before_execution,
};

fn action(tool: Tool, params: serde_json::Value) -> Action {
    Action { tool, params }
}

fn plan(actions: Vec<Action>) -> Plan {
    Plan {
        actions,
        requires_approval: true,
        risk: Risk::Medium,
        rationale: "because".into(),
        downgraded: None,
        verification: vec![],
    }
}

#[test]
fn a_rollback_in_an_ordinary_namespace_passes() {
    let policy = Policy::default();
    let rollback = action(
        Tool::DeploymentRollback,
        json!({"namespace": "shop", "name": "api"}),
    );
    assert_eq!(
        policy.check(
            &rollback,
            &PolicyContext::default(),
            at("2026-01-01T00:00:00Z")
        ),
        Ok(())
    );
}

#[test]
fn kube_system_and_nightshift_are_protected_by_default() {
    let policy = Policy::default();
    let now = at("2026-01-01T00:00:00Z");
    for ns in ["kube-system", "nightshift"] {
        let restart = action(
            Tool::DeploymentRestart,
            json!({"namespace": ns, "name": "coredns"}),
        );
        assert!(matches!(
            policy.check(&restart, &PolicyContext::default(), now),
            Err(Violation::Protected { .. })
        ));
    }
}

#[test]
fn notify_is_allowed_even_in_protected_namespaces() {
    let policy = Policy::default();
    let notify = action(Tool::Notify, json!({"message": "look at kube-system"}));
    assert_eq!(
        policy.check(
            &notify,
            &PolicyContext::default(),
            at("2026-01-01T00:00:00Z")
        ),
        Ok(())
    );
}

#[test]
fn a_namespace_outside_allowed_namespaces_is_refused() {
    let policy = Policy {
        allowed_namespaces: vec![Glob::new("team-*").expect("glob")],
        ..Policy::default()
    };
    let restart = action(
        Tool::DeploymentRestart,
        json!({"namespace": "shop", "name": "api"}),
    );
    assert!(matches!(
        policy.check(
            &restart,
            &PolicyContext::default(),
            at("2026-01-01T00:00:00Z")
        ),
        Err(Violation::NotAllowed { .. })
    ));
}

#[test]
fn memory_may_not_grow_beyond_the_factor_or_the_ceiling_or_when_unknown() {
    let policy = Policy::default();
    let now = at("2026-01-01T00:00:00Z");
    let resize = |limit: &str| {
        action(
            Tool::DeploymentSetResources,
            json!({"namespace": "shop", "name": "api", "container": "api", "memory_limit": limit}),
        )
    };
    let ctx = PolicyContext {
        current_memory_limit: Some(512 << 20),
        ..PolicyContext::default()
    };
    assert_eq!(policy.check(&resize("768Mi"), &ctx, now), Ok(()));
    assert_eq!(policy.check(&resize("1Gi"), &ctx, now), Ok(()));
    assert!(matches!(
        policy.check(&resize("1025Mi"), &ctx, now),
        Err(Violation::Bound { .. })
    ));
    assert!(matches!(
        policy.check(&resize("32Gi"), &ctx, now),
        Err(Violation::Bound { .. })
    ));
    assert!(matches!(
        policy.check(&resize("768Mi"), &PolicyContext::default(), now),
        Err(Violation::Bound { .. })
    ));
}

#[test]
fn scaling_is_bounded_by_min_max_and_doubling() {
    let policy = Policy::default();
    let now = at("2026-01-01T00:00:00Z");
    let scale = |n: i64| {
        action(
            Tool::DeploymentScale,
            json!({"namespace": "shop", "name": "api", "replicas": n}),
        )
    };
    let ctx = PolicyContext {
        current_replicas: Some(3),
        ..PolicyContext::default()
    };
    assert_eq!(policy.check(&scale(6), &ctx, now), Ok(()));
    assert!(policy.check(&scale(7), &ctx, now).is_err());
    assert!(policy.check(&scale(0), &ctx, now).is_err());
    assert!(
        policy
            .check(&scale(51), &PolicyContext::default(), now)
            .is_err()
    );
}

#[test]
fn actions_per_target_are_rate_limited_within_the_window_only() {
    let policy = Policy {
        max_actions_per_target: 2,
        action_window: SignedDuration::from_hours(1),
        ..Policy::default()
    };
    let restart = action(
        Tool::DeploymentRestart,
        json!({"namespace": "shop", "name": "api"}),
    );
    let past = |at_: &str| PastAction {
        tool: Tool::DeploymentRestart,
        target: "shop/api".into(),
        at: at(at_),
    };
    let recent = [past("2026-01-01T00:10:00Z"), past("2026-01-01T00:40:00Z")];
    let ctx = PolicyContext {
        recent: &recent,
        ..PolicyContext::default()
    };
    assert!(matches!(
        policy.check(&restart, &ctx, at("2026-01-01T01:00:00Z")),
        Err(Violation::RateLimited { .. })
    ));
    // An hour after the first, only one counts.
    assert_eq!(
        policy.check(&restart, &ctx, at("2026-01-01T01:20:00Z")),
        Ok(())
    );
    // Other targets are not affected.
    let other = action(
        Tool::DeploymentRestart,
        json!({"namespace": "shop", "name": "web"}),
    );
    assert_eq!(
        policy.check(&other, &ctx, at("2026-01-01T01:00:00Z")),
        Ok(())
    );
}

#[test]
fn a_refused_plan_becomes_notify_and_records_what_was_proposed_and_why() {
    let policy = Policy::default();
    let proposed = plan(vec![action(
        Tool::DeploymentRollback,
        json!({"namespace": "kube-system", "name": "coredns"}),
    )]);
    let enforced = policy.enforce(
        proposed.clone(),
        &PolicyContext::default(),
        at("2026-01-01T00:00:00Z"),
    );
    assert_eq!(enforced.actions.len(), 1);
    assert_eq!(enforced.actions[0].tool, Tool::Notify);
    assert!(!enforced.requires_approval);
    let downgrade = enforced.downgraded.expect("downgrade recorded");
    assert!(
        downgrade.reason.contains("kube-system"),
        "{}",
        downgrade.reason
    );
    assert_eq!(downgrade.proposed, proposed.actions);
    let message = enforced.actions[0].params["message"]
        .as_str()
        .expect("message");
    assert!(message.contains("deployment.rollback") && message.contains("policy refused"));
}

#[test]
fn a_plan_within_policy_is_returned_unchanged() {
    let policy = Policy::default();
    let proposed = plan(vec![action(
        Tool::DeploymentRollback,
        json!({"namespace": "shop", "name": "api", "to_revision": 3}),
    )]);
    assert_eq!(
        policy.enforce(
            proposed.clone(),
            &PolicyContext::default(),
            at("2026-01-01T00:00:00Z")
        ),
        proposed
    );
}

#[test]
fn schema_violations_are_refused_before_any_other_check() {
    let policy = Policy::default();
    let injected = action(
        Tool::DeploymentRollback,
        json!({"namespace": "shop", "name": "api; rm -rf /"}),
    );
    assert!(matches!(
        policy.check(
            &injected,
            &PolicyContext::default(),
            at("2026-01-01T00:00:00Z")
        ),
        Err(Violation::Schema { .. })
    ));
}

#[test]
fn a_plan_made_before_an_escalation_on_its_workload_may_not_run_after_it() {
    let policy = Policy::default();
    let rollback = plan(vec![action(
        Tool::DeploymentRollback,
        json!({"namespace": "shop", "name": "api"}),
    )]);
    let planned = at("2026-01-01T00:10:00Z");
    let now = at("2026-01-01T00:30:00Z");
    let escalation = Escalation {
        incident: "inc-1".into(),
        at: at("2026-01-01T00:20:00Z"),
    };
    let ctx = PolicyContext::default();
    let refused =
        recheck_before_execution(&policy, &rollback, &ctx, planned, Some(&escalation), now)
            .expect_err("escalated since the plan was made, whoever approved it since");
    assert!(refused.contains("inc-1"), "{refused}");
    // Made after the escalation (such a plan is only `notify` anyway).
    let later = at("2026-01-01T00:25:00Z");
    assert_eq!(
        recheck_before_execution(&policy, &rollback, &ctx, later, Some(&escalation), now),
        Ok(())
    );
    assert_eq!(
        recheck_before_execution(&policy, &rollback, &ctx, planned, None, now),
        Ok(())
    );
}

#[test]
fn actions_carried_out_since_the_plan_was_made_count_when_it_is_about_to_run() {
    let policy = Policy {
        max_actions_per_target: 1,
        ..Policy::default()
    };
    let restart = plan(vec![action(
        Tool::DeploymentRestart,
        json!({"namespace": "shop", "name": "api"}),
    )]);
    let now = at("2026-01-01T00:30:00Z");
    // Another incident restarted the same Deployment while this plan waited for its approval.
    let recent = [PastAction {
        tool: Tool::DeploymentRollback,
        target: "shop/api".into(),
        at: at("2026-01-01T00:20:00Z"),
    }];
    let ctx = PolicyContext {
        recent: &recent,
        ..PolicyContext::default()
    };
    let refused = recheck_before_execution(&policy, &restart, &ctx, now, None, now)
        .expect_err("rate-limited now");
    assert!(refused.starts_with("policy now refuses it"), "{refused}");
    let quiet = PolicyContext::default();
    assert_eq!(
        recheck_before_execution(&policy, &restart, &quiet, now, None, now),
        Ok(())
    );
}
