//! Redaction: credentials never enter evidence or signals. Every free-text field an incident
//! carries — log lines, termination and waiting messages, event and condition messages, the
//! `kubernetes.io/change-cause` annotation, container commands and args, env values, alert
//! labels and annotations — is untrusted text that may hold a secret, and is masked here once,
//! where the evidence or signal is made ([`crate::domain::evidence::Evidence::push`],
//! [`signal`]). Everything downstream (store, reports, notify messages, logs) only ever sees
//! masked text.
//!
//! What a diagnosis needs survives: key, flag and env var names, a URL's scheme, user and host,
//! exit codes, exception class names. Masking is idempotent: masked text masks to itself.

mod blocks;
mod fields;
mod patterns;

use std::collections::BTreeMap;
use std::sync::LazyLock;

use regex::Regex;

pub use blocks::{BASE64_MASK, KEY_MASK};
pub use fields::{facts, signal};

/// What a masked value becomes.
pub const MASK: &str = "<redacted>";

/// Names (env vars, flags, label keys) whose values are credentials whatever they look like.
static SECRET_NAME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)(pass(word|wd|phrase)?|pwd|secret|token|api_?key|access_?key|private_?key|credential|authorization|auth_?key|cookie|dsn|(^|_)key$)",
    )
    .expect("static redaction pattern")
});

/// Whether `name` (`DB_PASSWORD`, `--db-password`, `apiKey`) names a credential. Names of
/// where a credential lives (`DB_PASSWORD_FILE`, `--token-path`) do not.
pub fn is_secret_name(name: &str) -> bool {
    let name = name.trim_start_matches('-').replace(['-', '.'], "_");
    SECRET_NAME.is_match(&name) && !patterns::names_a_location(&name)
}

/// Free text with every credential masked: private keys (whole blocks, or what is left of
/// cut ones), authorization headers, URL passwords, token formats, `key=value` pairs and
/// `--flag value` pairs with secret names, and base64 blobs that decode to any of these.
pub fn text(input: &str) -> String {
    let keys = blocks::private_keys(input);
    let plain = patterns::apply(&keys);
    let hides =
        |decoded: &str| decoded.contains("PRIVATE KEY") || patterns::apply(decoded) != decoded;
    blocks::base64_wrapped(&plain, hides).into_owned()
}

/// An env var's literal value: masked whole when the name says it is a credential, else with
/// anything in it that looks like one masked.
pub fn env_value(name: &str, value: &str) -> String {
    if is_secret_name(name) && !value.is_empty() && value != MASK {
        MASK.to_owned()
    } else {
        text(value)
    }
}

/// A command line: each argument masked as text, and the argument after a secret-named flag
/// (`--db-password X`, `-token X`) masked whole.
pub fn argv(args: &[String]) -> Vec<String> {
    let mut out = Vec::with_capacity(args.len());
    let mut mask_next = false;
    for arg in args {
        if mask_next && !arg.starts_with('-') {
            out.push(MASK.to_owned());
            mask_next = false;
            continue;
        }
        mask_next = arg.starts_with('-') && !arg.contains('=') && is_secret_name(arg);
        out.push(text(arg));
    }
    out
}

/// A label or annotation map: values under secret names masked whole, the rest as text.
/// A key that is exactly `secret` (kube-state-metrics' label) names a Secret object, not a
/// credential, so its value is only masked as text.
pub fn map(values: &mut BTreeMap<String, String>) {
    for (name, value) in values.iter_mut() {
        *value = if name.eq_ignore_ascii_case("secret") {
            text(value)
        } else {
            env_value(name, value)
        };
    }
}

/// An optional free-text field, masked in place.
pub fn optional(value: &mut Option<String>) {
    if let Some(text) = value.as_mut() {
        in_place(text);
    }
}

/// A free-text field, masked in place.
pub fn in_place(value: &mut String) {
    *value = text(value);
}

#[cfg(test)]
mod tests;
