//! Attack corpus — policy: what a signal from a protected namespace, a permissive playbook and
//! a wide outage can make nightshift do to the cluster. A pod evicted in `kube-system` never
//! leads to a cordon; `rules check` refuses a playbook that auto-approves a node action; the
//! kill switch is one command, audited, and shown on every report. (The engine side — a paused
//! store sends nothing, the budget, node policy against the live pool — is in
//! tests/engine_pause.rs.)

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use nightshift::domain::catalog::Tool;
use nightshift::domain::policy::Policy;
use nightshift::replay::{Case, run};
use nightshift::rules::RuleSet;

const EVICTED: &str = "fixtures/incidents/thumbnailer-evicted-node-memory-pid-pressure";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn nightshift(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nightshift"))
        .args(args)
        .current_dir(root())
        .env_remove("NIGHTSHIFT_CONFIG")
        .env_remove("NIGHTSHIFT_STORE")
        .output()
        .expect("run nightshift")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The recorded eviction, moved into namespace `to`: every object and the signal.
fn evicted_in(to: &str, dir: &Path) -> PathBuf {
    let case = dir.join("case");
    std::fs::create_dir_all(&case).expect("mkdir");
    for file in ["case.yaml", "objects.yaml"] {
        let original = std::fs::read_to_string(root().join(EVICTED).join(file)).expect("read");
        let moved = original.replace("namespace: media", &format!("namespace: {to}"));
        assert!(
            original.contains("namespace: media"),
            "{file} names the namespace"
        );
        std::fs::write(case.join(file), moved).expect("write");
    }
    case
}

#[test]
fn an_evicted_pod_in_kube_system_never_leads_to_a_cordon() {
    let rules = RuleSet::load(&root().join("rules"), &root().join("playbooks")).expect("rules");
    let tmp = tempfile::tempdir().expect("tmp");
    // In its own namespace the eviction leads to a cordon of the pod's node...
    let ordinary = Case::load(&evicted_in("media", tmp.path())).expect("case");
    let plan = run(&ordinary, &rules, &Policy::default())
        .incident
        .expect("incident")
        .plan;
    assert_eq!(plan.actions[0].tool, Tool::NodeCordon);
    // ...the same eviction in kube-system does not: the plan is to notify, and says why.
    let tmp = tempfile::tempdir().expect("tmp");
    let protected = Case::load(&evicted_in("kube-system", tmp.path())).expect("case");
    let replayed = run(&protected, &rules, &Policy::default())
        .incident
        .expect("incident");
    assert_eq!(replayed.signal.namespace(), Some("kube-system"));
    let plan = replayed.plan;
    assert!(!plan.is_mutating(), "{plan:?}");
    let downgrade = plan.downgraded.expect("policy refused the cordon");
    assert_eq!(downgrade.proposed[0].tool, Tool::NodeCordon);
    assert!(
        downgrade.reason.contains("kube-system") && downgrade.reason.contains("protected"),
        "{}",
        downgrade.reason
    );
}

#[test]
fn rules_check_refuses_a_playbook_that_auto_approves_a_node_action() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (rules, playbooks) = (tmp.path().join("rules"), tmp.path().join("playbooks"));
    std::fs::create_dir_all(&rules).expect("mkdir");
    std::fs::create_dir_all(&playbooks).expect("mkdir");
    std::fs::write(
        rules.join("r.yaml"),
        "rules:\n  - name: nodes\n    match: {kind: [Node]}\n    severity: critical\n    playbook: node\n",
    )
    .expect("write");
    // The cordon remedy names the tool first; the error must point at the auto_approve entry.
    std::fs::write(
        playbooks.join("node.yaml"),
        "name: node\nallowed_actions: [node.cordon, notify]\nremedies:\n  - categories: [node-failure]\n    actions:\n      - tool: node.cordon\napproval:\n  auto_approve:\n    - tool: node.cordon\n      namespaces: ['*']\n",
    )
    .expect("write");
    let out = nightshift(&[
        "rules",
        "check",
        "--rules",
        rules.to_str().expect("path"),
        "--playbooks",
        playbooks.to_str().expect("path"),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let stderr = text(&out.stderr);
    assert!(
        stderr.lines().any(|l| l.contains("node.yaml:9:7:")
            && l.contains("node.cordon")
            && l.contains("cannot be auto-approved")),
        "{stderr}"
    );
}

#[test]
fn pause_and_resume_are_one_command_each_audited_and_shown_on_every_report() {
    let tmp = tempfile::tempdir().expect("tmp");
    let store = format!("sqlite://{}", tmp.path().join("n.db").display());
    let recorded = nightshift(&["replay", EVICTED, "--record", &store]);
    assert!(recorded.status.success(), "{}", text(&recorded.stderr));
    let listed = nightshift(&["incidents", "list", "--store", &store]);
    let id = text(&listed.stdout)
        .split_whitespace()
        .next()
        .expect("an incident")
        .to_owned();
    let report = |format: &str| {
        let out = nightshift(&["report", &id, "--format", format, "--store", &store]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout)
    };
    assert!(!report("md").contains("nightshift is paused"));

    // A pause must say why.
    let refused = nightshift(&["pause", "--as", "carol", "--store", &store]);
    assert!(!refused.status.success());
    assert!(
        text(&refused.stderr).contains("--reason"),
        "{}",
        text(&refused.stderr)
    );
    let blank = nightshift(&[
        "pause", "--reason", "  ", "--as", "carol", "--store", &store,
    ]);
    assert!(!blank.status.success());

    let paused = nightshift(&[
        "pause",
        "--reason",
        "region outage",
        "--as",
        "carol",
        "--store",
        &store,
    ]);
    assert!(paused.status.success(), "{}", text(&paused.stderr));
    assert!(
        text(&paused.stdout).starts_with("paused:"),
        "{}",
        text(&paused.stdout)
    );
    let again = nightshift(&[
        "pause", "--reason", "x", "--as", "mallory", "--store", &store,
    ]);
    assert!(
        text(&again.stdout).contains("already paused by carol"),
        "{}",
        text(&again.stdout)
    );
    let listed = nightshift(&["incidents", "list", "--store", &store]);
    assert!(
        text(&listed.stderr).contains("paused by carol"),
        "{}",
        text(&listed.stderr)
    );
    for format in ["md", "html"] {
        let shown = report(format);
        assert!(
            shown.contains("nightshift is paused")
                && shown.contains("carol")
                && shown.contains("region outage"),
            "{shown}"
        );
    }
    let json: serde_json::Value = serde_json::from_str(&report("json")).expect("json");
    assert_eq!(json["paused"]["by"], "carol");

    let resumed = nightshift(&[
        "resume", "--reason", "over", "--as", "dave", "--store", &store,
    ]);
    assert!(
        text(&resumed.stdout).starts_with("resumed:"),
        "{}",
        text(&resumed.stdout)
    );
    assert!(!report("md").contains("nightshift is paused"));
    let verified = nightshift(&["audit", "verify", "--store", &store]);
    assert!(verified.status.success(), "{}", text(&verified.stderr));
}
