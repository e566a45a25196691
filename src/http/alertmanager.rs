//! `POST /api/v1/alerts/alertmanager`: Alertmanager's webhook (payload version 4; newer fields
//! are tolerated). Alertmanager retries a 5xx and drops a group it got a 4xx for, so: a body
//! that can never be read is a 400 naming the field (413 when too big), a store that is down is
//! a 503, and a 200 is sent only after every alert's outcome is committed — firing alerts
//! opened, deduplicated or joined, resolved alerts recorded in their incident's timeline.
//! Alerts about namespaces nightshift does not watch are answered as ignored, with the reason.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::post;
use axum::{Json, Router};
use serde::Serialize;

use super::error::ApiError;
use crate::alerts::{Webhook, WebhookError};
use crate::domain::scope::NamespaceScope;
use crate::engine::Engine;
use crate::engine::external::Resolution;
use crate::telemetry::Metrics;
use crate::telemetry::metrics::WebhookOutcome;

/// The webhook's path.
pub const PATH: &str = "/api/v1/alerts/alertmanager";

/// What the webhook needs.
#[derive(Clone)]
pub struct Webhooks {
    /// Takes signals with the persistence guarantee.
    pub engine: Engine,
    /// Namespaces nightshift watches; alerts about others are ignored, and said so.
    pub watch: NamespaceScope,
}

/// The webhook route.
pub fn router(webhooks: Webhooks) -> Router {
    Router::new()
        .route(PATH, post(receive))
        .with_state(webhooks)
}

/// The answer to a delivered group: what became of each alert.
#[derive(Debug, Default, Serialize)]
pub struct Receipt {
    /// How many alerts the payload held.
    pub alerts: usize,
    /// Incidents opened by firing alerts.
    pub opened: Vec<String>,
    /// Firing alerts already covered by an open incident (deduplicated or joined), or ignored
    /// by a rule.
    pub known: usize,
    /// Incidents in whose timeline a resolved alert was recorded.
    pub resolved: Vec<String>,
    /// Incidents closed because their alert resolved while they awaited approval.
    pub closed: Vec<String>,
    /// Alerts not taken, with why.
    pub ignored: Vec<Ignored>,
}

impl Receipt {
    /// Notes what became of resolved alert `index`.
    fn note(&mut self, index: usize, resolution: Resolution) {
        match resolution {
            Resolution::Unknown => self.ignored.push(Ignored {
                alert: index,
                reason: "resolved, but no incident knows this alert".into(),
            }),
            Resolution::Recorded(id) => self.resolved.push(id),
            Resolution::Closed(id) => {
                self.resolved.push(id.clone());
                self.closed.push(id);
            }
        }
    }
}

/// An alert not taken.
#[derive(Debug, Serialize)]
pub struct Ignored {
    /// Its index in `alerts`.
    pub alert: usize,
    /// Why.
    pub reason: String,
}

async fn receive(
    State(hooks): State<Webhooks>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Receipt>, ApiError> {
    let body = body.map_err(body_error)?;
    let hook = parse(&body)?;
    let mut receipt = Receipt {
        alerts: hook.alerts.len(),
        ..Receipt::default()
    };
    let now = hooks.engine.now();
    let mut firing = Vec::new();
    let mut resolved = Vec::new();
    for (index, alert) in hook.alerts.iter().enumerate() {
        let signal = alert.signal(now);
        let namespace = signal.target.namespace.as_deref();
        if !hooks.watch.allows(namespace) {
            receipt.ignored.push(Ignored {
                alert: index,
                reason: format!(
                    "namespace {} is not watched (settings watch.include/exclude)",
                    namespace.unwrap_or_default()
                ),
            });
        } else if alert.status == "resolved" {
            resolved.push((index, signal, &alert.fingerprint));
        } else {
            firing.push(signal);
        }
    }
    // Every firing alert of the group in one commit, shared with other deliveries waiting.
    for opened in hooks
        .engine
        .accept_all(firing, now)
        .await
        .map_err(unavailable)?
    {
        match opened {
            Some(incident) => receipt.opened.push(incident.id),
            None => receipt.known += 1,
        }
    }
    for (index, signal, fingerprint) in resolved {
        let resolution = hooks
            .engine
            .resolve_alert(&signal, fingerprint, now)
            .await
            .map_err(unavailable)?;
        receipt.note(index, resolution);
    }
    tracing::info!(
        alerts = receipt.alerts,
        opened = receipt.opened.len(),
        resolved = receipt.resolved.len(),
        ignored = receipt.ignored.len(),
        "alertmanager webhook taken"
    );
    Ok(Json(receipt))
}

/// Parses a payload; a failure names the field (`alerts[0].startsAt`) and what was wrong.
pub fn parse(bytes: &[u8]) -> Result<Webhook, ApiError> {
    let refused = |msg: String| ApiError::new(StatusCode::BAD_REQUEST, msg);
    let mut json = serde_json::Deserializer::from_slice(bytes);
    let hook: Webhook = serde_path_to_error::deserialize(&mut json).map_err(|err| {
        let path = err.path().to_string();
        let err = WebhookError::Json(err.into_inner());
        let field = if path == "." {
            "(body)".to_owned()
        } else {
            path
        };
        refused(err.to_string()).at(field)
    })?;
    json.end()
        .map_err(|err| refused(WebhookError::Json(err).to_string()).at("(body)"))?;
    hook.validate().map_err(|err| {
        let field = match &err {
            WebhookError::Version(_) => "version".to_owned(),
            WebhookError::NoName(i) => format!("alerts[{i}].labels.alertname"),
            WebhookError::Json(_) => "(body)".to_owned(),
        };
        refused(err.to_string()).at(field)
    })?;
    Ok(hook)
}

/// Counts every answer to a webhook delivery by outcome (`nightshift_webhook_requests_total`),
/// authentication refusals included: it sits outside [`super::auth::require`].
pub async fn count(State(metrics): State<Metrics>, request: Request, next: Next) -> Response {
    let webhook = request.uri().path() == PATH;
    let response = next.run(request).await;
    if webhook {
        metrics.webhook_request(outcome(response.status()));
    }
    response
}

/// The outcome a webhook answer counts as.
fn outcome(status: StatusCode) -> WebhookOutcome {
    match status {
        s if s.is_success() => WebhookOutcome::Accepted,
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => WebhookOutcome::Unauthorized,
        StatusCode::TOO_MANY_REQUESTS => WebhookOutcome::RateLimited,
        s if s.is_server_error() => WebhookOutcome::Failed,
        _ => WebhookOutcome::Invalid,
    }
}

fn body_error(rejection: BytesRejection) -> ApiError {
    let status = rejection.status();
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        return ApiError::new(
            status,
            "body larger than http.max_body_bytes: lower max_alerts on the Alertmanager receiver",
        )
        .at("(body)");
    }
    ApiError::new(status, rejection.body_text()).at("(body)")
}

fn unavailable(err: crate::store::StoreError) -> ApiError {
    tracing::error!(error = %err, "webhook: the store refused an alert; Alertmanager will retry");
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        format!("the store is unavailable, retry later: {err}"),
    )
}

#[cfg(test)]
mod tests {
    use super::{StatusCode, WebhookOutcome, outcome};

    #[test]
    fn every_answer_counts_as_the_outcome_alertmanager_acts_on() {
        assert_eq!(outcome(StatusCode::OK), WebhookOutcome::Accepted);
        assert_eq!(
            outcome(StatusCode::UNAUTHORIZED),
            WebhookOutcome::Unauthorized
        );
        assert_eq!(outcome(StatusCode::FORBIDDEN), WebhookOutcome::Unauthorized);
        assert_eq!(
            outcome(StatusCode::TOO_MANY_REQUESTS),
            WebhookOutcome::RateLimited
        );
        assert_eq!(
            outcome(StatusCode::SERVICE_UNAVAILABLE),
            WebhookOutcome::Failed
        );
        assert_eq!(outcome(StatusCode::BAD_REQUEST), WebhookOutcome::Invalid);
        assert_eq!(
            outcome(StatusCode::PAYLOAD_TOO_LARGE),
            WebhookOutcome::Invalid
        );
    }
}
