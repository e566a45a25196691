//! Telemetry: the Prometheus metrics registry and its `GET /metrics` router ([`metrics`],
//! [`router`]), Kubernetes Events on the objects nightshift acts on ([`events`]), and the log setup (`NIGHTSHIFT_LOG`, `NIGHTSHIFT_LOG_FORMAT`, [`logs`]). The
//! engine feeds the metrics from the steps it reports ([`Metrics::observe`]); other edges (the
//! webhook receiver, pagers, LLM providers) call the counters named after them.

pub mod events;
pub mod logs;
pub mod metrics;
mod observe;

pub use metrics::{Metrics, Outcome, WebhookOutcome};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;

/// The content type of the OpenMetrics text exposition Prometheus negotiates.
pub const CONTENT_TYPE_OPENMETRICS: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// `GET /metrics`: every series in the text exposition format, unauthenticated.
pub fn router(metrics: Metrics) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .with_state(metrics)
}

async fn scrape(State(metrics): State<Metrics>) -> axum::response::Response {
    match metrics.encode() {
        Ok(text) => ([(CONTENT_TYPE, CONTENT_TYPE_OPENMETRICS)], text).into_response(),
        Err(err) => {
            tracing::error!(error = %err, "could not encode the metrics");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "could not encode the metrics\n",
            )
                .into_response()
        }
    }
}
