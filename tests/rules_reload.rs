//! A daemon that reloads rules keeps its previous good set when the new files have errors, and
//! reloads only when the files' contents change: reading or touching a rule file reloads and
//! audits nothing (it once started a reload loop: 65 reloads and audit rows in 15 s, forever).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use nightshift::rules::{Reload, RulesHolder};
use nightshift::store::Store;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

fn write(dir: &std::path::Path, name: &str, text: &str) {
    std::fs::create_dir_all(dir).expect("mkdir");
    std::fs::write(dir.join(name), text).expect("write");
}

const PLAYBOOK: &str = "name: p\nallowed_actions: [notify]\n";

#[test]
fn a_reload_with_errors_keeps_the_previous_good_set_and_says_why() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (rules, playbooks) = (tmp.path().join("rules"), tmp.path().join("playbooks"));
    write(
        &rules,
        "a.yaml",
        "rules:\n  - {name: first, match: {}, severity: info, playbook: p}\n",
    );
    write(&playbooks, "p.yaml", PLAYBOOK);
    let mut holder = RulesHolder::load(&rules, &playbooks).expect("first load");
    assert_eq!(holder.current().rules[0].rule.name, "first");

    write(
        &rules,
        "a.yaml",
        "rules:\n  - {name: second, match: {}, severity: info, playbook: missing}\n",
    );
    let errors = holder.reload().expect_err("bad set refused");
    assert!(errors.to_string().contains("missing"), "{errors}");
    assert_eq!(
        holder.current().rules[0].rule.name,
        "first",
        "previous set still in force"
    );

    write(
        &rules,
        "a.yaml",
        "rules:\n  - {name: third, match: {}, severity: info, playbook: p}\n",
    );
    holder.reload().expect("good set accepted");
    assert_eq!(holder.current().rules[0].rule.name, "third");
}

#[test]
fn malformed_yaml_and_an_empty_directory_are_errors_not_crashes() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (rules, playbooks) = (tmp.path().join("rules"), tmp.path().join("playbooks"));
    write(&playbooks, "p.yaml", PLAYBOOK);
    std::fs::create_dir_all(&rules).expect("mkdir");
    let empty = RulesHolder::load(&rules, &playbooks).expect_err("no rules");
    assert!(empty.to_string().contains("no rules found"), "{empty}");
    write(
        &rules,
        "a.yaml",
        "rules:\n  - name: x\n    match: {kind: [Pod]\n",
    );
    let err = RulesHolder::load(&rules, &playbooks).expect_err("malformed");
    assert!(err.0[0].to_string().contains("a.yaml:"), "{err}");
}

/// The next check the reloader reports (at most 10 s).
async fn next(checks: &mut mpsc::UnboundedReceiver<Reload>) -> Reload {
    tokio::time::timeout(Duration::from_secs(10), checks.recv())
        .await
        .expect("the reloader checked within 10 s")
        .expect("reloader running")
}

fn touch(path: &std::path::Path) {
    let file = std::fs::File::options()
        .append(true)
        .open(path)
        .expect("open");
    file.set_modified(std::time::SystemTime::now())
        .expect("touch");
}

#[tokio::test]
async fn reading_or_touching_a_rule_file_reloads_nothing_and_an_edit_reloads_once() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (rules, playbooks) = (tmp.path().join("rules"), tmp.path().join("playbooks"));
    let rule = |name: &str| {
        format!("rules:\n  - {{name: {name}, match: {{}}, severity: info, playbook: p}}\n")
    };
    write(&rules, "a.yaml", &rule("first"));
    write(&playbooks, "p.yaml", PLAYBOOK);
    let holder = RulesHolder::load(&rules, &playbooks).expect("first load");
    let current = Arc::new(Mutex::new(holder.current()));
    let store = Store::connect("sqlite::memory:").await.expect("store");
    let (observer, mut checks) = mpsc::unbounded_channel();
    let shutdown = CancellationToken::new();
    let metrics = nightshift::telemetry::Metrics::new(["first"]);
    let _watching = nightshift::daemon::watch_rules(
        holder,
        current.clone(),
        store.clone(),
        metrics.clone(),
        shutdown.clone(),
        Some(observer),
    )
    .expect("watching");
    let audit_rows = || async { store.verify_audit().await.expect("audit").rows };
    // `cat rules/a.yaml`, then `touch` it.
    std::fs::read_to_string(rules.join("a.yaml")).expect("read");
    touch(&rules.join("a.yaml"));
    assert_eq!(next(&mut checks).await, Reload::Unchanged);
    assert_eq!(audit_rows().await, 0, "nothing reloaded, nothing audited");
    // A real edit: one reload, one audit row.
    write(&rules, "a.yaml", &rule("second"));
    assert_eq!(next(&mut checks).await, Reload::Reloaded);
    assert_eq!(current.lock().expect("rules").rules[0].rule.name, "second");
    assert_eq!(audit_rows().await, 1);
    // The reloaded rule's series exist at zero before its first incident.
    let scrape = metrics.encode().expect("metrics");
    assert!(
        scrape.contains("nightshift_incidents_opened_total{rule=\"second\"} 0"),
        "{scrape}"
    );
    // The reload read every file itself: that is no change either.
    touch(&playbooks.join("p.yaml"));
    assert_eq!(next(&mut checks).await, Reload::Unchanged);
    assert_eq!(audit_rows().await, 1, "no reload loop");
    // A broken edit is tried and audited once, however often it is read afterwards.
    write(&rules, "a.yaml", "rules: [");
    assert!(matches!(next(&mut checks).await, Reload::Failed(_)));
    touch(&rules.join("a.yaml"));
    assert_eq!(next(&mut checks).await, Reload::Unchanged);
    assert_eq!(audit_rows().await, 2);
    assert_eq!(current.lock().expect("rules").rules[0].rule.name, "second");
    shutdown.cancel();
}

#[test]
fn a_holder_reloads_only_the_directories_it_was_given_and_built_in_sides_never_change() {
    let tmp = tempfile::tempdir().expect("tmp");
    nightshift::rules::defaults::write(tmp.path(), false).expect("defaults written");
    let playbooks = tmp.path().join("playbooks");
    let mut holder = RulesHolder::load_from(None, Some(&playbooks)).expect("built-in rules");
    assert_eq!(holder.dirs(), vec![playbooks.as_path()]);
    assert_eq!(holder.reload_if_changed(), Reload::Unchanged);
    let built_in = RulesHolder::load_from(None, None).expect("all built in");
    assert!(built_in.dirs().is_empty());
}
