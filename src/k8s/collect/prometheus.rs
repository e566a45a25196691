//! The one place nightshift talks to metrics endpoints: the Prometheus HTTP API (`/api/v1/query`
//! and `/api/v1/query_range`) and a pod's own scrape endpoint. Every request has a timeout and a
//! byte ceiling; every answer goes through the parsers replay uses ([`super::series`]).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::series::{self, SeriesBounds};
use crate::domain::evidence::MetricFacts;

/// The environment variable holding the Prometheus bearer token, when `prometheus.token_file`
/// is not set.
pub const TOKEN_ENV: &str = "NIGHTSHIFT_PROMETHEUS_TOKEN";

/// `prometheus:` settings: where the playbooks' metric queries run, and how pods are scraped
/// when no Prometheus is configured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct PrometheusSettings {
    /// Base URL of the Prometheus HTTP API (`http://prometheus.monitoring:9090`). Without it, the
    /// playbooks' queries are not run and the target's pods are scraped directly instead.
    pub url: Option<String>,
    /// A file holding the bearer token sent to Prometheus (re-read on every query, so a rotated
    /// token is picked up); without it, `NIGHTSHIFT_PROMETHEUS_TOKEN` if set.
    pub token_file: Option<PathBuf>,
    /// Timeout of one query or one scrape, in seconds (1 – 60).
    pub timeout_seconds: u64,
    /// How far back a range query reads, in minutes (1 – 1440).
    pub range_minutes: u64,
    /// The step of a range query, in seconds (at least `range_minutes * 60 / 11000`, Prometheus'
    /// own point limit).
    pub step_seconds: u64,
    /// Series kept per query (or per scraped metric family).
    pub max_series: usize,
    /// Points kept per series of a range query, evenly thinned.
    pub max_points: usize,
    /// Bytes read of one answer or scrape; a larger one is refused, not truncated.
    pub max_bytes: usize,
    /// Pods whose queries run (the target's pods, unhealthy and newest first).
    pub max_pods: usize,
    /// Without `url`: scrape the target's pods that carry `prometheus.io/scrape: "true"` at
    /// `http://<podIP>:<prometheus.io/port><prometheus.io/path>` over the pod network.
    pub scrape_pods: bool,
}

impl Default for PrometheusSettings {
    fn default() -> Self {
        Self {
            url: None,
            token_file: None,
            timeout_seconds: 5,
            range_minutes: 60,
            step_seconds: 60,
            max_series: 20,
            max_points: 60,
            max_bytes: 4 * 1024 * 1024,
            max_pods: 3,
            scrape_pods: true,
        }
    }
}

impl PrometheusSettings {
    /// What is wrong with the settings, naming the key.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(url) = &self.url {
            let parsed = reqwest::Url::parse(url)
                .map_err(|e| format!("prometheus.url {url:?} is not a URL: {e}"))?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err(format!("prometheus.url {url:?} must be http or https"));
            }
        }
        if !(1..=60).contains(&self.timeout_seconds) {
            return Err(format!(
                "prometheus.timeout_seconds: {} must be between 1 and 60",
                self.timeout_seconds
            ));
        }
        if !(1..=1440).contains(&self.range_minutes) {
            return Err(format!(
                "prometheus.range_minutes: {} must be between 1 and 1440",
                self.range_minutes
            ));
        }
        if self.step_seconds == 0 || self.range_minutes * 60 / self.step_seconds > 11_000 {
            return Err(format!(
                "prometheus.step_seconds: {} gives more than 11000 points over {} minutes",
                self.step_seconds, self.range_minutes
            ));
        }
        for (key, value, max) in [
            ("max_series", self.max_series, 1000),
            ("max_points", self.max_points, 1000),
            ("max_pods", self.max_pods, 50),
            ("max_bytes", self.max_bytes, 64 * 1024 * 1024),
        ] {
            if !(1..=max).contains(&value) {
                return Err(format!(
                    "prometheus.{key}: {value} must be between 1 and {max}"
                ));
            }
        }
        Ok(())
    }

    fn bounds(&self) -> SeriesBounds {
        SeriesBounds {
            max_series: self.max_series,
            max_points: self.max_points,
        }
    }
}

/// Why a query or scrape yielded nothing.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// The request failed (refused, timed out, TLS...).
    #[error("{what}: {source}")]
    Request {
        /// What was asked.
        what: String,
        /// Why.
        #[source]
        source: reqwest::Error,
    },
    /// The endpoint answered with an error status.
    #[error("{what}: HTTP {status}: {body}")]
    Status {
        /// What was asked.
        what: String,
        /// The status.
        status: u16,
        /// The start of the body (Prometheus' error text).
        body: String,
    },
    /// The answer was larger than `prometheus.max_bytes`.
    #[error("{what}: answer larger than {max} bytes, not read")]
    TooLarge {
        /// What was asked.
        what: String,
        /// The ceiling.
        max: usize,
    },
    /// The answer could not be read as metrics, or the query could not be made.
    #[error("{what}: {message}")]
    Invalid {
        /// What was asked.
        what: String,
        /// What is wrong.
        message: String,
    },
}

/// Talks to Prometheus and to pods' scrape endpoints.
#[derive(Clone)]
pub struct MetricsClient {
    http: reqwest::Client,
    settings: PrometheusSettings,
}

impl MetricsClient {
    /// A client for `settings` (already validated).
    pub fn new(settings: PrometheusSettings) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(settings.timeout_seconds))
            .connect_timeout(Duration::from_secs(settings.timeout_seconds))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("prometheus: cannot build the HTTP client: {e}"))?;
        Ok(Self { http, settings })
    }

    /// The settings.
    pub fn settings(&self) -> &PrometheusSettings {
        &self.settings
    }

    fn token(&self) -> Result<Option<String>, String> {
        match &self.settings.token_file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    format!("prometheus.token_file {}: cannot read: {e}", path.display())
                })?;
                let token = text.trim().to_owned();
                if token.is_empty() {
                    return Err(format!(
                        "prometheus.token_file {}: is empty",
                        path.display()
                    ));
                }
                Ok(Some(token))
            }
            None => Ok(std::env::var(TOKEN_ENV)
                .ok()
                .filter(|t| !t.trim().is_empty())),
        }
    }

    /// Runs `promql` against Prometheus at `now` (an instant query) or over
    /// `prometheus.range_minutes` up to `now` (a range query), as facts named `name`.
    pub async fn query(
        &self,
        name: &str,
        promql: &str,
        now: Timestamp,
        range: bool,
    ) -> Result<MetricFacts, MetricsError> {
        let what = format!("prometheus query {name}");
        let invalid = |message: String| MetricsError::Invalid {
            what: what.clone(),
            message,
        };
        let base = self
            .settings
            .url
            .as_deref()
            .ok_or_else(|| invalid("prometheus.url is not set".into()))?;
        let end = seconds(now);
        let mut params = vec![("query", promql.to_owned())];
        let path = if range {
            let span = SignedDuration::from_mins(self.settings.range_minutes as i64);
            params.push(("start", seconds(now - span)));
            params.push(("end", end));
            params.push(("step", format!("{}s", self.settings.step_seconds)));
            "api/v1/query_range"
        } else {
            params.push(("time", end));
            "api/v1/query"
        };
        let url = format!("{}/{path}", base.trim_end_matches('/'));
        let mut request = self.http.post(url).form(&params);
        if let Some(token) = self.token().map_err(invalid)? {
            request = request.bearer_auth(token);
        }
        let body = self.read(&what, request).await?;
        let value: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|e| invalid(format!("answer is not JSON: {e}")))?;
        series::from_api_response(name, &value, self.settings.bounds()).map_err(invalid)
    }

    /// Scrapes `url` (a pod's own metrics endpoint) and keeps the families the diagnoser reads,
    /// labelled with `target`.
    pub async fn scrape(
        &self,
        url: &str,
        target: &BTreeMap<String, String>,
        now: Timestamp,
    ) -> Result<Vec<MetricFacts>, MetricsError> {
        let what = format!("scrape {url}");
        let request = self
            .http
            .get(url)
            .header(reqwest::header::ACCEPT, "text/plain;version=0.0.4");
        let body = self.read(&what, request).await?;
        let text = String::from_utf8_lossy(&body);
        series::from_scrape(&text, target, now, self.settings.bounds())
            .map_err(|message| MetricsError::Invalid { what, message })
    }

    /// Sends `request` and reads its body, at most `max_bytes`.
    async fn read(
        &self,
        what: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<Vec<u8>, MetricsError> {
        let failed = |source| MetricsError::Request {
            what: what.to_owned(),
            source,
        };
        let max = self.settings.max_bytes;
        let mut response = request.send().await.map_err(failed)?;
        let status = response.status();
        let too_large = || MetricsError::TooLarge {
            what: what.to_owned(),
            max,
        };
        if response.content_length().is_some_and(|n| n > max as u64) {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(failed)? {
            if body.len() + chunk.len() > max {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        if !status.is_success() {
            // Prometheus explains a bad query in a JSON body with a 400 or 422.
            let text: String = String::from_utf8_lossy(&body).chars().take(300).collect();
            return Err(MetricsError::Status {
                what: what.to_owned(),
                status: status.as_u16(),
                body: text,
            });
        }
        Ok(body)
    }
}

/// Unix seconds, as Prometheus takes them.
fn seconds(t: Timestamp) -> String {
    format!("{:.3}", t.as_millisecond() as f64 / 1000.0)
}
