//! Every detector against states the simulated cluster's controllers and kubelet produce (not
//! hand-written statuses), seen through the real watchers over HTTP: crash loops, OOM kills,
//! image pulls, missing config, failing readiness probes, unschedulable pods, quota refusals,
//! stalled rollouts, lost nodes, nodes under pressure, claims that cannot bind. Failed Jobs are
//! loaded with their status (the simulated cluster has no Job controller).

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use nightshift::domain::scope::NamespaceScope;
use nightshift::domain::signal::Signal;
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
  - {name: worker-3, cpu: "8", memory: 32Gi}
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
  - apiVersion: batch/v1
    kind: Job
    metadata: {name: nightly-report, namespace: lab, uid: 3c1f2a4e-0000-4000-8000-00000000000b}
    spec:
      activeDeadlineSeconds: 600
      template:
        spec:
          restartPolicy: Never
          containers: [{name: report, image: lab/ok:1}]
    status:
      failed: 1
      conditions:
        - {type: Failed, status: "True", reason: DeadlineExceeded, message: Job was active longer than specified deadline, lastTransitionTime: "2026-11-22T00:00:00Z"}
  # No class asked for and no PersistentVolume to match: it stays Pending (created long ago and
  # with a pod placed for it, so it counts as stuck).
  - apiVersion: v1
    kind: PersistentVolumeClaim
    metadata: {name: scratch, namespace: lab, creationTimestamp: "2026-11-22T00:00:00Z", annotations: {volume.kubernetes.io/selected-node: worker-1}}
    spec: {storageClassName: "", accessModes: [ReadWriteOnce], resources: {requests: {storage: 5Gi}}}
timeline:
  - {at: 1s, node-not-ready: worker-2}
  - {at: 1s, node-pressure: {node: worker-3, condition: MemoryPressure}}
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
        deployment("stateful", "lab", "lab/ok:1", 1, "volumeMounts: [{name: scratch, mountPath: /scratch}]")
            .replace(
                "      containers:",
                "      volumes: [{name: scratch, persistentVolumeClaim: {claimName: scratch}}]\n      containers:",
            ),
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

    // (reason, the workload or object it is about, words its message must hold)
    let expected: Vec<(&str, &str, &str)> = vec![
        ("CrashLoopBackOff", "crasher", ""),
        ("OOMKilled", "hog", ""),
        ("ErrImagePull", "typo", "lab/ok:404"),
        ("ImagePullBackOff", "typo", ""),
        ("CreateContainerConfigError", "noconfig", "db-credentials"),
        ("Unhealthy", "unready", "Readiness probe failed"),
        ("FailedScheduling", "huge", "Insufficient cpu"),
        (
            "FailedScheduling",
            "stateful",
            "unbound immediate PersistentVolumeClaims",
        ),
        ("FailedCreate", "crowded", "exceeded quota"),
        ("ProgressDeadlineExceeded", "", ""),
        ("NotReady", "worker-2", ""),
        ("MemoryPressure", "worker-3", "insufficient memory"),
        ("BackoffLimitExceeded", "migrate", ""),
        ("DeadlineExceeded", "nightly-report", ""),
        ("ClaimPending", "scratch", ""),
    ];
    let matches = |(reason, about, words): &(&str, &str, &str), s: &Signal| {
        let name = s.workload.as_ref().unwrap_or(&s.target).name.as_str();
        s.reason == *reason
            && (name == *about || s.target.name.starts_with(about))
            && s.message.as_deref().unwrap_or("").contains(words)
    };
    let mut seen: Vec<Signal> = Vec::new();
    let met = |seen: &[Signal]| {
        expected
            .iter()
            .filter(|e| !seen.iter().any(|s| matches(e, s)))
            .copied()
            .collect::<Vec<_>>()
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    while !met(&seen).is_empty() {
        match tokio::time::timeout_at(deadline, signals.recv()).await {
            Ok(Some(signal)) => seen.push(signal),
            _ => break,
        }
    }
    let missing = met(&seen);
    let raised: BTreeSet<(String, String)> = seen
        .iter()
        .map(|s| (s.reason.clone(), s.target.name.clone()))
        .collect();
    assert!(
        missing.is_empty(),
        "never raised: {missing:?}; raised: {raised:?}"
    );
}
