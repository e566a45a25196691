//! Checks that span fields or files: unique names, rules naming playbooks that exist, remedies
//! within the playbook's ceiling, auto-approval only for low-risk namespaced tools (never a node
//! action), templates that compile.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::domain::catalog::Tool;
use crate::domain::plan::Risk;
use crate::rules::{LoadError, RuleSet, locate};

/// An error at the first place `key` (with `value`, when given) appears in `file` from line
/// `from` on.
pub(super) fn error_at(
    texts: &[(PathBuf, String)],
    file: &Path,
    key: &str,
    value: Option<&str>,
    from: usize,
    message: String,
) -> LoadError {
    let text = texts
        .iter()
        .find(|(f, _)| f == file)
        .map_or("", |(_, t)| t.as_str());
    let (line, column) = locate(text, key, value, from);
    LoadError {
        file: file.to_owned(),
        line,
        column,
        message,
    }
}

/// Every cross-cutting problem in `set`.
pub fn validate(
    set: &RuleSet,
    playbook_files: &[PathBuf],
    texts: &[(PathBuf, String)],
) -> Vec<LoadError> {
    let mut errors = Vec::new();
    let mut seen: BTreeMap<&str, &Path> = BTreeMap::new();
    // Each rule's line: its `name:` after the previous rule of the same file.
    let mut cursor: BTreeMap<&Path, usize> = BTreeMap::new();
    for loaded in &set.rules {
        let rule = &loaded.rule;
        let text = texts
            .iter()
            .find(|(f, _)| *f == loaded.file)
            .map_or("", |(_, t)| t.as_str());
        let from = cursor.get(loaded.file.as_path()).map_or(1, |line| line + 1);
        let (rule_line, _) = locate(text, "name", Some(&rule.name), from);
        cursor.insert(&loaded.file, rule_line);
        let at = |key: &str, value: Option<&str>, message: String| {
            error_at(texts, &loaded.file, key, value, rule_line, message)
        };
        if let Some(first) = seen.insert(&rule.name, &loaded.file) {
            errors.push(at(
                "name",
                Some(&rule.name),
                format!(
                    "duplicate rule name `{}` (first defined in {})",
                    rule.name,
                    first.display()
                ),
            ));
        }
        if rule.name.trim().is_empty() {
            errors.push(at("name", None, "rule name must not be empty".into()));
        }
        if set.playbook(&rule.playbook).is_none() {
            let known: Vec<&str> = set.playbooks.iter().map(|p| p.name.as_str()).collect();
            errors.push(at(
                "playbook",
                Some(&rule.playbook),
                format!(
                    "rule `{}` names playbook `{}`, which does not exist (known: {})",
                    rule.name,
                    rule.playbook,
                    known.join(", ")
                ),
            ));
        }
        let env = minijinja::Environment::new();
        if let Err(err) = env.template_from_str(&rule.fingerprint) {
            errors.push(at(
                "fingerprint",
                None,
                format!(
                    "rule `{}`: fingerprint template does not compile: {err}",
                    rule.name
                ),
            ));
        }
        if rule.cooldown.is_negative() || rule.group_window.is_negative() {
            errors.push(at(
                "cooldown",
                None,
                format!("rule `{}`: durations must not be negative", rule.name),
            ));
        }
    }
    let mut names: BTreeMap<&str, &Path> = BTreeMap::new();
    for (playbook, file) in set.playbooks.iter().zip(playbook_files) {
        let at = |key: &str, value: Option<&str>, message: String| {
            error_at(texts, file, key, value, 1, message)
        };
        if let Some(first) = names.insert(&playbook.name, file) {
            errors.push(at(
                "name",
                Some(&playbook.name),
                format!(
                    "duplicate playbook name `{}` (first defined in {})",
                    playbook.name,
                    first.display()
                ),
            ));
        }
        for remedy in &playbook.remedies {
            for action in &remedy.actions {
                if !playbook.allowed_actions.contains(&action.tool) {
                    errors.push(at(
                        "tool",
                        Some(action.tool.as_str()),
                        format!(
                            "playbook `{}`: remedy uses {} which is not in allowed_actions",
                            playbook.name, action.tool
                        ),
                    ));
                }
                if let Some(g) = action
                    .memory_growth
                    .into_iter()
                    .chain(action.cpu_growth)
                    .find(|g| !(1.0..=4.0).contains(g))
                {
                    errors.push(at(
                        "tool",
                        Some(action.tool.as_str()),
                        format!("playbook `{}`: growth {g} outside 1.0 – 4.0", playbook.name),
                    ));
                }
                if action.tool == Tool::DeploymentScale && action.replicas.is_none() {
                    errors.push(at(
                        "tool",
                        Some(action.tool.as_str()),
                        format!(
                            "playbook `{}`: deployment.scale needs `replicas`",
                            playbook.name
                        ),
                    ));
                }
            }
        }
        let text = texts
            .iter()
            .find(|(f, _)| f == file)
            .map_or("", |(_, t)| t.as_str());
        // An auto_approve entry's `tool:` is the first after the `auto_approve:` key.
        let (auto_line, _) = locate(text, "auto_approve", None, 1);
        let auto_at = |tool: Tool, message: String| {
            error_at(texts, file, "tool", Some(tool.as_str()), auto_line, message)
        };
        for auto in &playbook.approval.auto_approve {
            if auto.tool.is_cluster_scoped() {
                errors.push(auto_at(auto.tool, format!(
                    "playbook `{}`: {} acts on the whole cluster, which no namespace bounds, and cannot be auto-approved: a human approves every node action", playbook.name, auto.tool
                )));
            } else if Risk::of(auto.tool) > Risk::Low {
                errors.push(auto_at(auto.tool, format!(
                    "playbook `{}`: {} is {:?} risk and cannot be auto-approved (only low-risk tools can)", playbook.name, auto.tool, Risk::of(auto.tool)
                )));
            }
            if auto.namespaces.is_empty() {
                errors.push(at(
                    "namespaces",
                    None,
                    format!(
                        "playbook `{}`: auto_approve for {} must name at least one namespace",
                        playbook.name, auto.tool
                    ),
                ));
            }
        }
        for h in &playbook.heuristics {
            if !(0.0..=1.0).contains(&h.weight) {
                errors.push(at(
                    "weight",
                    None,
                    format!(
                        "playbook `{}`: heuristic weight {} outside 0 – 1",
                        playbook.name, h.weight
                    ),
                ));
            }
        }
    }
    errors
}
