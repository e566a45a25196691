//! Pagers: how nightshift reaches a human. The engine reports each state change to the
//! [`Dispatcher`], which decides whether it pages ([`content::event_for`]), routes it
//! ([`route`]), records the delivery in the store first, and hands it to a background worker
//! per pager that sends it — rate-limited, retried with backoff, never dropped in silence.
//!
//! One file per service talks to the network: [`pagerduty`] (Events API v2), [`slack`]
//! (incoming webhooks) and [`webhook`] (a generic signed JSON POST). docs/paging.md is the
//! user's guide.

pub mod content;
mod dispatch;
pub mod links;
pub mod pagerduty;
pub mod route;
pub mod settings;
pub mod slack;
pub mod webhook;

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use reqwest::StatusCode;
use serde::Serialize;

pub use content::{EventKind, Page};
pub use dispatch::{Dispatcher, Notice};
pub use links::{IncidentLinksOnly, PageLinks};
pub use settings::{PagerKind, PagerSettings, PagingSettings};

/// One page to send: what it says and the key that ties an incident's events together.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// PagerDuty's `dedup_key` (the incident id; see docs/paging.md for re-triggers).
    pub dedup_key: String,
    /// The page.
    pub page: Page,
}

/// Sends pages to one service.
pub trait Pager: Send + Sync {
    /// The pager's name (settings, store, metrics).
    fn name(&self) -> &str;
    /// Sends one page.
    fn send<'a>(&'a self, delivery: &'a Delivery) -> BoxFuture<'a, Result<(), PagerError>>;
}

/// Why a page was not delivered.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PagerError {
    /// The service refused it and a retry cannot change that (400 and most 4xx).
    #[error("refused{}: {detail}", status.map(|s| format!(" with {s}")).unwrap_or_default())]
    Rejected {
        /// The HTTP status, if one came back.
        status: Option<u16>,
        /// What the service said.
        detail: String,
    },
    /// It may work later (429, 5xx, a network error or a timeout).
    #[error("not delivered{}: {detail}", status.map(|s| format!(" ({s})")).unwrap_or_default())]
    Unavailable {
        /// The HTTP status, if one came back.
        status: Option<u16>,
        /// What went wrong.
        detail: String,
    },
}

impl PagerError {
    /// Whether a retry may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, PagerError::Unavailable { .. })
    }
}

/// The longest part of an answer's body kept in an error.
const MAX_DETAIL_CHARS: usize = 300;

/// POSTs the JSON `body` with `headers`, and classifies the answer: 2xx delivered; 408, 429
/// and 5xx retryable; any other status final.
pub(crate) async fn post_json(
    client: &reqwest::Client,
    url: &str,
    body: Vec<u8>,
    headers: &[(&str, String)],
) -> Result<(), PagerError> {
    let mut request = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json");
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let response = request
        .body(body)
        .send()
        .await
        .map_err(|e| PagerError::Unavailable {
            status: None,
            detail: network(e),
        })?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let text = response.text().await.unwrap_or_default();
    let detail = content::clip(text.trim(), MAX_DETAIL_CHARS);
    let code = Some(status.as_u16());
    if status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
        || status.is_server_error()
    {
        Err(PagerError::Unavailable {
            status: code,
            detail,
        })
    } else {
        Err(PagerError::Rejected {
            status: code,
            detail,
        })
    }
}

/// `value` as JSON bytes.
pub(crate) fn to_bytes(value: &impl Serialize) -> Result<Vec<u8>, PagerError> {
    serde_json::to_vec(value).map_err(|e| PagerError::Rejected {
        status: None,
        detail: format!("the page does not encode: {e}"),
    })
}

/// A network error and its causes, without the URL (a Slack URL holds a token).
fn network(err: reqwest::Error) -> String {
    let err = err.without_url();
    let mut text = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Builds the configured pagers, reading their secrets; the error names the settings key.
pub fn build(pagers: &[PagerSettings], timeout: Duration) -> Result<Vec<Arc<dyn Pager>>, String> {
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .user_agent(concat!("nightshift/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("pagers: the HTTP client cannot be built: {e}"))?;
    let mut built: Vec<Arc<dyn Pager>> = Vec::new();
    for (i, p) in pagers.iter().enumerate() {
        let key = format!("pagers[{i}]");
        let name = p.name();
        let secret = |what: &str, env: &Option<String>, file: &Option<std::path::PathBuf>| {
            settings::secret(&format!("{key}.{what}"), env.as_deref(), file.as_deref())
        };
        let pager: Arc<dyn Pager> = match p.kind {
            PagerKind::Pagerduty => {
                let routing_key = secret("routing_key", &p.routing_key_env, &p.routing_key_file)?
                    .ok_or_else(|| format!("{key}: no routing key"))?;
                let url = p.url.as_deref().unwrap_or(settings::PAGERDUTY_EVENTS_URL);
                Arc::new(pagerduty::PagerDuty::new(
                    name,
                    url,
                    &routing_key,
                    client.clone(),
                ))
            }
            PagerKind::Slack => {
                let url = secret("webhook_url", &p.webhook_url_env, &p.webhook_url_file)?
                    .ok_or_else(|| format!("{key}: no webhook URL"))?;
                Arc::new(slack::Slack::new(name, &url, client.clone()))
            }
            PagerKind::Webhook => {
                let hidden = secret("webhook_url", &p.webhook_url_env, &p.webhook_url_file)?;
                let url = hidden
                    .or_else(|| p.url.clone())
                    .ok_or_else(|| format!("{key}: no url"))?;
                let key_bytes = secret("secret", &p.secret_env, &p.secret_file)?
                    .ok_or_else(|| format!("{key}: no signing secret"))?;
                Arc::new(webhook::Webhook::new(
                    name,
                    &url,
                    key_bytes.as_bytes(),
                    client.clone(),
                ))
            }
        };
        built.push(pager);
    }
    Ok(built)
}

/// The dispatcher the settings describe, its pages carrying `links` (with a grouped page's
/// list link under `public_url`); `None` without pagers. Errors name the settings key (a
/// missing secret).
pub fn dispatcher_from_settings(
    settings: &crate::config::Settings,
    links: Arc<dyn PageLinks>,
    store: crate::store::Store,
    metrics: crate::telemetry::Metrics,
    clock: crate::engine::Clock,
) -> Result<Option<Arc<Dispatcher>>, String> {
    if settings.pagers.is_empty() {
        return Ok(None);
    }
    let timeout = Duration::from_secs(settings.paging.timeout_seconds);
    let pagers = build(&settings.pagers, timeout)?;
    let list = IncidentLinksOnly::new(settings.public_url.as_deref())
        .at("/incidents?state=awaiting-approval");
    Ok(Some(Dispatcher::new(
        store,
        pagers,
        settings.paging.clone(),
        links,
        list,
        metrics,
        clock,
    )))
}
