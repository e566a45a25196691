//! `nightshift incidents approve|deny` goes through the same answer path as a link: the
//! approver rules apply to `--as NAME`, the two-person rule counts distinct approvers, a second
//! approval by the same person says so and records nothing; the operator (no `--as`) is
//! unchecked. `incidents show` prints the approve and deny links when `public_url` is set.

use std::process::{Command, Output};

use base64::Engine as _;
use jiff::Timestamp;
use nightshift::domain::incident::IncidentState;
use nightshift::links::keys::parse;
use nightshift::links::{KEYS_ENV, LinkDecision};
use nightshift::store::kinds;

mod engine_support;
mod sim_harness;

use engine_support::{waiting_without_a_loop, world};

const SETTINGS: &str = r#"
public_url: https://nightshift.example.org/
approvers:
  two_person: medium
  rules:
    - users: [alice, bob]
      namespaces: ["payments"]
      max_risk: high
"#;

fn cli(config: &std::path::Path, store: &str, args: &[&str], user: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nightshift"))
        .args(args)
        .args(["--store", store])
        .env("NIGHTSHIFT_CONFIG", config)
        .env("USER", user)
        .env(KEYS_ENV, keys())
        .output()
        .expect("run nightshift")
}

fn keys() -> String {
    let e = base64::engine::general_purpose::STANDARD;
    format!("k1:{}", e.encode([5u8; 32]))
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[tokio::test]
async fn the_cli_obeys_the_approver_rules_and_the_two_person_rule() {
    let w = world().await;
    let (id, hash) = waiting_without_a_loop(&w).await;
    let dir = tempfile::tempdir().expect("dir");
    let config = dir.path().join("nightshift.yaml");
    std::fs::write(&config, SETTINGS).expect("settings");
    let store = format!("sqlite://{}", w.store.location());
    let approve = |who: Option<&str>| {
        let mut args = vec!["incidents", "approve", &id, "--plan", &hash[..12]];
        if let Some(who) = who {
            args.extend(["--as", who]);
        }
        cli(&config, &store, &args, "ops-on-call")
    };

    let refused = approve(Some("mallory"));
    assert!(!refused.status.success(), "{}", text(&refused));
    assert!(
        String::from_utf8_lossy(&refused.stderr)
            .contains("mallory is not an approver for namespace payments"),
        "{}",
        text(&refused)
    );

    let first = approve(Some("alice"));
    assert!(first.status.success(), "{}", text(&first));
    assert!(
        String::from_utf8_lossy(&first.stdout).contains("1 of 2 distinct approvers"),
        "{}",
        text(&first)
    );
    let again = approve(Some("alice"));
    assert!(again.status.success(), "{}", text(&again));
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("already approved by alice"),
        "{}",
        text(&again)
    );
    assert_eq!(w.record(&id).await.approvals.len(), 1);

    // The operator on the store's machine, unchecked, is the second approver.
    let operator = approve(None);
    assert!(operator.status.success(), "{}", text(&operator));
    assert!(
        String::from_utf8_lossy(&operator.stdout).contains("as ops-on-call"),
        "{}",
        text(&operator)
    );
    let record = w.record(&id).await;
    let actors: Vec<&str> = record.approvals.iter().map(|a| a.actor.as_str()).collect();
    assert_eq!(actors, ["alice", "ops-on-call"]);
    let audited = record
        .audit
        .iter()
        .filter(|a| a.kind == kinds::APPROVAL_RECORDED)
        .count();
    assert_eq!(audited, 2);
    // Enough approvers: a third says so and records nothing.
    let third = approve(Some("bob"));
    assert!(
        String::from_utf8_lossy(&third.stdout).contains("already approved"),
        "{}",
        text(&third)
    );
    assert_eq!(w.record(&id).await.approvals.len(), 2);
}

#[tokio::test]
async fn incidents_show_prints_signed_links_for_an_incident_awaiting_approval() {
    let w = world().await;
    let (id, hash) = waiting_without_a_loop(&w).await;
    assert_eq!(w.state(&id).await, IncidentState::AwaitingApproval);
    let dir = tempfile::tempdir().expect("dir");
    let config = dir.path().join("nightshift.yaml");
    std::fs::write(&config, SETTINGS).expect("settings");
    let store = format!("sqlite://{}", w.store.location());
    let shown = cli(&config, &store, &["incidents", "show", &id], "ops");
    assert!(shown.status.success(), "{}", text(&shown));
    let record: serde_json::Value =
        serde_json::from_slice(&shown.stdout).expect("stdout stays the record's JSON");
    assert_eq!(record["incident"]["id"], id.as_str());
    let stderr = String::from_utf8_lossy(&shown.stderr);
    let link = |prefix: &str| {
        stderr
            .lines()
            .find_map(|l| l.strip_prefix(prefix))
            .map(str::trim)
            .unwrap_or_else(|| panic!("no {prefix} line in {stderr}"))
            .to_owned()
    };
    let keys = parse(&keys(), "test").expect("keys");
    for (prefix, decision) in [
        ("approve:", LinkDecision::Approve),
        ("deny:", LinkDecision::Deny),
    ] {
        let url = link(prefix);
        let path = format!("https://nightshift.example.org/{}/", decision.as_str());
        let token = url
            .strip_prefix(&path)
            .unwrap_or_else(|| panic!("{url} is not under {path}"));
        let claims = keys
            .verify(token, decision, Timestamp::now())
            .expect("a link signed with the configured key");
        assert_eq!(claims.incident, id);
        assert_eq!(claims.plan_hash, hash);
    }
}
