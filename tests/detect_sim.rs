//! Every detector against states the simulated cluster's controllers and kubelet produce (not
//! hand-written statuses), seen through the real watchers over HTTP: crash loops, OOM kills,
//! image pulls, missing config, failing readiness probes, unschedulable pods, quota refusals,
//! stalled rollouts, lost nodes. A failed Job is loaded with its status (the simulated cluster
//! has no Job controller).

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use nightshift::domain::scope::NamespaceScope;
use nightshift::k8s::watch;
use nightshift::sim::SimCluster;
use nightshift::sim::scenario::Scenario;
use tokio::sync::mpsc;

mod sim_harness;

const SCENARIO: &str = r#"
settings: {tick: 100ms, backoff_base: 1s, backoff_max: 4s, pull_duration: 200ms, crash_after: 1s, probe_period: 1s}
nodes:
  - {name: worker-1, cpu: "8", memory: 32Gi}
  - {name: worker-2, cpu: "8", memory: 32Gi}
images:
  lab/ok:1: healthy
  lab/crash:1: {behaviour: crash, runtime: go, message: "dial tcp 10.0.0.7:5432: connect: connection refused"}
  lab/oom:1: {behaviour: oom, after: 1s}
  lab/unready:1: not-ready
objects:
  - {apiVersion: v1, kind: Namespace, metadata: {name: lab}}
  - {apiVersion: v1, kind: Namespace, metadata: {name: tight}}
  - apiVersion: v1
    kind: ResourceQuota
    metadata: {name: compute, namespace: tight}
    spec: {hard: {pods: "1"}}
  - apiVersion: batch/v1
    kind: Job
    metadata: {name: migrate, namespace: lab, uid: 3c1f2a4e-0000-4000-8000-00000000000a}
    spec:
      backoffLimit: 2
      template:
        spec:
          restartPolicy: Never
          containers: [{name: migrate, image: lab/crash:1}]
    status:
      failed: 3
      conditions:
        - {type: Failed, status: "True", reason: BackoffLimitExceeded, message: Job has reached the specified backoff limit, lastTransitionTime: "2026-11-22T00:00:00Z"}
timeline:
  - {at: 1s, node-not-ready: worker-2}
"#;

/// One Deployment of `image` in `ns`, with `extra` merged into its container.
fn deployment(name: &str, ns: &str, image: &str, replicas: u32, extra: &str) -> String {
    format!(
        r#"
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, namespace: {ns}}}
spec:
  replicas: {replicas}
  progressDeadlineSeconds: 3
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      nodeSelector: {{kubernetes.io/hostname: worker-1}}
      containers:
        - name: {name}
          image: {image}
          {extra}
"#
    )
}

fn workloads() -> String {
    [
        deployment("crasher", "lab", "lab/crash:1", 1, ""),
        deployment("hog", "lab", "lab/oom:1", 1, ""),
        deployment("typo", "lab", "lab/ok:404", 1, ""),
        deployment(
            "unready",
            "lab",
            "lab/unready:1",
            1,
            "readinessProbe: {httpGet: {path: /ready, port: 8080}, periodSeconds: 1}",
        ),
        deployment(
            "noconfig",
            "lab",
            "lab/ok:1",
            1,
            "envFrom: [{secretRef: {name: db-credentials}}]",
        ),
        deployment(
            "huge",
            "lab",
            "lab/ok:1",
            1,
            "resources: {requests: {cpu: \"64\"}}",
        ),
        deployment("crowded", "tight", "lab/ok:1", 3, ""),
    ]
    .join("---\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_detector_fires_on_what_the_simulated_cluster_produces() {
    let scenario = Scenario::from_yaml(SCENARIO, Path::new("lab.yaml")).expect("scenario");
    let cluster = SimCluster::new();
    scenario.install(&cluster).expect("install");
    cluster.apply_yaml(&workloads()).expect("workloads");
    let sim = sim_harness::start(cluster).await;
    let _running = scenario.start(&sim.cluster, sim.shutdown.clone());
    let client = sim.client.clone();
    let (tx, mut signals) = mpsc::channel(4096);
    tokio::spawn(watch::run(
        client,
        NamespaceScope::default(),
        tx,
        sim.shutdown.clone(),
    ));

    let expected: BTreeSet<&str> = [
        "CrashLoopBackOff",
        "OOMKilled",
        "ImagePullBackOff",
        "CreateContainerConfigError",
        "Unhealthy",
        "FailedScheduling",
        "FailedCreate",
        "ProgressDeadlineExceeded",
        "NotReady",
        "BackoffLimitExceeded",
    ]
    .into_iter()
    .collect();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    while !expected.iter().all(|r| seen.contains(*r)) {
        match tokio::time::timeout_at(deadline, signals.recv()).await {
            Ok(Some(signal)) => {
                seen.insert(signal.reason);
            }
            _ => break,
        }
    }
    let missing: Vec<&&str> = expected.iter().filter(|r| !seen.contains(**r)).collect();
    assert!(
        missing.is_empty(),
        "never raised: {missing:?}; raised: {seen:?}"
    );
}
