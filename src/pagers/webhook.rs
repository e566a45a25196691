//! The generic webhook: the page as JSON, timestamped and signed with HMAC-SHA256 so a
//! receiver can tell it came from nightshift and is fresh. The signed string is
//! `{timestamp}.{body}`; the headers are [`TIMESTAMP_HEADER`] (unix seconds) and
//! [`SIGNATURE_HEADER`] (`v1=` and the lowercase hex MAC). docs/paging.md shows a receiver.

use futures::future::BoxFuture;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use super::content::Page;
use super::{Delivery, Pager, PagerError, post_json, to_bytes};

/// The header carrying the unix time (seconds) the page was signed at.
pub const TIMESTAMP_HEADER: &str = "X-Nightshift-Timestamp";
/// The header carrying `v1=<hex HMAC-SHA256 of "{timestamp}.{body}">`.
pub const SIGNATURE_HEADER: &str = "X-Nightshift-Signature";
/// How far a receiver should let the timestamp be from its clock (either way), in seconds.
pub const DEFAULT_REPLAY_WINDOW_SECONDS: i64 = 300;

type HmacSha256 = Hmac<Sha256>;

/// A generic webhook receiver.
pub struct Webhook {
    name: String,
    url: String,
    secret: Vec<u8>,
    client: reqwest::Client,
}

impl Webhook {
    /// A pager named `name` posting signed pages to `url`.
    pub fn new(name: &str, url: &str, secret: &[u8], client: reqwest::Client) -> Webhook {
        Webhook {
            name: name.to_owned(),
            url: url.to_owned(),
            secret: secret.to_vec(),
            client,
        }
    }
}

impl Pager for Webhook {
    fn name(&self) -> &str {
        &self.name
    }

    fn send<'a>(&'a self, delivery: &'a Delivery) -> BoxFuture<'a, Result<(), PagerError>> {
        Box::pin(async move {
            let body = to_bytes(&encode(&delivery.dedup_key, &delivery.page))?;
            let now = jiff::Timestamp::now().as_second();
            let signature = sign(&self.secret, now, &body);
            let headers = [
                (TIMESTAMP_HEADER, now.to_string()),
                (SIGNATURE_HEADER, signature),
            ];
            post_json(&self.client, &self.url, body, &headers).await
        })
    }
}

/// The JSON body: the page with its dedup key.
pub fn encode(dedup_key: &str, page: &Page) -> Value {
    json!({"dedup_key": dedup_key, "page": page})
}

/// The signature header value for `body` signed at `timestamp` (unix seconds).
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    format!(
        "v1={}",
        crate::domain::plan::hex(&mac(secret, timestamp, body))
    )
}

fn mac(secret: &[u8], timestamp: i64, body: &[u8]) -> Vec<u8> {
    // HMAC takes a key of any length.
    let mut mac = <HmacSha256 as Mac>::new_from_slice(secret).unwrap_or_else(|_| unreachable!());
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize().into_bytes().to_vec()
}

/// Why a signed request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The timestamp header is missing or not an integer.
    #[error("the {TIMESTAMP_HEADER} header is missing or not unix seconds")]
    BadTimestamp,
    /// The timestamp is outside the replay window.
    #[error("the request was signed {0} s away from now, outside the replay window")]
    Stale(i64),
    /// No `v1=` signature matches any of the secrets.
    #[error("no {SIGNATURE_HEADER} signature matches")]
    Mismatch,
}

/// Verifies a request as a receiver should: the timestamp within `window_seconds` of `now`
/// (unix seconds), and one of the `v1=` signatures in `signature` (comma-separated) matching
/// one of `secrets` (several, for rotation), compared in constant time.
pub fn verify(
    secrets: &[&[u8]],
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now: i64,
    window_seconds: i64,
) -> Result<(), VerifyError> {
    let ts: i64 = timestamp
        .and_then(|t| t.trim().parse().ok())
        .ok_or(VerifyError::BadTimestamp)?;
    let skew = now.saturating_sub(ts);
    if skew.abs() > window_seconds {
        return Err(VerifyError::Stale(skew));
    }
    let offered: Vec<&str> = signature
        .unwrap_or("")
        .split(',')
        .filter_map(|s| s.trim().strip_prefix("v1="))
        .collect();
    for secret in secrets {
        let Ok(mut mac) = <HmacSha256 as Mac>::new_from_slice(secret) else {
            continue;
        };
        mac.update(ts.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        let expected = mac.finalize().into_bytes();
        for hex in &offered {
            if let Some(bytes) = unhex(hex) {
                use subtle::ConstantTimeEq;
                if bool::from(bytes.as_slice().ct_eq(expected.as_slice())) {
                    return Ok(());
                }
            }
        }
    }
    Err(VerifyError::Mismatch)
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{VerifyError, sign, verify};

    const BODY: &[u8] = br#"{"dedup_key":"inc-1"}"#;

    #[test]
    fn a_signed_body_verifies_within_the_window_and_with_a_rotated_secret() {
        let signature = sign(b"new", 1_000, BODY);
        let ts = Some("1000");
        assert_eq!(
            verify(&[b"new"], ts, Some(&signature), BODY, 1_000, 300),
            Ok(())
        );
        assert_eq!(
            verify(&[b"old", b"new"], ts, Some(&signature), BODY, 1_299, 300),
            Ok(())
        );
        let both = format!("v1=00ff, {signature}");
        assert_eq!(verify(&[b"new"], ts, Some(&both), BODY, 700, 300), Ok(()));
    }

    #[test]
    fn a_replayed_tampered_or_unsigned_body_is_refused_and_says_why() {
        let signature = sign(b"k", 1_000, BODY);
        let ts = Some("1000");
        assert_eq!(
            verify(&[b"k"], ts, Some(&signature), BODY, 1_301, 300),
            Err(VerifyError::Stale(301))
        );
        assert_eq!(
            verify(&[b"k"], ts, Some(&signature), b"{}", 1_000, 300),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            verify(&[b"other"], ts, Some(&signature), BODY, 1_000, 300),
            Err(VerifyError::Mismatch)
        );
        // The timestamp is signed: moving it forward to dodge the window breaks the MAC.
        assert_eq!(
            verify(&[b"k"], Some("1300"), Some(&signature), BODY, 1_301, 300),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            verify(&[b"k"], None, Some(&signature), BODY, 1_000, 300),
            Err(VerifyError::BadTimestamp)
        );
        assert_eq!(
            verify(&[b"k"], ts, None, BODY, 1_000, 300),
            Err(VerifyError::Mismatch)
        );
    }
}
