//! The `nightshift` binary as a user runs it: exit codes, output shapes, error locations.

use std::path::Path;
use std::process::{Command, Output};

fn nightshift(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nightshift"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("NIGHTSHIFT_CONFIG")
        .output()
        .expect("run nightshift")
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::create_dir_all(dir.join(name).parent().expect("parent")).expect("mkdir");
    std::fs::write(dir.join(name), text).expect("write");
}

#[test]
fn replay_json_prints_one_object_per_case_and_exits_zero() {
    let out = nightshift(&["replay", "fixtures/incidents", "--format", "json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    let cases = std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/incidents"))
        .expect("dir")
        .count();
    assert_eq!(stdout.lines().count(), cases);
    for line in stdout.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("each line is JSON");
        assert!(v["case"].is_string());
    }
}

#[test]
fn explain_shows_the_structural_fact_behind_each_proposed_mutation_and_why_one_was_refused() {
    let out = nightshift(&[
        "replay",
        "fixtures/incidents/catalog-registry-host-typo-rollout",
        "fixtures/incidents/invoice-reconciler-oomkilled-steady-state",
        "--explain",
    ]);
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    assert!(
        stdout.contains("corroboration deployment.rollback supported: the failing pods"),
        "{stdout}"
    );
    assert!(
        stdout.contains("refused   downgraded to notify: Deployment catalog is managed by Argo CD"),
        "{stdout}"
    );
    assert!(
        stdout.contains("corroboration deployment.set_resources supported: container"),
        "{stdout}"
    );
    assert!(
        stdout.contains("terminated OOMKilled (exit 137)"),
        "{stdout}"
    );
    let json = nightshift(&[
        "replay",
        "fixtures/incidents/catalog-registry-host-typo-rollout",
        "--format",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON");
    let c = &v["plan"]["corroboration"][0];
    assert_eq!(c["tool"], "deployment.rollback");
    assert_eq!(c["verdict"], "supported");
    assert_eq!(c["evidence"], "rollout/shop/catalog");
    let reason = v["plan"]["downgraded"]["reason"]
        .as_str()
        .unwrap_or_default();
    assert!(reason.contains("Argo CD"), "{reason}");
}

#[test]
fn a_case_no_rule_matches_prints_a_null_incident() {
    let tmp = tempfile::tempdir().expect("tmp");
    write(
        tmp.path(),
        "healthy/case.yaml",
        "description: all fine\nnow: \"2026-11-20T02:13:00Z\"\nsignal: {kind: Pod, namespace: shop, name: api-1}\n",
    );
    write(
        tmp.path(),
        "healthy/objects.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: api-1, namespace: shop}\nspec:\n  containers: [{name: api, image: shop/api:v1}]\nstatus:\n  phase: Running\n  containerStatuses: [{name: api, image: shop/api:v1, imageID: x, ready: true, restartCount: 0, state: {running: {startedAt: \"2026-11-20T01:00:00Z\"}}}]\n",
    );
    let out = nightshift(&[
        "replay",
        tmp.path().join("healthy").to_str().expect("path"),
        "--format",
        "json",
    ]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert!(v["incident"].is_null(), "{v}");
}

#[test]
fn an_unreadable_case_is_reported_with_its_file_and_position_and_exits_nonzero() {
    let tmp = tempfile::tempdir().expect("tmp");
    write(
        tmp.path(),
        "bad/case.yaml",
        "description: x\nnow: \"2026-11-20T02:13:00Z\"\nsignal: {kind: Pod, name: a}\nexpect: {category: network-blip}\n",
    );
    let out = nightshift(&["replay", tmp.path().join("bad").to_str().expect("path")]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("case.yaml") && stderr.contains("network-blip") && stderr.contains("4:"),
        "{stderr}"
    );
}

#[test]
fn rules_check_accepts_the_shipped_rules() {
    let out = nightshift(&["rules", "check"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("ok:"));
}

#[test]
fn rules_check_reports_every_problem_with_file_line_and_column() {
    let tmp = tempfile::tempdir().expect("tmp");
    let rules = tmp.path().join("rules");
    let playbooks = tmp.path().join("playbooks");
    write(
        &rules,
        "a.yaml",
        "rules:\n  - name: one\n    match: {kind: [Pod]}\n    severity: critical\n    playbook: nowhere\n  - name: one\n    match: {}\n    severity: info\n    playbook: p\n",
    );
    write(
        &rules,
        "b.yaml",
        "rules:\n  - name: two\n    match: {reason: ['[bad']}\n    severity: info\n    playbook: p\n",
    );
    write(
        &rules,
        "c.yaml",
        "rules:\n  - name: three\n    match: {kinds: [Pod]}\n    severity: info\n    playbook: p\n",
    );
    write(
        &playbooks,
        "p.yaml",
        "name: p\nallowed_actions: [notify]\nremedies:\n  - categories: [bad-deploy]\n    actions:\n      - tool: deployment.rollback\napproval:\n  auto_approve: [{tool: deployment.scale, namespaces: [dev]}]\n",
    );
    write(
        &playbooks,
        "q.yaml",
        "name: q\nallowed_actions: [shell.exec]\n",
    );
    write(
        &playbooks,
        "r.yaml",
        "name: r\nallowed_actions: [notify]\nremedies:\n  - categories: [network-blip]\n    actions: [{tool: notify}]\n",
    );
    let out = nightshift(&[
        "rules",
        "check",
        "--rules",
        rules.to_str().expect("p"),
        "--playbooks",
        playbooks.to_str().expect("p"),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let expect = [
        ("a.yaml:5:5:", "nowhere"),
        ("a.yaml:6:5:", "duplicate rule name `one`"),
        ("b.yaml:3:", "invalid glob"),
        ("c.yaml:3:", "unknown field `kinds`"),
        ("p.yaml:6:", "not in allowed_actions"),
        ("p.yaml:8:", "cannot be auto-approved"),
        ("q.yaml:2:", "unknown variant `shell.exec`"),
        ("r.yaml:4:", "unknown variant `network-blip`"),
    ];
    for (location, message) in expect {
        assert!(
            stderr
                .lines()
                .any(|l| l.contains(location) && l.contains(message)),
            "missing {location} {message} in:\n{stderr}"
        );
    }
}

#[test]
fn schemas_are_published_for_rules_playbooks_and_settings() {
    for which in ["rules", "playbook", "config"] {
        let out = nightshift(&["schema", which]);
        assert!(out.status.success());
        let schema: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        assert!(schema["properties"].is_object(), "{which}: {schema}");
    }
}

#[test]
fn a_bad_settings_file_stops_with_its_location() {
    let tmp = tempfile::tempdir().expect("tmp");
    write(
        tmp.path(),
        "s.yaml",
        "store: sqlite://x.db\npolicy:\n  max_replica: 3\n",
    );
    let out = nightshift(&[
        "--config",
        tmp.path().join("s.yaml").to_str().expect("p"),
        "rules",
        "check",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("s.yaml:3:") && stderr.contains("max_replica"),
        "{stderr}"
    );
}

#[test]
fn the_detection_bench_runs_end_to_end_and_prints_its_table() {
    // Tiny, so it only proves the bench works; the figures come from a release build by hand.
    let out = nightshift(&[
        "bench",
        "--detect",
        "--pods",
        "50",
        "--changes",
        "3",
        "--rss-pods",
        "60",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for expected in ["p50", "p99", "changes measured  3", "RSS settled"] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
}

#[test]
fn rbac_binds_the_allowed_namespaces_and_names_the_ones_it_leaves_out() {
    let tmp = tempfile::tempdir().expect("tmp");
    write(
        tmp.path(),
        "nightshift.yaml",
        "policy:\n  allowed_namespaces: [\"shop-*\", kube-system]\n",
    );
    let config = tmp.path().join("nightshift.yaml");
    let out = nightshift(&[
        "rbac",
        "--config",
        config.to_str().expect("path"),
        "--namespaces",
        "shop-eu,kube-system,default,shop-us",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    assert!(stdout.contains("# kube-system: protected"), "{stdout}");
    assert!(
        stdout.contains("# default: not in allowed_namespaces"),
        "{stdout}"
    );
    let documents: Vec<serde_json::Value> = stdout
        .split("\n---")
        .skip(1)
        .map(|doc| serde_yaml_ng::from_str(doc).expect("yaml"))
        .collect();
    let bound: Vec<&str> = documents
        .iter()
        .filter(|d| d["kind"] == "RoleBinding")
        .map(|d| d["metadata"]["namespace"].as_str().expect("namespace"))
        .collect();
    assert_eq!(bound, ["shop-eu", "shop-us"]);
    let policy = documents
        .iter()
        .find(|d| d["kind"] == "ValidatingAdmissionPolicy")
        .expect("the admission policy follows");
    let namespace_check = policy["spec"]["validations"][1]["expression"]
        .as_str()
        .expect("expression");
    assert!(
        namespace_check.contains("shop-.*|kube-system"),
        "{namespace_check}"
    );
}

#[test]
fn rbac_refuses_a_namespace_name_that_cannot_exist() {
    let out = nightshift(&["rbac", "--namespaces", "shop,Payments"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("`Payments` is not a namespace name"),
        "{stderr}"
    );
}

#[test]
fn a_store_url_password_is_never_printed_in_an_error_or_in_help() {
    for url in [
        "postgres://me:Xq7pwStore@127.0.0.1:notaport/db",
        "postgres://me:Xq7pw/Store@127.0.0.1:notaport/db",
    ] {
        let out = nightshift(&["incidents", "list", "--store", url]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(!stderr.contains("Xq7pw"), "{stderr}");
        assert!(
            stderr.contains("127.0.0.1"),
            "the host is still named: {stderr}"
        );
    }
    let tmp = tempfile::tempdir().expect("tmp");
    write(
        tmp.path(),
        "cfg.yaml",
        "store: \"postgress://me:Xq7pwCfg@db/n\"\n",
    );
    let config = tmp.path().join("cfg.yaml");
    let out = nightshift(&[
        "--config",
        config.to_str().expect("path"),
        "incidents",
        "list",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("must start with"), "{stderr}");
    assert!(!stderr.contains("Xq7pw"), "{stderr}");
    let help = Command::new(env!("CARGO_BIN_EXE_nightshift"))
        .args(["incidents", "list", "--help"])
        .env("NIGHTSHIFT_STORE", "postgres://me:Xq7pwEnv@db/n")
        .output()
        .expect("run nightshift");
    let stdout = String::from_utf8_lossy(&help.stdout);
    assert!(stdout.contains("--store"), "{stdout}");
    assert!(!stdout.contains("Xq7pw"), "{stdout}");
}
