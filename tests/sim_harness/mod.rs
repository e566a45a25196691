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
