//! The link token: signed claims in a compact, URL-safe string,
//! `v1.<base64url(claims JSON)>.<base64url(HMAC-SHA256)>`. The MAC covers `v1.` and the encoded
//! claims; the key that made it is named by the claims' key id, so several keys verify at once
//! (rotation) while the newest signs. Pure: time is an argument.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The version prefix of every token.
const VERSION: &str = "v1";
/// Longest token accepted before any decoding (a real one is about 300 characters).
pub const MAX_TOKEN_LEN: usize = 2048;

/// What a link asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LinkDecision {
    /// Approve the plan.
    Approve,
    /// Deny it.
    Deny,
}

impl LinkDecision {
    /// `approve` or `deny`, as in the URL path.
    pub fn as_str(self) -> &'static str {
        match self {
            LinkDecision::Approve => "approve",
            LinkDecision::Deny => "deny",
        }
    }
}

/// The signed claims of a link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claims {
    /// The incident.
    #[serde(rename = "i")]
    pub incident: String,
    /// The full hash of the plan shown in the page.
    #[serde(rename = "p")]
    pub plan_hash: String,
    /// Approve or deny.
    #[serde(rename = "d")]
    pub decision: LinkDecision,
    /// Issued at, in Unix seconds.
    #[serde(rename = "iat")]
    pub issued: i64,
    /// Void from this Unix second on.
    #[serde(rename = "exp")]
    pub expires: i64,
    /// Random, unique per link: consumed in the store when the link decides.
    #[serde(rename = "n")]
    pub nonce: String,
    /// Which key signed it.
    #[serde(rename = "k")]
    pub key_id: String,
}

/// One signing key.
#[derive(Clone, PartialEq, Eq)]
pub struct Key {
    /// Its id, carried in the claims.
    pub id: String,
    secret: Vec<u8>,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Key({}, {} bytes)", self.id, self.secret.len())
    }
}

/// Shortest secret accepted, in bytes.
pub const MIN_SECRET: usize = 32;

impl Key {
    /// A key; the id is `[A-Za-z0-9_-]{1,32}` and the secret at least [`MIN_SECRET`] bytes.
    pub fn new(id: &str, secret: Vec<u8>) -> Result<Key, String> {
        let id_ok = !id.is_empty()
            && id.len() <= 32
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !id_ok {
            return Err(format!(
                "key id {id:?} must be 1 to 32 letters, digits, '-' or '_'"
            ));
        }
        if secret.len() < MIN_SECRET {
            return Err(format!(
                "key {id}: the secret is {} bytes, at least {MIN_SECRET} are needed",
                secret.len()
            ));
        }
        Ok(Key {
            id: id.to_owned(),
            secret,
        })
    }

    fn mac(&self, parts: &[&[u8]]) -> HmacSha256 {
        // HMAC accepts keys of any length: this cannot fail.
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&self.secret)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        for part in parts {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac
    }
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// Not a token at all (wrong shape, bad encoding, bad claims).
    #[error("the link is malformed: {0}")]
    Malformed(String),
    /// Signed with a key this daemon does not hold (retired, or never ours).
    #[error("the link was signed with key {0:?}, which this server does not hold")]
    UnknownKey(String),
    /// The signature does not match: the link was altered or forged.
    #[error("the link's signature is not valid")]
    BadSignature,
    /// An approve link used to deny, or the reverse.
    #[error("this is a link to {actual}, not to {wanted}")]
    WrongDecision {
        /// What the URL path asked.
        wanted: &'static str,
        /// What the link was signed for.
        actual: &'static str,
    },
    /// Past its expiry; the (verified) claims are kept so the caller can escalate.
    #[error("the approval request expired at {at}")]
    Expired {
        /// When it expired.
        at: Timestamp,
        /// The link's claims.
        claims: Box<Claims>,
    },
}

/// The keys a server holds: the first signs, every one verifies.
#[derive(Debug, Clone)]
pub struct Keyring {
    keys: Vec<Key>,
}

impl Keyring {
    /// A keyring; the first key signs. Refused empty or with two keys of one id.
    pub fn new(keys: Vec<Key>) -> Result<Keyring, String> {
        if keys.is_empty() {
            return Err("no link-signing key".into());
        }
        for (i, key) in keys.iter().enumerate() {
            if keys[..i].iter().any(|k| k.id == key.id) {
                return Err(format!("two link-signing keys have the id {:?}", key.id));
            }
        }
        Ok(Keyring { keys })
    }

    /// The id of the key that signs.
    pub fn signing_id(&self) -> &str {
        &self.signing().id
    }

    /// Every key id, signing key first.
    pub fn ids(&self) -> Vec<&str> {
        self.keys.iter().map(|k| k.id.as_str()).collect()
    }

    fn signing(&self) -> &Key {
        &self.keys[0]
    }

    fn key(&self, id: &str) -> Option<&Key> {
        self.keys.iter().find(|k| k.id == id)
    }

    /// Signs `claims` (whose `key_id` is set to the signing key's) into a token.
    pub fn sign(&self, mut claims: Claims) -> String {
        let key = self.signing();
        claims.key_id = key.id.clone();
        let json = serde_json::to_vec(&claims)
            .unwrap_or_else(|_| unreachable!("claims are plain strings and numbers"));
        let body = URL_SAFE_NO_PAD.encode(json);
        let tag = key.mac(&[VERSION.as_bytes(), body.as_bytes()]).finalize();
        format!(
            "{VERSION}.{body}.{}",
            URL_SAFE_NO_PAD.encode(tag.into_bytes())
        )
    }

    /// The claims of `token` once its signature is checked (expiry is not: see
    /// [`Keyring::verify`]).
    pub fn open(&self, token: &str) -> Result<Claims, LinkError> {
        let malformed = |why: &str| LinkError::Malformed(why.to_owned());
        if token.len() > MAX_TOKEN_LEN {
            return Err(malformed("too long"));
        }
        let mut parts = token.split('.');
        let (Some(version), Some(body), Some(tag), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(malformed("expected three parts separated by '.'"));
        };
        if version != VERSION {
            return Err(malformed("unknown version"));
        }
        let json = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| malformed("the claims are not base64url"))?;
        let tag = URL_SAFE_NO_PAD
            .decode(tag)
            .map_err(|_| malformed("the signature is not base64url"))?;
        // Only the key id is read before the signature is checked.
        #[derive(Deserialize)]
        struct KeyId {
            k: String,
        }
        let kid: KeyId =
            serde_json::from_slice(&json).map_err(|_| malformed("the claims are not JSON"))?;
        let key = self.key(&kid.k).ok_or(LinkError::UnknownKey(kid.k))?;
        key.mac(&[VERSION.as_bytes(), body.as_bytes()])
            .verify_slice(&tag)
            .map_err(|_| LinkError::BadSignature)?;
        serde_json::from_slice(&json).map_err(|e| malformed(&format!("bad claims: {e}")))
    }

    /// The claims of `token` if it is ours, unaltered, for `wanted`, and not expired at `now`.
    /// An expired link is reported with its (verified) claims, so the caller can escalate.
    pub fn verify(
        &self,
        token: &str,
        wanted: LinkDecision,
        now: Timestamp,
    ) -> Result<Claims, LinkError> {
        let claims = self.open(token)?;
        if claims.decision != wanted {
            return Err(LinkError::WrongDecision {
                wanted: wanted.as_str(),
                actual: claims.decision.as_str(),
            });
        }
        if now.as_second() >= claims.expires {
            let at = Timestamp::from_second(claims.expires).unwrap_or(Timestamp::MIN);
            return Err(LinkError::Expired {
                at,
                claims: Box::new(claims),
            });
        }
        Ok(claims)
    }

    /// The confirmation form's hidden field: an HMAC of the token and of who loaded the page,
    /// so a form posted from another site (which cannot read the page) or by another user
    /// does not carry it.
    pub fn form_field(&self, token: &str, caller: &str) -> String {
        let key = self.signing();
        let tag = key
            .mac(&[b"confirm-form", token.as_bytes(), caller.as_bytes()])
            .finalize();
        URL_SAFE_NO_PAD.encode(tag.into_bytes())
    }

    /// Whether `field` is the form field for `token` and `caller`, under any key held.
    pub fn check_form_field(&self, token: &str, caller: &str, field: &str) -> bool {
        let Ok(tag) = URL_SAFE_NO_PAD.decode(field) else {
            return false;
        };
        self.keys.iter().any(|key| {
            key.mac(&[b"confirm-form", token.as_bytes(), caller.as_bytes()])
                .verify_slice(&tag)
                .is_ok()
        })
    }
}
