use std::collections::BTreeMap;

use super::{NodeRequirement, Toleration, place, tolerates};
use crate::domain::evidence::{ClaimFacts, ConditionFacts, NodeFacts, PodFacts};
use crate::domain::taxonomy::Category;

const GI: u64 = 1 << 30;

fn pending(requests: &[(&str, u64)]) -> PodFacts {
    PodFacts {
        namespace: "ml".into(),
        name: "trainer-0".into(),
        phase: Some("Pending".into()),
        requests: requests
            .iter()
            .map(|(k, v)| ((*k).to_owned(), *v))
            .collect(),
        ..PodFacts::default()
    }
}

fn node(name: &str, allocatable: &[(&str, u64)]) -> NodeFacts {
    NodeFacts {
        name: name.into(),
        conditions: vec![ConditionFacts {
            kind: "Ready".into(),
            status: "True".into(),
            reason: Some("KubeletReady".into()),
            message: None,
            since: None,
        }],
        allocatable: allocatable
            .iter()
            .map(|(k, v)| ((*k).to_owned(), *v))
            .collect(),
        ..NodeFacts::default()
    }
}

fn worker(name: &str) -> NodeFacts {
    node(name, &[("cpu", 4000), ("memory", 16 * GI), ("pods", 110)])
}

fn labelled(mut n: NodeFacts, labels: &[(&str, &str)]) -> NodeFacts {
    n.labels = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    n
}

fn tainted(mut n: NodeFacts, taint: &str) -> NodeFacts {
    n.taints.push(taint.into());
    n
}

fn toleration(key: &str, operator: &str, value: &str, effect: &str) -> Toleration {
    Toleration {
        key: key.into(),
        operator: operator.into(),
        value: value.into(),
        effect: effect.into(),
    }
}

fn requirement(key: &str, operator: &str, values: &[&str]) -> NodeRequirement {
    NodeRequirement {
        key: key.into(),
        operator: operator.into(),
        values: values.iter().map(|v| (*v).to_owned()).collect(),
    }
}

fn verdict(pod: &PodFacts, nodes: &[NodeFacts]) -> super::Unplaceable {
    let refs: Vec<&NodeFacts> = nodes.iter().collect();
    place(pod, &refs, &[]).expect("no node should fit")
}

#[test]
fn an_extended_resource_no_node_offers_is_named_with_the_amount() {
    let pod = pending(&[("cpu", 2000), ("nvidia.com/gpu", 1)]);
    let v = verdict(&pod, &[worker("a"), worker("b"), worker("c")]);
    assert_eq!(v.category, Category::Unschedulable);
    assert_eq!(
        v.tally,
        "0/3 nodes are available: 3 Insufficient nvidia.com/gpu"
    );
    assert_eq!(
        v.specifics,
        vec!["requests nvidia.com/gpu: 1; no node has it"]
    );
}

#[test]
fn cpu_is_weighed_against_what_the_pods_on_each_node_already_request() {
    let mut busy = worker("a");
    busy.requested = BTreeMap::from([("cpu".to_owned(), 3000), ("pods".to_owned(), 7)]);
    busy.pods_counted = 7;
    let mut busier = worker("b");
    busier.requested = BTreeMap::from([("cpu".to_owned(), 3500)]);
    let pod = pending(&[("cpu", 1500), ("memory", GI)]);
    let v = verdict(&pod, &[busy, busier]);
    assert_eq!(v.tally, "0/2 nodes are available: 2 Insufficient cpu");
    assert_eq!(
        v.specifics,
        vec![
            "requests cpu: 1500m; the most any node has free is 1 on a (allocatable 4 after the 7 pods in evidence on it)"
        ]
    );
}

#[test]
fn a_node_with_room_means_the_evidence_does_not_explain_the_wait() {
    let mut busy = worker("a");
    busy.requested = BTreeMap::from([("cpu".to_owned(), 3800)]);
    let pod = pending(&[("cpu", 1000)]);
    let nodes = [busy, worker("b")];
    let refs: Vec<&NodeFacts> = nodes.iter().collect();
    assert_eq!(place(&pod, &refs, &[]), None);
}

#[test]
fn a_node_whose_allocatable_is_unknown_is_not_said_to_be_short() {
    let pod = pending(&[("cpu", 64_000)]);
    let nodes = [node("bare", &[])];
    let refs: Vec<&NodeFacts> = nodes.iter().collect();
    assert_eq!(place(&pod, &refs, &[]), None);
}

#[test]
fn a_node_selector_no_node_carries_is_named() {
    let mut pod = pending(&[("cpu", 100)]);
    pod.node_selector = vec!["disktype=ssd".into()];
    let nodes = [
        labelled(worker("a"), &[("disktype", "hdd")]),
        labelled(worker("b"), &[]),
    ];
    let v = verdict(&pod, &nodes);
    assert_eq!(
        v.tally,
        "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector"
    );
    assert_eq!(
        v.specifics,
        vec!["node selector disktype=ssd matches no node"]
    );
}

#[test]
fn a_node_selector_whose_node_is_cordoned_says_so() {
    let mut pod = pending(&[]);
    pod.node_selector = vec!["pool=batch".into()];
    let mut batch = labelled(worker("batch-1"), &[("pool", "batch")]);
    batch.unschedulable = true;
    let v = verdict(
        &pod,
        &[batch, labelled(worker("web-1"), &[("pool", "web")])],
    );
    assert_eq!(
        v.specifics,
        vec![
            "1 node cordoned (batch-1)",
            "node selector pool=batch matches no schedulable node"
        ]
    );
}

#[test]
fn untolerated_taints_are_counted_per_taint() {
    let pod = pending(&[("cpu", 100)]);
    let nodes = [
        tainted(worker("b1"), "dedicated=batch:NoSchedule"),
        tainted(worker("b2"), "dedicated=batch:NoSchedule"),
        tainted(worker("b3"), "dedicated=batch:NoSchedule"),
        tainted(
            worker("cp"),
            "node-role.kubernetes.io/control-plane:NoSchedule",
        ),
    ];
    let v = verdict(&pod, &nodes);
    assert_eq!(
        v.specifics,
        vec![
            "3 nodes tainted dedicated=batch:NoSchedule not tolerated",
            "1 node tainted node-role.kubernetes.io/control-plane:NoSchedule not tolerated"
        ]
    );
    assert!(v.tally.starts_with(
        "0/4 nodes are available: 3 node(s) had untolerated taint {dedicated=batch:NoSchedule}"
    ));
}

#[test]
fn a_prefer_no_schedule_taint_does_not_keep_a_pod_off() {
    let pod = pending(&[("cpu", 100)]);
    let nodes = [tainted(worker("a"), "spot=true:PreferNoSchedule")];
    let refs: Vec<&NodeFacts> = nodes.iter().collect();
    assert_eq!(place(&pod, &refs, &[]), None);
}

#[test]
fn tolerations_match_by_key_value_operator_and_effect() {
    let taint = "dedicated=batch:NoSchedule";
    assert!(tolerates(
        &toleration("dedicated", "Equal", "batch", "NoSchedule"),
        taint
    ));
    assert!(tolerates(
        &toleration("dedicated", "Equal", "batch", ""),
        taint
    ));
    assert!(tolerates(&toleration("dedicated", "Exists", "", ""), taint));
    assert!(tolerates(&toleration("", "Exists", "", ""), taint));
    assert!(!tolerates(
        &toleration("dedicated", "Equal", "web", "NoSchedule"),
        taint
    ));
    assert!(!tolerates(
        &toleration("dedicated", "Equal", "batch", "NoExecute"),
        taint
    ));
    assert!(!tolerates(&toleration("", "Equal", "", ""), taint));
    assert!(tolerates(
        &toleration(
            "node-role.kubernetes.io/control-plane",
            "Exists",
            "",
            "NoSchedule"
        ),
        "node-role.kubernetes.io/control-plane:NoSchedule"
    ));
}

#[test]
fn a_tolerated_taint_lets_the_pod_on_and_resources_decide() {
    let mut pod = pending(&[("nvidia.com/gpu", 2)]);
    pod.tolerations = vec![toleration("nvidia.com/gpu", "Exists", "", "NoSchedule")];
    let gpu = tainted(
        node("gpu-1", &[("cpu", 8000), ("nvidia.com/gpu", 1)]),
        "nvidia.com/gpu=present:NoSchedule",
    );
    let v = verdict(&pod, &[gpu]);
    assert_eq!(
        v.tally,
        "0/1 nodes are available: 1 Insufficient nvidia.com/gpu"
    );
    assert_eq!(
        v.specifics,
        vec![
            "requests nvidia.com/gpu: 2; the most any node has free is 1 on gpu-1 (allocatable 1)"
        ]
    );
}

#[test]
fn required_node_affinity_is_read_term_by_term() {
    let mut pod = pending(&[]);
    pod.node_affinity = vec![vec![requirement(
        "topology.kubernetes.io/zone",
        "In",
        &["eu-west-1c"],
    )]];
    let nodes = [
        labelled(
            worker("a"),
            &[("topology.kubernetes.io/zone", "eu-west-1a")],
        ),
        labelled(
            worker("b"),
            &[("topology.kubernetes.io/zone", "eu-west-1b")],
        ),
    ];
    let v = verdict(&pod, &nodes);
    assert_eq!(
        v.specifics,
        vec!["required node affinity topology.kubernetes.io/zone In [eu-west-1c] matches no node"]
    );
    // A second term that one node matches lets the pod on.
    pod.node_affinity.push(vec![
        requirement("kubernetes.io/arch", "NotIn", &["arm64"]),
        requirement("topology.kubernetes.io/zone", "Exists", &[]),
    ]);
    let refs: Vec<&NodeFacts> = nodes.iter().collect();
    assert_eq!(place(&pod, &refs, &[]), None);
}

#[test]
fn numeric_and_name_requirements_compare_as_the_scheduler_does() {
    let n = labelled(worker("big-1"), &[("cpu-generation", "4")]);
    let matches = |r: NodeRequirement| super::requirement_matches(&r, &n);
    assert!(matches(requirement("cpu-generation", "Gt", &["3"])));
    assert!(!matches(requirement("cpu-generation", "Lt", &["3"])));
    assert!(!matches(requirement("cpu-generation", "Gt", &["x"])));
    assert!(matches(requirement("metadata.name", "In", &["big-1"])));
    assert!(matches(requirement("gpu", "DoesNotExist", &[])));
    assert!(!matches(requirement("gpu", "Exists", &[])));
}

#[test]
fn a_full_node_refuses_one_more_pod() {
    let mut full = node("tiny", &[("cpu", 4000), ("pods", 3)]);
    full.requested = BTreeMap::from([("pods".to_owned(), 3)]);
    full.pods_counted = 3;
    let v = verdict(&pending(&[("cpu", 10)]), &[full]);
    assert_eq!(v.tally, "0/1 nodes are available: 1 Insufficient pods");
    assert_eq!(
        v.specifics,
        vec!["the nodes hold as many pods as they allow"]
    );
}

#[test]
fn a_not_ready_node_without_its_taint_still_takes_no_pods() {
    let mut down = worker("a");
    down.conditions[0].status = "Unknown".into();
    let v = verdict(&pending(&[]), &[down]);
    assert_eq!(v.specifics, vec!["1 node not Ready (a)"]);
}

#[test]
fn a_pending_claim_is_the_reason_before_any_node_is_weighed() {
    let mut pod = pending(&[]);
    pod.claims = vec!["data-trainer-0".into()];
    let claim = ClaimFacts {
        namespace: "ml".into(),
        name: "data-trainer-0".into(),
        phase: Some("Pending".into()),
        storage_class: Some("fast-ssd".into()),
        volume: None,
    };
    let nodes = [worker("a")];
    let refs: Vec<&NodeFacts> = nodes.iter().collect();
    let v = place(&pod, &refs, &[&claim]).expect("claim");
    assert_eq!(v.category, Category::VolumeFailure);
    assert_eq!(
        v.specifics,
        vec!["claim data-trainer-0 is Pending with storageClassName fast-ssd"]
    );
}

#[test]
fn a_bound_or_running_pod_is_not_placed() {
    let nodes = [worker("a")];
    let refs: Vec<&NodeFacts> = nodes.iter().collect();
    let mut bound = pending(&[("nvidia.com/gpu", 1)]);
    bound.node = Some("a".into());
    assert_eq!(place(&bound, &refs, &[]), None);
    let mut running = pending(&[("nvidia.com/gpu", 1)]);
    running.phase = Some("Running".into());
    assert_eq!(place(&running, &refs, &[]), None);
    assert_eq!(place(&pending(&[("nvidia.com/gpu", 1)]), &[], &[]), None);
}

#[test]
fn amounts_are_shown_in_the_units_people_write() {
    assert_eq!(super::show("cpu", 1500), "1500m");
    assert_eq!(super::show("memory", 6 * GI), "6Gi");
    assert_eq!(super::show("ephemeral-storage", 512 << 20), "512Mi");
    assert_eq!(super::show("nvidia.com/gpu", 2), "2");
    assert_eq!(super::amount("cpu", "2"), Some(2000));
    assert_eq!(super::amount("nvidia.com/gpu", "1"), Some(1));
    assert_eq!(super::amount("memory", "1Gi"), Some(GI));
}
