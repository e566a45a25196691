//! Kubernetes Events on every object nightshift acts on, so `kubectl describe` shows what it did,
//! why (the rule, the plan, who authorized it) and the incident id. Recording is best effort: a
//! failure is logged and counted (`nightshift_kubernetes_events_total{outcome="failed"}`), never
//! fails the action. Events are created in the object's namespace with the per-namespace role
//! `nightshift-actions`; a Node's event goes to `default`, and fails harmlessly where that
//! namespace is not bound.

use std::time::Duration;

use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};

use super::{Metrics, Outcome};
use crate::domain::catalog::Tool;
use crate::domain::plan::Action;

/// The reporting controller named on every Event.
pub const CONTROLLER: &str = "nightshift";

/// How long one Event may take before it is given up.
const TIMEOUT: Duration = Duration::from_secs(5);

/// What an Event says about one action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionEvent {
    /// The incident.
    pub incident: String,
    /// The rule that opened it.
    pub rule: String,
    /// The first 12 characters of the plan's hash.
    pub plan: String,
    /// Who or what authorized the plan.
    pub authorized_by: String,
    /// Whether the action succeeded.
    pub ok: bool,
}

/// Records Events through the cluster's API; cheap to clone.
#[derive(Clone)]
pub struct EventRecorder {
    recorder: Recorder,
    metrics: Metrics,
}

impl EventRecorder {
    /// A recorder over `client`, reporting as [`CONTROLLER`], counting into `metrics`.
    pub fn new(client: kube::Client, metrics: Metrics) -> EventRecorder {
        let reporter = Reporter {
            controller: CONTROLLER.to_owned(),
            instance: std::env::var("POD_NAME").ok(),
        };
        EventRecorder {
            recorder: Recorder::new(client, reporter),
            metrics,
        }
    }

    /// Records what `action` did on its object (nothing for `notify`, which touches none).
    /// Never fails: a refused or slow Event is logged at warn and counted.
    pub async fn acted(&self, action: &Action, what: &ActionEvent) {
        let Some(object) = reference(action) else {
            return;
        };
        let event = event(action.tool, what);
        let published = tokio::time::timeout(TIMEOUT, self.recorder.publish(&event, &object)).await;
        let error = match published {
            Ok(Ok(())) => {
                self.metrics.kubernetes_event(Outcome::Ok);
                return;
            }
            Ok(Err(err)) => err.to_string(),
            Err(_) => format!("no answer within {}s", TIMEOUT.as_secs()),
        };
        self.metrics.kubernetes_event(Outcome::Failed);
        tracing::warn!(
            incident = %what.incident,
            kind = object.kind.as_deref().unwrap_or(""),
            namespace = object.namespace.as_deref().unwrap_or("default"),
            name = object.name.as_deref().unwrap_or(""),
            error = %crate::domain::redact::text(&error),
            "could not record a Kubernetes Event on the object acted on"
        );
    }
}

/// The object `action` changes, as an Event's `regarding`.
pub fn reference(action: &Action) -> Option<ObjectReference> {
    let (api_version, kind) = match action.tool {
        Tool::DeploymentRollback
        | Tool::DeploymentRestart
        | Tool::DeploymentScale
        | Tool::DeploymentSetResources => ("apps/v1", "Deployment"),
        Tool::PodDelete => ("v1", "Pod"),
        Tool::NodeCordon | Tool::NodeUncordon => ("v1", "Node"),
        Tool::CronjobSuspend => ("batch/v1", "CronJob"),
        Tool::Notify => return None,
    };
    let param = |key: &str| action.params.get(key).and_then(|v| v.as_str());
    Some(ObjectReference {
        api_version: Some(api_version.to_owned()),
        kind: Some(kind.to_owned()),
        name: Some(param("name")?.to_owned()),
        namespace: param("namespace").map(str::to_owned),
        ..ObjectReference::default()
    })
}

/// The Event: `Normal` `NightshiftActed` or `Warning` `NightshiftActionFailed`, the tool as the
/// action, and a note made only of structured fields (no executor output, no message).
pub fn event(tool: Tool, what: &ActionEvent) -> Event {
    let (type_, reason, result) = if what.ok {
        (EventType::Normal, "NightshiftActed", "succeeded")
    } else {
        (EventType::Warning, "NightshiftActionFailed", "failed")
    };
    Event {
        type_,
        reason: reason.to_owned(),
        note: Some(format!(
            "nightshift {} {result} for incident {} (rule {}, plan {}, authorized by {}); \
             `nightshift show {}` tells the whole story",
            tool.as_str(),
            what.incident,
            what.rule,
            what.plan,
            what.authorized_by,
            what.incident,
        )),
        action: action_name(tool),
        secondary: None,
    }
}

/// `deployment.rollback` as `DeploymentRollback`.
fn action_name(tool: Tool) -> String {
    tool.as_str()
        .split(['.', '_'])
        .map(|word| {
            let mut chars = word.chars();
            chars.next().map_or(String::new(), |first| {
                first.to_ascii_uppercase().to_string() + chars.as_str()
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{ActionEvent, action_name, event, reference};
    use crate::domain::catalog::Tool;
    use crate::domain::plan::Action;
    use serde_json::json;

    fn what(ok: bool) -> ActionEvent {
        ActionEvent {
            incident: "inc-1".into(),
            rule: "crash-loop".into(),
            plan: "3f2a9c1e0b7d".into(),
            authorized_by: "alice".into(),
            ok,
        }
    }

    #[test]
    fn every_tool_that_touches_an_object_names_it_and_notify_names_none() {
        for tool in Tool::ALL {
            let params = json!({"namespace": "shop", "name": "api"});
            let object = reference(&Action { tool, params });
            assert_eq!(object.is_none(), tool == Tool::Notify, "{tool}");
        }
        let cordon = Action {
            tool: Tool::NodeCordon,
            params: json!({"name": "node-1"}),
        };
        let node = reference(&cordon).expect("a node");
        assert_eq!((node.kind.as_deref(), node.namespace), (Some("Node"), None));
    }

    #[test]
    fn the_event_says_what_was_done_why_and_the_incident() {
        let done = event(Tool::DeploymentRollback, &what(true));
        assert_eq!(done.reason, "NightshiftActed");
        assert_eq!(done.action, "DeploymentRollback");
        let note = done.note.expect("note");
        for part in [
            "deployment.rollback succeeded",
            "incident inc-1",
            "rule crash-loop",
            "plan 3f2a9c1e0b7d",
            "alice",
        ] {
            assert!(note.contains(part), "{part} in {note}");
        }
        let failed = event(Tool::PodDelete, &what(false));
        assert_eq!(failed.reason, "NightshiftActionFailed");
        assert_eq!(
            action_name(Tool::DeploymentSetResources),
            "DeploymentSetResources"
        );
    }
}
