//! The end-to-end test: `nightshift demo` — a simulated cluster over HTTP, the daemon against it,
//! a broken release — goes from detection to a verified rollback, and its store and report say
//! so. (It takes about 20 seconds: the verification window is compressed, not skipped.)

use std::process::ExitCode;

use nightshift::config::Settings;
use nightshift::demo::{DemoPaths, run};
use nightshift::store::Store;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_detects_diagnoses_rolls_back_and_verifies_a_broken_release() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A directory that does not exist yet: the demo makes it.
    let paths = DemoPaths::in_dir(&dir.path().join("out"));
    let mut out = Vec::new();
    let code = run(Settings::default(), &paths, &mut out)
        .await
        .expect("the demo runs");
    let out = String::from_utf8(out).expect("utf-8");
    assert_eq!(
        format!("{code:?}"),
        format!("{:?}", ExitCode::SUCCESS),
        "{out}"
    );
    for expected in [
        "DETECTED",
        "DIAGNOSIS bad-deploy",
        "PAYMENT_GATEWAY_URL",
        "deployment.rollback",
        "[DEMO ONLY] approved plan",
        "EXECUTED  deployment.rollback: done",
        "VERIFIED  healthy",
        "no longer raised on the 3 pod(s) that replaced the target",
        "→ resolved",
    ] {
        assert!(
            out.contains(expected),
            "the narration lacks {expected:?}:\n{out}"
        );
    }
    let report = std::fs::read_to_string(&paths.report).expect("the report was written");
    assert!(report.contains("PAYMENT_GATEWAY_URL"), "{report}");
    let store = Store::connect(&format!("sqlite://{}", paths.store.display()))
        .await
        .expect("the demo store");
    let incidents = store.list_incidents(10).await.expect("list");
    let resolved = incidents
        .iter()
        .find(|i| i.state.as_str() == "resolved")
        .unwrap_or_else(|| panic!("no resolved incident in {incidents:#?}"));
    let record = store
        .load(&resolved.id)
        .await
        .expect("load")
        .expect("incident");
    assert_eq!(record.actions.len(), 1, "one rollback, recorded once");
    assert!(
        record.approvals[0].actor.contains("demo only"),
        "the automatic approval is labelled"
    );
    assert!(store.verify_audit().await.expect("audit").is_intact());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_that_cannot_start_is_reported_in_words() {
    let dir = tempfile::tempdir().expect("tempdir");
    let paths = DemoPaths::in_dir(dir.path());
    let settings = Settings {
        rules: Some(dir.path().join("no-such-rules")),
        ..Settings::default()
    };
    let err = run(settings, &paths, &mut Vec::new())
        .await
        .expect_err("the daemon cannot load its rules");
    let message = format!("{err:#}");
    assert!(message.contains("the daemon did not start"), "{message}");
    assert!(message.contains("no-such-rules"), "{message}");
    assert!(!message.contains("channel closed"), "{message}");
}
