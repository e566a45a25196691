//! Starts a simulated cluster over HTTP and builds a kube client for it from a kubeconfig, as
//! nightshift does against a real cluster.
#![allow(dead_code)]

use kube::config::{KubeConfigOptions, Kubeconfig};
use nightshift::sim::{SimCluster, serve, write_kubeconfig};
use tokio_util::sync::CancellationToken;

/// A running simulated cluster; stops serving when dropped.
pub struct Sim {
    /// The cluster, to load objects and logs and to change them.
    pub cluster: SimCluster,
    /// A client for it.
    pub client: kube::Client,
    /// The kubeconfig the client was built from (for kubectl or a `nightshift` process).
    pub kubeconfig: std::path::PathBuf,
    /// Cancelled when the `Sim` is dropped; give it to whatever runs beside the cluster.
    pub shutdown: CancellationToken,
    _dir: tempfile::TempDir,
}

impl Drop for Sim {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Serves `cluster` on a free local port.
pub async fn start(cluster: SimCluster) -> Sim {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("kubeconfig");
    write_kubeconfig(&path, &url).expect("kubeconfig");
    let shutdown = CancellationToken::new();
    tokio::spawn(serve(cluster.clone(), listener, shutdown.clone()));
    let kubeconfig = Kubeconfig::read_from(&path).expect("kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("config");
    let client = kube::Client::try_from(config).expect("client");
    Sim {
        cluster,
        client,
        kubeconfig: path,
        shutdown,
        _dir: dir,
    }
}

/// Runs `tool` with `params` through the executor against `client`, under an approval of exactly
/// that one-action plan (as `incidents approve` gives it), in `namespace`; panics if it fails.
pub async fn run_approved(
    client: &kube::Client,
    tool: nightshift::domain::catalog::Tool,
    params: serde_json::Value,
    namespace: &str,
    actor: &str,
) {
    use nightshift::domain::approval::{Approval, Decision};
    use nightshift::domain::plan::{Action, Plan, Risk};
    use nightshift::k8s::execute::{Clearance, Executor, run_plan};
    let plan = Plan {
        actions: vec![Action { tool, params }],
        requires_approval: true,
        risk: Risk::Medium,
        rationale: String::new(),
        downgraded: None,
        verification: vec![],
    };
    let now = jiff::Timestamp::now();
    let approval = Approval {
        plan_hash: plan.hash(),
        decision: Decision::Approved,
        actor: actor.into(),
        at: now,
        expires_at: now + jiff::SignedDuration::from_mins(5),
    };
    let clearance = Clearance {
        approval: Some(&approval),
        auto: None,
        namespace: Some(namespace),
    };
    run_plan(&Executor::new(client.clone()), &plan, &clearance, now)
        .await
        .expect("executor ran the plan");
}

/// A simulated cluster holding a recorded case's objects and logs.
pub async fn for_case(case: &nightshift::replay::Case) -> Sim {
    let cluster = SimCluster::new();
    let yaml = std::fs::read_to_string(case.dir.join("objects.yaml")).expect("objects.yaml");
    for doc in serde_yaml_ng::Deserializer::from_str(&yaml) {
        let object = <serde_json::Value as serde::Deserialize>::deserialize(doc).expect("YAML");
        let items = match object.get("items").and_then(|i| i.as_array()) {
            Some(items) => items.clone(),
            None if object.is_null() => Vec::new(),
            None => vec![object],
        };
        for item in items {
            if let Err(e) = cluster.apply(item) {
                assert!(
                    e.message.contains("is registered"),
                    "the sim refused: {e:?}"
                );
            }
        }
    }
    for ((pod, container, previous), text) in &case.logs {
        let ns = case
            .objects
            .pods
            .iter()
            .find(|p| p.metadata.name.as_deref() == Some(pod))
            .and_then(|p| p.metadata.namespace.clone())
            .expect("the log's pod is recorded");
        cluster.set_log(&ns, pod, container, *previous, text);
    }
    start(cluster).await
}
