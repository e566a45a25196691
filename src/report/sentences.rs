//! Actions, checks and verification verdicts as sentences a tired human reads at a glance:
//! "Roll back Deployment shop/api to revision 3" rather than a tool name and a JSON object.
//! Parameters the sentence does not know fall back to `tool {json}`, so nothing is hidden.

use serde::Serialize;
use serde_json::Value;

use super::evidence::{MAX_TEXT_CHARS, clean_line};
use crate::domain::catalog::Tool;
use crate::domain::plan::{Check, CheckKind, canonical_json};

/// One line of a verification checklist.
#[derive(Debug, Clone, Serialize)]
pub struct CheckLine {
    /// Whether the check passed; `None` when the verdict did not say.
    pub passed: Option<bool>,
    /// What was checked.
    pub check: String,
    /// What was observed, when the verdict says.
    pub observed: Option<String>,
}

fn line(text: &str) -> String {
    clean_line(text, MAX_TEXT_CHARS)
}

fn text<'a>(params: &'a Value, key: &str) -> Option<&'a str> {
    params.get(key).and_then(Value::as_str)
}

fn object(kind: &str, params: &Value) -> Option<String> {
    let name = text(params, "name")?;
    Some(
        match text(params, "namespace").filter(|ns| !ns.is_empty()) {
            Some(ns) => format!("{kind} {ns}/{name}"),
            None => format!("{kind} {name}"),
        },
    )
}

/// An action as an imperative sentence.
pub fn action(tool: Tool, params: &Value) -> String {
    let sentence = match tool {
        Tool::DeploymentRollback => object("Deployment", params).map(|d| {
            match params.get("to_revision").and_then(Value::as_u64) {
                Some(rev) => format!("Roll back {d} to revision {rev}"),
                None => format!("Roll back {d} to its previous revision"),
            }
        }),
        Tool::DeploymentRestart => object("Deployment", params)
            .map(|d| format!("Restart {d} (a rolling restart, pod by pod)")),
        Tool::DeploymentScale => object("Deployment", params).and_then(|d| {
            let n = params.get("replicas").and_then(Value::as_u64)?;
            Some(format!(
                "Scale {d} to {n} replica{}",
                if n == 1 { "" } else { "s" }
            ))
        }),
        Tool::DeploymentSetResources => object("Deployment", params).and_then(|d| {
            let container = text(params, "container")?;
            let limit = text(params, "memory_limit")?;
            Some(format!(
                "Raise the memory limit of container {container} in {d} to {limit}"
            ))
        }),
        Tool::PodDelete => {
            object("Pod", params).map(|p| format!("Delete {p} (its controller starts a fresh one)"))
        }
        Tool::NodeCordon => text(params, "name")
            .map(|n| format!("Cordon node {n}: no new pods are scheduled on it")),
        Tool::NodeUncordon => text(params, "name").map(|n| format!("Uncordon node {n}")),
        Tool::CronjobSuspend => object("CronJob", params)
            .map(|c| format!("Suspend {c}: no new runs start until it is resumed")),
        Tool::Notify => Some(match text(params, "message") {
            Some(message) => format!("Tell a human, changing nothing: {message}"),
            None => "Tell a human, changing nothing".to_owned(),
        }),
    };
    line(&sentence.unwrap_or_else(|| format!("{} {}", tool.as_str(), canonical_json(params))))
}

/// A planned check as a sentence of what must hold.
pub fn check(check: &Check) -> String {
    let target = check
        .params
        .get("target")
        .and_then(|t| object(text(t, "kind").unwrap_or("object"), t))
        .unwrap_or_else(|| "the target".to_owned());
    let window = check
        .params
        .get("window_seconds")
        .and_then(Value::as_u64)
        .map(|s| format!(" for {}", duration(s)))
        .unwrap_or_default();
    let timeout = check
        .params
        .get("timeout_seconds")
        .and_then(Value::as_u64)
        .map(|s| format!(" (checked for up to {})", duration(s)))
        .unwrap_or_default();
    let what = match check.check {
        CheckKind::RolloutComplete => format!("The rollout of {target} completes"),
        CheckKind::NoNewRestarts => format!("No container of {target} restarts{window}"),
        CheckKind::PodsReady => format!("The pods of {target} are Ready{window}"),
        CheckKind::ConditionCleared => {
            format!("The condition that opened the incident on {target} is gone")
        }
        CheckKind::NodeCordoned => "The node is cordoned".to_owned(),
        CheckKind::CronjobSuspended => format!("{target} is suspended"),
    };
    line(&format!("{what}{timeout}"))
}

fn duration(seconds: u64) -> String {
    match seconds {
        0..120 => format!("{seconds} s"),
        120..7_200 => format!("{} min", seconds / 60),
        _ => format!("{} h", seconds / 3_600),
    }
}

/// A verdict's checks as a checklist: `results: [{check, passed, observed}]` as the verifier
/// writes them, or `checks: [{check, ok}]`.
pub fn checklist(verdict: &Value) -> Vec<CheckLine> {
    let items = ["results", "checks"]
        .into_iter()
        .find_map(|key| verdict.get(key).and_then(Value::as_array));
    items
        .map(|items| items.iter().map(check_line).collect())
        .unwrap_or_default()
}

fn check_line(item: &Value) -> CheckLine {
    let passed = ["passed", "ok", "healthy"]
        .into_iter()
        .find_map(|key| item.get(key).and_then(Value::as_bool));
    let name = text(item, "check").unwrap_or("check");
    CheckLine {
        passed,
        check: line(&name.replace(['-', '_'], " ")),
        observed: text(item, "observed").map(line).filter(|o| !o.is_empty()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{action, checklist};
    use crate::domain::catalog::Tool;

    #[test]
    fn actions_read_as_sentences_with_their_parameters() {
        let params = json!({"namespace": "shop", "name": "api", "to_revision": 3});
        assert_eq!(
            action(Tool::DeploymentRollback, &params),
            "Roll back Deployment shop/api to revision 3"
        );
        let params = json!({"namespace": "shop", "name": "api", "replicas": 4});
        assert_eq!(
            action(Tool::DeploymentScale, &params),
            "Scale Deployment shop/api to 4 replicas"
        );
    }

    #[test]
    fn an_action_with_unexpected_parameters_still_shows_them() {
        let params = json!({"surprise": true});
        assert_eq!(
            action(Tool::DeploymentScale, &params),
            "deployment.scale {\"surprise\":true}"
        );
    }

    #[test]
    fn a_verdict_becomes_a_checklist_of_what_was_observed() {
        let verdict = json!({"healthy": false, "results": [
            {"check": "rollout-complete", "passed": true, "observed": "3/3 replicas updated"},
            {"check": "no-new-restarts", "passed": false, "observed": "2 restarts in 5 min"},
        ]});
        let lines = checklist(&verdict);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].passed, Some(true));
        assert_eq!(lines[0].check, "rollout complete");
        assert_eq!(lines[1].observed.as_deref(), Some("2 restarts in 5 min"));
    }
}
