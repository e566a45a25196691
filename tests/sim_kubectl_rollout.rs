//! The real kubectl driving rollouts against a served simulated cluster
//! with its controllers running: `rollout status`, `set image` to a crashing image,
//! `logs --previous`, `rollout history`, `rollout undo` and `rollout restart`. Where
//! kubectl is absent each test says so and skips.

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use nightshift::sim::SimCluster;
use nightshift::sim::controllers;
use nightshift::sim::scenario::Scenario;
use serde_json::Value;

const SCENARIO: &str = "
settings: {tick: 50ms, backoff_base: 500ms, backoff_max: 4s, pull_duration: 100ms, crash_after: 300ms}
nodes: [{name: worker-1}, {name: worker-2}]
images:
  shop/api:v1: {behaviour: healthy, runtime: go}
  shop/api:v2: {behaviour: crash, runtime: go, message: missing required environment variable DATABASE_URL}
objects:
  - apiVersion: apps/v1
    kind: Deployment
    metadata: {name: api, namespace: shop, labels: {app: api}}
    spec:
      replicas: 3
      selector: {matchLabels: {app: api}}
      template:
        metadata: {labels: {app: api}}
        spec: {containers: [{name: api, image: 'shop/api:v1'}]}
";

mod kubectl;
mod sim_harness;

struct Sim {
    cluster: SimCluster,
    cli: kubectl::Kubectl,
    _sim: sim_harness::Sim,
}

async fn start(test: &str) -> Option<Sim> {
    let path = kubectl::kubectl(test)?;
    let scenario = Scenario::from_yaml(SCENARIO, Path::new("rollout.yaml")).expect("scenario");
    let cluster = SimCluster::new();
    scenario.install(&cluster).expect("install");
    let sim = sim_harness::start(cluster).await;
    controllers::spawn(
        sim.cluster.clone(),
        scenario.settings(),
        sim.shutdown.clone(),
    );
    Some(Sim {
        cluster: sim.cluster.clone(),
        cli: kubectl::Kubectl::new(path, &sim.kubeconfig),
        _sim: sim,
    })
}

impl Sim {
    async fn kubectl(&self, args: &[&str]) -> Output {
        self.cli.run(args).await
    }

    async fn ok(&self, args: &[&str]) -> String {
        self.cli.ok(args).await
    }

    /// Polls until `check` holds (at most 20s).
    async fn until(&self, what: &str, check: impl Fn(&SimCluster) -> bool) {
        for _ in 0..400 {
            if check(&self.cluster) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("timed out waiting for {what}");
    }
}

fn revision(rs: &Value) -> &str {
    rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
        .as_str()
        .unwrap_or_default()
}

fn crash_looping_pod(cluster: &SimCluster) -> Option<Value> {
    cluster.list("pods", Some("shop")).into_iter().find(|p| {
        let c = &p["status"]["containerStatuses"][0];
        c["restartCount"].as_i64().unwrap_or(0) >= 2
            && c["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollout_undo_restores_the_previous_revision_after_a_crash_looping_release() {
    let Some(sim) =
        start("rollout_undo_restores_the_previous_revision_after_a_crash_looping_release").await
    else {
        return;
    };
    let done = sim
        .ok(&[
            "rollout",
            "status",
            "deployment/api",
            "-n",
            "shop",
            "--timeout=30s",
        ])
        .await;
    assert!(
        done.contains("deployment \"api\" successfully rolled out"),
        "{done}"
    );
    sim.ok(&[
        "set",
        "image",
        "deployment/api",
        "api=shop/api:v2",
        "-n",
        "shop",
    ])
    .await;
    sim.ok(&[
        "annotate",
        "deployment/api",
        "-n",
        "shop",
        "kubernetes.io/change-cause=release v2",
    ])
    .await;
    sim.until("a crash-looping v2 pod", |c| crash_looping_pod(c).is_some())
        .await;
    let pod = crash_looping_pod(&sim.cluster).expect("pod");
    let name = pod["metadata"]["name"].as_str().expect("name");
    let listed = sim.ok(&["get", "pods", "-n", "shop"]).await;
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with(name) && l.contains("CrashLoopBackOff")),
        "{listed}"
    );
    let previous = sim.ok(&["logs", name, "-n", "shop", "--previous"]).await;
    assert!(
        previous.contains(
            "\npanic: missing required environment variable DATABASE_URL\n\ngoroutine 1 [running]:"
        ),
        "{previous}"
    );
    let stuck = sim
        .kubectl(&[
            "rollout",
            "status",
            "deployment/api",
            "-n",
            "shop",
            "--timeout=1s",
        ])
        .await;
    assert!(!stuck.status.success());
    let history = sim
        .ok(&["rollout", "history", "deployment/api", "-n", "shop"])
        .await;
    let rows: Vec<Vec<&str>> = history
        .lines()
        .skip(2)
        .map(|l| l.split_whitespace().collect())
        .filter(|r: &Vec<&str>| !r.is_empty())
        .collect();
    assert_eq!(
        rows,
        [vec!["1", "<none>"], vec!["2", "release", "v2"]],
        "{history}"
    );
    let undone = sim
        .ok(&["rollout", "undo", "deployment/api", "-n", "shop"])
        .await;
    assert_eq!(undone.trim(), "deployment.apps/api rolled back");
    let done = sim
        .ok(&[
            "rollout",
            "status",
            "deployment/api",
            "-n",
            "shop",
            "--timeout=30s",
        ])
        .await;
    assert!(done.contains("successfully rolled out"), "{done}");
    let mut rss = sim.cluster.list("rs", Some("shop"));
    rss.sort_by_key(|rs| revision(rs).to_string());
    let revisions: Vec<(&str, i64)> = rss
        .iter()
        .map(|rs| (revision(rs), rs["spec"]["replicas"].as_i64().unwrap_or(-1)))
        .collect();
    assert_eq!(revisions, [("2", 0), ("3", 3)]);
    assert_eq!(
        rss[1]["spec"]["template"]["spec"]["containers"][0]["image"],
        "shop/api:v1"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollout_restart_rolls_every_pod_onto_a_new_replicaset() {
    let Some(sim) = start("rollout_restart_rolls_every_pod_onto_a_new_replicaset").await else {
        return;
    };
    sim.ok(&[
        "rollout",
        "status",
        "deployment/api",
        "-n",
        "shop",
        "--timeout=30s",
    ])
    .await;
    let before: Vec<String> = sim
        .cluster
        .list("pods", Some("shop"))
        .iter()
        .map(|p| {
            p["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    let restarted = sim
        .ok(&["rollout", "restart", "deployment/api", "-n", "shop"])
        .await;
    assert_eq!(restarted.trim(), "deployment.apps/api restarted");
    sim.until("the restart to start", |c| {
        c.list("rs", Some("shop")).len() == 2
    })
    .await;
    let done = sim
        .ok(&[
            "rollout",
            "status",
            "deployment/api",
            "-n",
            "shop",
            "--timeout=30s",
        ])
        .await;
    assert!(done.contains("successfully rolled out"), "{done}");
    sim.until("old pods to go", |c| {
        c.list("pods", Some("shop")).len() == 3
    })
    .await;
    let after = sim.cluster.list("pods", Some("shop"));
    assert!(
        after
            .iter()
            .all(|p| !before.iter().any(|b| p["metadata"]["name"] == b.as_str()))
    );
    assert!(after.iter().all(|p| p["spec"]["template"].is_null()
        && p["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"].is_string()));
}
