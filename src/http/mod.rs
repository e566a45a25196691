//! The daemon's HTTP front door (axum): `/healthz` and `/readyz` for probes, Alertmanager's
//! webhook, and — merged in [`app`], the one place routers are assembled — the incident pages,
//! `/metrics` and investigations. Everything but the probes and `/metrics` sits behind
//! [`auth::require`]; every body is capped at `http.max_body_bytes` (413).

pub mod alertmanager;
pub mod auth;
pub mod error;
pub mod health;
pub mod settings;
pub mod tls;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, Result};
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::from_fn_with_state;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use auth::Auth;
pub use settings::{AuthMode, HttpSettings, TlsSettings};

/// What the routers are built from.
pub struct Parts {
    /// Who may call.
    pub auth: Arc<Auth>,
    /// Largest body accepted.
    pub max_body_bytes: usize,
    /// The probes.
    pub health: health::Health,
    /// The webhook's engine and watch scope.
    pub webhooks: alertmanager::Webhooks,
    /// Investigations on demand (`POST /api/v1/investigations`), when a cluster is at hand.
    pub investigator: Option<crate::investigate::Investigator>,
}

/// The whole front door. Routers without authentication (probes, `/metrics`) go in `open`;
/// everything else in `guarded`.
pub fn app(parts: Parts) -> Router {
    let (store, metrics) = {
        let engine = &parts.webhooks.engine;
        (engine.store().clone(), engine.metrics().clone())
    };
    // Unauthenticated: what probes and Prometheus scrape.
    let open = health::router(parts.health).merge(crate::telemetry::router(metrics.clone()));
    // Authenticated: the webhook, the incident pages and investigations.
    let mut guarded = Router::new()
        .merge(alertmanager::router(parts.webhooks))
        .merge(crate::pages::router(store));
    if let Some(investigator) = parts.investigator {
        guarded = guarded.merge(crate::investigate::http::router(investigator));
    }
    let guarded = guarded
        .layer(from_fn_with_state(parts.auth, auth::require))
        .layer(from_fn_with_state(metrics.clone(), alertmanager::count));
    open.merge(guarded)
        .layer(DefaultBodyLimit::max(parts.max_body_bytes))
}

/// Adds the approval links (`/approve/{token}`, `/deny/{token}`, [`crate::links::http`]) to
/// `app`, behind the same authentication and body limit as the pages.
pub fn with_links(app: Router, links: Router, auth: Arc<Auth>, max_body_bytes: usize) -> Router {
    let links = links
        .layer(from_fn_with_state(auth, auth::require))
        .layer(DefaultBodyLimit::max(max_body_bytes));
    app.merge(links)
}

/// Serves `app` on `addr` until `shutdown` (graceful); the peer address reaches the
/// middleware, which believes a proxy's user header only from `http.trusted_proxies`.
pub async fn serve(
    addr: SocketAddr,
    app: Router,
    shutdown: CancellationToken,
) -> Result<(SocketAddr, JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("listening on {addr}"))?;
    let bound = listener.local_addr().context("reading the bound address")?;
    let service = app.into_make_service_with_connect_info::<SocketAddr>();
    let task = tokio::spawn(async move {
        let served = axum::serve(listener, service)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await;
        if let Err(err) = served {
            tracing::error!(error = %err, "the HTTP server stopped");
        }
    });
    Ok((bound, task))
}
