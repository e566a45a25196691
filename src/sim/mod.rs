//! The simulated cluster: the real Kubernetes REST API over HTTP, for tests and the demo.
//!
//! [`SimCluster`] holds the objects (an in-memory [`store`] with resourceVersions and watch
//! history) and container logs; [`serve`] answers kubectl and kube-rs on a TCP listener;
//! [`write_kubeconfig`] points them at it. Controllers and the kubelet model write through
//! the library methods ([`SimCluster::apply`], [`SimCluster::update_with`],
//! [`SimCluster::set_log`], ...), which notify watches like any API write.
//! [`controllers`] makes the cluster move (deployments, ReplicaSets, scheduler, nodes,
//! kubelets whose containers behave as their image says); [`scenario`] loads a starting
//! cluster, image behaviours and a timeline of breakages (`docs/scenarios.md`).

mod bookkeeping;
mod collection;
pub mod controllers;
mod defaults;
mod discovery;
pub mod errors;
mod handlers;
mod kubeconfig;
pub mod logs;
pub mod meta;
mod openapi;
mod patch;
mod path;
mod pod_status;
mod printers;
pub mod resources;
mod router;
pub mod scenario;
mod selector;
pub mod store;
mod subresources;
mod table;
mod watch;
mod writes;

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use jiff::Timestamp;
use serde::Deserialize;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use errors::{ApiError, ApiResult};
pub use kubeconfig::{CONTEXT, kubeconfig_yaml, write_kubeconfig};
pub use logs::LogStore;
pub use meta::Clock;
pub use router::router;
pub use store::{DEFAULT_WATCH_WINDOW, Store};
pub use writes::{Preconditions, UpdateMode, WriteOptions};

/// Namespaces every new cluster starts with, as a fresh kubeadm cluster has.
const INITIAL_NAMESPACES: &[&str] = &["default", "kube-system", "kube-public", "kube-node-lease"];

/// Failures loading objects into the cluster.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// A YAML document could not be parsed.
    #[error("invalid YAML: {0}")]
    Yaml(#[from] serde_yaml_ng::Error),
    /// The apiserver logic refused an object.
    #[error(transparent)]
    Api(#[from] ApiError),
}

/// Options for a new cluster.
#[derive(Clone)]
pub struct SimOptions {
    /// Watch events retained per resource type; older resourceVersions get `410 Gone`.
    pub watch_window: usize,
    /// The clock stamping creationTimestamps, managedFields and log lines.
    pub clock: Clock,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            watch_window: DEFAULT_WATCH_WINDOW,
            clock: meta::system_clock(),
        }
    }
}

struct Inner {
    store: Mutex<Store>,
    logs: Mutex<LogStore>,
    clock: Clock,
}

/// A simulated cluster: cheap to clone, every clone sees the same state.
#[derive(Clone)]
pub struct SimCluster {
    inner: Arc<Inner>,
}

impl Default for SimCluster {
    fn default() -> Self {
        Self::new()
    }
}

impl SimCluster {
    /// An empty cluster with the default namespaces.
    pub fn new() -> Self {
        Self::with_options(SimOptions::default())
    }

    /// An empty cluster with the default namespaces and the given options.
    pub fn with_options(options: SimOptions) -> Self {
        let store = Store::new(options.watch_window, options.clock.clone());
        let cluster = SimCluster {
            inner: Arc::new(Inner {
                store: Mutex::new(store),
                logs: Mutex::new(LogStore::default()),
                clock: options.clock,
            }),
        };
        for ns in INITIAL_NAMESPACES {
            let namespace = serde_json::json!({"apiVersion": "v1", "kind": "Namespace",
                                               "metadata": {"name": ns}});
            if let Err(e) = cluster.apply(namespace) {
                tracing::error!(error = %e, "could not create an initial namespace");
            }
        }
        cluster
    }

    /// The store, locked. Keep the guard briefly; never hold it across an `.await`.
    pub fn store(&self) -> MutexGuard<'_, Store> {
        self.inner
            .store
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The log store, locked.
    pub fn logs(&self) -> MutexGuard<'_, LogStore> {
        self.inner
            .logs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The cluster's current time.
    pub fn now(&self) -> Timestamp {
        (self.inner.clock)()
    }

    /// The latest resourceVersion written.
    pub fn resource_version(&self) -> u64 {
        self.store().resource_version()
    }

    /// Creates or replaces an object exactly as given (status, uid and timestamps kept when
    /// set; a missing namespace is created). Returns the stored object.
    pub fn apply(&self, object: Value) -> ApiResult<Value> {
        self.store().put(object).map(|o| (*o).clone())
    }

    /// Applies every object of a multi-document YAML text (`kind: List` documents are
    /// expanded), as `kubectl get -o yaml` prints them. Returns how many were applied.
    pub fn apply_yaml(&self, text: &str) -> Result<usize, SimError> {
        let mut count = 0;
        for doc in serde_yaml_ng::Deserializer::from_str(text) {
            let value = Value::deserialize(doc)?;
            let items = match value.get("items").and_then(Value::as_array) {
                Some(items) if value["kind"].as_str().is_some_and(|k| k.ends_with("List")) => {
                    items.clone()
                }
                _ if value.is_null() => Vec::new(),
                _ => vec![value],
            };
            for item in items {
                self.apply(item)?;
                count += 1;
            }
        }
        Ok(count)
    }

    /// One object by type (`Pod`, `pods`, `po`), namespace ("" for cluster-scoped) and name.
    pub fn get(&self, kind: &str, namespace: &str, name: &str) -> Option<Value> {
        let rt = resources::by_name(kind)?;
        self.store().get(rt, namespace, name).map(|o| (*o).clone())
    }

    /// Every object of a type, in one namespace or all.
    pub fn list(&self, kind: &str, namespace: Option<&str>) -> Vec<Value> {
        let Some(rt) = resources::by_name(kind) else {
            return Vec::new();
        };
        let items = self.store().list(rt, namespace);
        items.iter().map(|o| (**o).clone()).collect()
    }

    /// Reads, changes and writes one object atomically (conflict-free for the caller).
    pub fn update_with(
        &self,
        kind: &str,
        namespace: &str,
        name: &str,
        change: impl FnOnce(&mut Value),
    ) -> ApiResult<Value> {
        let rt = resources::by_name(kind).ok_or_else(ApiError::no_such_resource)?;
        let mut store = self.store();
        let current = store
            .get(rt, namespace, name)
            .ok_or_else(|| ApiError::not_found(rt, name))?;
        let mut next = (*current).clone();
        change(&mut next);
        let opts = WriteOptions::default();
        let updated = store.update(rt, namespace, name, next, UpdateMode::Direct, &opts)?;
        Ok((*updated).clone())
    }

    /// Deletes an object (honouring finalizers); a deleted pod's logs go with it.
    pub fn delete(&self, kind: &str, namespace: &str, name: &str) -> ApiResult<Value> {
        let rt = resources::by_name(kind).ok_or_else(ApiError::no_such_resource)?;
        let opts = WriteOptions::default();
        let deleted = self
            .store()
            .delete(rt, namespace, name, &Preconditions::default(), &opts)?;
        if rt.plural == "pods" {
            self.logs().remove_pod(namespace, name);
        }
        Ok((*deleted).clone())
    }

    /// Replaces the current (or, with `previous`, the last terminated) log of a container.
    pub fn set_log(&self, namespace: &str, pod: &str, container: &str, previous: bool, text: &str) {
        let now = self.now();
        self.logs()
            .set(namespace, pod, container, previous, text, now);
    }

    /// Appends lines to a container's current log, stamped with the cluster clock.
    pub fn append_log(&self, namespace: &str, pod: &str, container: &str, text: &str) {
        let now = self.now();
        self.logs().append(namespace, pod, container, text, now);
    }

    /// A container restarted: its current log becomes the previous one.
    pub fn restart_log(&self, namespace: &str, pod: &str, container: &str) {
        self.logs().restart(namespace, pod, container);
    }
}

/// Serves the API on `listener` until `shutdown` is cancelled; open watches end then too.
pub async fn serve(
    cluster: SimCluster,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let app = router(cluster, shutdown.clone());
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use futures::StreamExt;
    use k8s_openapi::api::core::v1::Pod;
    use serde_json::json;

    use super::*;

    #[test]
    fn yaml_documents_and_lists_are_applied_and_namespaces_created() {
        let cluster = SimCluster::new();
        let yaml = "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap, \
                    metadata: {name: a, namespace: shop}}\n---\napiVersion: v1\nkind: Node\n\
                    metadata: {name: node-a}\n";
        assert_eq!(cluster.apply_yaml(yaml).ok(), Some(2));
        assert!(cluster.get("namespaces", "", "shop").is_some());
        assert!(cluster.get("cm", "shop", "a").is_some());
        assert_eq!(cluster.list("nodes", None).len(), 1);
    }

    #[test]
    fn finalizers_hold_a_deleted_object_until_they_are_removed() {
        let cluster = SimCluster::new();
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
                        "metadata": {"name": "a", "finalizers": ["example.com/hold"]}});
        cluster.apply(cm).expect("apply");
        let marked = cluster
            .delete("configmaps", "default", "a")
            .expect("delete");
        assert!(marked["metadata"]["deletionTimestamp"].is_string());
        assert!(cluster.get("configmaps", "default", "a").is_some());
        let release = |o: &mut Value| o["metadata"]["finalizers"] = json!([]);
        cluster
            .update_with("configmaps", "default", "a", release)
            .expect("update");
        assert!(cluster.get("configmaps", "default", "a").is_none());
    }

    #[tokio::test]
    async fn serving_stops_promptly_on_shutdown_even_with_a_watch_open() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let shutdown = CancellationToken::new();
        let server = tokio::spawn(serve(SimCluster::new(), listener, shutdown.clone()));
        let yaml = kubeconfig_yaml(&url).expect("yaml");
        let kubeconfig = kube::config::Kubeconfig::from_yaml(&yaml).expect("kubeconfig");
        let options = kube::config::KubeConfigOptions::default();
        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &options).await;
        let client = kube::Client::try_from(config.expect("config")).expect("client");
        let pods: kube::Api<Pod> = kube::Api::all(client);
        let params = kube::api::WatchParams::default();
        let mut watch = pods.watch(&params, "0").await.expect("watch").boxed();
        shutdown.cancel();
        let stopped = tokio::time::timeout(Duration::from_secs(5), server).await;
        assert!(
            matches!(stopped, Ok(Ok(Ok(())))),
            "serve returned: {stopped:?}"
        );
        let ended = tokio::time::timeout(Duration::from_secs(1), watch.next()).await;
        assert!(matches!(ended, Ok(None | Some(Err(_)))), "the watch ended");
    }
}
