//! A daemon that reloads rules keeps its previous good set when the new files have errors.

use nightshift::rules::RulesHolder;

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
