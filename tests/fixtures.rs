//! Every shipped rule, playbook and fixture case loads, and every case with `expect` meets it.

use std::path::{Path, PathBuf};

use nightshift::domain::policy::Policy;
use nightshift::replay::output::check_expect;
use nightshift::replay::{Case, run, to_json};
use nightshift::rules::RuleSet;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn shipped_rules() -> RuleSet {
    RuleSet::load(&root().join("rules"), &root().join("playbooks"))
        .unwrap_or_else(|e| panic!("{e}"))
}

fn case_dirs(dir: &str) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root().join(dir))
        .expect("fixtures directory")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join("case.yaml").is_file())
        .collect();
    dirs.sort();
    dirs
}

#[test]
fn every_shipped_rule_and_playbook_loads() {
    let set = shipped_rules();
    assert!(set.rules.len() >= 20, "{} rules", set.rules.len());
    assert!(set.playbooks.len() >= 4);
}

#[test]
fn every_fixture_case_loads_and_meets_its_expectation() {
    let rules = shipped_rules();
    let policy = Policy::default();
    let dirs = case_dirs("fixtures/incidents");
    assert!(dirs.len() >= 25, "{} cases", dirs.len());
    let mut failures = Vec::new();
    for dir in &dirs {
        let case = Case::load(dir).unwrap_or_else(|e| panic!("{e}"));
        let expect = case
            .file
            .expect
            .clone()
            .unwrap_or_else(|| panic!("{} has no expect", case.name));
        if let Err(problems) = check_expect(&run(&case, &rules, &policy), &expect) {
            failures.push(format!("{}: {}", case.name, problems.join("; ")));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        dirs.len(),
        failures.join("\n")
    );
}

/// Cases whose remedies come from an operator's playbook (fixtures/operator/playbooks: the shipped
/// ones, plus a workload playbook that deletes crash-looping pods and scales on readiness
/// failures), so the disruption-budget and autoscaler guards are exercised, each beside a
/// control case where the same remedy is planned.
#[test]
fn operator_playbook_cases_meet_their_expectation() {
    let rules = RuleSet::load(
        &root().join("rules"),
        &root().join("fixtures/operator/playbooks"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let dirs = case_dirs("fixtures/operator/incidents");
    assert!(dirs.len() >= 4, "{} cases", dirs.len());
    let mut failures = Vec::new();
    for dir in &dirs {
        let case = Case::load(dir).unwrap_or_else(|e| panic!("{e}"));
        let expect = case.file.expect.clone().expect("expect");
        if let Err(problems) = check_expect(&run(&case, &rules, &Policy::default()), &expect) {
            failures.push(format!("{}: {}", case.name, problems.join("; ")));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn fixtures_cover_every_taxonomy_category_and_the_common_ones_twice() {
    use nightshift::domain::taxonomy::Category;
    let mut counts = std::collections::BTreeMap::new();
    for dir in case_dirs("fixtures/incidents") {
        let case = Case::load(&dir).unwrap_or_else(|e| panic!("{e}"));
        *counts
            .entry(case.file.expect.expect("expect").category)
            .or_insert(0) += 1;
    }
    for category in Category::ALL {
        let n = counts.get(&category).copied().unwrap_or(0);
        let needed = if category == Category::Unknown { 1 } else { 2 };
        assert!(n >= needed, "{category}: {n} case(s), want {needed}");
    }
}

#[test]
fn replay_json_follows_the_design_contract() {
    let rules = shipped_rules();
    for dir in case_dirs("fixtures/incidents") {
        let case = Case::load(&dir).unwrap_or_else(|e| panic!("{e}"));
        let json = to_json(&run(&case, &rules, &Policy::default()));
        assert_eq!(json["case"], case.name.as_str());
        let incident = &json["incident"];
        for key in ["rule", "severity", "fingerprint"] {
            assert!(incident[key].is_string(), "{}: incident.{key}", case.name);
        }
        for key in ["kind", "name"] {
            assert!(
                incident["target"][key].is_string(),
                "{}: target.{key}",
                case.name
            );
        }
        let d = &json["diagnosis"];
        assert!(d["category"].is_string() && d["summary"].is_string() && d["confidence"].is_f64());
        assert!(d["contributing"].is_array() && d["evidence"].is_array());
        let actions = json["plan"]["actions"].as_array().expect("actions");
        assert!(!actions.is_empty());
        for a in actions {
            assert!(
                a["tool"].is_string() && a["params"].is_object(),
                "{}",
                case.name
            );
        }
        assert!(json["plan"]["requires_approval"].is_boolean());
        for check in json["verification"].as_array().expect("verification") {
            assert!(check["check"].is_string() && check["params"].is_object());
        }
    }
}

#[test]
fn every_cited_evidence_id_exists_in_the_gathered_evidence() {
    let rules = shipped_rules();
    for dir in case_dirs("fixtures/incidents") {
        let case = Case::load(&dir).unwrap_or_else(|e| panic!("{e}"));
        let outcome = run(&case, &rules, &Policy::default());
        let incident = outcome.incident.expect("incident");
        for id in &incident.diagnosis.evidence {
            assert!(
                incident.evidence.contains(id),
                "{}: cites {id} which was not gathered",
                case.name
            );
        }
    }
}

#[test]
fn secrets_never_reach_the_evidence() {
    let rules = shipped_rules();
    for dir in case_dirs("fixtures/incidents") {
        let case = Case::load(&dir).unwrap_or_else(|e| panic!("{e}"));
        for secret in &case.objects.secrets {
            for value in secret.data.iter().flat_map(|d| d.values()) {
                assert!(value.0.is_empty(), "{}: secret value kept", case.name);
            }
        }
        let outcome = run(&case, &rules, &Policy::default());
        let text =
            serde_json::to_string(&outcome.incident.expect("incident").evidence).expect("json");
        assert!(!text.contains("BEGIN RSA PRIVATE KEY"));
    }
}
