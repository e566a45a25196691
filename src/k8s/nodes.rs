//! The node pool, read for node policy right before a node action: every node of the cluster,
//! listed in pages and bounded, as facts. A cluster larger than the bound is an error rather
//! than a partial pool, so a limit on how much of it may be cordoned is never judged on a part.

use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, ListParams};

use crate::domain::evidence::NodeFacts;
use crate::k8s::facts;

/// Nodes asked for per page.
pub const PAGE: u32 = 500;
/// The most nodes read; a larger cluster cannot have its pool judged.
pub const MAX_NODES: usize = 10_000;

/// Why the pool could not be read.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    /// The apiserver refused or failed.
    #[error("listing nodes: {0}")]
    Api(#[from] kube::Error),
    /// More nodes than [`MAX_NODES`].
    #[error("the cluster has more than {MAX_NODES} nodes; the node pool is not judged on a part")]
    TooMany,
}

/// Every node of the cluster.
pub async fn pool(client: &kube::Client) -> Result<Vec<NodeFacts>, PoolError> {
    let api: Api<Node> = Api::all(client.clone());
    let mut params = ListParams::default().limit(PAGE);
    let mut nodes = Vec::new();
    loop {
        let page = api.list(&params).await?;
        nodes.extend(page.items.iter().map(facts::node));
        if nodes.len() > MAX_NODES {
            return Err(PoolError::TooMany);
        }
        match page.metadata.continue_ {
            Some(token) if !token.is_empty() => params = params.continue_token(&token),
            _ => return Ok(nodes),
        }
    }
}
