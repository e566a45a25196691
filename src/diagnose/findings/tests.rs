use std::collections::BTreeMap;

use super::{from_placement, from_state};
use crate::domain::evidence::{ConditionFacts, EventFacts, Evidence, Facts, NodeFacts, PodFacts};
use crate::domain::signal::ObjectRef;
use crate::domain::taxonomy::Category;

fn waiting_for_a_gpu() -> PodFacts {
    PodFacts {
        namespace: "ml".into(),
        name: "trainer-0".into(),
        phase: Some("Pending".into()),
        requests: BTreeMap::from([("nvidia.com/gpu".to_owned(), 1)]),
        ..PodFacts::default()
    }
}

fn candidate(name: &str, ready: &str) -> NodeFacts {
    NodeFacts {
        name: name.into(),
        conditions: vec![ConditionFacts {
            kind: "Ready".into(),
            status: ready.into(),
            reason: None,
            message: None,
            since: None,
        }],
        allocatable: BTreeMap::from([("cpu".to_owned(), 4000)]),
        candidate: true,
        ..NodeFacts::default()
    }
}

fn evidence(extra: Vec<(&str, Facts)>) -> Evidence {
    let mut e = Evidence::default();
    e.push("pod/ml/trainer-0", Facts::pod(waiting_for_a_gpu()));
    e.push("node/a", Facts::Node(candidate("a", "True")));
    e.push("node/b", Facts::Node(candidate("b", "Unknown")));
    for (id, facts) in extra {
        e.push(id, facts);
    }
    e
}

#[test]
fn a_pending_pod_no_scheduler_explained_is_read_against_the_nodes_and_named() {
    let findings = from_placement(&evidence(vec![]));
    assert_eq!(findings.len(), 1);
    let f = &findings[0];
    assert_eq!(f.category, Category::Unschedulable);
    assert_eq!(f.weight, 0.85);
    assert_eq!(f.evidence, "pod/ml/trainer-0");
    assert!(
        f.note.contains("1 Insufficient nvidia.com/gpu")
            && f.note
                .contains("requests nvidia.com/gpu: 1; no node has it")
            && f.note.contains("1 node not Ready (b)"),
        "{}",
        f.note
    );
}

#[test]
fn where_the_scheduler_spoke_the_reading_only_adds_specifics() {
    let event = EventFacts {
        kind: "Warning".into(),
        reason: "FailedScheduling".into(),
        message: "0/2 nodes are available: 1 Insufficient nvidia.com/gpu.".into(),
        object: ObjectRef::namespaced("Pod", "ml", "trainer-0"),
        count: 4,
        first_seen: None,
        last_seen: None,
        source: Some("default-scheduler".into()),
    };
    let findings = from_placement(&evidence(vec![("event/ml/e1", Facts::Event(event))]));
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].weight, 0.6);
}

#[test]
fn a_node_in_evidence_only_as_a_place_to_go_is_no_node_failure() {
    let findings = from_state(&evidence(vec![]));
    assert!(
        findings.iter().all(|f| f.category != Category::NodeFailure),
        "{findings:?}"
    );
    let mut e = evidence(vec![]);
    let mut own = candidate("c", "False");
    own.candidate = false;
    e.push("node/c", Facts::Node(own));
    assert!(
        from_state(&e)
            .iter()
            .any(|f| f.category == Category::NodeFailure && f.evidence == "node/c")
    );
}
