use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::apps::v1::{DaemonSet, StatefulSet};
use serde_json::json;

use super::*;

const AFTER: SignedDuration = SignedDuration::from_mins(5);

fn now() -> Timestamp {
    "2026-12-02T10:00:00Z".parse().expect("now")
}

fn ago(mins: i64) -> Option<Timestamp> {
    Some(now() - SignedDuration::from_mins(mins))
}

fn sts(spec: serde_json::Value, status: serde_json::Value) -> StatefulSet {
    let mut base = json!({"selector": {"matchLabels": {"app": "ledger"}}, "serviceName": "ledger",
                          "template": {"spec": {"containers": [{"name": "db", "image": "pg:16"}]}}});
    base.as_object_mut()
        .expect("object")
        .extend(spec.as_object().cloned().unwrap_or_default());
    serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": "ledger", "namespace": "shop", "labels": {"app": "ledger"}},
        "spec": base,
        "status": status,
    }))
    .expect("statefulset")
}

fn ds(spec: serde_json::Value, status: serde_json::Value) -> DaemonSet {
    let mut base = json!({"selector": {"matchLabels": {"app": "agent"}},
                          "template": {"spec": {"containers": [{"name": "agent", "image": "agent:1"}]}}});
    base.as_object_mut()
        .expect("object")
        .extend(spec.as_object().cloned().unwrap_or_default());
    serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": {"name": "agent", "namespace": "ops", "generation": 4},
        "spec": base,
        "status": status,
    }))
    .expect("daemonset")
}

fn reasons<S: Set>(set: &S, since: Since) -> Vec<(String, String)> {
    set_signals(set, since, AFTER, now())
        .into_iter()
        .map(|s| (s.reason, s.message.unwrap_or_default()))
        .collect()
}

fn healthy_sts() -> StatefulSet {
    sts(
        json!({"replicas": 3}),
        json!({"replicas": 3, "readyReplicas": 3, "updatedReplicas": 3,
               "currentRevision": "ledger-7d9", "updateRevision": "ledger-7d9"}),
    )
}

#[test]
fn a_healthy_stateful_set_raises_nothing_however_long_it_is_watched() {
    let s = healthy_sts();
    assert_eq!(stateful_set(&s), SetState::default());
    assert!(reasons(&s, Since::default()).is_empty());
}

#[test]
fn a_stateful_set_short_of_ready_replicas_is_raised_only_once_that_has_lasted() {
    let s = sts(
        json!({"replicas": 3}),
        json!({"replicas": 3, "readyReplicas": 1, "updatedReplicas": 3,
               "currentRevision": "ledger-7d9", "updateRevision": "ledger-7d9"}),
    );
    assert_eq!(
        stateful_set(&s).short.as_deref(),
        Some("1 of 3 replicas ready")
    );
    let short_for = |mins| Since {
        short: ago(mins),
        rollout: None,
    };
    assert!(
        reasons(&s, short_for(4)).is_empty(),
        "4 minutes is a restart"
    );
    assert_eq!(
        reasons(&s, short_for(5)),
        vec![("ReplicasUnavailable".into(), "1 of 3 replicas ready".into())]
    );
    let signal = &set_signals(&s, short_for(6), AFTER, now())[0];
    assert_eq!(signal.target.kind, "StatefulSet");
    assert_eq!(signal.target.name, "ledger");
    assert_eq!(signal.target.namespace.as_deref(), Some("shop"));
    assert_eq!(signal.workload.as_ref(), Some(&signal.target));
    assert_eq!(signal.labels.get("app").map(String::as_str), Some("ledger"));
}

#[test]
fn an_unknown_time_short_counts_as_long_enough() {
    let s = sts(
        json!({"replicas": 2}),
        json!({"replicas": 2, "readyReplicas": 0}),
    );
    assert_eq!(reasons(&s, Since::default())[0].0, "ReplicasUnavailable");
}

#[test]
fn replicas_unset_means_one_and_no_status_means_none_ready() {
    let s = sts(json!({}), json!(null));
    assert_eq!(
        stateful_set(&s).short.as_deref(),
        Some("0 of 1 replicas ready")
    );
    let scaled_to_zero = sts(json!({"replicas": 0}), json!({"replicas": 0}));
    assert_eq!(stateful_set(&scaled_to_zero), SetState::default());
}

#[test]
fn a_stateful_set_rollout_that_stops_progressing_is_stuck_before_it_is_short() {
    let s = sts(
        json!({"replicas": 3}),
        json!({"replicas": 3, "readyReplicas": 2, "updatedReplicas": 1,
               "currentRevision": "ledger-7d9", "updateRevision": "ledger-5f2"}),
    );
    assert_eq!(
        stateful_set(&s).rollout,
        Some(Rollout {
            revision: "ledger-5f2".into(),
            updated: 1,
            wanted: 3
        })
    );
    let since = |rollout| Since {
        short: ago(10),
        rollout: ago(rollout),
    };
    assert_eq!(
        reasons(&s, since(2))[0].0,
        "ReplicasUnavailable",
        "the rollout moved 2 minutes ago: not stuck yet, but long short"
    );
    assert_eq!(
        reasons(&s, since(6)),
        vec![(
            "RolloutStuck".into(),
            "StatefulSet rollout to ledger-5f2 stalled: 1 of 3 pods updated".into()
        )]
    );
}

#[test]
fn a_partitioned_rollout_that_reached_its_partition_is_done() {
    let s = sts(
        json!({"replicas": 4, "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 3}}}),
        json!({"replicas": 4, "readyReplicas": 4, "updatedReplicas": 1,
               "currentRevision": "ledger-7d9", "updateRevision": "ledger-5f2"}),
    );
    assert_eq!(stateful_set(&s), SetState::default());
    let behind = sts(
        json!({"replicas": 4, "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 2}}}),
        json!({"replicas": 4, "readyReplicas": 4, "updatedReplicas": 1,
               "currentRevision": "ledger-7d9", "updateRevision": "ledger-5f2"}),
    );
    assert_eq!(stateful_set(&behind).rollout.map(|r| r.wanted), Some(2));
}

#[test]
fn an_on_delete_stateful_set_waiting_for_its_pods_to_be_deleted_is_not_stuck() {
    let s = sts(
        json!({"replicas": 2, "updateStrategy": {"type": "OnDelete"}}),
        json!({"replicas": 2, "readyReplicas": 2, "updatedReplicas": 0,
               "currentRevision": "ledger-7d9", "updateRevision": "ledger-5f2"}),
    );
    assert_eq!(stateful_set(&s), SetState::default());
}

#[test]
fn a_healthy_daemon_set_raises_nothing() {
    let d = ds(
        json!({}),
        json!({"desiredNumberScheduled": 3, "currentNumberScheduled": 3, "numberMisscheduled": 0,
               "numberReady": 3, "numberAvailable": 3, "updatedNumberScheduled": 3}),
    );
    assert_eq!(daemon_set(&d), SetState::default());
    assert!(reasons(&d, Since::default()).is_empty());
    assert_eq!(daemon_set(&ds(json!({}), json!(null))), SetState::default());
}

#[test]
fn a_daemon_set_with_unavailable_pods_is_short() {
    let d = ds(
        json!({}),
        json!({"desiredNumberScheduled": 3, "currentNumberScheduled": 3, "numberMisscheduled": 0,
               "numberReady": 3, "numberUnavailable": 1, "updatedNumberScheduled": 3}),
    );
    let message = "3 of 3 scheduled pods ready, 1 unavailable";
    assert_eq!(daemon_set(&d).short.as_deref(), Some(message));
    let since = |mins| Since {
        short: ago(mins),
        rollout: None,
    };
    assert!(reasons(&d, since(1)).is_empty());
    let raised = set_signals(&d, since(5), AFTER, now());
    assert_eq!(raised.len(), 1);
    assert_eq!(raised[0].reason, "ReplicasUnavailable");
    assert_eq!(raised[0].target.kind, "DaemonSet");
    assert_eq!(raised[0].message.as_deref(), Some(message));
}

#[test]
fn a_daemon_set_with_fewer_ready_than_scheduled_is_short() {
    let d = ds(
        json!({}),
        json!({"desiredNumberScheduled": 5, "currentNumberScheduled": 5, "numberMisscheduled": 0,
               "numberReady": 4, "updatedNumberScheduled": 5}),
    );
    assert_eq!(
        daemon_set(&d).short.as_deref(),
        Some("4 of 5 scheduled pods ready, 0 unavailable")
    );
}

#[test]
fn a_daemon_set_rollout_behind_its_scheduled_pods_is_stuck_once_it_has_lasted() {
    let status = json!({"desiredNumberScheduled": 4, "currentNumberScheduled": 4,
        "numberMisscheduled": 0, "numberReady": 4, "updatedNumberScheduled": 2,
        "observedGeneration": 4});
    let d = ds(json!({}), status.clone());
    assert_eq!(
        daemon_set(&d).rollout,
        Some(Rollout {
            revision: "generation 4".into(),
            updated: 2,
            wanted: 4
        })
    );
    let since = |mins| Since {
        short: None,
        rollout: ago(mins),
    };
    assert!(reasons(&d, since(3)).is_empty());
    assert_eq!(
        reasons(&d, since(5)),
        vec![(
            "RolloutStuck".into(),
            "DaemonSet rollout to generation 4 stalled: 2 of 4 pods updated".into()
        )]
    );
    let on_delete = ds(json!({"updateStrategy": {"type": "OnDelete"}}), status);
    assert_eq!(daemon_set(&on_delete), SetState::default());
}
