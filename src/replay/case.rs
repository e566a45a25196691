//! Reading a fixture case directory (DESIGN.md): `case.yaml`, `objects.yaml`, `logs/`,
//! `alert.json`, `metrics/*.json` (Prometheus HTTP API responses, named by query) and
//! `metrics/*.prom` (a pod's own scrape in the text exposition format, named by pod). Both metric
//! forms go through the parsers the live gatherer uses ([`crate::k8s::collect::series`]).
//! Missing optional files are normal; malformed ones are errors that name the file and position.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use serde::Deserialize;
use serde_json::Value;

use crate::alerts::Webhook;
use crate::domain::catalog::Tool;
use crate::domain::evidence::MetricFacts;
use crate::domain::taxonomy::Category;
use crate::k8s::collect::series::{self, SeriesBounds};
use crate::k8s::gather::LogSet;
use crate::k8s::objects::ObjectSet;

/// `case.yaml`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseFile {
    /// What happened.
    pub description: String,
    /// The replay clock.
    pub now: Timestamp,
    /// What raised the incident.
    pub signal: CaseSignal,
    /// What a correct run produces.
    #[serde(default)]
    pub expect: Option<Expect>,
}

/// A Kubernetes object (`kind`, `namespace`, `name`), `alert: alert.json`, or
/// `investigate:` (a person asking about an object).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseSignal {
    /// Object kind.
    pub kind: Option<String>,
    /// Object namespace.
    pub namespace: Option<String>,
    /// Object name.
    pub name: Option<String>,
    /// The alert payload's file name.
    pub alert: Option<String>,
    /// A person asking nightshift to look at an object.
    pub investigate: Option<Investigate>,
}

/// `signal.investigate`: what a person asked nightshift to look at — the same request
/// `nightshift investigate` and `POST /api/v1/investigations` take.
pub use crate::investigate::Request as Investigate;

impl CaseSignal {
    /// What is wrong with the signal's shape, if anything: it must be exactly one of an
    /// object, an alert or an investigation.
    fn problem(&self) -> Option<String> {
        let object = self.kind.is_some() || self.name.is_some();
        let forms = [object, self.alert.is_some(), self.investigate.is_some()];
        if forms.iter().filter(|f| **f).count() != 1 {
            return Some(
                "signal needs exactly one of `kind` and `name`, `alert`, or `investigate`".into(),
            );
        }
        if object && (self.kind.is_none() || self.name.is_none()) {
            return Some("signal needs both `kind` and `name`".into());
        }
        let investigate = self.investigate.as_ref()?;
        if crate::domain::signal::canonical_kind(&investigate.kind).is_none() {
            return Some(format!(
                "investigate: kind `{}` is not one nightshift can look at (Pod, Deployment, \
                 ReplicaSet, StatefulSet, DaemonSet, Job, CronJob, Node, PersistentVolumeClaim)",
                investigate.kind
            ));
        }
        None
    }
}

/// What a correct run produces.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// Primary category.
    pub category: Category,
    /// Contributing categories that must be named.
    #[serde(default)]
    pub contributing: Vec<Category>,
    /// The plan's first mutating action, or notify.
    pub action: Option<Tool>,
    /// Words the summary must mention.
    #[serde(default)]
    pub keywords: Vec<String>,
    /// Words the reason a proposed mutation was refused must mention; the plan must then have
    /// been downgraded to `notify` (an attack case names the fact that stopped it).
    #[serde(default)]
    pub refusal: Vec<String>,
}

/// A loaded case.
#[derive(Debug, Clone)]
pub struct Case {
    /// The directory's name.
    pub name: String,
    /// The directory.
    pub dir: PathBuf,
    /// `case.yaml`.
    pub file: CaseFile,
    /// `objects.yaml`.
    pub objects: ObjectSet,
    /// `logs/`.
    pub logs: LogSet,
    /// `alert.json`, when the signal is an alert.
    pub alert: Option<Webhook>,
    /// `metrics/*.json` and `metrics/*.prom`, with the evidence id each becomes.
    pub metrics: Vec<(String, MetricFacts)>,
}

/// A case that cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct CaseError {
    /// The offending file.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

fn fail(path: &Path, message: impl Into<String>) -> CaseError {
    CaseError {
        path: path.display().to_string(),
        message: message.into(),
    }
}

fn read(path: &Path) -> Result<String, CaseError> {
    std::fs::read_to_string(path).map_err(|e| fail(path, format!("cannot read: {e}")))
}

impl Case {
    /// Loads a case directory.
    pub fn load(dir: &Path) -> Result<Case, CaseError> {
        let case_path = dir.join("case.yaml");
        let file: CaseFile = crate::rules::parse(&case_path, &read(&case_path)?).map_err(|e| {
            fail(
                &case_path,
                format!("{}:{}: {}", e.line, e.column, e.message),
            )
        })?;
        let signal = &file.signal;
        if let Some(problem) = signal.problem() {
            return Err(fail(&case_path, problem));
        }
        let objects_path = dir.join("objects.yaml");
        let objects = if objects_path.exists() {
            ObjectSet::parse(&read(&objects_path)?, &objects_path.display().to_string())
                .map_err(|e| fail(&objects_path, e.to_string()))?
        } else {
            ObjectSet::default()
        };
        let alert = match &signal.alert {
            Some(name) => {
                let path = dir.join(name);
                let bytes =
                    std::fs::read(&path).map_err(|e| fail(&path, format!("cannot read: {e}")))?;
                Some(Webhook::parse(&bytes).map_err(|e| fail(&path, e.to_string()))?)
            }
            None => None,
        };
        let metrics = load_metrics(&dir.join("metrics"), &file_namespace(&file), file.now)?;
        Ok(Case {
            name: dir.file_name().map_or_else(
                || dir.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            ),
            dir: dir.to_owned(),
            file,
            objects,
            logs: load_logs(&dir.join("logs"))?,
            alert,
            metrics,
        })
    }
}

/// `logs/<pod>.<container>[.previous].log`.
fn load_logs(dir: &Path) -> Result<LogSet, CaseError> {
    let mut logs = LogSet::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(logs);
    };
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        let Some(file) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let Some(stem) = file.strip_suffix(".log") else {
            continue;
        };
        let (stem, previous) = match stem.strip_suffix(".previous") {
            Some(s) => (s, true),
            None => (stem, false),
        };
        let Some((pod, container)) = stem.rsplit_once('.') else {
            return Err(fail(
                &path,
                "log file name must be <pod>.<container>[.previous].log",
            ));
        };
        let bytes = std::fs::read(&path).map_err(|e| fail(&path, format!("cannot read: {e}")))?;
        // Logs are bytes; invalid UTF-8 is replaced, not an error.
        logs.insert(
            (pod.to_owned(), container.to_owned(), previous),
            String::from_utf8_lossy(&bytes).into_owned(),
        );
    }
    Ok(logs)
}

/// The namespace a scrape's series are labelled with: the signal's.
fn file_namespace(file: &CaseFile) -> String {
    let signal = &file.signal;
    signal
        .namespace
        .clone()
        .or_else(|| {
            signal
                .investigate
                .as_ref()
                .and_then(|i| i.namespace.clone())
        })
        .unwrap_or_default()
}

/// `metrics/<query>.json` (Prometheus HTTP API responses, vector or matrix) and
/// `metrics/<pod>.prom` (the pod's own scrape, read at the replay clock), with their evidence
/// ids: `metric/<query>` and `metric/<pod>/<family>`.
fn load_metrics(
    dir: &Path,
    namespace: &str,
    now: jiff::Timestamp,
) -> Result<Vec<(String, MetricFacts)>, CaseError> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(out);
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    paths.sort();
    for path in paths {
        let stem = path
            .file_stem()
            .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
        match path.extension().and_then(|e| e.to_str()) {
            Some("json") => {
                let text = read(&path)?;
                let value: Value = serde_json::from_str(&text)
                    .map_err(|e| fail(&path, format!("not JSON: {e}")))?;
                let facts = metric_facts(&stem, &value).map_err(|m| fail(&path, m))?;
                out.push((format!("metric/{stem}"), facts));
            }
            Some("prom") => {
                let text = read(&path)?;
                let target = BTreeMap::from([
                    ("namespace".to_owned(), namespace.to_owned()),
                    ("pod".to_owned(), stem.clone()),
                ]);
                let families = series::from_scrape(&text, &target, now, SeriesBounds::default())
                    .map_err(|m| fail(&path, m))?;
                for facts in families {
                    out.push((format!("metric/{stem}/{}", facts.query), facts));
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

/// A Prometheus API response as facts (the live gatherer's parser, default bounds).
pub fn metric_facts(query: &str, response: &Value) -> Result<MetricFacts, String> {
    series::from_api_response(query, response, SeriesBounds::default())
}
