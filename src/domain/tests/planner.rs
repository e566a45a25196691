use serde_json::json;

use super::builders::{diagnosis, evidence, not_ready, pod, revision, rollout, signal};
use crate::domain::catalog::Tool;
use crate::domain::evidence::{Facts, NodeFacts};
use crate::domain::planner::policy_context;

/// Plans at the builders' clock.
fn plan(
    signal: &crate::domain::signal::Signal,
    diagnosis: &crate::domain::diagnosis::Diagnosis,
    playbook: &Playbook,
    evidence: &crate::domain::evidence::Evidence,
) -> crate::domain::plan::Plan {
    crate::domain::planner::plan(
        signal,
        diagnosis,
        playbook,
        evidence,
        super::builders::at(NOW),
    )
}

const NOW: &str = "2026-11-20T02:13:00Z";
use crate::domain::playbook::Playbook;
use crate::domain::policy::Policy;
use crate::domain::taxonomy::Category;

fn playbook() -> Playbook {
    serde_yaml_ng::from_str(
        "name: workload
allowed_actions: [deployment.rollback, deployment.set_resources, deployment.restart, node.cordon, notify]
remedies:
  - categories: [bad-deploy, image-pull]
    actions: [{tool: deployment.rollback}]
  - categories: [oom-killed]
    actions: [{tool: deployment.set_resources, memory_growth: 1.5}]
  - categories: [node-failure]
    actions: [{tool: node.cordon}]
approval:
  auto_approve: [{tool: deployment.restart, namespaces: ['dev-*']}]
verification:
  - {check: rollout-complete, timeout: 10m}
  - {check: no-new-restarts, timeout: 15m, window: 5m}
",
    )
    .expect("playbook parses")
}

fn rollout_evidence() -> crate::domain::evidence::Evidence {
    evidence(vec![
        (
            "pod/shop/api-new",
            Facts::pod(pod("api-new").hash("new").crash_looping(1, "Error").build()),
        ),
        (
            "rollout/shop/api",
            Facts::rollout(rollout(vec![
                revision(4, "old", "shop/api:v1", "2026-11-01T00:00:00Z", 2),
                revision(5, "new", "shop/api:v2", "2026-11-20T02:00:00Z", 1),
            ])),
        ),
    ])
}

#[test]
fn a_bad_deploy_plans_a_rollback_to_the_previous_revision_that_needs_approval() {
    let p = plan(
        &signal("CrashLoopBackOff"),
        &diagnosis(Category::BadDeploy, &[]),
        &playbook(),
        &rollout_evidence(),
    );
    assert_eq!(p.actions.len(), 1);
    assert_eq!(p.actions[0].tool, Tool::DeploymentRollback);
    assert_eq!(
        p.actions[0].params,
        json!({"namespace": "shop", "name": "api", "to_revision": 4})
    );
    assert!(p.requires_approval);
    assert_eq!(p.verification.len(), 2);
    assert_eq!(p.verification[1].params["window_seconds"], json!(300));
}

#[test]
fn image_pull_is_rolled_back_only_when_the_rollout_is_blamed() {
    let ev = rollout_evidence();
    let blamed = plan(
        &signal("ImagePullBackOff"),
        &diagnosis(Category::ImagePull, &[Category::BadDeploy]),
        &playbook(),
        &ev,
    );
    assert_eq!(blamed.actions[0].tool, Tool::DeploymentRollback);
    let not_blamed = plan(
        &signal("ImagePullBackOff"),
        &diagnosis(Category::ImagePull, &[]),
        &playbook(),
        &ev,
    );
    assert_eq!(not_blamed.actions[0].tool, Tool::Notify);
    assert!(
        not_blamed.rationale.contains("blames the newest rollout"),
        "{}",
        not_blamed.rationale
    );
}

#[test]
fn a_rollback_without_a_previous_revision_becomes_notify_with_the_reason() {
    let ev = evidence(vec![(
        "rollout/shop/api",
        Facts::rollout(rollout(vec![revision(
            1,
            "only",
            "shop/api:v1",
            "2026-11-20T02:00:00Z",
            1,
        )])),
    )]);
    let p = plan(
        &signal("CrashLoopBackOff"),
        &diagnosis(Category::BadDeploy, &[]),
        &playbook(),
        &ev,
    );
    assert_eq!(p.actions[0].tool, Tool::Notify);
    assert!(
        p.rationale.contains("no previous revision"),
        "{}",
        p.rationale
    );
    assert!(!p.requires_approval);
}

#[test]
fn an_oom_kill_raises_the_memory_limit_by_the_playbook_growth_within_policy() {
    let mut oom = pod("api-1").crash_looping(137, "OOMKilled").build();
    oom.containers[0].memory_limit = Some(512 << 20);
    let ev = evidence(vec![("pod/shop/api-1", Facts::pod(oom))]);
    let p = plan(
        &signal("OOMKilled"),
        &diagnosis(Category::OomKilled, &[]),
        &playbook(),
        &ev,
    );
    assert_eq!(p.actions[0].tool, Tool::DeploymentSetResources);
    assert_eq!(p.actions[0].params["memory_limit"], json!("768Mi"));
    assert_eq!(p.actions[0].params["container"], json!("api"));
    let ctx = policy_context(&p, &ev, &[]);
    let enforced =
        Policy::default().enforce(p.clone(), &ctx, super::builders::at("2026-11-20T02:13:00Z"));
    assert_eq!(enforced, p, "1.5x growth is within the default 2x bound");
}

#[test]
fn a_category_without_a_remedy_is_notify_and_needs_no_approval() {
    let p = plan(
        &signal("CrashLoopBackOff"),
        &diagnosis(Category::DependencyUnavailable, &[]),
        &playbook(),
        &rollout_evidence(),
    );
    assert_eq!(p.actions.len(), 1);
    assert_eq!(p.actions[0].tool, Tool::Notify);
    assert!(!p.requires_approval);
    assert!(p.verification.is_empty());
}

#[test]
fn a_node_already_cordoned_is_not_cordoned_again() {
    let mut s = signal("NotReady");
    s.target = crate::domain::signal::ObjectRef::cluster("Node", "worker-3");
    s.workload = None;
    let fresh = evidence(vec![("node/worker-3", Facts::Node(not_ready("worker-3")))]);
    let p = plan(
        &s,
        &diagnosis(Category::NodeFailure, &[]),
        &playbook(),
        &fresh,
    );
    assert_eq!(p.actions[0].params, json!({"name": "worker-3"}));
    let cordoned = evidence(vec![(
        "node/worker-3",
        Facts::Node(NodeFacts {
            unschedulable: true,
            ..not_ready("worker-3")
        }),
    )]);
    let p = plan(
        &s,
        &diagnosis(Category::NodeFailure, &[]),
        &playbook(),
        &cordoned,
    );
    assert_eq!(p.actions[0].tool, Tool::Notify);
}

#[test]
fn the_playbook_ceiling_is_enforced_even_if_a_remedy_names_a_tool_outside_it() {
    let mut pb = playbook();
    pb.allowed_actions
        .retain(|t| *t != Tool::DeploymentRollback);
    let p = plan(
        &signal("CrashLoopBackOff"),
        &diagnosis(Category::BadDeploy, &[]),
        &pb,
        &rollout_evidence(),
    );
    assert_eq!(p.actions[0].tool, Tool::Notify);
    assert!(p.rationale.contains("allowed_actions"));
}

#[test]
fn auto_approval_applies_only_to_the_named_tool_in_the_named_namespaces() {
    let mut pb = playbook();
    pb.remedies[0].actions[0].tool = Tool::DeploymentRestart;
    let mut dev = signal("CrashLoopBackOff");
    dev.workload = Some(crate::domain::signal::ObjectRef::namespaced(
        "Deployment",
        "dev-a",
        "api",
    ));
    dev.target.namespace = Some("dev-a".into());
    let mut in_dev = rollout_evidence();
    for item in &mut in_dev.items {
        if let Facts::Pod(p) = &mut item.facts {
            p.namespace = "dev-a".into();
        }
    }
    let p = plan(&dev, &diagnosis(Category::BadDeploy, &[]), &pb, &in_dev);
    assert_eq!(p.actions[0].tool, Tool::DeploymentRestart);
    assert!(!p.requires_approval);
    let prod = plan(
        &signal("CrashLoopBackOff"),
        &diagnosis(Category::BadDeploy, &[]),
        &pb,
        &rollout_evidence(),
    );
    assert!(prod.requires_approval);
}
