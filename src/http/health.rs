//! `/healthz` (the process is up) and `/readyz` (every watcher has listed; not while
//! draining). Never behind authentication: probes call them.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use tokio_util::sync::CancellationToken;

use crate::k8s::watch;

/// What `/readyz` reports on.
#[derive(Clone)]
pub struct Health {
    /// Which watchers have listed.
    pub synced: watch::Synced,
    /// Cancelled when shutdown begins.
    pub draining: CancellationToken,
}

/// The two probe routes.
pub fn router(health: Health) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(health)
}

/// Ready once every watcher has listed its resource, and until shutdown begins.
async fn readyz(State(health): State<Health>) -> (StatusCode, String) {
    if health.draining.is_cancelled() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "draining: shutting down\n".into(),
        );
    }
    let pending = health.synced.pending();
    if !health.synced.all() {
        let what = if pending.is_empty() {
            "the watchers have not started".to_owned()
        } else {
            format!("waiting for the first list of {}", pending.join(", "))
        };
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {what}\n"),
        );
    }
    (StatusCode::OK, "ok\n".into())
}
