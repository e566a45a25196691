//! Who may call the front door: a bearer token (`NIGHTSHIFT_API_TOKEN` or `http.token_file`),
//! basic auth (`NIGHTSHIFT_API_BASIC=user:password`), or a user header set by an auth proxy in
//! front (`http.user_header`), believed only when the connection comes from one of
//! `http.trusted_proxies`. Secrets are compared in constant time over their SHA-256 digests, so
//! neither their contents nor their lengths leak through timing. `/healthz`, `/readyz` and
//! `/metrics` are mounted outside this layer.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderName, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::error::ApiError;
use super::settings::{AuthMode, HttpSettings};

/// The environment variable holding the bearer token.
pub const TOKEN_ENV: &str = "NIGHTSHIFT_API_TOKEN";
/// The environment variable holding `user:password` for basic auth.
pub const BASIC_ENV: &str = "NIGHTSHIFT_API_BASIC";

/// The caller a request was authenticated as, put in the request's extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller(pub String);

/// The groups of a caller authenticated by the trusted proxy's user header, from
/// `http.groups_header` (empty otherwise), put in the request's extensions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallerGroups(pub Vec<String>);

/// The credentials the daemon accepts, read once at start-up.
#[derive(Debug, Clone, Default)]
pub struct Auth {
    /// `false` only when `http.auth: none`.
    pub required: bool,
    token: Option<[u8; 32]>,
    basic: Option<(String, [u8; 32])>,
    user_header: Option<HeaderName>,
    groups_header: Option<HeaderName>,
    proxies: Vec<IpAddr>,
}

fn digest(secret: &[u8]) -> [u8; 32] {
    Sha256::digest(secret).into()
}

fn same(a: &[u8; 32], b: &[u8]) -> bool {
    a.ct_eq(&digest(b)).into()
}

impl Auth {
    /// Credentials from the settings and the environment (`env` looks a variable up).
    pub fn load(
        settings: &HttpSettings,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Auth, String> {
        let token = match &settings.token_file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("http.token_file {}: {e}", path.display()))?;
                let line = text.lines().next().unwrap_or("").trim().to_owned();
                if line.is_empty() {
                    return Err(format!("http.token_file {}: is empty", path.display()));
                }
                Some(line)
            }
            None => env(TOKEN_ENV).filter(|t| !t.trim().is_empty()),
        };
        let basic = match env(BASIC_ENV).filter(|b| !b.is_empty()) {
            Some(pair) => {
                let (user, password) = pair
                    .split_once(':')
                    .filter(|(u, p)| !u.is_empty() && !p.is_empty())
                    .ok_or_else(|| format!("{BASIC_ENV} must be user:password"))?;
                Some((user.to_owned(), digest(password.as_bytes())))
            }
            None => None,
        };
        let user_header = match &settings.user_header {
            Some(name) => Some(
                HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| format!("http.user_header: {name:?} is not a header name"))?,
            ),
            None => None,
        };
        let groups_header = match &settings.groups_header {
            Some(name) => Some(
                HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| format!("http.groups_header: {name:?} is not a header name"))?,
            ),
            None => None,
        };
        Ok(Auth {
            required: settings.auth == AuthMode::Required,
            groups_header,
            token: token.map(|t| digest(t.trim().as_bytes())),
            basic,
            user_header,
            proxies: settings.trusted_proxies.clone(),
        })
    }

    /// A bearer token only: for tests and embedding.
    pub fn bearer(token: &str) -> Auth {
        Auth {
            required: true,
            token: Some(digest(token.as_bytes())),
            ..Auth::default()
        }
    }

    /// Whether any way in is configured (else every request is 401).
    pub fn has_credentials(&self) -> bool {
        self.token.is_some() || self.basic.is_some() || self.user_header.is_some()
    }

    /// What start-up should say about authentication.
    pub fn describe(&self) -> String {
        if !self.required {
            return "authentication is OFF (http.auth: none): anyone who reaches the port may post alerts and read incidents".into();
        }
        if !self.has_credentials() {
            return format!(
                "no credential configured ({TOKEN_ENV}, http.token_file, {BASIC_ENV} or http.user_header): every request but /healthz, /readyz and /metrics is answered 401"
            );
        }
        let mut ways = Vec::new();
        if self.token.is_some() {
            ways.push("bearer token".to_owned());
        }
        if self.basic.is_some() {
            ways.push("basic auth".to_owned());
        }
        if let Some(h) = &self.user_header {
            ways.push(format!("{h} from {:?}", self.proxies));
        }
        format!("authentication: {}", ways.join(", "))
    }

    /// Who the request comes from, or `None` (401).
    pub fn authenticate(&self, headers: &HeaderMap, peer: Option<IpAddr>) -> Option<Caller> {
        if !self.required {
            return Some(Caller("anonymous".into()));
        }
        if let Some(header) = &self.user_header
            && peer.is_some_and(|p| self.proxies.contains(&p))
            && let Some(user) = headers.get(header).and_then(|v| v.to_str().ok())
            && !user.trim().is_empty()
        {
            return Some(Caller(user.trim().to_owned()));
        }
        let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
        let (scheme, rest) = value.split_once(' ')?;
        let rest = rest.trim();
        if scheme.eq_ignore_ascii_case("bearer") {
            let token = self.token.as_ref()?;
            return same(token, rest.as_bytes()).then(|| Caller("bearer".into()));
        }
        if scheme.eq_ignore_ascii_case("basic") {
            let (user, password) = self.basic.as_ref()?;
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(rest)
                .ok()?;
            let decoded = String::from_utf8(decoded).ok()?;
            let (u, p) = decoded.split_once(':')?;
            let user_ok: bool = digest(user.as_bytes()).ct_eq(&digest(u.as_bytes())).into();
            let password_ok = same(password, p.as_bytes());
            return (user_ok & password_ok).then(|| Caller(user.clone()));
        }
        None
    }
}

impl Auth {
    /// The caller's groups: only from a trusted proxy that also set the user header.
    pub fn groups(&self, headers: &HeaderMap, peer: Option<IpAddr>) -> CallerGroups {
        let (Some(user), Some(groups)) = (&self.user_header, &self.groups_header) else {
            return CallerGroups::default();
        };
        if !peer.is_some_and(|p| self.proxies.contains(&p)) || !headers.contains_key(user) {
            return CallerGroups::default();
        }
        let list = headers
            .get_all(groups)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|g| !g.is_empty())
            .map(str::to_owned)
            .collect();
        CallerGroups(list)
    }
}

/// The middleware: 401 with a JSON error and `WWW-Authenticate` unless the caller is known.
pub async fn require(
    State(auth): State<std::sync::Arc<Auth>>,
    mut request: Request,
    next: Next,
) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    match auth.authenticate(request.headers(), peer) {
        Some(caller) => {
            let groups = auth.groups(request.headers(), peer);
            request.extensions_mut().insert(caller);
            request.extensions_mut().insert(groups);
            next.run(request).await
        }
        None => {
            let mut response = ApiError::new(
                StatusCode::UNAUTHORIZED,
                "authentication required: a bearer token, basic auth or a trusted proxy's user header",
            )
            .into_response();
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer realm=\"nightshift\""),
            );
            response
        }
    }
}
