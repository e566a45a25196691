//! A kubeconfig pointing kubectl and kube-rs at the simulated cluster over plain HTTP.

use std::io;
use std::path::Path;

use serde_json::json;

/// The cluster, context and user name written into the kubeconfig.
pub const CONTEXT: &str = "nightshift-sim";

/// The kubeconfig text for a server URL such as `http://127.0.0.1:6443`.
pub fn kubeconfig_yaml(server_url: &str) -> io::Result<String> {
    let config = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{ "name": CONTEXT, "cluster": { "server": server_url } }],
        "users": [{ "name": CONTEXT, "user": { "token": "nightshift-sim-token" } }],
        "contexts": [{
            "name": CONTEXT,
            "context": { "cluster": CONTEXT, "user": CONTEXT, "namespace": "default" },
        }],
        "current-context": CONTEXT,
        "preferences": {},
    });
    serde_yaml_ng::to_string(&config).map_err(io::Error::other)
}

/// Writes a kubeconfig for `server_url` to `path` (context `nightshift-sim`, current).
pub fn write_kubeconfig(path: impl AsRef<Path>, server_url: &str) -> io::Result<()> {
    std::fs::write(path, kubeconfig_yaml(server_url)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kubeconfig_parses_with_kube_rs() {
        let yaml = kubeconfig_yaml("http://127.0.0.1:6443").expect("yaml");
        let config = kube::config::Kubeconfig::from_yaml(&yaml).expect("parses");
        assert_eq!(config.current_context.as_deref(), Some(CONTEXT));
        let server = config.clusters[0]
            .cluster
            .as_ref()
            .and_then(|c| c.server.clone());
        assert_eq!(server.as_deref(), Some("http://127.0.0.1:6443"));
    }
}
