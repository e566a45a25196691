//! Approve and deny by signed link. A page carries two links, `/approve/{token}` and
//! `/deny/{token}`, whose token holds signed claims {incident, plan hash, decision, issued,
//! expires, nonce, key id} ([`token`]). Opening a link (GET) only shows a confirmation page; the
//! form on that page POSTs back with a hidden field bound to the token and the caller, and only
//! that POST decides ([`http`]). The decision goes through [`crate::approval::answer_with`], the
//! path the CLI uses, and the link's nonce is consumed in the same transaction: a link decides
//! once. Keys come from the environment or a key file ([`keys`]).

pub mod http;
pub mod keys;
mod page;
#[cfg(test)]
mod tests;
pub mod token;

use jiff::{SignedDuration, Timestamp};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use keys::{KEYS_ENV, KeySource};
pub use token::{Claims, Key, Keyring, LinkDecision, LinkError};

/// The `links:` settings section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct LinkSettings {
    /// A file of link-signing keys (`id:base64-secret` lines, the first signs). Without it and
    /// without `NIGHTSHIFT_LINK_KEYS`, a SQLite store keeps a generated key beside its database;
    /// a PostgreSQL store needs one of the two.
    pub key_file: Option<std::path::PathBuf>,
    /// How long a link stays usable after the page is sent (e.g. `30m`).
    #[schemars(with = "String")]
    pub valid_for: SignedDuration,
}

impl Default for LinkSettings {
    fn default() -> Self {
        Self {
            key_file: None,
            valid_for: SignedDuration::from_mins(30),
        }
    }
}

impl LinkSettings {
    /// Checks the values.
    pub fn validate(&self) -> Result<(), String> {
        if self.valid_for < SignedDuration::from_mins(1)
            || self.valid_for > SignedDuration::from_hours(24 * 7)
        {
            return Err(format!(
                "links.valid_for: {:#} is out of range (1m to 7d)",
                self.valid_for
            ));
        }
        Ok(())
    }
}

/// Makes approve and deny URLs for pages.
#[derive(Debug, Clone)]
pub struct LinkSigner {
    keys: Keyring,
    public_url: String,
    valid_for: SignedDuration,
    clock: fn() -> Timestamp,
}

impl LinkSigner {
    /// A signer for links under `public_url` (e.g. `https://nightshift.example.org`), valid for
    /// `valid_for` from the moment they are made.
    pub fn new(keys: Keyring, public_url: &str, valid_for: SignedDuration) -> LinkSigner {
        LinkSigner {
            keys,
            public_url: public_url.trim_end_matches('/').to_owned(),
            valid_for,
            clock: Timestamp::now,
        }
    }

    /// The keys.
    pub fn keys(&self) -> &Keyring {
        &self.keys
    }

    /// A token for `decision` on plan `plan_hash` of incident `id`, issued at `now`.
    pub fn token(
        &self,
        id: &str,
        plan_hash: &str,
        decision: LinkDecision,
        now: Timestamp,
    ) -> Result<String, String> {
        let mut nonce = [0u8; 16];
        getrandom::fill(&mut nonce).map_err(|e| format!("no randomness for a link nonce: {e}"))?;
        let nonce: String = nonce.iter().map(|b| format!("{b:02x}")).collect();
        let claims = Claims {
            incident: id.to_owned(),
            plan_hash: plan_hash.to_owned(),
            decision,
            issued: now.as_second(),
            expires: (now + self.valid_for).as_second(),
            nonce,
            key_id: String::new(),
        };
        Ok(self.keys.sign(claims))
    }

    fn url(&self, id: &str, plan_hash: &str, decision: LinkDecision) -> String {
        match self.token(id, plan_hash, decision, (self.clock)()) {
            Ok(token) => format!("{}/{}/{token}", self.public_url, decision.as_str()),
            // Without randomness there is no safe link: point at the incident page instead.
            Err(err) => {
                tracing::error!(incident = %id, error = %err, "cannot make an approval link");
                format!("{}/incidents/{id}", self.public_url)
            }
        }
    }

    /// The URL that approves plan `plan_hash` of incident `id` (after confirmation).
    pub fn approve_url(&self, id: &str, plan_hash: &str) -> String {
        self.url(id, plan_hash, LinkDecision::Approve)
    }

    /// The URL that denies plan `plan_hash` of incident `id` (after confirmation).
    pub fn deny_url(&self, id: &str, plan_hash: &str) -> String {
        self.url(id, plan_hash, LinkDecision::Deny)
    }
}

/// Pages carry signed approve / deny links and the incident page's link.
impl crate::pagers::PageLinks for LinkSigner {
    fn incident(&self, incident_id: &str) -> Option<String> {
        crate::pagers::IncidentLinksOnly::new(Some(&self.public_url)).incident(incident_id)
    }

    fn approve(&self, incident_id: &str, plan_hash: &str) -> Option<String> {
        Some(self.approve_url(incident_id, plan_hash))
    }

    fn deny(&self, incident_id: &str, plan_hash: &str) -> Option<String> {
        Some(self.deny_url(incident_id, plan_hash))
    }
}
