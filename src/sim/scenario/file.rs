//! The scenario file format (see `docs/scenarios.md`): typed, with unknown fields refused,
//! so a typo is reported with its line and column instead of being ignored.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::sim::controllers::durations;
use crate::sim::controllers::settings::{ImageSpec, Settings, deserialize_image};

/// A whole scenario file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    /// What the scenario shows.
    #[serde(default)]
    pub description: Option<String>,
    /// Timings of the simulation.
    #[serde(default)]
    pub settings: Settings,
    /// Nodes, in short form.
    #[serde(default)]
    pub nodes: Vec<NodeSpec>,
    /// Multi-document YAML files of objects (as `kubectl get -o yaml` prints them),
    /// relative to the scenario file.
    #[serde(default)]
    pub files: Vec<PathBuf>,
    /// Objects written inline.
    #[serde(default)]
    pub objects: Vec<Value>,
    /// Image reference (or glob pattern) → behaviour.
    #[serde(default)]
    pub images: BTreeMap<String, ImageEntry>,
    /// Changes made while the scenario runs.
    #[serde(default)]
    pub timeline: Vec<Step>,
}

/// One `images:` value: a behaviour name or a mapping.
#[derive(Debug, Clone, Deserialize)]
pub struct ImageEntry(#[serde(deserialize_with = "deserialize_image")] pub ImageSpec);

fn default_cpu() -> String {
    "4".into()
}

fn default_memory() -> String {
    "16Gi".into()
}

fn yes() -> bool {
    true
}

/// A node in short form.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSpec {
    /// The node name.
    pub name: String,
    /// Allocatable CPU.
    #[serde(default = "default_cpu")]
    pub cpu: String,
    /// Allocatable memory.
    #[serde(default = "default_memory")]
    pub memory: String,
    /// Extra labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Taints (`{key, value, effect}`).
    #[serde(default)]
    pub taints: Vec<Value>,
    /// Cordoned.
    #[serde(default)]
    pub unschedulable: bool,
    /// Ready (false: the node starts lost, its conditions Unknown).
    #[serde(default = "yes")]
    pub ready: bool,
}

fn default_namespace() -> String {
    "default".into()
}

/// `set-image`: what `kubectl set image deployment/D C=IMAGE` does.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetImage {
    /// The Deployment.
    pub deployment: String,
    /// Its namespace.
    #[serde(default = "default_namespace")]
    pub namespace: String,
    /// The container (optional when there is one).
    #[serde(default)]
    pub container: Option<String>,
    /// The new image.
    pub image: String,
    /// A `kubernetes.io/change-cause` annotation to set with it.
    #[serde(default)]
    pub change_cause: Option<String>,
}

/// `set-env`: what `kubectl set env deployment/D -c C K=V K2-` does (null removes).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetEnv {
    /// The Deployment.
    pub deployment: String,
    /// Its namespace.
    #[serde(default = "default_namespace")]
    pub namespace: String,
    /// The container (optional when there is one).
    #[serde(default)]
    pub container: Option<String>,
    /// Variables to set, or with `null` to remove.
    pub env: BTreeMap<String, Option<String>>,
}

/// `scale`: what `kubectl scale deployment/D --replicas=N` does.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scale {
    /// The Deployment.
    pub deployment: String,
    /// Its namespace.
    #[serde(default = "default_namespace")]
    pub namespace: String,
    /// The replica count.
    pub replicas: i64,
}

/// A node condition its kubelet reports when it runs short of something.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Pressure {
    /// Memory is short (evictions begin).
    MemoryPressure,
    /// The node's filesystems are short of space or inodes.
    DiskPressure,
    /// The node is short of process IDs.
    #[serde(rename = "PIDPressure")]
    PidPressure,
}

impl Pressure {
    /// The condition type as the kubelet writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Pressure::MemoryPressure => "MemoryPressure",
            Pressure::DiskPressure => "DiskPressure",
            Pressure::PidPressure => "PIDPressure",
        }
    }
}

/// `node-pressure`: the node's kubelet reports a pressure condition.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodePressure {
    /// The node.
    pub node: String,
    /// Which condition turns True.
    pub condition: Pressure,
}

/// `delete`: what `kubectl delete KIND NAME -n NS` does.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Delete {
    /// The type (`pod`, `deployment`, `configmap`, ...).
    pub kind: String,
    /// The namespace ("" or absent for cluster-scoped types uses `default`, ignored there).
    #[serde(default = "default_namespace")]
    pub namespace: String,
    /// The name.
    pub name: String,
}

/// What a timeline step does.
#[derive(Debug, Clone)]
pub enum Action {
    /// Change a container image of a Deployment.
    SetImage(SetImage),
    /// Set or remove environment variables of a Deployment's container.
    SetEnv(SetEnv),
    /// Change a Deployment's replica count.
    Scale(Scale),
    /// Create or update objects (as `kubectl apply`).
    Apply(Vec<Value>),
    /// Delete an object.
    Delete(Delete),
    /// The node's kubelet stops posting: conditions Unknown.
    NodeNotReady(String),
    /// The node's kubelet posts Ready again.
    NodeReady(String),
    /// The node's kubelet reports memory, disk or PID pressure.
    NodePressure(NodePressure),
}

/// One timeline entry: an offset from the start and an action.
#[derive(Debug, Clone)]
pub struct Step {
    /// When, from the start of the timeline.
    pub at: Duration,
    /// What.
    pub action: Action,
}

const STEP_FIELDS: &[&str] = &[
    "at",
    "set-image",
    "set-env",
    "scale",
    "apply",
    "delete",
    "node-not-ready",
    "node-ready",
    "node-pressure",
];

#[derive(Deserialize)]
struct Offset(#[serde(deserialize_with = "durations::deserialize")] Duration);

impl<'de> Deserialize<'de> for Step {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(StepVisitor)
    }
}

struct StepVisitor;

impl<'de> Visitor<'de> for StepVisitor {
    type Value = Step;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a timeline step: `at:` and one action (set-image, set-env, scale, apply, delete, node-not-ready, node-ready, node-pressure)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Step, A::Error> {
        let (mut at, mut action): (Option<Duration>, Option<(String, Action)>) = (None, None);
        while let Some(key) = map.next_key::<String>()? {
            let next = match key.as_str() {
                "at" => {
                    at = Some(map.next_value::<Offset>()?.0);
                    continue;
                }
                "set-image" => Action::SetImage(map.next_value()?),
                "set-env" => Action::SetEnv(map.next_value()?),
                "scale" => Action::Scale(map.next_value()?),
                "apply" => Action::Apply(map.next_value()?),
                "delete" => Action::Delete(map.next_value()?),
                "node-not-ready" => Action::NodeNotReady(map.next_value()?),
                "node-ready" => Action::NodeReady(map.next_value()?),
                "node-pressure" => Action::NodePressure(map.next_value()?),
                other => return Err(de::Error::unknown_field(other, STEP_FIELDS)),
            };
            if let Some((first, _)) = &action {
                return Err(de::Error::custom(format!(
                    "a timeline step has one action, this one has `{first}` and `{key}`"
                )));
            }
            action = Some((key, next));
        }
        let at = at.ok_or_else(|| de::Error::missing_field("at"))?;
        let (_, action) = action.ok_or_else(|| {
            de::Error::custom("a timeline step needs an action: set-image, set-env, scale, apply, delete, node-not-ready, node-ready or node-pressure")
        })?;
        Ok(Step { at, action })
    }
}
