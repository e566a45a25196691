use jiff::SignedDuration;

use super::builders::{at, signal};
use crate::domain::incident::IncidentState;
use crate::domain::rule::{Admission, Existing, Rule, admit, render_fingerprint};
use crate::domain::signal::{ContainerStateKind, SignalSource};

fn rule(yaml: &str) -> Rule {
    serde_yaml_ng::from_str(yaml).expect("rule parses")
}

const CRASHLOOP: &str = "name: crash-loop
match:
  kind: [Pod]
  reason: [CrashLoopBackOff, '*PullBackOff']
  namespaces: ['shop*']
  exclude_namespaces: [shop-canary]
  labels: {app: 'a*'}
severity: critical
playbook: workload
";

#[test]
fn a_rule_matches_kind_reason_globs_namespaces_and_labels() {
    let r = rule(CRASHLOOP);
    assert!(r.matcher.matches(&signal("CrashLoopBackOff")));
    assert!(r.matcher.matches(&signal("ImagePullBackOff")));
    assert!(!r.matcher.matches(&signal("OOMKilled")));
    let mut other_ns = signal("CrashLoopBackOff");
    other_ns.target.namespace = Some("shop-canary".into());
    assert!(!r.matcher.matches(&other_ns), "excluded namespace");
    let mut other_label = signal("CrashLoopBackOff");
    other_label.labels.insert("app".into(), "web".into());
    assert!(!r.matcher.matches(&other_label));
    let mut node = signal("CrashLoopBackOff");
    node.target.kind = "Node".into();
    assert!(!r.matcher.matches(&node));
}

#[test]
fn source_container_state_alertname_and_message_narrow_a_match() {
    let r = rule(
        "name: r
match: {source: alert, alertname: ['Kube*'], message: '(?i)crash'}
severity: warning
playbook: p
",
    );
    let mut s = signal("KubePodCrashLooping");
    assert!(!r.matcher.matches(&s), "source differs");
    s.source = SignalSource::Alert;
    s.alertname = Some("KubePodCrashLooping".into());
    assert!(!r.matcher.matches(&s), "no message");
    s.message = Some("Pod is CRASH looping".into());
    assert!(r.matcher.matches(&s));
    let waiting = rule("name: w\nmatch: {container_state: waiting}\nseverity: info\nplaybook: p\n");
    let mut s = signal("CrashLoopBackOff");
    assert!(!waiting.matcher.matches(&s));
    s.container_state = Some(ContainerStateKind::Waiting);
    assert!(waiting.matcher.matches(&s));
}

#[test]
fn the_default_fingerprint_groups_pods_of_one_workload() {
    let r = rule(CRASHLOOP);
    let a =
        render_fingerprint(&r.fingerprint, &r.name, &signal("CrashLoopBackOff")).expect("renders");
    let mut other_pod = signal("CrashLoopBackOff");
    other_pod.target.name = "api-7d9f-zzzzz".into();
    let b = render_fingerprint(&r.fingerprint, &r.name, &other_pod).expect("renders");
    assert_eq!(a, "crash-loop/shop/api");
    assert_eq!(a, b);
}

#[test]
fn a_custom_fingerprint_sees_labels_and_reason() {
    let fp = render_fingerprint(
        "{{ rule }}/{{ labels.app }}/{{ reason }}",
        "r",
        &signal("OOMKilled"),
    )
    .expect("renders");
    assert_eq!(fp, "r/api/OOMKilled");
}

fn existing(state: IncidentState, opened: &str, closed: Option<&str>) -> Existing {
    Existing {
        id: "inc-1".into(),
        state,
        opened_at: at(opened),
        closed_at: closed.map(at),
    }
}

#[test]
fn a_new_fingerprint_opens_an_incident() {
    assert_eq!(
        admit(&rule(CRASHLOOP), None, at("2026-01-01T00:00:00Z")),
        Admission::Open
    );
}

#[test]
fn signals_for_an_open_incident_group_within_the_window_then_count_as_duplicates() {
    let r = rule(CRASHLOOP);
    let open = existing(
        IncidentState::AwaitingApproval,
        "2026-01-01T00:00:00Z",
        None,
    );
    assert_eq!(
        admit(&r, Some(&open), at("2026-01-01T00:04:00Z")),
        Admission::Group("inc-1".into())
    );
    assert_eq!(
        admit(&r, Some(&open), at("2026-01-01T00:06:00Z")),
        Admission::Duplicate("inc-1".into())
    );
}

#[test]
fn cooldown_holds_after_an_incident_ends_and_then_releases() {
    let mut r = rule(CRASHLOOP);
    r.cooldown = SignedDuration::from_mins(30);
    let done = existing(
        IncidentState::Resolved,
        "2026-01-01T00:00:00Z",
        Some("2026-01-01T00:10:00Z"),
    );
    assert_eq!(
        admit(&r, Some(&done), at("2026-01-01T00:20:00Z")),
        Admission::Cooldown(at("2026-01-01T00:40:00Z"))
    );
    assert_eq!(
        admit(&r, Some(&done), at("2026-01-01T00:40:00Z")),
        Admission::Open
    );
}

#[test]
fn unknown_keys_and_bad_patterns_are_rejected_with_a_position() {
    let err = serde_yaml_ng::from_str::<Rule>(
        "name: r\nmatch: {kinds: [Pod]}\nseverity: info\nplaybook: p\n",
    )
    .expect_err("unknown key");
    assert!(err.to_string().contains("unknown field `kinds`"), "{err}");
    assert!(err.location().is_some());
    let err = serde_yaml_ng::from_str::<Rule>(
        "name: r\nmatch: {message: '(oops'}\nseverity: info\nplaybook: p\n",
    )
    .expect_err("bad regex");
    assert!(err.to_string().contains("invalid regex"), "{err}");
    let err =
        serde_yaml_ng::from_str::<Rule>("name: r\nmatch: {}\nseverity: urgent\nplaybook: p\n")
            .expect_err("bad severity");
    assert!(
        err.to_string().contains("unknown variant `urgent`"),
        "{err}"
    );
}

#[test]
fn durations_parse_in_friendly_form() {
    let r = rule(
        "name: r\nmatch: {}\nseverity: info\nplaybook: p\ncooldown: 1h 30m\ngroup_window: 90s\n",
    );
    assert_eq!(r.cooldown, SignedDuration::from_mins(90));
    assert_eq!(r.group_window, SignedDuration::from_secs(90));
}

#[test]
fn a_signal_joins_the_workloads_open_incident_unless_it_is_more_severe_or_that_one_is_stuck() {
    use crate::domain::incident::Severity::{Critical, Warning};
    use crate::domain::rule::joins_open_sibling;
    let updated = at("2026-11-20T02:00:00Z");
    let soon = at("2026-11-20T02:20:00Z");
    assert!(joins_open_sibling(Warning, Critical, updated, soon));
    assert!(joins_open_sibling(Critical, Critical, updated, soon));
    assert!(
        !joins_open_sibling(Critical, Warning, updated, soon),
        "a critical signal pages at its own severity"
    );
    assert!(
        !joins_open_sibling(Warning, Critical, updated, at("2026-11-20T03:00:00Z")),
        "an incident that has not moved for an hour may be stuck"
    );
}
