//! Pager settings: which pagers exist (`pagers:`), where pages go (`paging.routes`), how a wide
//! outage is grouped, how fast pages may leave and how undeliverable ones are retried. Secrets
//! (routing keys, Slack webhook URLs, signing secrets) come from the environment or a file,
//! never from the settings file itself.

use std::collections::BTreeMap;
use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::domain::incident::Severity;

/// PagerDuty's Events API v2 endpoint.
pub const PAGERDUTY_EVENTS_URL: &str = "https://events.pagerduty.com/v2/enqueue";

/// Which service a pager talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PagerKind {
    /// PagerDuty Events API v2.
    Pagerduty,
    /// A Slack incoming webhook.
    Slack,
    /// Any HTTP endpoint: a JSON body signed with HMAC-SHA256 (see docs/paging.md).
    Webhook,
}

impl PagerKind {
    /// The settings name.
    pub fn as_str(self) -> &'static str {
        match self {
            PagerKind::Pagerduty => "pagerduty",
            PagerKind::Slack => "slack",
            PagerKind::Webhook => "webhook",
        }
    }
}

/// One pager (`pagers[N]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PagerSettings {
    /// `pagerduty`, `slack` or `webhook`.
    pub kind: PagerKind,
    /// The name routes, the store and `/metrics` use; default: the kind. Unique.
    pub name: Option<String>,
    /// PagerDuty: the events URL (default PagerDuty's). Webhook: where pages are POSTed.
    /// Slack's URL holds a token: give it with `webhook_url_env` or `webhook_url_file`.
    pub url: Option<String>,
    /// PagerDuty: the environment variable holding the integration's routing key.
    pub routing_key_env: Option<String>,
    /// PagerDuty: a file holding the routing key.
    pub routing_key_file: Option<PathBuf>,
    /// Slack (or a webhook whose URL is a secret): the environment variable holding the URL.
    pub webhook_url_env: Option<String>,
    /// Slack (or a webhook whose URL is a secret): a file holding the URL.
    pub webhook_url_file: Option<PathBuf>,
    /// Webhook: the environment variable holding the HMAC-SHA256 signing secret.
    pub secret_env: Option<String>,
    /// Webhook: a file holding the signing secret.
    pub secret_file: Option<PathBuf>,
}

impl PagerSettings {
    /// The pager's name.
    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or(self.kind.as_str())
    }
}

/// Where pages go, how they are grouped, limited and retried (`paging:`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct PagingSettings {
    /// Routes, first match wins. Without any, every pager receives pages of `warning` and
    /// `critical` incidents.
    pub routes: Vec<Route>,
    /// Grouping during a wide outage.
    pub group: GroupSettings,
    /// Pages per minute each pager may send (governor quota), and the burst above it.
    pub per_minute: u32,
    /// How many pages may leave at once before the per-minute rate applies.
    pub burst: u32,
    /// HTTP attempts per delivery round (429, 5xx and network errors are retried with
    /// exponential backoff); 1 – 20.
    pub attempts: usize,
    /// The longest pause between two attempts, in seconds.
    pub max_backoff_seconds: u64,
    /// After a round fails, how long until the next one, in seconds (also how often pending
    /// deliveries are looked for).
    pub retry_seconds: u64,
    /// How long an undeliverable page keeps being retried before it is recorded `failed`, in
    /// minutes.
    pub give_up_minutes: u64,
    /// How long one HTTP request may take, in seconds.
    pub timeout_seconds: u64,
}

impl Default for PagingSettings {
    fn default() -> Self {
        Self {
            routes: Vec::new(),
            group: GroupSettings::default(),
            per_minute: 60,
            burst: 10,
            attempts: 5,
            max_backoff_seconds: 30,
            retry_seconds: 60,
            give_up_minutes: 24 * 60,
            timeout_seconds: 10,
        }
    }
}

/// One route: incidents it matches go to `pagers`. Every condition given must hold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// The pagers (by name) that receive the matched incidents; empty: page nobody.
    pub pagers: Vec<String>,
    /// Severities matched; empty or absent: any.
    #[serde(default)]
    pub severity: Vec<Severity>,
    /// Namespaces matched (the incident target's); empty or absent: any.
    #[serde(default)]
    pub namespaces: Vec<String>,
    /// Labels the signal must carry with these values.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// Grouping: when `threshold` incidents have been paged to one pager within `window_seconds`,
/// the next ones in that window are not paged one by one: one grouped page says a wide outage
/// is under way and points at the incident list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct GroupSettings {
    /// Incidents paged individually per window; 0 turns grouping off.
    pub threshold: u32,
    /// The window, in seconds.
    pub window_seconds: u64,
}

impl Default for GroupSettings {
    fn default() -> Self {
        Self {
            threshold: 5,
            window_seconds: 300,
        }
    }
}

/// Checks pager and paging settings; the error names the key.
pub fn validate(
    public_url: Option<&str>,
    pagers: &[PagerSettings],
    paging: &PagingSettings,
) -> Result<(), String> {
    if let Some(url) = public_url {
        check_url("public_url", url)?;
    }
    let mut names = std::collections::BTreeSet::new();
    for (i, pager) in pagers.iter().enumerate() {
        let key = format!("pagers[{i}]");
        if !names.insert(pager.name()) {
            return Err(format!(
                "{key}.name: {:?} is used twice (give each pager a distinct name)",
                pager.name()
            ));
        }
        validate_pager(&key, pager)?;
    }
    for (i, route) in paging.routes.iter().enumerate() {
        for name in &route.pagers {
            if !names.contains(name.as_str()) {
                return Err(format!(
                    "paging.routes[{i}].pagers: no pager is named {name:?}"
                ));
            }
        }
    }
    if !(1..=20).contains(&paging.attempts) {
        return Err(format!(
            "paging.attempts: {} must be between 1 and 20",
            paging.attempts
        ));
    }
    for (key, value) in [
        ("paging.per_minute", u64::from(paging.per_minute)),
        ("paging.burst", u64::from(paging.burst)),
        ("paging.max_backoff_seconds", paging.max_backoff_seconds),
        ("paging.retry_seconds", paging.retry_seconds),
        ("paging.give_up_minutes", paging.give_up_minutes),
        ("paging.timeout_seconds", paging.timeout_seconds),
    ] {
        if value == 0 {
            return Err(format!("{key}: must be greater than zero"));
        }
    }
    if paging.group.threshold > 0 && paging.group.window_seconds == 0 {
        return Err("paging.group.window_seconds: must be greater than zero".into());
    }
    Ok(())
}

fn validate_pager(key: &str, pager: &PagerSettings) -> Result<(), String> {
    if let Some(url) = &pager.url {
        check_url(&format!("{key}.url"), url)?;
    }
    let routing = pager.routing_key_env.is_some() || pager.routing_key_file.is_some();
    let hook = pager.webhook_url_env.is_some() || pager.webhook_url_file.is_some();
    let secret = pager.secret_env.is_some() || pager.secret_file.is_some();
    match pager.kind {
        PagerKind::Pagerduty => {
            if !routing {
                return Err(format!(
                    "{key}: a pagerduty pager needs routing_key_env or routing_key_file"
                ));
            }
            refuse(key, "webhook_url_env/webhook_url_file", hook)?;
            refuse(key, "secret_env/secret_file", secret)?;
        }
        PagerKind::Slack => {
            if !hook {
                return Err(format!(
                    "{key}: a slack pager needs webhook_url_env or webhook_url_file (the URL holds a token, so it never sits in the settings file)"
                ));
            }
            refuse(key, "url", pager.url.is_some())?;
            refuse(key, "routing_key_env/routing_key_file", routing)?;
            refuse(key, "secret_env/secret_file", secret)?;
        }
        PagerKind::Webhook => {
            if pager.url.is_none() && !hook {
                return Err(format!(
                    "{key}: a webhook pager needs url, webhook_url_env or webhook_url_file"
                ));
            }
            if !secret {
                return Err(format!(
                    "{key}: a webhook pager needs secret_env or secret_file (pages are signed)"
                ));
            }
            refuse(key, "routing_key_env/routing_key_file", routing)?;
        }
    }
    Ok(())
}

fn refuse(key: &str, what: &str, given: bool) -> Result<(), String> {
    if given {
        return Err(format!(
            "{key}: {what} does not apply to this kind of pager"
        ));
    }
    Ok(())
}

fn check_url(key: &str, url: &str) -> Result<(), String> {
    match reqwest::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => Ok(()),
        Ok(u) => Err(format!(
            "{key}: {url:?} must be an http or https URL with a host (scheme {:?})",
            u.scheme()
        )),
        Err(err) => Err(format!("{key}: {url:?} is not a URL: {err}")),
    }
}

/// Reads a secret from the environment variable or file the settings name; `key` is the
/// settings key reported when it is missing or empty.
pub fn secret(
    key: &str,
    env: Option<&str>,
    file: Option<&std::path::Path>,
) -> Result<Option<String>, String> {
    let value = match (env, file) {
        (Some(var), _) => std::env::var(var)
            .map_err(|_| format!("{key}_env: environment variable {var} is not set"))?,
        (None, Some(path)) => std::fs::read_to_string(path)
            .map_err(|e| format!("{key}_file: cannot read {}: {e}", path.display()))?,
        (None, None) => return Ok(None),
    };
    let value = value.trim().to_owned();
    if value.is_empty() {
        return Err(format!("{key}: the secret is empty"));
    }
    Ok(Some(value))
}
