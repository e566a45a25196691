//! The binary as a new user runs it: from a directory that is not the repository, with no
//! rules or playbooks on disk. The built-in defaults serve; a directory asked for that does not
//! exist is a one-line error naming it; `rules init` writes the defaults out to tune.

use std::path::Path;
use std::process::{Command, Output};

const CASE: &str = "fixtures/incidents/payments-api-missing-deploy-env-after-v2-3-1";

/// `nightshift ARGS` run in `cwd`, with no rule, playbook or settings variables set.
fn nightshift_in(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nightshift"))
        .args(args)
        .current_dir(cwd)
        .env_remove("NIGHTSHIFT_CONFIG")
        .env_remove("NIGHTSHIFT_RULES")
        .env_remove("NIGHTSHIFT_PLAYBOOKS")
        .output()
        .expect("run nightshift")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read fixture") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy");
        }
    }
}

#[test]
fn rules_check_uses_the_built_in_defaults_from_any_directory() {
    let cwd = tempfile::tempdir().expect("tempdir");
    let out = nightshift_in(cwd.path(), &["rules", "check"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("ok: "),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn replay_of_a_copied_fixture_works_from_any_directory() {
    let cwd = tempfile::tempdir().expect("tempdir");
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join(CASE),
        &cwd.path().join("case"),
    );
    let out = nightshift_in(cwd.path(), &["replay", "case", "--format", "json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let line: serde_json::Value =
        serde_json::from_str(text(&out.stdout).trim()).expect("one JSON line");
    assert_eq!(line["incident"]["rule"], "crash-loop", "{line}");
}

#[test]
fn a_rules_directory_that_does_not_exist_is_a_one_line_error_naming_it() {
    let cwd = tempfile::tempdir().expect("tempdir");
    for (flag, name) in [
        ("--rules", "no-such-rules"),
        ("--playbooks", "no-such-playbooks"),
    ] {
        let out = nightshift_in(cwd.path(), &["rules", "check", flag, name]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(stderr.contains(name) && stderr.contains(flag), "{stderr}");
    }
    let settings = cwd.path().join("nightshift.yaml");
    std::fs::write(&settings, "rules: elsewhere\n").expect("settings");
    let out = nightshift_in(
        cwd.path(),
        &["rules", "check", "--config", "nightshift.yaml"],
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("elsewhere") && stderr.contains("settings key `rules`"),
        "{stderr}"
    );
}

#[test]
fn rules_init_writes_the_defaults_which_check_and_refuses_to_overwrite_without_force() {
    let cwd = tempfile::tempdir().expect("tempdir");
    let out = nightshift_in(cwd.path(), &["rules", "init", "tuned"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(cwd.path().join("tuned/rules/kubernetes.yaml").is_file());
    assert!(cwd.path().join("tuned/playbooks/workload.yaml").is_file());
    let check = nightshift_in(
        cwd.path(),
        &[
            "rules",
            "check",
            "--rules",
            "tuned/rules",
            "--playbooks",
            "tuned/playbooks",
        ],
    );
    assert!(check.status.success(), "{}", text(&check.stderr));
    let again = nightshift_in(cwd.path(), &["rules", "init", "tuned"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        text(&again.stderr).contains("--force"),
        "{}",
        text(&again.stderr)
    );
    let forced = nightshift_in(cwd.path(), &["rules", "init", "tuned", "--force"]);
    assert!(forced.status.success(), "{}", text(&forced.stderr));
}

#[test]
fn a_directory_replaces_only_its_own_side_and_errors_in_built_in_files_name_them() {
    let cwd = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(cwd.path().join("empty")).expect("mkdir");
    // Built-in rules against an empty playbooks directory: each rule's playbook is missing,
    // and the error points into the built-in rule file.
    let out = nightshift_in(cwd.path(), &["rules", "check", "--playbooks", "empty"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("<built-in>/rules/kubernetes.yaml:"),
        "{stderr}"
    );
}

#[test]
fn the_demo_runs_from_any_directory() {
    let cwd = tempfile::tempdir().expect("tempdir");
    let out = nightshift_in(cwd.path(), &["demo"]);
    assert!(
        out.status.success(),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(
        text(&out.stdout).contains("→ resolved"),
        "{}",
        text(&out.stdout)
    );
    assert!(cwd.path().join("nightshift-demo-report.md").is_file());
}
