//! Scenarios: a starting cluster (nodes, inline objects, `kubectl get -o yaml` files), an
//! image catalogue deciding how containers behave, simulation settings, and a timeline of
//! changes at offsets. The format is documented in `docs/scenarios.md`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), nightshift::sim::scenario::ScenarioError> {
//! use nightshift::sim::{SimCluster, scenario::Scenario};
//! let scenario = Scenario::load("scenarios/demo.yaml")?;
//! let cluster = SimCluster::new();
//! scenario.install(&cluster)?;
//! let shutdown = tokio_util::sync::CancellationToken::new();
//! let running = scenario.start(&cluster, shutdown.clone());
//! # Ok(()) }
//! ```

pub mod file;
mod generate;
pub mod timeline;

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::controllers::nodes::{node_object, set_not_ready};
use super::controllers::{self, Settings};
use super::{SimCluster, SimError};
pub use file::{Action, ScenarioFile, Step};
pub use timeline::{ActionError, Timeline};

/// A scenario that could not be loaded or installed; every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("{path}: cannot read it: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The YAML is malformed or does not fit the format (with line and column).
    #[error("{path}: {message}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What was wrong and where.
        message: String,
    },
    /// The objects of the file (or of a file it names) were refused.
    #[error("{path}: {source}")]
    Objects {
        /// The file holding the objects.
        path: PathBuf,
        /// Why.
        #[source]
        source: Box<SimError>,
    },
}

impl ScenarioError {
    /// A bounded label for metrics and logs.
    pub fn metric_label(&self) -> &'static str {
        match self {
            ScenarioError::Read { .. } => "read",
            ScenarioError::Format { .. } => "format",
            ScenarioError::Objects { .. } => "objects",
        }
    }
}

/// A loaded scenario.
#[derive(Debug, Clone)]
pub struct Scenario {
    path: PathBuf,
    description: Option<String>,
    settings: Settings,
    nodes: Vec<file::NodeSpec>,
    objects: Vec<(PathBuf, String)>,
    inline: Vec<Value>,
    timeline: Vec<Step>,
}

/// Whether a YAML text holds plain Kubernetes objects (its first document has `kind`)
/// rather than a scenario.
pub fn is_object_yaml(text: &str) -> bool {
    serde_yaml_ng::Deserializer::from_str(text)
        .filter_map(|doc| Value::deserialize(doc).ok())
        .find(|v| !v.is_null())
        .is_some_and(|v| v.get("kind").is_some() || v.get("apiVersion").is_some())
}

impl Scenario {
    /// Reads and checks a scenario file and the object files it names.
    pub fn load(path: impl AsRef<Path>) -> Result<Scenario, ScenarioError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Scenario::from_yaml(&text, path)
    }

    /// Parses a scenario text; `path` names it in errors and anchors relative `files:`.
    pub fn from_yaml(text: &str, path: &Path) -> Result<Scenario, ScenarioError> {
        let format = |message: String| ScenarioError::Format {
            path: path.to_path_buf(),
            message,
        };
        let parsed: ScenarioFile =
            serde_yaml_ng::from_str(text).map_err(|e| format(e.to_string()))?;
        Scenario::from_file(parsed, path)
    }

    fn from_file(parsed: ScenarioFile, path: &Path) -> Result<Scenario, ScenarioError> {
        let format = |message: String| ScenarioError::Format {
            path: path.to_path_buf(),
            message,
        };
        let mut settings = parsed.settings;
        for (reference, entry) in parsed.images {
            settings
                .images
                .insert(&reference, entry.0)
                .map_err(|e| format(format!("images: {reference}: {e}")))?;
        }
        let dir = path.parent().unwrap_or(Path::new("."));
        let mut objects = Vec::new();
        for file in parsed.files {
            let full = dir.join(&file);
            let text = std::fs::read_to_string(&full).map_err(|source| ScenarioError::Read {
                path: full.clone(),
                source,
            })?;
            objects.push((full, text));
        }
        let scenario = Scenario {
            path: path.to_path_buf(),
            description: parsed.description,
            settings,
            nodes: parsed.nodes,
            objects,
            inline: parsed.objects,
            timeline: parsed.timeline,
        };
        scenario.check_nodes()?;
        Ok(scenario)
    }

    fn check_nodes(&self) -> Result<(), ScenarioError> {
        let mut seen = std::collections::HashSet::new();
        for node in &self.nodes {
            if !seen.insert(node.name.as_str()) {
                return Err(ScenarioError::Format {
                    path: self.path.clone(),
                    message: format!("nodes: {} is listed twice", node.name),
                });
            }
        }
        Ok(())
    }

    /// The file the scenario came from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Its description.
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    /// Settings for [`controllers::Controllers`] and [`controllers::spawn`], images included.
    pub fn settings(&self) -> Settings {
        self.settings.clone()
    }

    /// The timeline, for running or stepping manually.
    pub fn timeline(&self) -> Timeline {
        Timeline::new(self.timeline.clone())
    }

    /// Writes the starting cluster: nodes, object files, inline objects (status, uids and
    /// timestamps kept as given); a default Ready node when the scenario has none.
    pub fn install(&self, cluster: &SimCluster) -> Result<(), ScenarioError> {
        let objects_error = |path: &Path, source: SimError| ScenarioError::Objects {
            path: path.to_path_buf(),
            source: Box::new(source),
        };
        for (i, spec) in self.nodes.iter().enumerate() {
            cluster
                .apply(node(spec, i + 1, cluster.now()))
                .map_err(|e| objects_error(&self.path, e.into()))?;
        }
        for (path, text) in &self.objects {
            cluster
                .apply_yaml(text)
                .map_err(|e| objects_error(path, e))?;
        }
        for object in &self.inline {
            cluster
                .apply(object.clone())
                .map_err(|e| objects_error(&self.path, e.into()))?;
        }
        if cluster.list("nodes", None).is_empty() {
            cluster
                .apply(node_object("sim-worker-1", "8", "32Gi", 1))
                .map_err(|e| objects_error(&self.path, e.into()))?;
        }
        Ok(())
    }

    /// Runs the timeline against `cluster` from now until done or cancelled.
    pub async fn run_timeline(&self, cluster: SimCluster, shutdown: CancellationToken) {
        self.timeline().run(cluster, shutdown).await;
    }

    /// Spawns the controllers and the timeline (install first).
    pub fn start(&self, cluster: &SimCluster, shutdown: CancellationToken) -> Running {
        let controllers = controllers::spawn(cluster.clone(), self.settings(), shutdown.clone());
        let timeline = tokio::spawn(self.timeline().run(cluster.clone(), shutdown));
        Running {
            controllers,
            timeline,
        }
    }

    /// A benchmark scenario: `deployments` healthy Deployments of `replicas` replicas each
    /// in namespace `bench`, on enough nodes to hold them.
    pub fn generate(deployments: usize, replicas: usize) -> Scenario {
        generate::generate(deployments, replicas)
    }
}

/// The tasks of a started scenario.
pub struct Running {
    /// The controllers' loop.
    pub controllers: JoinHandle<()>,
    /// The timeline runner (ends after its last step).
    pub timeline: JoinHandle<()>,
}

fn node(spec: &file::NodeSpec, index: usize, now: jiff::Timestamp) -> Value {
    let mut node = node_object(&spec.name, &spec.cpu, &spec.memory, index);
    for (k, v) in &spec.labels {
        node["metadata"]["labels"][k] = Value::String(v.clone());
    }
    if !spec.taints.is_empty() {
        node["spec"]["taints"] = Value::Array(spec.taints.clone());
    }
    if spec.unschedulable {
        node["spec"]["unschedulable"] = Value::Bool(true);
    }
    if !spec.ready {
        set_not_ready(&mut node, now);
    }
    node
}
