//! Building the planted cases for the secrets corpus: recorded fixtures copied into a temp
//! dir with every corpus entry written into every free-text field, plus an alert case; and the
//! checks and engine harness the corpus tests share.
#![allow(dead_code)]

mod engine;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;
use serde_json::{Value, json};

pub use engine::{Capture, run_engine};

/// The recorded cases planted: a Deployment crash loop (pods, ReplicaSets, events, logs), a
/// Job past its backoff limit, a NotReady node.
const FIXTURES: &[&str] = &[
    "payments-api-missing-deploy-env-after-v2-3-1",
    "ledger-migrate-job-backoff-limit-exceeded",
    "node-notready-kubelet-stopped-posting",
];

/// One kind of planted credential.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// What kind of credential this is.
    pub kind: String,
    /// The text carrying it.
    pub text: String,
    /// Substrings of `text` that must never appear in any output.
    pub secrets: Vec<String>,
    /// What a base64 blob in `text` hides, which must not appear either.
    #[serde(default)]
    pub decoded: Vec<String>,
    /// The same credential as separate command-line arguments.
    #[serde(default)]
    pub argv: Vec<String>,
}

pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The planted cases, in a temp dir that lives as long as this.
pub struct Planted {
    corpus: Vec<Entry>,
    cases: Vec<PathBuf>,
    dir: tempfile::TempDir,
}

impl Planted {
    pub fn new() -> Planted {
        let text =
            std::fs::read_to_string(root().join("tests/secrets/corpus.yaml")).expect("corpus");
        let corpus: Vec<Entry> = serde_yaml_ng::from_str(&text).expect("corpus parses");
        let dir = tempfile::tempdir().expect("tempdir");
        let mut cases = Vec::new();
        for name in FIXTURES {
            let case = dir.path().join(name);
            plant_case(
                &root().join("fixtures/incidents").join(name),
                &case,
                &corpus,
            );
            cases.push(case);
        }
        let alert = dir.path().join("payments-api-alert");
        plant_case(
            &root().join("fixtures/incidents").join(FIXTURES[0]),
            &alert,
            &corpus,
        );
        write_alert(&alert, &corpus);
        cases.push(alert);
        Planted { corpus, cases, dir }
    }

    pub fn corpus(&self) -> &[Entry] {
        &self.corpus
    }

    pub fn cases(&self) -> &[PathBuf] {
        &self.cases
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

/// Every corpus entry's text, a line each: what a multi-line field receives.
fn blob(corpus: &[Entry]) -> String {
    corpus
        .iter()
        .map(|e| e.text.as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Fails naming `what` when any planted secret, or anything marked NSLEAK, is in `text`.
pub fn assert_clean(planted: &Planted, what: &str, text: &str) {
    if let Some(at) = text.find("NSLEAK") {
        let from = text[..at]
            .char_indices()
            .rev()
            .nth(80)
            .map_or(0, |(i, _)| i);
        let context: String = text[from..].chars().take(200).collect();
        panic!("a planted secret reached {what}: …{context}…");
    }
    for entry in planted.corpus() {
        for secret in entry.secrets.iter().chain(&entry.decoded) {
            assert!(
                !text.contains(secret.as_str()),
                "{} ({secret}) reached {what}",
                entry.kind
            );
        }
    }
}

fn plant_case(from: &Path, to: &Path, corpus: &[Entry]) {
    std::fs::create_dir_all(to.join("logs")).expect("mkdir");
    std::fs::copy(from.join("case.yaml"), to.join("case.yaml")).expect("case.yaml");
    let objects = std::fs::read_to_string(from.join("objects.yaml")).expect("objects");
    std::fs::write(to.join("objects.yaml"), plant_objects(&objects, corpus)).expect("write");
    for file in std::fs::read_dir(from.join("logs"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let log = std::fs::read_to_string(file.path()).expect("log");
        std::fs::write(
            to.join("logs").join(file.file_name()),
            plant_log(&log, corpus),
        )
        .expect("write log");
    }
    if let Ok(alert) = std::fs::read(from.join("alert.json")) {
        std::fs::write(to.join("alert.json"), alert).expect("alert");
    }
}

/// The log with the corpus as plain lines and as JSON lines (a key inside one JSON string).
fn plant_log(log: &str, corpus: &[Entry]) -> String {
    let mut out = String::from(log);
    for entry in corpus {
        let line = json!({"level": "error", "msg": entry.text});
        out.push_str(&format!("{}\n{line}\n", entry.text));
    }
    out
}

fn plant_objects(objects: &str, corpus: &[Entry]) -> String {
    let blob = blob(corpus);
    let mut docs: Vec<Value> = serde_yaml_ng::Deserializer::from_str(objects)
        .map(|doc| Value::deserialize(doc).expect("object"))
        .filter(|doc| !doc.is_null())
        .collect();
    let mut nodes = Vec::new();
    for doc in &mut docs {
        plant_object(doc, &blob, corpus);
        if let Some(node) = doc.pointer("/spec/nodeName").and_then(Value::as_str) {
            nodes.push(node.to_owned());
        }
    }
    let known: Vec<String> = docs
        .iter()
        .filter(|d| d["kind"] == "Node")
        .filter_map(|d| d["metadata"]["name"].as_str().map(str::to_owned))
        .collect();
    nodes.retain(|n| !known.contains(n));
    nodes.dedup();
    for node in nodes {
        docs.push(
            json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": node},
            "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
            "message": blob}]}}),
        );
    }
    docs.iter()
        .map(|d| serde_yaml_ng::to_string(d).expect("yaml"))
        .collect::<Vec<_>>()
        .join("---\n")
}

fn plant_object(doc: &mut Value, blob: &str, corpus: &[Entry]) {
    let kind = doc["kind"].as_str().unwrap_or_default().to_owned();
    if matches!(
        kind.as_str(),
        "Deployment" | "ReplicaSet" | "StatefulSet" | "Job"
    ) {
        doc["metadata"]["annotations"]["kubernetes.io/change-cause"] = json!(blob);
    }
    if let Some(conditions) = doc
        .pointer_mut("/status/conditions")
        .and_then(Value::as_array_mut)
    {
        for c in conditions {
            c["message"] = json!(blob);
        }
    }
    match kind.as_str() {
        "Pod" => {
            doc["status"]["message"] = json!(blob);
            for list in ["containerStatuses", "initContainerStatuses"] {
                let Some(statuses) = doc["status"][list].as_array_mut() else {
                    continue;
                };
                for s in statuses {
                    for state in ["state", "lastState"] {
                        for shape in ["waiting", "terminated"] {
                            if s[state][shape].is_object() {
                                s[state][shape]["message"] = json!(blob);
                            }
                        }
                    }
                }
            }
            plant_spec(&mut doc["spec"], blob, corpus);
        }
        "Event" => {
            doc["message"] = json!(blob);
            if doc.get("note").is_some() {
                doc["note"] = json!(blob);
            }
        }
        _ => {
            if doc.pointer("/spec/template/spec").is_some() {
                plant_spec(&mut doc["spec"]["template"]["spec"], blob, corpus);
            }
            if doc
                .pointer("/spec/jobTemplate/spec/template/spec")
                .is_some()
            {
                plant_spec(
                    &mut doc["spec"]["jobTemplate"]["spec"]["template"]["spec"],
                    blob,
                    corpus,
                );
            }
        }
    }
}

/// Commands, args, env values and an exec probe of every container.
fn plant_spec(spec: &mut Value, blob: &str, corpus: &[Entry]) {
    let mut args: Vec<String> = corpus.iter().flat_map(|e| e.argv.clone()).collect();
    args.extend(corpus.iter().map(|e| e.text.clone()));
    for list in ["containers", "initContainers"] {
        let Some(containers) = spec[list].as_array_mut() else {
            continue;
        };
        for c in containers {
            c["args"] = json!(args);
            c["command"] = json!(["sh", "-c", blob]);
            c["startupProbe"] = json!({"exec": {"command": ["sh", "-c", blob]}});
            if !c["env"].is_array() {
                c["env"] = json!([]);
            }
            if let Some(env) = c["env"].as_array_mut() {
                env.push(json!({"name": "DB_PASSWORD", "value": "NSLEAKenvPassword"}));
                env.push(json!({"name": "STRIPE_API_KEY", "value": "NSLEAKenvKey"}));
                env.push(json!({"name": "APP_CONFIG", "value": blob}));
            }
        }
    }
}

/// The alert case: Alertmanager fires KubePodCrashLooping for the crash-looping pod, with the
/// corpus in its labels and annotations.
fn write_alert(case: &Path, corpus: &[Entry]) {
    let blob = blob(corpus);
    let alert = json!({"version": "4", "groupKey": "{}:{alertname=\"KubePodCrashLooping\"}",
        "status": "firing", "receiver": "nightshift", "groupLabels": {}, "commonLabels": {},
        "commonAnnotations": {"description": blob}, "externalURL": "http://am:9093",
        "alerts": [{"status": "firing",
            "labels": {"alertname": "KubePodCrashLooping", "namespace": "payments",
                "pod": "payments-api-7d9f8c6b5-x2k4q", "container": "payments-api",
                "severity": "critical", "password": "NSLEAKlabelPassword",
                "note": corpus[0].text},
            "annotations": {"summary": blob, "description": blob,
                "runbook_url": "https://runbooks.example/crash?token=NSLEAKrunbookToken"},
            "startsAt": "2026-11-20T02:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prom/graph", "fingerprint": "f00d"}]});
    std::fs::write(case.join("alert.json"), alert.to_string()).expect("alert.json");
    let file = std::fs::read_to_string(case.join("case.yaml")).expect("case");
    let mut yaml: Value = serde_yaml_ng::from_str(&file).expect("case yaml");
    yaml["signal"] = json!({"alert": "alert.json"});
    yaml["description"] = json!("the crash loop, raised by Alertmanager");
    yaml.as_object_mut().expect("map").remove("expect");
    std::fs::write(
        case.join("case.yaml"),
        serde_yaml_ng::to_string(&yaml).expect("yaml"),
    )
    .expect("write case");
}

/// What the binary printed.
pub struct Out(pub std::process::Output);

impl Out {
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.0.stdout).into_owned()
    }

    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.0.stderr).into_owned()
    }

    pub fn all_text(&self) -> String {
        format!("{}{}", self.stdout_text(), self.stderr_text())
    }
}

impl std::ops::Deref for Out {
    type Target = std::process::Output;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

pub fn nightshift(args: &[&str]) -> Out {
    Out(Command::new(env!("CARGO_BIN_EXE_nightshift"))
        .args(args)
        .current_dir(root())
        .env_remove("NIGHTSHIFT_CONFIG")
        .env("RUST_LOG", "trace")
        .output()
        .expect("run nightshift"))
}
