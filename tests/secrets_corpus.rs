//! The secrets corpus: every kind of credential listed in `tests/secrets/corpus.yaml` planted in
//! every free-text field of a real recorded case — log lines (plain, as JSON lines, a private
//! key over several lines), termination and waiting messages, pod status, pod, Deployment,
//! ReplicaSet and Node condition messages, event messages, the `kubernetes.io/change-cause`
//! annotation, container commands, args, env values and exec probes, alert labels and
//! annotations — then run through the real paths: `nightshift replay` (JSON, and text with
//! `--explain`), `--record` into a SQLite store (whose file is searched byte for byte), the
//! Markdown, HTML and JSON reports, the plan and its notify message, and the engine, with
//! everything it logs at every level captured. No planted secret may appear in any of them.

mod secrets_support;

use std::sync::{Arc, Mutex};

use nightshift::domain::catalog::Tool;
use nightshift::domain::pattern::Glob;
use nightshift::domain::policy::Policy;
use nightshift::replay::{Case, run, to_json, to_text};
use nightshift::report::{Format, render};
use nightshift::rules::RuleSet;
use nightshift::store::Store;
use secrets_support::{Planted, assert_clean, nightshift, root};

/// A policy that protects the case's namespace: every plan becomes `notify`, whose message is
/// the diagnosis summary.
fn protective() -> Policy {
    Policy {
        protected_namespaces: vec![Glob::new("payments").expect("glob")],
        ..Policy::default()
    }
}

fn rules() -> RuleSet {
    RuleSet::load(&root().join("rules"), &root().join("playbooks")).expect("rules")
}

#[test]
fn the_corpus_is_planted_where_the_evidence_comes_from() {
    let planted = Planted::new();
    for case in planted.cases() {
        let dir = case.to_str().expect("path");
        let raw = std::fs::read_to_string(case.join("objects.yaml")).expect("objects");
        for entry in planted.corpus() {
            for secret in &entry.secrets {
                assert!(
                    raw.contains(secret.as_str()),
                    "{dir}: {} ({secret}) is not planted",
                    entry.kind
                );
            }
        }
    }
}

#[test]
fn no_planted_secret_reaches_replay_output_in_either_format() {
    let planted = Planted::new();
    for case in planted.cases() {
        let dir = case.to_str().expect("path");
        let json = nightshift(&["replay", dir, "--format", "json"]);
        assert!(json.status.success(), "{}", json.stderr_text());
        assert_clean(&planted, &format!("replay json of {dir}"), &json.all_text());
        let text = nightshift(&["replay", dir, "--format", "text", "--explain"]);
        assert_clean(&planted, &format!("replay text of {dir}"), &text.all_text());
        let v: serde_json::Value = serde_json::from_str(json.stdout_text().trim()).expect("json");
        assert!(
            !v["incident"].is_null(),
            "{dir}: the planted case still opens an incident: {v}"
        );
    }
}

#[test]
fn no_planted_secret_reaches_the_evidence_the_plan_or_its_notify_message() {
    let planted = Planted::new();
    let rules = rules();
    let mut notified = 0;
    for case in planted.cases() {
        let case = Case::load(case).expect("case");
        for policy in [Policy::default(), protective()] {
            let outcome = run(&case, &rules, &policy);
            let replayed = outcome.incident.as_ref().expect("an incident");
            assert_clean(&planted, "replayed outcome", &to_json(&outcome).to_string());
            assert_clean(&planted, "replayed text", &to_text(&outcome, None));
            let evidence = serde_json::to_string(&replayed.evidence).expect("json");
            assert_clean(&planted, "evidence", &evidence);
            assert!(
                evidence.contains("PGPASSWORD=<redacted>"),
                "the planted text reached the evidence, masked"
            );
            assert_clean(&planted, "signal", &format!("{:?}", replayed.signal));
            assert_clean(&planted, "diagnosis", &format!("{:?}", replayed.diagnosis));
            assert_clean(&planted, "plan", &format!("{:?}", replayed.plan));
            for action in replayed
                .plan
                .actions
                .iter()
                .filter(|a| a.tool == Tool::Notify)
            {
                assert_clean(&planted, "notify message", &action.params.to_string());
                notified += 1;
            }
        }
    }
    assert!(notified > 0, "a protected namespace gets a notify plan");
}

#[tokio::test]
async fn no_planted_secret_reaches_the_store_file_or_any_report() {
    let planted = Planted::new();
    let db = planted.dir().join("nightshift.db");
    let url = format!("sqlite://{}", db.display());
    for case in planted.cases() {
        let dir = case.to_str().expect("path");
        let out = nightshift(&["replay", dir, "--record", &url]);
        assert!(out.status.success(), "{}", out.stderr_text());
        assert_clean(&planted, "replay --record output", &out.all_text());
    }
    let store = Store::connect(&url).await.expect("store");
    let incidents = store.list_incidents(50).await.expect("list");
    assert_eq!(
        incidents.len(),
        planted.cases().len(),
        "every case recorded"
    );
    for summary in incidents {
        let record = store
            .load(&summary.id)
            .await
            .expect("load")
            .expect("exists");
        for format in [Format::Markdown, Format::Html, Format::Json] {
            let report = render(&record, format).expect("render");
            assert_clean(&planted, &format!("{format:?} report"), &report);
        }
        let md = render(&record, Format::Markdown).expect("md");
        assert!(
            md.contains("<redacted"),
            "the report shows masked evidence:\n{md}"
        );
        let cli = nightshift(&["report", &summary.id, "--store", &url]);
        assert!(cli.status.success(), "{}", cli.stderr_text());
        assert_clean(&planted, "nightshift report", &cli.all_text());
    }
    store.close().await;
    for suffix in ["", "-wal", "-shm"] {
        let path = format!("{}{suffix}", db.display());
        if let Ok(bytes) = std::fs::read(&path) {
            assert_clean(&planted, &path, &String::from_utf8_lossy(&bytes));
        }
    }
}

#[tokio::test]
async fn no_planted_secret_reaches_a_line_the_engine_logs() {
    let planted = Planted::new();
    let rules = Arc::new(rules());
    let logs = Arc::new(Mutex::new(Vec::new()));
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(secrets_support::Capture(logs.clone()))
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    for (i, case) in planted.cases().iter().enumerate() {
        let case = Case::load(case).expect("case");
        for policy in [Policy::default(), protective()] {
            let outcome = run(&case, &rules, &policy);
            let replayed = outcome.incident.expect("incident");
            let db = planted
                .dir()
                .join(format!("engine-{i}-{}.db", logs_len(&logs)));
            secrets_support::run_engine(
                &db,
                &rules,
                policy,
                replayed.evidence,
                replayed.signal,
                case.file.now,
            )
            .await;
        }
    }
    let text = String::from_utf8_lossy(&logs.lock().expect("logs")).into_owned();
    assert!(
        text.contains("incident step"),
        "the engine logged its steps:\n{text}"
    );
    assert_clean(&planted, "engine log", &text);
}

#[tokio::test]
async fn the_engine_logs_no_untrusted_text_at_info() {
    let planted = Planted::new();
    let rules = Arc::new(rules());
    let logs = Arc::new(Mutex::new(Vec::new()));
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_ansi(false)
        .with_writer(secrets_support::Capture(logs.clone()))
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let case = Case::load(&planted.cases()[0]).expect("case");
    for (i, policy) in [Policy::default(), protective()].into_iter().enumerate() {
        let replayed = run(&case, &rules, &policy).incident.expect("incident");
        let db = planted.dir().join(format!("info-{i}.db"));
        secrets_support::run_engine(
            &db,
            &rules,
            policy,
            replayed.evidence,
            replayed.signal,
            case.file.now,
        )
        .await;
    }
    let text = String::from_utf8_lossy(&logs.lock().expect("logs")).into_owned();
    assert!(
        text.contains("diagnosed"),
        "the engine logged its steps:\n{text}"
    );
    // What survives masking of the planted text is still untrusted: not at info.
    assert!(!text.contains("psql -h db.payments"), "{text}");
    assert!(!text.contains("<redacted"), "{text}");
}

fn logs_len(logs: &Arc<Mutex<Vec<u8>>>) -> usize {
    logs.lock().expect("logs").len()
}
