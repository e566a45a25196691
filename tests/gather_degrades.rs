//! The live gatherer degrades instead of failing, against a fake apiserver (tower-test): a
//! container without a previous instance, a log cut by `limitBytes`, a request that never
//! answers, and a gathering that runs out of time all leave the evidence short, never abort.

use std::time::Duration;

use nightshift::domain::playbook::EvidenceSpec;
use nightshift::domain::signal::ObjectRef;
use nightshift::k8s::access::GATHERER;
use nightshift::k8s::collect::{GatherError, GatherLimits};

mod apiserver;
mod gather_support;
mod rbac;

use apiserver::{Call, Reply, Seen, get, list};
use gather_support::objects as obj;
use gather_support::{
    APPS, SHOP, controls, empty, events_uri, gather_with, ids, log_uri, namespace_limits,
};

static SEEN: Seen = Seen::new(Vec::new());

/// The calls for a bare pod (no owner, no node, no claims): the pod, its events, its logs.
fn bare_pod_calls(logs: Vec<Call>) -> Vec<Call> {
    let mut calls = vec![
        get(
            format!("{SHOP}/pods/cache-0"),
            Reply::Json(obj::bare_pod_restarted()),
        ),
        get(
            events_uri(Some("shop"), "Pod", "cache-0"),
            empty("EventList"),
        ),
    ];
    calls.extend(logs);
    calls.extend(namespace_limits(
        empty("ResourceQuotaList"),
        empty("LimitRangeList"),
    ));
    calls.extend(controls(None, empty("PodDisruptionBudgetList")));
    calls
}

async fn contract_a_missing_previous_log_is_normal_not_an_error() {
    let calls = bare_pod_calls(vec![
        get(log_uri("cache-0", true, 201, 131072), Reply::Status(400)),
        get(
            log_uri("cache-0", false, 201, 131072),
            Reply::Text("ready\n".into()),
        ),
    ]);
    let target = ObjectRef::namespaced("Pod", "shop", "cache-0");
    let gathered = gather_with(
        &SEEN,
        GatherLimits::default(),
        target,
        None,
        EvidenceSpec::default(),
        calls,
    )
    .await;
    assert_eq!(ids(&gathered), vec!["pod/shop/cache-0", "log/cache-0/api"]);
    assert!(gathered.errors.is_empty(), "{:?}", gathered.errors);
}

#[tokio::test]
async fn a_missing_previous_log_is_normal_not_an_error() {
    contract_a_missing_previous_log_is_normal_not_an_error().await;
}

#[tokio::test]
async fn a_log_cut_by_limit_bytes_is_read_again_with_fewer_lines_so_its_end_is_kept() {
    let spec = EvidenceSpec {
        log_tail_lines: 50,
        log_max_bytes: 100,
        previous_logs: false,
        ..EvidenceSpec::default()
    };
    // 200 bytes: the head of the last 51 lines, cut by limitBytes.
    let head: String = (0..10)
        .map(|i| format!("early line {i:03}.....\n"))
        .collect();
    assert_eq!(head.len(), 200);
    let tail = "late line 1\nFATAL: the crash\n";
    let calls = bare_pod_calls(vec![
        get(log_uri("cache-0", false, 51, 200), Reply::Text(head)),
        get(log_uri("cache-0", false, 7, 200), Reply::Text(tail.into())),
    ]);
    let target = ObjectRef::namespaced("Pod", "shop", "cache-0");
    let gathered = gather_with(&SEEN, GatherLimits::default(), target, None, spec, calls).await;
    let (_, log) = gathered.evidence.logs().next().expect("a log");
    assert_eq!(
        log.lines.last().map(String::as_str),
        Some("FATAL: the crash")
    );
}

#[tokio::test(start_paused = true)]
async fn a_request_that_does_not_answer_in_its_share_of_time_is_skipped() {
    let limits = GatherLimits {
        request_timeout: Duration::from_secs(2),
        ..GatherLimits::default()
    };
    let mut calls = vec![
        get(format!("{SHOP}/pods/cache-0"), Reply::Hang),
        get(
            events_uri(Some("shop"), "Pod", "cache-0"),
            empty("EventList"),
        ),
    ];
    calls.extend(namespace_limits(
        Reply::Json(list("ResourceQuotaList", vec![obj::quota()])),
        empty("LimitRangeList"),
    ));
    calls.extend(controls(None, empty("PodDisruptionBudgetList")));
    let target = ObjectRef::namespaced("Pod", "shop", "cache-0");
    let gathered = gather_with(&SEEN, limits, target, None, EvidenceSpec::default(), calls).await;
    assert_eq!(ids(&gathered), vec!["quota/shop/compute"]);
    let labels: Vec<&str> = gathered
        .errors
        .iter()
        .map(GatherError::metric_label)
        .collect();
    assert_eq!(labels, vec!["request_timeout"]);
}

#[tokio::test(start_paused = true)]
async fn gathering_stops_at_its_timeout_and_keeps_what_it_read() {
    let limits = GatherLimits {
        timeout: Duration::from_secs(5),
        request_timeout: Duration::from_secs(60),
        ..GatherLimits::default()
    };
    let calls = vec![
        get(
            format!("{SHOP}/pods/{}", obj::TARGET),
            Reply::Json(obj::crashing_pod()),
        ),
        get(format!("{APPS}/replicasets/api-7d9f8c6b5"), Reply::Hang),
    ];
    let target = ObjectRef::namespaced("Pod", "shop", obj::TARGET);
    let gathered = gather_with(&SEEN, limits, target, None, EvidenceSpec::default(), calls).await;
    assert_eq!(ids(&gathered), vec!["pod/shop/api-7d9f8c6b5-x2k4q"]);
    assert!(gathered.timed_out());
    assert_eq!(gathered.errors.len(), 1);
    assert_eq!(
        gathered.errors[0].to_string(),
        "gathering stopped after 5s while reading owners; later evidence is missing"
    );
}

#[tokio::test]
async fn every_call_made_while_degrading_is_declared() {
    contract_a_missing_previous_log_is_normal_not_an_error().await;
    let seen = SEEN.lock().expect("lock").clone();
    rbac::assert_declared("gatherer", &seen, GATHERER);
}
