//! A simulated cluster stepped deterministically with a controllable clock, for the
//! controller and kubelet model tests.
#![allow(dead_code)]

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use nightshift::sim::controllers::Controllers;
use nightshift::sim::logs::LogQuery;
use nightshift::sim::resources;
use nightshift::sim::scenario::{Scenario, timeline};
use nightshift::sim::{SimCluster, SimOptions, UpdateMode, WriteOptions};
use serde_json::Value;

/// A cluster, its controllers and the clock both read.
pub struct World {
    pub cluster: SimCluster,
    pub controllers: Controllers,
    pub clock: Arc<Mutex<Timestamp>>,
    pub timeline: timeline::Timeline,
    pub elapsed: Duration,
}

pub const BASE: &str = "
settings: {backoff_base: 10s, backoff_max: 300s, pull_duration: 1s, crash_after: 5s, seed: 7}
nodes:
  - {name: worker-1, cpu: '4', memory: 8Gi}
  - {name: worker-2, cpu: '4', memory: 8Gi}
  - {name: worker-3, cpu: '4', memory: 8Gi}
images:
  shop/api:v1: {behaviour: healthy, runtime: jvm}
  shop/api:v2: {behaviour: crash, runtime: jvm, after: 5s, message: missing required environment variable PAYMENT_GATEWAY_URL}
  shop/api:oom: {behaviour: oom, after: 3s}
  shop/api:slow: not-ready
objects:
  - apiVersion: apps/v1
    kind: Deployment
    metadata: {name: api, namespace: shop, labels: {app: api}}
    spec:
      replicas: 3
      selector: {matchLabels: {app: api}}
      template:
        metadata: {labels: {app: api}}
        spec:
          containers:
            - name: api
              image: shop/api:v1
              resources: {requests: {cpu: 100m, memory: 256Mi}, limits: {memory: 512Mi}}
";

pub fn world(yaml: &str) -> World {
    let start: Timestamp = "2026-11-20T02:00:00Z".parse().expect("time");
    let clock = Arc::new(Mutex::new(start));
    let read = clock.clone();
    let options = SimOptions {
        clock: Arc::new(move || *read.lock().expect("clock")),
        ..SimOptions::default()
    };
    let cluster = SimCluster::with_options(options);
    let scenario = Scenario::from_yaml(yaml, Path::new("test.yaml")).expect("scenario parses");
    scenario.install(&cluster).expect("scenario installs");
    let controllers = Controllers::new(cluster.clone(), scenario.settings());
    let timeline = scenario.timeline();
    let mut w = World {
        cluster,
        controllers,
        clock,
        timeline,
        elapsed: Duration::ZERO,
    };
    w.step();
    w
}

impl World {
    pub fn now(&self) -> Timestamp {
        *self.clock.lock().expect("clock")
    }

    pub fn step(&mut self) {
        let now = self.now();
        self.controllers.step(now);
    }

    /// Advances the clock in 500ms passes for `seconds`, running due timeline steps.
    pub fn run(&mut self, seconds: u64) {
        for _ in 0..seconds * 2 {
            {
                let mut clock = self.clock.lock().expect("clock");
                *clock += SignedDuration::from_millis(500);
            }
            self.elapsed += Duration::from_millis(500);
            for result in self.timeline.apply_due(&self.cluster, self.elapsed) {
                result.expect("timeline step applies");
            }
            self.step();
        }
    }

    pub fn deployment(&self) -> Value {
        self.cluster
            .get("deploy", "shop", "api")
            .expect("deployment")
    }

    pub fn replicasets(&self) -> Vec<Value> {
        let mut rss = self.cluster.list("rs", Some("shop"));
        rss.sort_by_key(revision);
        rss
    }

    pub fn pods_of(&self, rs: &Value) -> Vec<Value> {
        let uid = rs["metadata"]["uid"].clone();
        self.cluster
            .list("pods", Some("shop"))
            .into_iter()
            .filter(|p| p["metadata"]["ownerReferences"][0]["uid"] == uid)
            .collect()
    }

    pub fn events(&self, reason: &str) -> Vec<Value> {
        let mut all = self.cluster.list("events", Some("shop"));
        all.extend(self.cluster.list("events", Some("default")));
        all.into_iter().filter(|e| e["reason"] == reason).collect()
    }

    /// Runs one timeline action now (what the scenario's timeline would do).
    pub fn act(&self, yaml: &str) {
        let step: nightshift::sim::scenario::Step =
            serde_yaml_ng::from_str(&format!("at: 0s\n{yaml}")).expect("step parses");
        timeline::apply(&self.cluster, &step.action, self.now()).expect("action applies");
    }

    /// What `kubectl rollout undo` does: the Deployment's template becomes the template of
    /// the ReplicaSet at `revision`, minus `pod-template-hash` (a main-resource write).
    pub fn undo_to(&self, revision_wanted: i64) {
        let rs = self
            .replicasets()
            .into_iter()
            .find(|rs| revision(rs) == revision_wanted)
            .expect("revision");
        let mut template = rs["spec"]["template"].clone();
        template["metadata"]["labels"]
            .as_object_mut()
            .expect("labels")
            .remove("pod-template-hash");
        let rt = resources::by_name("deployments").expect("type");
        let mut store = self.cluster.store();
        let mut d = (*store.get(rt, "shop", "api").expect("deployment")).clone();
        d["spec"]["template"] = template;
        let opts = WriteOptions {
            dry_run: false,
            manager: Some("kubectl-rollout".into()),
        };
        store
            .update(rt, "shop", "api", d, UpdateMode::Main, &opts)
            .expect("undo");
    }

    /// The log `kubectl logs [--previous]` would print for a pod's only container.
    pub fn log(&self, pod: &Value, previous: bool) -> String {
        let query = LogQuery {
            previous,
            ..LogQuery::default()
        };
        let bytes = self
            .cluster
            .logs()
            .read(pod, &query, self.now())
            .expect("log readable");
        String::from_utf8(bytes).expect("utf-8")
    }

    pub fn condition(&self, obj: &Value, kind: &str) -> Value {
        obj["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["type"] == kind)
            .cloned()
            .unwrap_or(Value::Null)
    }
}

pub fn revision(obj: &Value) -> i64 {
    obj["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
        .as_str()
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

pub fn container_status(pod: &Value) -> &Value {
    &pod["status"]["containerStatuses"][0]
}
