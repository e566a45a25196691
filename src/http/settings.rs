//! The `http:` settings: where the front door listens, how callers prove who they are, and how
//! big a request may be. Validated with the rest of the settings at start-up.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How requests to everything but `/healthz`, `/readyz` and `/metrics` are authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum AuthMode {
    /// Bearer token, basic auth or the trusted user header, whichever is configured (default).
    /// With none configured every request is refused with 401.
    #[default]
    Required,
    /// No authentication at all: for local use only, and said loudly at start-up.
    None,
}

/// The daemon's HTTP server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct HttpSettings {
    /// Where to listen (`0.0.0.0:8080`); `nightshift run --listen` wins over it.
    pub listen: Option<SocketAddr>,
    /// `required` (default) or `none` (explicitly off, local use only).
    pub auth: AuthMode,
    /// A file whose first line is the bearer token; the environment variable
    /// `NIGHTSHIFT_API_TOKEN` is used when this is unset.
    pub token_file: Option<PathBuf>,
    /// A header an auth proxy in front sets to the user's name (`X-Forwarded-User`,
    /// `X-Auth-Request-User`); believed only from `trusted_proxies`.
    pub user_header: Option<String>,
    /// A header the auth proxy sets to the user's groups, comma-separated (`X-Forwarded-Groups`);
    /// believed only from `trusted_proxies` together with `user_header`. Approver rules
    /// (`approvers:`) may name groups.
    pub groups_header: Option<String>,
    /// Addresses of the auth proxies whose `user_header` is believed.
    pub trusted_proxies: Vec<IpAddr>,
    /// Largest request body accepted, in bytes (413 above it).
    pub max_body_bytes: usize,
    /// Serve HTTPS with this certificate and key instead of plain HTTP (for setups without a
    /// TLS-terminating proxy in front).
    pub tls: Option<TlsSettings>,
}

/// `http.tls`: PEM files, read once at start-up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TlsSettings {
    /// The certificate chain, leaf first (PEM).
    pub cert_file: PathBuf,
    /// Its private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key_file: PathBuf,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            listen: None,
            auth: AuthMode::Required,
            token_file: None,
            user_header: None,
            groups_header: None,
            trusted_proxies: Vec::new(),
            max_body_bytes: 1024 * 1024,
            tls: None,
        }
    }
}

impl HttpSettings {
    /// Checks the settings; the message names the key.
    pub fn validate(&self) -> Result<(), String> {
        if !(1024..=64 * 1024 * 1024).contains(&self.max_body_bytes) {
            return Err(format!(
                "http.max_body_bytes: {} must be between 1024 and 67108864",
                self.max_body_bytes
            ));
        }
        if let Some(header) = &self.user_header
            && http::HeaderName::from_bytes(header.as_bytes()).is_err()
        {
            return Err(format!("http.user_header: {header:?} is not a header name"));
        }
        if let Some(header) = &self.groups_header
            && (http::HeaderName::from_bytes(header.as_bytes()).is_err()
                || self.user_header.is_none())
        {
            return Err(format!(
                "http.groups_header: {header:?} must be a header name, and needs http.user_header"
            ));
        }
        if self.user_header.is_some() && self.trusted_proxies.is_empty() {
            return Err(
                "http.user_header needs http.trusted_proxies: the addresses of the proxy that sets it"
                    .into(),
            );
        }
        Ok(())
    }
}
