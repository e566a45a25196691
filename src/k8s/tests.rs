//! Detector tests over objects written as `kubectl get -o yaml` prints them.

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Node, Pod};

use crate::k8s::detect;

fn now() -> Timestamp {
    "2026-11-20T02:30:00Z".parse().expect("timestamp")
}

fn pod(status: &str) -> Pod {
    let yaml = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: api-1, namespace: shop, creationTimestamp: \"2026-11-20T02:00:00Z\"}}\n\
         spec:\n  initContainers: [{{name: wait, image: busybox}}]\n  containers: [{{name: api, image: shop/api:v1}}]\n\
         status:\n{status}"
    );
    serde_yaml_ng::from_str(&yaml).expect("pod yaml")
}

fn reasons(pod: &Pod) -> Vec<String> {
    detect::pod(pod, None, now())
        .into_iter()
        .map(|s| s.reason)
        .collect()
}

#[test]
fn a_healthy_pod_raises_nothing() {
    let healthy = pod(
        "  phase: Running\n  conditions: [{type: PodScheduled, status: 'True'}, {type: Ready, status: 'True'}]\n  containerStatuses: [{name: api, image: x, imageID: x, ready: true, restartCount: 0, state: {running: {startedAt: '2026-11-20T02:00:05Z'}}}]\n",
    );
    assert!(reasons(&healthy).is_empty());
}

#[test]
fn an_oom_kill_is_raised_before_the_crash_loop_it_causes() {
    let oom = pod(
        "  phase: Running\n  containerStatuses: [{name: api, image: x, imageID: x, ready: false, restartCount: 4, state: {waiting: {reason: CrashLoopBackOff}}, lastState: {terminated: {reason: OOMKilled, exitCode: 137}}}]\n",
    );
    assert_eq!(reasons(&oom), vec!["OOMKilled", "CrashLoopBackOff"]);
}

#[test]
fn a_running_container_that_keeps_failing_is_restarting_but_an_old_failure_is_not() {
    let recent = pod(
        "  phase: Running\n  containerStatuses: [{name: api, image: x, imageID: x, ready: true, restartCount: 3, state: {running: {}}, lastState: {terminated: {reason: Error, exitCode: 2, finishedAt: '2026-11-20T02:25:00Z'}}}]\n",
    );
    assert_eq!(reasons(&recent), vec!["ContainerRestarting"]);
    let old = pod(
        "  phase: Running\n  containerStatuses: [{name: api, image: x, imageID: x, ready: true, restartCount: 3, state: {running: {}}, lastState: {terminated: {reason: Error, exitCode: 2, finishedAt: '2026-11-19T20:00:00Z'}}}]\n",
    );
    assert!(reasons(&old).is_empty());
}

#[test]
fn a_container_not_ready_is_raised_only_after_it_has_had_time_to_start() {
    let starting = pod(
        "  phase: Running\n  containerStatuses: [{name: api, image: x, imageID: x, ready: false, restartCount: 0, state: {running: {startedAt: '2026-11-20T02:29:30Z'}}}]\n",
    );
    assert!(
        reasons(&starting).is_empty(),
        "30s after start it is still starting up"
    );
    let stuck = pod(
        "  phase: Running\n  containerStatuses: [{name: api, image: x, imageID: x, ready: false, restartCount: 0, state: {running: {startedAt: '2026-11-20T02:25:00Z'}}}]\n",
    );
    assert_eq!(reasons(&stuck), vec!["ContainerNotReady"]);
}

#[test]
fn a_pod_stuck_in_its_init_containers_is_raised_after_ten_minutes() {
    let stuck = pod(
        "  phase: Pending\n  conditions: [{type: PodScheduled, status: 'True'}, {type: Initialized, status: 'False', reason: ContainersNotInitialized}]\n  initContainerStatuses: [{name: wait, image: x, imageID: x, ready: false, restartCount: 0, state: {running: {}}}]\n",
    );
    let signals = detect::pod(&stuck, None, now());
    assert_eq!(signals[0].reason, "InitStuck");
    assert_eq!(signals[0].container.as_deref(), Some("wait"));
    assert!(detect::pod(&stuck, None, "2026-11-20T02:05:00Z".parse().expect("t")).is_empty());
}

#[test]
fn an_unschedulable_pod_carries_the_scheduler_message() {
    let pending = pod(
        "  phase: Pending\n  conditions: [{type: PodScheduled, status: 'False', reason: Unschedulable, message: '0/3 nodes are available: 3 Insufficient cpu.'}]\n",
    );
    let signals = detect::pod(&pending, None, now());
    assert_eq!(signals[0].reason, "FailedScheduling");
    assert!(
        signals[0]
            .message
            .as_deref()
            .is_some_and(|m| m.contains("Insufficient cpu"))
    );
}

#[test]
fn an_event_about_a_node_counts_only_from_default_where_the_kubelet_records_it() {
    let yaml = "apiVersion: v1\nkind: Node\nmetadata: {name: worker-3}\n---\n\
        apiVersion: v1\nkind: Event\nmetadata: {name: worker-3.real, namespace: default}\n\
        involvedObject: {kind: Node, name: worker-3}\nreason: NodeNotReady\ntype: Normal\n\
        message: 'Node worker-3 status is now: NodeNotReady'\n---\n\
        apiVersion: v1\nkind: Event\nmetadata: {name: worker-3.forged, namespace: team-a}\n\
        involvedObject: {kind: Node, name: worker-3}\nreason: NotReady\ntype: Warning\n\
        message: Kubelet stopped posting node status.\n";
    let set = crate::k8s::objects::ObjectSet::parse(yaml, "test").expect("objects");
    let target = crate::domain::signal::ObjectRef::cluster("Node", "worker-3");
    let spec = crate::domain::playbook::EvidenceSpec::default();
    let evidence = crate::k8s::gather::gather(&set, &target, None, &spec, &Default::default());
    let events: Vec<&str> = evidence.events().map(|(id, _)| id).collect();
    assert_eq!(events, vec!["event/default/worker-3.real"]);
}

#[test]
fn a_warning_about_a_node_raises_a_signal_only_from_default() {
    let event = |namespace: &str| -> k8s_openapi::api::core::v1::Event {
        serde_yaml_ng::from_str(&format!(
            "apiVersion: v1\nkind: Event\nmetadata: {{name: worker-3.1, namespace: {namespace}}}\n\
             involvedObject: {{kind: Node, name: worker-3}}\nreason: NotReady\ntype: Warning\n\
             message: Kubelet stopped posting node status.\n"
        ))
        .expect("event yaml")
    };
    assert!(detect::event(&event("default"), now()).is_some());
    assert!(detect::event(&event("team-a"), now()).is_none());
}

#[test]
fn a_node_raises_not_ready_and_each_pressure() {
    let node: Node = serde_yaml_ng::from_str(
        "apiVersion: v1\nkind: Node\nmetadata: {name: worker-3}\nstatus:\n  conditions:\n  - {type: Ready, status: Unknown, reason: NodeStatusUnknown, message: Kubelet stopped posting node status.}\n  - {type: DiskPressure, status: 'True'}\n  - {type: MemoryPressure, status: 'False'}\n",
    )
    .expect("node yaml");
    let reasons: Vec<String> = detect::node(&node, now())
        .into_iter()
        .map(|s| s.reason)
        .collect();
    assert_eq!(reasons, vec!["NotReady", "DiskPressure"]);
}

#[test]
fn literal_secrets_in_a_pod_template_never_reach_the_rollout_evidence() {
    let deployment: k8s_openapi::api::apps::v1::Deployment = serde_yaml_ng::from_str(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: api, namespace: shop}\n\
         spec:\n  selector: {matchLabels: {app: api}}\n  template:\n    spec:\n      containers:\n\
         \x20     - name: api\n        image: shop/api:v2\n\
         \x20       args: ['--token=abc123', '--port=8080']\n\
         \x20       env:\n\
         \x20       - {name: DB_PASSWORD, value: hunter2}\n\
         \x20       - {name: DATABASE_URL, value: 'postgres://app:s3cr3t@db:5432/shop'}\n\
         \x20       - {name: DEPLOY_ENV, value: production}\n",
    )
    .expect("deployment yaml");
    let rollout = crate::k8s::facts::rollout(&deployment, &[], 5);
    let api = &rollout.template[0];
    assert_eq!(api.env["DB_PASSWORD"], "<redacted>");
    assert_eq!(
        api.env["DATABASE_URL"],
        "postgres://app:<redacted>@db:5432/shop"
    );
    assert_eq!(api.env["DEPLOY_ENV"], "production");
    assert_eq!(api.args, vec!["--token=<redacted>", "--port=8080"]);
    let text = serde_json::to_string(&rollout).expect("json");
    for secret in ["hunter2", "s3cr3t", "abc123"] {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }
}

#[test]
fn a_container_not_yet_ready_is_looked_at_again_when_its_start_up_time_is_over() {
    let starting = pod(
        "  phase: Running\n  conditions: [{type: PodScheduled, status: 'True'}]\n  containerStatuses: [{name: api, image: x, imageID: x, ready: false, restartCount: 0, state: {running: {startedAt: '2026-11-20T02:29:30Z'}}}]\n",
    );
    let at = detect::pod_recheck_at(&starting, now()).expect("a time to look again");
    assert_eq!(at, "2026-11-20T02:31:30Z".parse::<Timestamp>().expect("ts"));
    assert!(reasons(&starting).is_empty());
    let later: Vec<String> = detect::pod(&starting, None, at)
        .into_iter()
        .map(|s| s.reason)
        .collect();
    assert_eq!(
        later,
        vec!["ContainerNotReady"],
        "unchanged, it is raised then"
    );
    assert_eq!(
        detect::pod_recheck_at(&starting, at),
        None,
        "once raised, nothing more waits on the clock"
    );
}

#[test]
fn a_pending_pod_no_scheduler_has_looked_at_is_raised_once_it_has_waited_ten_minutes() {
    let waiting = pod("  phase: Pending\n");
    let early: Timestamp = "2026-11-20T02:05:00Z".parse().expect("ts");
    assert!(detect::pod(&waiting, None, early).is_empty());
    let at = detect::pod_recheck_at(&waiting, early).expect("a time to look again");
    let signals = detect::pod(&waiting, None, at);
    assert_eq!(signals.len(), 1);
    assert_eq!(signals[0].reason, "FailedScheduling");
    assert_eq!(signals[0].message, None);
    assert_eq!(reasons(&waiting), vec!["FailedScheduling"]);
}

#[test]
fn a_pending_pod_is_looked_at_again_when_it_would_count_as_stuck() {
    let pending = pod(
        "  phase: Pending\n  conditions: [{type: PodScheduled, status: 'True'}, {type: Initialized, status: 'False'}]\n  initContainerStatuses: [{name: wait, image: busybox, imageID: '', ready: false, restartCount: 0, state: {running: {startedAt: '2026-11-20T02:00:01Z'}}}]\n  containerStatuses: [{name: api, image: x, imageID: '', ready: false, restartCount: 0, state: {waiting: {reason: PodInitializing}}}]\n",
    );
    let early: Timestamp = "2026-11-20T02:05:00Z".parse().expect("ts");
    assert!(detect::pod(&pending, None, early).is_empty());
    let at = detect::pod_recheck_at(&pending, early).expect("a time to look again");
    let then: Vec<String> = detect::pod(&pending, None, at)
        .into_iter()
        .map(|s| s.reason)
        .collect();
    assert_eq!(then, vec!["InitStuck"]);
}

#[test]
fn a_healthy_or_already_raised_pod_waits_on_nothing() {
    let healthy = pod(
        "  phase: Running\n  conditions: [{type: PodScheduled, status: 'True'}, {type: Ready, status: 'True'}]\n  containerStatuses: [{name: api, image: x, imageID: x, ready: true, restartCount: 0, state: {running: {startedAt: '2026-11-20T02:00:05Z'}}}]\n",
    );
    assert_eq!(detect::pod_recheck_at(&healthy, now()), None);
    let crashing = pod(
        "  phase: Running\n  containerStatuses: [{name: api, image: x, imageID: x, ready: false, restartCount: 4, state: {waiting: {reason: CrashLoopBackOff}}}]\n",
    );
    assert_eq!(detect::pod_recheck_at(&crashing, now()), None);
}

fn claim(created: &str, phase: &str) -> k8s_openapi::api::core::v1::PersistentVolumeClaim {
    let yaml = format!(
        "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {{name: data, namespace: shop, creationTimestamp: \"{created}\", annotations: {{volume.kubernetes.io/selected-node: worker-1}}}}\n\
         spec: {{accessModes: [ReadWriteOnce], resources: {{requests: {{storage: 10Gi}}}}}}\nstatus: {{phase: {phase}}}\n"
    );
    serde_yaml_ng::from_str(&yaml).expect("claim yaml")
}

#[test]
fn a_claim_pending_while_it_is_provisioned_is_not_raised_until_it_is_stuck() {
    let young = claim("2026-11-20T02:28:00Z", "Pending");
    assert!(detect::claim(&young, now()).is_empty(), "2 minutes old");
    let at = detect::claim_recheck_at(&young, now()).expect("a time to look again");
    let then: Vec<String> = detect::claim(&young, at)
        .into_iter()
        .map(|s| s.reason)
        .collect();
    assert_eq!(then, vec!["ClaimPending"]);
    let old = claim("2026-11-20T02:00:00Z", "Pending");
    assert_eq!(detect::claim(&old, now()).len(), 1);
    assert_eq!(detect::claim_recheck_at(&old, now()), None);
}

#[test]
fn a_pending_claim_no_pod_was_placed_for_is_not_an_incident() {
    let mut unused = claim("2026-11-20T01:00:00Z", "Pending");
    unused.metadata.annotations = None;
    assert!(detect::claim(&unused, now()).is_empty());
    assert_eq!(detect::claim_recheck_at(&unused, now()), None);
}

#[test]
fn a_lost_claim_is_raised_at_once_and_a_bound_one_never() {
    let lost = claim("2026-11-20T02:29:00Z", "Lost");
    let reasons: Vec<String> = detect::claim(&lost, now())
        .into_iter()
        .map(|s| s.reason)
        .collect();
    assert_eq!(reasons, vec!["ClaimLost"]);
    let bound = claim("2026-11-20T02:29:00Z", "Bound");
    assert!(detect::claim(&bound, now()).is_empty());
    assert_eq!(detect::claim_recheck_at(&bound, now()), None);
}

fn deployment(available: i32) -> k8s_openapi::api::apps::v1::Deployment {
    let yaml = format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: api, namespace: shop}}\n\
         spec: {{replicas: 3, selector: {{matchLabels: {{app: api}}}}, template: {{metadata: {{labels: {{app: api}}}}, spec: {{containers: [{{name: api, image: x}}]}}}}}}\n\
         status: {{replicas: 3, availableReplicas: {available}, conditions: [{{type: Progressing, status: 'True', reason: NewReplicaSetAvailable}}]}}\n"
    );
    serde_yaml_ng::from_str(&yaml).expect("deployment yaml")
}

#[test]
fn a_deployment_briefly_short_of_replicas_is_not_a_signal_until_it_stays_short() {
    let short = deployment(2);
    assert!(detect::replicas_short(&short));
    let just_now = detect::deployment_short_since(&short, Some(now()), now());
    assert!(just_now.is_empty(), "every restart is briefly short");
    let since: Timestamp = "2026-11-20T02:24:00Z".parse().expect("ts");
    let reasons: Vec<String> = detect::deployment_short_since(&short, Some(since), now())
        .into_iter()
        .map(|s| s.reason)
        .collect();
    assert_eq!(reasons, vec!["ReplicasUnavailable"], "short for 6 minutes");
    assert_eq!(
        detect::deployment(&short, now()).len(),
        1,
        "for an unknown time, as a recording shows it, it counts"
    );
    let whole = deployment(3);
    assert!(!detect::replicas_short(&whole));
    assert!(detect::deployment(&whole, now()).is_empty());
}
