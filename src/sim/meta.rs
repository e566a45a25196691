//! Object metadata helpers: field access on `serde_json::Value`, timestamps, uids and names.

use std::sync::Arc;

use jiff::Timestamp;
use serde_json::{Map, Value};

/// The simulated cluster's clock; tests and scenarios may replace it.
pub type Clock = Arc<dyn Fn() -> Timestamp + Send + Sync>;

/// The wall clock.
pub fn system_clock() -> Clock {
    Arc::new(Timestamp::now)
}

/// RFC 3339 with whole seconds, as `metav1.Time` is serialized (`2026-11-20T02:13:00Z`).
pub fn format_time(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// A string field at a dotted path (`metadata.name`), if present.
pub fn str_at<'a>(obj: &'a Value, path: &[&str]) -> Option<&'a str> {
    value_at(obj, path).and_then(Value::as_str)
}

/// Any field at a path, if present.
pub fn value_at<'a>(obj: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(obj, |v, key| v.get(key))
}

/// `metadata.name` or "".
pub fn name(obj: &Value) -> &str {
    str_at(obj, &["metadata", "name"]).unwrap_or_default()
}

/// `metadata.namespace` or "".
pub fn namespace(obj: &Value) -> &str {
    str_at(obj, &["metadata", "namespace"]).unwrap_or_default()
}

/// `metadata.resourceVersion` parsed, if present and numeric.
pub fn resource_version(obj: &Value) -> Option<u64> {
    str_at(obj, &["metadata", "resourceVersion"]).and_then(|s| s.parse().ok())
}

/// `metadata.labels` as a map (empty when absent).
pub fn labels(obj: &Value) -> Option<&Map<String, Value>> {
    value_at(obj, &["metadata", "labels"]).and_then(Value::as_object)
}

/// The `metadata` object, created if absent (replacing a non-object).
pub fn metadata_mut(obj: &mut Value) -> &mut Map<String, Value> {
    object_mut(obj, "metadata")
}

/// The object at `key`, created if absent or not an object.
pub fn object_mut<'a>(obj: &'a mut Value, key: &str) -> &'a mut Map<String, Value> {
    if !obj.is_object() {
        *obj = Value::Object(Map::new());
    }
    let entry = &mut obj[key];
    if !entry.is_object() {
        *entry = Value::Object(Map::new());
    }
    match entry {
        Value::Object(map) => map,
        _ => unreachable!("made an object above"),
    }
}

/// Sets `key` to `value` if absent.
pub fn default_field(map: &mut Map<String, Value>, key: &str, value: Value) {
    map.entry(key.to_string()).or_insert(value);
}

/// A small deterministic generator for uids and generated names (no cryptographic use).
#[derive(Debug, Clone)]
pub struct Ids {
    state: u64,
}

impl Ids {
    /// Seeded from the wall clock so two clusters differ.
    pub fn from_time() -> Self {
        let seed = Timestamp::now().as_nanosecond() as u64;
        Ids { state: seed }
    }

    /// Seeded explicitly, for deterministic names in tests and scenarios.
    pub fn seeded(seed: u64) -> Self {
        Ids { state: seed }
    }

    /// `len` lowercase hex digits (container ids, event name stamps).
    pub fn hex(&mut self, len: usize) -> String {
        let mut out = String::with_capacity(len + 16);
        while out.len() < len {
            out.push_str(&format!("{:016x}", self.next()));
        }
        out.truncate(len);
        out
    }

    fn next(&mut self) -> u64 {
        // splitmix64
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A version-4-shaped UUID.
    pub fn uid(&mut self) -> String {
        let a = self.next();
        let b = self.next();
        format!(
            "{:08x}-{:04x}-4{:03x}-{:x}{:03x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            8 + (b >> 62),
            (b >> 48) & 0xfff,
            b & 0xffff_ffff_ffff
        )
    }

    /// `n` characters from the alphabet the apiserver uses for `generateName` suffixes.
    pub fn suffix(&mut self, n: usize) -> String {
        const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
        (0..n)
            .map(|_| ALPHABET[(self.next() % ALPHABET.len() as u64) as usize] as char)
            .collect()
    }
}

/// Whether `name` is a valid DNS subdomain, the rule for most object names.
pub fn is_dns_subdomain(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uids_are_uuid_shaped_and_distinct() {
        let mut ids = Ids::from_time();
        let (a, b) = (ids.uid(), ids.uid());
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(
            a.split('-').map(str::len).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
    }

    #[test]
    fn names_follow_dns_subdomain_rules() {
        assert!(is_dns_subdomain("payments-api-7d9f8c6b5-x2k4q"));
        assert!(!is_dns_subdomain("Payments"));
        assert!(!is_dns_subdomain("-x"));
        assert!(!is_dns_subdomain(""));
    }
}
