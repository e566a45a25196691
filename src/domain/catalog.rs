//! The action catalog: the only things the executor can do, each with the JSON Schema its
//! parameters must satisfy. Untrusted text (logs, alerts, LLM output) can only ever select from
//! this list; it can never add to it.

use std::sync::OnceLock;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// A catalog tool.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
pub enum Tool {
    /// Like `kubectl rollout undo`.
    #[serde(rename = "deployment.rollback")]
    DeploymentRollback,
    /// Like `kubectl rollout restart`.
    #[serde(rename = "deployment.restart")]
    DeploymentRestart,
    /// Change replicas, bounded by policy.
    #[serde(rename = "deployment.scale")]
    DeploymentScale,
    /// Change a container's limits, bounded growth per action.
    #[serde(rename = "deployment.set_resources")]
    DeploymentSetResources,
    /// Delete one pod.
    #[serde(rename = "pod.delete")]
    PodDelete,
    /// Mark a node unschedulable.
    #[serde(rename = "node.cordon")]
    NodeCordon,
    /// Mark a node schedulable.
    #[serde(rename = "node.uncordon")]
    NodeUncordon,
    /// Suspend a CronJob.
    #[serde(rename = "cronjob.suspend")]
    CronjobSuspend,
    /// No mutation: a human must look.
    #[serde(rename = "notify")]
    Notify,
}

impl Tool {
    /// Every tool.
    pub const ALL: [Tool; 9] = [
        Tool::DeploymentRollback,
        Tool::DeploymentRestart,
        Tool::DeploymentScale,
        Tool::DeploymentSetResources,
        Tool::PodDelete,
        Tool::NodeCordon,
        Tool::NodeUncordon,
        Tool::CronjobSuspend,
        Tool::Notify,
    ];

    /// The catalog name (`deployment.rollback`).
    pub fn as_str(self) -> &'static str {
        match self {
            Tool::DeploymentRollback => "deployment.rollback",
            Tool::DeploymentRestart => "deployment.restart",
            Tool::DeploymentScale => "deployment.scale",
            Tool::DeploymentSetResources => "deployment.set_resources",
            Tool::PodDelete => "pod.delete",
            Tool::NodeCordon => "node.cordon",
            Tool::NodeUncordon => "node.uncordon",
            Tool::CronjobSuspend => "cronjob.suspend",
            Tool::Notify => "notify",
        }
    }

    /// Whether the tool changes the cluster.
    pub fn is_mutating(self) -> bool {
        self != Tool::Notify
    }

    /// Whether the tool acts on a cluster-scoped object (no namespace parameter).
    pub fn is_cluster_scoped(self) -> bool {
        matches!(self, Tool::NodeCordon | Tool::NodeUncordon)
    }

    /// The JSON Schema of the tool's parameters.
    pub fn schema(self) -> Value {
        let name = json!({"type": "string", "minLength": 1, "maxLength": 253,
            "pattern": "^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"});
        let namespace = json!({"type": "string", "minLength": 1, "maxLength": 63,
            "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"});
        let quantity =
            json!({"type": "string", "pattern": "^[0-9]+(\\.[0-9]+)?(m|Ki|Mi|Gi|Ti|k|M|G|T)?$"});
        let object = |props: Value, required: &[&str]| {
            json!({"type": "object", "additionalProperties": false,
                "properties": props, "required": required})
        };
        match self {
            Tool::DeploymentRollback => object(
                json!({"namespace": namespace, "name": name,
                    "to_revision": {"type": "integer", "minimum": 1}}),
                &["namespace", "name"],
            ),
            Tool::DeploymentRestart | Tool::PodDelete | Tool::CronjobSuspend => object(
                json!({"namespace": namespace, "name": name}),
                &["namespace", "name"],
            ),
            Tool::DeploymentScale => object(
                json!({"namespace": namespace, "name": name,
                    "replicas": {"type": "integer", "minimum": 0}}),
                &["namespace", "name", "replicas"],
            ),
            Tool::DeploymentSetResources => json!({
                "type": "object", "additionalProperties": false,
                "properties": {"namespace": namespace, "name": name, "container": name,
                    "memory_limit": quantity, "cpu_limit": quantity},
                "required": ["namespace", "name", "container"],
                "anyOf": [{"required": ["memory_limit"]}, {"required": ["cpu_limit"]}]
            }),
            Tool::NodeCordon | Tool::NodeUncordon => object(json!({"name": name}), &["name"]),
            Tool::Notify => object(
                json!({"message": {"type": "string", "minLength": 1, "maxLength": 4000}}),
                &["message"],
            ),
        }
    }
}

impl std::fmt::Display for Tool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Tool {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Tool::ALL
            .into_iter()
            .find(|tool| tool.as_str() == s)
            .ok_or_else(|| format!("unknown tool `{s}`"))
    }
}

fn validators() -> &'static [(Tool, jsonschema::Validator)] {
    static VALIDATORS: OnceLock<Vec<(Tool, jsonschema::Validator)>> = OnceLock::new();
    VALIDATORS.get_or_init(|| {
        Tool::ALL
            .into_iter()
            .map(|tool| {
                // The schemas are literals above; a failure here is a programming error that
                // the catalog tests catch.
                let validator = jsonschema::validator_for(&tool.schema())
                    .unwrap_or_else(|err| panic!("schema of {tool} is invalid: {err}"));
                (tool, validator)
            })
            .collect()
    })
}

/// Validates `params` against the tool's schema; returns every violation, each naming its path.
pub fn validate_params(tool: Tool, params: &Value) -> Result<(), Vec<String>> {
    let Some((_, validator)) = validators().iter().find(|(t, _)| *t == tool) else {
        return Err(vec![format!("no schema for {tool}")]);
    };
    let errors: Vec<String> = validator
        .iter_errors(params)
        .map(|err| {
            let path = err.instance_path().to_string();
            let at = if path.is_empty() {
                "params".to_owned()
            } else {
                format!("params{path}")
            };
            format!("{at}: {err}")
        })
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{Tool, validate_params};

    #[test]
    fn every_tool_has_a_valid_schema_and_round_trips_its_name() {
        for tool in Tool::ALL {
            assert!(jsonschema::validator_for(&tool.schema()).is_ok(), "{tool}");
            assert_eq!(tool.as_str().parse::<Tool>(), Ok(tool));
            let json = serde_json::to_string(&tool).expect("serialize");
            assert_eq!(json, format!("\"{tool}\""));
        }
    }

    #[test]
    fn a_rollback_with_namespace_and_name_is_valid() {
        let params = json!({"namespace": "shop", "name": "payments-api"});
        assert_eq!(validate_params(Tool::DeploymentRollback, &params), Ok(()));
    }

    #[test]
    fn an_extra_parameter_is_refused() {
        let params = json!({"namespace": "shop", "name": "api", "force": true});
        let errors = validate_params(Tool::DeploymentRestart, &params).expect_err("refused");
        assert!(errors[0].contains("force"), "{errors:?}");
    }

    #[test]
    fn a_missing_or_malformed_parameter_is_refused_with_its_path() {
        assert!(
            validate_params(
                Tool::DeploymentScale,
                &json!({"namespace": "a", "name": "b"})
            )
            .is_err()
        );
        let errors = validate_params(
            Tool::DeploymentScale,
            &json!({"namespace": "a", "name": "b", "replicas": -1}),
        )
        .expect_err("refused");
        assert!(errors[0].starts_with("params/replicas"), "{errors:?}");
        let bad_name = json!({"namespace": "shop", "name": "../../etc"});
        assert!(validate_params(Tool::PodDelete, &bad_name).is_err());
    }

    #[test]
    fn set_resources_needs_at_least_one_limit_and_a_real_quantity() {
        let base = json!({"namespace": "a", "name": "b", "container": "c"});
        assert!(validate_params(Tool::DeploymentSetResources, &base).is_err());
        let ok = json!({"namespace": "a", "name": "b", "container": "c", "memory_limit": "768Mi"});
        assert_eq!(validate_params(Tool::DeploymentSetResources, &ok), Ok(()));
        let bad = json!({"namespace": "a", "name": "b", "container": "c", "memory_limit": "lots"});
        assert!(validate_params(Tool::DeploymentSetResources, &bad).is_err());
    }

    #[test]
    fn an_unknown_tool_name_does_not_parse() {
        assert!("deployment.delete".parse::<Tool>().is_err());
        assert!(serde_json::from_str::<Tool>("\"shell.exec\"").is_err());
    }
}
