//! Node actions and the cluster-wide budget: what namespaces cannot bound.

use std::collections::BTreeMap;

use jiff::SignedDuration;
use serde_json::json;

use super::builders::{at, diagnosis, evidence, not_ready, pod, signal};
use crate::domain::approval::{Refusal, authorize};
use crate::domain::catalog::Tool;
use crate::domain::evidence::{Facts, NodeFacts};
use crate::domain::pattern::Glob;
use crate::domain::plan::{Action, CheckKind, Plan, Risk};
use crate::domain::planner::plan;
use crate::domain::playbook::Playbook;
use crate::domain::policy::budget::ActionBudget;
use crate::domain::policy::nodes::{NodePolicy, NodeView};
use crate::domain::policy::{
    PastAction, Policy, PolicyContext, Violation, recheck_before_execution,
};
use crate::domain::signal::ObjectRef;
use crate::domain::taxonomy::Category;

fn cordon(node: &str) -> Action {
    Action {
        tool: Tool::NodeCordon,
        params: json!({"name": node}),
    }
}

fn uncordon(node: &str) -> Action {
    Action {
        tool: Tool::NodeUncordon,
        params: json!({"name": node}),
    }
}

fn plan_of(actions: Vec<Action>) -> Plan {
    Plan {
        actions,
        requires_approval: true,
        risk: Risk::Low,
        rationale: "because".into(),
        downgraded: None,
        verification: vec![],
    }
}

fn node(name: &str, labels: &[(&str, &str)]) -> NodeFacts {
    NodeFacts {
        name: name.into(),
        labels: labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        ..NodeFacts::default()
    }
}

fn cordoned(mut facts: NodeFacts) -> NodeFacts {
    facts.unschedulable = true;
    facts
}

/// Ten workers and three control-plane nodes.
fn cluster() -> Vec<NodeFacts> {
    let mut nodes: Vec<NodeFacts> = (1..=10)
        .map(|i| node(&format!("worker-{i}"), &[("pool", "general")]))
        .collect();
    for i in 1..=3 {
        nodes.push(node(
            &format!("cp-{i}"),
            &[("node-role.kubernetes.io/control-plane", "")],
        ));
    }
    nodes
}

fn ctx_with(nodes: NodeView) -> PolicyContext<'static> {
    PolicyContext {
        nodes,
        ..PolicyContext::default()
    }
}

fn now() -> jiff::Timestamp {
    at("2026-11-20T03:00:00Z")
}

#[test]
fn a_pod_in_kube_system_never_leads_to_a_cordon() {
    let policy = Policy::default();
    let ctx = PolicyContext {
        signal_namespace: Some("kube-system".into()),
        nodes: NodeView::complete(cluster()),
        ..PolicyContext::default()
    };
    let refused = policy
        .check(&cordon("worker-1"), &ctx, now())
        .expect_err("a kube-system signal may not move nightshift to act");
    assert!(
        matches!(&refused, Violation::SignalNamespace { namespace, .. } if namespace == "kube-system"),
        "{refused}"
    );
    let enforced = policy.enforce(plan_of(vec![cordon("worker-1")]), &ctx, now());
    assert_eq!(enforced.actions[0].tool, Tool::Notify);
    let reason = enforced.downgraded.expect("downgraded").reason;
    assert!(reason.contains("kube-system"), "{reason}");
}

#[test]
fn a_signal_from_a_namespace_outside_allowed_namespaces_moves_no_node() {
    let policy = Policy {
        allowed_namespaces: vec![Glob::new("team-*").expect("glob")],
        ..Policy::default()
    };
    let ctx = PolicyContext {
        signal_namespace: Some("shop".into()),
        ..PolicyContext::default()
    };
    assert!(matches!(
        policy.check(&cordon("worker-1"), &ctx, now()),
        Err(Violation::SignalNamespace { .. })
    ));
    let ours = PolicyContext {
        signal_namespace: Some("team-a".into()),
        ..PolicyContext::default()
    };
    assert_eq!(policy.check(&cordon("worker-1"), &ours, now()), Ok(()));
}

#[test]
fn control_plane_nodes_are_never_cordoned_or_uncordoned_whatever_marks_them() {
    let policy = Policy::default();
    let marked = [
        node("cp-1", &[("node-role.kubernetes.io/control-plane", "")]),
        node("cp-2", &[("node-role.kubernetes.io/master", "true")]),
        NodeFacts {
            name: "cp-3".into(),
            taints: vec!["node-role.kubernetes.io/control-plane:NoSchedule".into()],
            ..NodeFacts::default()
        },
    ];
    for facts in marked {
        let name = facts.name.clone();
        // Even from the evidence alone, while planning.
        let ctx = ctx_with(NodeView::partial(vec![facts]));
        for action in [cordon(&name), uncordon(&name)] {
            let refused = policy.check(&action, &ctx, now()).expect_err(&name);
            assert!(refused.to_string().contains("control-plane"), "{refused}");
        }
    }
}

#[test]
fn only_nodes_the_selector_admits_are_touched() {
    let policy = Policy {
        nodes: NodePolicy {
            selector: BTreeMap::from([("pool".into(), Glob::new("gen*").expect("glob"))]),
            ..NodePolicy::default()
        },
        ..Policy::default()
    };
    let nodes = vec![
        node("worker-1", &[("pool", "general")]),
        node("gpu-1", &[("pool", "gpu")]),
        node("bare-1", &[]),
    ];
    let ctx = ctx_with(NodeView::partial(nodes));
    assert_eq!(policy.check(&cordon("worker-1"), &ctx, now()), Ok(()));
    for name in ["gpu-1", "bare-1"] {
        let refused = policy.check(&cordon(name), &ctx, now()).expect_err(name);
        assert!(refused.to_string().contains("selector"), "{refused}");
    }
}

#[test]
fn nodes_already_cordoned_count_toward_max_cordoned() {
    let policy = Policy {
        nodes: NodePolicy {
            max_cordoned: 2,
            max_cordoned_fraction: 1.0,
            ..NodePolicy::default()
        },
        ..Policy::default()
    };
    let mut nodes = cluster();
    nodes[0] = cordoned(nodes[0].clone());
    let one_down = ctx_with(NodeView::complete(nodes.clone()));
    assert_eq!(policy.check(&cordon("worker-2"), &one_down, now()), Ok(()));
    nodes[1] = cordoned(nodes[1].clone());
    let two_down = ctx_with(NodeView::complete(nodes));
    let refused = policy
        .check(&cordon("worker-3"), &two_down, now())
        .expect_err("a third cordoned node is over the limit");
    assert!(refused.to_string().contains("max_cordoned"), "{refused}");
    // Uncordoning is not limited by how many are cordoned.
    assert_eq!(
        policy.check(&uncordon("worker-1"), &two_down, now()),
        Ok(())
    );
}

#[test]
fn at_most_a_fraction_of_the_pool_is_cordoned_and_the_control_plane_is_not_the_pool() {
    let policy = Policy {
        nodes: NodePolicy {
            max_cordoned: 100,
            max_cordoned_fraction: 0.34,
            ..NodePolicy::default()
        },
        ..Policy::default()
    };
    // Three workers (and three control-plane nodes, which do not make the pool bigger).
    let mut nodes: Vec<NodeFacts> = cluster().into_iter().skip(7).collect();
    assert_eq!(nodes.len(), 6);
    let ctx = ctx_with(NodeView::complete(nodes.clone()));
    assert_eq!(policy.check(&cordon("worker-8"), &ctx, now()), Ok(()));
    nodes[0] = cordoned(nodes[0].clone());
    let ctx = ctx_with(NodeView::complete(nodes));
    let refused = policy
        .check(&cordon("worker-9"), &ctx, now())
        .expect_err("two of three workers is more than a third");
    assert!(
        refused.to_string().contains("2 of the 3 nodes"),
        "{refused}"
    );
    // The node already cordoned is not counted twice.
    assert_eq!(policy.check(&cordon("worker-8"), &ctx, now()), Ok(()));
}

#[test]
fn the_last_schedulable_node_of_a_one_node_pool_is_never_cordoned_by_default() {
    let ctx = ctx_with(NodeView::complete(vec![node("solo", &[])]));
    assert!(matches!(
        Policy::default().check(&cordon("solo"), &ctx, now()),
        Err(Violation::Node { .. })
    ));
}

#[test]
fn what_the_evidence_cannot_tell_is_judged_before_execution_against_every_node() {
    let policy = Policy {
        nodes: NodePolicy {
            max_cordoned: 0,
            ..NodePolicy::default()
        },
        ..Policy::default()
    };
    let cordon_plan = plan_of(vec![cordon("worker-1")]);
    // Planning: the evidence holds no pool, so the count is not judged yet.
    let planning = ctx_with(NodeView::partial(vec![node("worker-1", &[])]));
    assert_eq!(policy.check_plan(&cordon_plan, &planning, now()), Ok(()));
    // Right before execution the caller must have read every node...
    let refused = recheck_before_execution(&policy, &cordon_plan, &planning, now(), None, now())
        .expect_err("an unread pool refuses");
    assert!(refused.contains("nodes could not all be read"), "{refused}");
    // ...and then the count is judged, and a node that is not there is refused.
    let live = ctx_with(NodeView::complete(cluster()));
    let refused = recheck_before_execution(&policy, &cordon_plan, &live, now(), None, now())
        .expect_err("max_cordoned 0");
    assert!(refused.contains("max_cordoned"), "{refused}");
    let gone = plan_of(vec![cordon("worker-99")]);
    let refused = recheck_before_execution(&Policy::default(), &gone, &live, now(), None, now())
        .expect_err("no such node");
    assert!(refused.contains("no such node"), "{refused}");
}

#[test]
fn the_cluster_wide_budget_counts_every_incidents_actions_within_its_window() {
    let policy = Policy {
        budget: ActionBudget {
            max_actions: 3,
            window: SignedDuration::from_hours(1),
        },
        ..Policy::default()
    };
    let past = |target: &str, when: &str| PastAction {
        tool: Tool::DeploymentRestart,
        target: target.into(),
        at: at(when),
    };
    // Different targets, so no per-target limit is near.
    let recent = [
        past("shop/a", "2026-11-20T01:55:00Z"),
        past("shop/b", "2026-11-20T02:10:00Z"),
        past("pay/c", "2026-11-20T02:50:00Z"),
    ];
    let ctx = PolicyContext {
        recent: &recent,
        ..PolicyContext::default()
    };
    let restart = plan_of(vec![Action {
        tool: Tool::DeploymentRestart,
        params: json!({"namespace": "web", "name": "d"}),
    }]);
    // At 03:00 two are within the hour (01:55 has left it): one more fits...
    assert_eq!(policy.check_plan(&restart, &ctx, now()), Ok(()));
    // ...a plan of two does not.
    let mut two = restart.clone();
    two.actions.push(Action {
        tool: Tool::PodDelete,
        params: json!({"namespace": "web", "name": "d-1"}),
    });
    let refused = policy
        .check_plan(&two, &ctx, now())
        .expect_err("over budget");
    assert!(
        matches!(
            refused,
            Violation::Budget {
                spent: 2,
                planned: 2,
                limit: 3,
                ..
            }
        ),
        "{refused}"
    );
    let enforced = policy.enforce(two, &ctx, now());
    assert_eq!(enforced.actions[0].tool, Tool::Notify);
    let reason = enforced.downgraded.expect("downgraded").reason;
    assert!(reason.contains("budget"), "{reason}");
    // At 02:52 all three are within the hour: nothing more fits.
    assert!(matches!(
        policy.check_plan(&restart, &ctx, at("2026-11-20T02:52:00Z")),
        Err(Violation::Budget { spent: 3, .. })
    ));
    // A plan that only notifies is never over budget.
    let notify = plan_of(vec![Action {
        tool: Tool::Notify,
        params: json!({"message": "look"}),
    }]);
    assert_eq!(
        policy.check_plan(&notify, &ctx, at("2026-11-20T02:52:00Z")),
        Ok(())
    );
}

#[test]
fn a_playbook_can_never_auto_approve_a_node_action_whatever_its_namespaces() {
    let playbook: Playbook = serde_yaml_ng::from_str(
        "name: node
allowed_actions: [node.cordon, notify]
approval:
  auto_approve: [{tool: node.cordon, namespaces: ['*']}]
",
    )
    .expect("playbook parses");
    let plan = plan_of(vec![cordon("worker-1")]);
    let auto = Some(("node", &playbook.approval));
    for namespace in [Some("kube-system"), Some("shop"), None] {
        assert!(!playbook.approval.auto_approves(Tool::NodeCordon, namespace));
        assert!(matches!(
            authorize(&plan, None, auto, namespace, now()),
            Err(Refusal::NotAutoApproved(_))
        ));
    }
}

#[test]
fn node_cordoned_verification_watches_the_node_the_cordon_touched_not_the_workload() {
    let playbook: Playbook = serde_yaml_ng::from_str(
        "name: node
allowed_actions: [node.cordon, notify]
remedies:
  - categories: [node-failure]
    actions: [{tool: node.cordon}]
    verification:
      - {check: node-cordoned, timeout: 2m}
      - {check: condition-cleared, timeout: 30m}
",
    )
    .expect("playbook parses");
    // An evicted pod of a Deployment, on worker-4.
    let evicted = signal("Evicted");
    let seen = evidence(vec![
        (
            "pod/shop/api-7d9f-x2k4q",
            Facts::pod(pod("api-7d9f-x2k4q").node("worker-4").build()),
        ),
        ("node/worker-4", Facts::Node(not_ready("worker-4"))),
    ]);
    let p = plan(
        &evicted,
        &diagnosis(Category::NodeFailure, &[]),
        &playbook,
        &seen,
        jiff::Timestamp::UNIX_EPOCH,
    );
    assert_eq!(p.actions, vec![cordon("worker-4")]);
    let target = |kind: CheckKind| {
        let check = p
            .verification
            .iter()
            .find(|c| c.check == kind)
            .expect("check");
        serde_json::from_value::<ObjectRef>(check.params["target"].clone()).expect("target")
    };
    assert_eq!(
        target(CheckKind::NodeCordoned),
        ObjectRef::cluster("Node", "worker-4")
    );
    // Other checks still watch the incident's workload.
    assert_eq!(
        target(CheckKind::ConditionCleared),
        ObjectRef::namespaced("Deployment", "shop", "api")
    );
}
