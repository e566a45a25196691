//! A mutating remedy needs a structural fact, and nothing else controlling its target may undo
//! it: each test is a plan an attacker or an unlucky operator could otherwise have obtained.

use std::collections::BTreeMap;

use serde_json::json;

use super::builders::{at, diagnosis, evidence, not_ready, pod, ready, revision, rollout, signal};
use crate::domain::catalog::Tool;
use crate::domain::controls::{AutoscalerFacts, DisruptionBudgetFacts, GitOpsFacts, Selector};
use crate::domain::corroborate::{Verdict, assess, assess_plan};
use crate::domain::diagnosis::Diagnosis;
use crate::domain::evidence::{ConditionFacts, ContainerState, Evidence, Facts, NodeFacts};
use crate::domain::plan::{Action, Plan};

const NOW: &str = "2026-11-20T02:13:00Z";

/// Plans at the builders' clock.
fn plan(signal: &Signal, diagnosis: &Diagnosis, playbook: &Playbook, evidence: &Evidence) -> Plan {
    crate::domain::planner::plan(signal, diagnosis, playbook, evidence, at(NOW))
}
use crate::domain::playbook::Playbook;
use crate::domain::signal::{ObjectRef, Signal};
use crate::domain::taxonomy::Category;

fn playbook() -> Playbook {
    serde_yaml_ng::from_str(
        "name: operator
allowed_actions: [deployment.rollback, deployment.set_resources, deployment.restart,
  deployment.scale, pod.delete, node.cordon, notify]
remedies:
  - categories: [bad-deploy]
    actions: [{tool: deployment.rollback}]
  - categories: [oom-killed]
    actions: [{tool: deployment.set_resources, memory_growth: 1.5}]
  - categories: [node-failure]
    actions: [{tool: node.cordon}]
  - categories: [probe-failure]
    actions: [{tool: pod.delete}]
  - categories: [dependency-unavailable]
    actions: [{tool: deployment.scale, replicas: 6}]
  - categories: [app-crash]
    actions: [{tool: deployment.restart}]
",
    )
    .expect("playbook parses")
}

fn planned(category: Category, signal: &Signal, ev: &Evidence) -> Plan {
    plan(signal, &diagnosis(category, &[]), &playbook(), ev)
}

fn refused_because(p: &Plan, words: &str) {
    assert_eq!(p.actions[0].tool, Tool::Notify, "{p:?}");
    let reason = &p
        .downgraded
        .as_ref()
        .expect("the refusal is recorded")
        .reason;
    assert!(reason.contains(words), "{reason}");
    let message = p.actions[0].params["message"].as_str().unwrap_or_default();
    assert!(message.contains(words), "the page says why: {message}");
}

fn node_signal(name: &str) -> Signal {
    let mut s = signal("NotReady");
    s.target = ObjectRef::cluster("Node", name);
    s.workload = None;
    s
}

#[test]
fn a_memory_raise_needs_an_oom_killed_termination_not_a_log_line() {
    let error = evidence(vec![(
        "pod/shop/api-1",
        Facts::pod(pod("api-1").crash_looping(1, "Error").build()),
    )]);
    let p = planned(Category::OomKilled, &signal("CrashLoopBackOff"), &error);
    refused_because(&p, "last terminated Error (exit 1), not OOMKilled");
    assert_eq!(
        p.downgraded.map(|d| d.proposed[0].tool),
        Some(Tool::DeploymentSetResources)
    );
    let oom = evidence(vec![(
        "pod/shop/api-1",
        Facts::pod(pod("api-1").crash_looping(137, "OOMKilled").build()),
    )]);
    let p = planned(Category::OomKilled, &signal("CrashLoopBackOff"), &oom);
    assert_eq!(p.actions[0].tool, Tool::DeploymentSetResources);
    assert!(
        p.rationale.contains("terminated OOMKilled"),
        "{}",
        p.rationale
    );
}

#[test]
fn an_older_oom_kill_does_not_outweigh_the_latest_termination_for_another_reason() {
    let mut p = pod("api-1").crash_looping(137, "OOMKilled").build();
    p.containers[0].state = Some(ContainerState::Terminated {
        reason: Some("Error".into()),
        exit_code: 1,
        signal: None,
        message: None,
        started_at: None,
        finished_at: None,
    });
    let ev = evidence(vec![("pod/shop/api-1", Facts::pod(p))]);
    let plan = planned(Category::OomKilled, &signal("CrashLoopBackOff"), &ev);
    refused_because(&plan, "last terminated Error (exit 1)");
}

#[test]
fn pods_of_a_namesake_deployment_elsewhere_corroborate_nothing() {
    let mut other = pod("api-1").crash_looping(137, "OOMKilled").build();
    other.namespace = "staging".into();
    let ev = evidence(vec![("pod/staging/api-1", Facts::pod(other))]);
    let plan = planned(Category::OomKilled, &signal("CrashLoopBackOff"), &ev);
    refused_because(
        &plan,
        "no container api of Deployment api terminated OOMKilled",
    );
}

#[test]
fn exit_137_alone_is_any_sigkill_and_raises_no_memory_limit() {
    let killed = evidence(vec![(
        "pod/shop/api-1",
        Facts::pod(pod("api-1").crash_looping(137, "Error").build()),
    )]);
    let p = planned(Category::OomKilled, &signal("CrashLoopBackOff"), &killed);
    refused_because(&p, "not OOMKilled");
    let running = evidence(vec![("pod/shop/api-1", Facts::pod(pod("api-1").build()))]);
    let p = planned(Category::OomKilled, &signal("CrashLoopBackOff"), &running);
    refused_because(&p, "terminated OOMKilled; logs and events alone");
}

#[test]
fn a_ready_node_without_pressure_is_never_cordoned() {
    let healthy = evidence(vec![("node/worker-3", Facts::Node(ready("worker-3")))]);
    let p = planned(Category::NodeFailure, &node_signal("worker-3"), &healthy);
    refused_because(&p, "Ready=True with no pressure");
    let unread = evidence(vec![]);
    let p = planned(Category::NodeFailure, &node_signal("worker-3"), &unread);
    refused_because(&p, "were not read");
}

#[test]
fn a_not_ready_node_or_one_under_pressure_is_cordoned() {
    let down = evidence(vec![("node/worker-3", Facts::Node(not_ready("worker-3")))]);
    let p = planned(Category::NodeFailure, &node_signal("worker-3"), &down);
    assert_eq!(p.actions[0].tool, Tool::NodeCordon);
    assert!(p.rationale.contains("Ready=Unknown"), "{}", p.rationale);
    let mut pressured = ready("worker-3");
    pressured.conditions.push(ConditionFacts {
        kind: "DiskPressure".into(),
        status: "True".into(),
        reason: Some("KubeletHasDiskPressure".into()),
        message: None,
        since: None,
    });
    let disk = evidence(vec![("node/worker-3", Facts::Node(pressured))]);
    let p = planned(Category::NodeFailure, &node_signal("worker-3"), &disk);
    assert_eq!(p.actions[0].tool, Tool::NodeCordon);
}

fn two_revisions(old_pod_fails: bool) -> Evidence {
    let old = if old_pod_fails {
        pod("api-old").hash("old").crash_looping(1, "Error")
    } else {
        pod("api-old").hash("old")
    };
    evidence(vec![
        (
            "pod/shop/api-new",
            Facts::pod(pod("api-new").hash("new").crash_looping(1, "Error").build()),
        ),
        ("pod/shop/api-old", Facts::pod(old.build())),
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
fn a_rollback_is_not_corroborated_by_a_revision_that_ran_for_weeks_before_the_failure() {
    let ev = two_revisions(false);
    let weeks_later = crate::domain::planner::plan(
        &signal("CrashLoopBackOff"),
        &diagnosis(Category::BadDeploy, &[]),
        &playbook(),
        &ev,
        at("2026-12-11T02:00:00Z"),
    );
    refused_because(&weeks_later, "revision 5 was rolled out 504h ago");
}

#[test]
fn a_rollback_needs_the_failure_to_have_begun_with_the_newest_revision() {
    let p = planned(
        Category::BadDeploy,
        &signal("CrashLoopBackOff"),
        &two_revisions(false),
    );
    assert_eq!(p.actions[0].tool, Tool::DeploymentRollback);
    assert!(
        p.rationale.contains("all run revision 5"),
        "{}",
        p.rationale
    );
    let p = planned(
        Category::BadDeploy,
        &signal("CrashLoopBackOff"),
        &two_revisions(true),
    );
    refused_because(&p, "of an older revision (template old) fails too");
}

fn managed_by(tool: &str, owner: &str) -> Evidence {
    let mut ev = two_revisions(false);
    for item in &mut ev.items {
        if let Facts::Rollout(r) = &mut item.facts {
            r.gitops = Some(GitOpsFacts {
                tool: tool.into(),
                owner: owner.into(),
                marker: "label".into(),
            });
        }
    }
    ev
}

#[test]
fn a_gitops_managed_deployment_is_not_rolled_back_behind_its_controllers_back() {
    for (tool, owner) in [
        ("Argo CD", "Application shop-api"),
        ("Flux", "Kustomization flux-system/apps"),
    ] {
        let p = planned(
            Category::BadDeploy,
            &signal("CrashLoopBackOff"),
            &managed_by(tool, owner),
        );
        refused_because(&p, &format!("managed by {tool} ({owner}"));
        refused_because(
            &p,
            "revert in Git the change that made revision 5 (images shop/api:v1 → shop/api:v2)",
        );
    }
}

#[test]
fn a_playbook_that_allows_it_may_roll_back_a_gitops_managed_deployment() {
    let mut pb = playbook();
    pb.gitops.allow.push(Tool::DeploymentRollback);
    let ev = managed_by("Argo CD", "Application shop-api");
    let p = plan(
        &signal("CrashLoopBackOff"),
        &diagnosis(Category::BadDeploy, &[]),
        &pb,
        &ev,
    );
    assert_eq!(p.actions[0].tool, Tool::DeploymentRollback);
}

#[test]
fn scaling_a_deployment_an_autoscaler_controls_is_refused_with_its_bounds() {
    let mut ev = two_revisions(false);
    let p = planned(
        Category::DependencyUnavailable,
        &signal("CrashLoopBackOff"),
        &ev,
    );
    assert_eq!(p.actions[0].tool, Tool::DeploymentScale);
    assert_eq!(p.actions[0].params["replicas"], json!(6));
    for item in &mut ev.items {
        if let Facts::Rollout(r) = &mut item.facts {
            r.autoscaler = Some(AutoscalerFacts {
                name: "api".into(),
                min_replicas: 2,
                max_replicas: 10,
                current_replicas: Some(3),
                desired_replicas: Some(3),
            });
        }
    }
    let p = planned(
        Category::DependencyUnavailable,
        &signal("CrashLoopBackOff"),
        &ev,
    );
    refused_because(
        &p,
        "HorizontalPodAutoscaler api scales Deployment api (min 2, max 10, 3 now)",
    );
}

fn budget(current: i32, allowed: i32) -> (&'static str, Facts) {
    (
        "pdb/shop/api",
        Facts::DisruptionBudget(DisruptionBudgetFacts {
            namespace: "shop".into(),
            name: "api".into(),
            selector: Some(Selector {
                match_labels: BTreeMap::from([("app".into(), "api".into())]),
                expressions: Vec::new(),
            }),
            disruptions_allowed: allowed,
            current_healthy: current,
            desired_healthy: 2,
            expected_pods: 3,
            always_allow_unhealthy: false,
        }),
    )
}

#[test]
fn a_pod_delete_that_would_violate_a_disruption_budget_is_refused() {
    let mut stuck = pod("api-7d9f-x2k4q").crash_looping(1, "Error").build();
    stuck.labels.insert("app".into(), "api".into());
    let met = evidence(vec![
        ("pod/shop/api-7d9f-x2k4q", Facts::pod(stuck.clone())),
        budget(2, 0),
    ]);
    let p = planned(Category::ProbeFailure, &signal("Unhealthy"), &met);
    assert_eq!(
        p.actions[0].tool,
        Tool::PodDelete,
        "a not-Ready pod may go while the budget holds"
    );
    let unmet = evidence(vec![
        ("pod/shop/api-7d9f-x2k4q", Facts::pod(stuck)),
        budget(1, 0),
    ]);
    let p = planned(Category::ProbeFailure, &signal("Unhealthy"), &unmet);
    refused_because(
        &p,
        "PodDisruptionBudget shop/api is already unmet (1 healthy of 2 desired)",
    );
}

#[test]
fn a_healthy_pod_is_not_deleted_and_a_healthy_deployment_not_restarted() {
    let healthy = evidence(vec![(
        "pod/shop/api-7d9f-x2k4q",
        Facts::pod(pod("api-7d9f-x2k4q").build()),
    )]);
    let p = planned(Category::ProbeFailure, &signal("Unhealthy"), &healthy);
    refused_because(&p, "is Ready and every container runs");
    let p = planned(Category::AppCrash, &signal("CrashLoopBackOff"), &healthy);
    refused_because(&p, "every pod of Deployment api is Ready and running");
}

#[test]
fn explain_lists_the_fact_behind_each_proposed_or_refused_mutation() {
    let ev = evidence(vec![("node/worker-3", Facts::Node(ready("worker-3")))]);
    let p = planned(Category::NodeFailure, &node_signal("worker-3"), &ev);
    let verdicts = assess_plan(&p, &ev, at(NOW));
    assert_eq!(verdicts.len(), 1);
    assert_eq!(verdicts[0].verdict, Verdict::Vetoed);
    assert_eq!(verdicts[0].evidence.as_deref(), Some("node/worker-3"));
    assert!(
        verdicts[0]
            .describe()
            .starts_with("node.cordon vetoed: node worker-3 is Ready=True")
    );
    let uncordon = Action {
        tool: Tool::NodeUncordon,
        params: json!({"name": "worker-3"}),
    };
    assert_eq!(assess(&uncordon, &ev, at(NOW)).verdict, Verdict::Supported);
    let gone = evidence(vec![(
        "node/worker-3",
        Facts::Node(NodeFacts {
            name: "worker-3".into(),
            ..not_ready("worker-3")
        }),
    )]);
    assert_eq!(assess(&uncordon, &gone, at(NOW)).verdict, Verdict::Vetoed);
}
