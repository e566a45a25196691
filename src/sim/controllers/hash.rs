//! The `pod-template-hash`: FNV-32a over the pod template (here its canonical JSON; the real
//! controller hashes the Go struct), printed in decimal and encoded with the apimachinery
//! "safe" alphabet, so names look like the real ones (`checkout-5d4f7c9b86`).

use serde_json::{Map, Value};

/// The label (and selector key) that ties a ReplicaSet and its pods to one template.
pub const HASH_LABEL: &str = "pod-template-hash";

/// The alphabet `rand.SafeEncodeString` maps bytes into (no vowels, no confusable digits).
const SAFE_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

fn fnv32a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5_u32, |hash, b| {
        (hash ^ u32::from(*b)).wrapping_mul(0x0100_0193)
    })
}

/// `rand.SafeEncodeString`: each byte becomes `alphabet[byte % 27]`.
pub fn safe_encode(text: &str) -> String {
    text.bytes()
        .map(|b| SAFE_ALPHABET[usize::from(b) % SAFE_ALPHABET.len()] as char)
        .collect()
}

/// JSON with object keys sorted at every level, whatever map order serde_json keeps.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(&map[key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// `controller.ComputeHash(template, collisionCount)`.
pub fn template_hash(template: &Value, collision_count: Option<i64>) -> String {
    let mut bytes = canonical_json(template).into_bytes();
    if let Some(count) = collision_count {
        bytes.extend_from_slice(&(count as u32).to_le_bytes());
    }
    safe_encode(&fnv32a(&bytes).to_string())
}

/// A template with the hash label removed and empty or null fields dropped, so templates
/// compare like apimachinery's semantic equality (nil and empty maps are equal).
fn normalized(template: &Value) -> Value {
    let mut t = template.clone();
    if let Some(labels) = t
        .get_mut("metadata")
        .and_then(|m| m.get_mut("labels"))
        .and_then(Value::as_object_mut)
    {
        labels.remove(HASH_LABEL);
    }
    prune(&t).unwrap_or(Value::Object(Map::new()))
}

fn prune(value: &Value) -> Option<Value> {
    match value {
        Value::Null => None,
        Value::Object(map) => {
            let kept: Map<String, Value> = map
                .iter()
                .filter_map(|(k, v)| prune(v).map(|v| (k.clone(), v)))
                .collect();
            (!kept.is_empty()).then_some(Value::Object(kept))
        }
        Value::Array(items) if items.is_empty() => None,
        Value::Array(items) => Some(Value::Array(
            items
                .iter()
                .map(|i| prune(i).unwrap_or(Value::Null))
                .collect(),
        )),
        other => Some(other.clone()),
    }
}

/// `EqualIgnoreHash`: whether two pod templates are the same but for `pod-template-hash`.
pub fn equal_ignore_hash(a: &Value, b: &Value) -> bool {
    normalized(a) == normalized(b)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn safe_encoding_maps_decimal_digits_like_apimachinery() {
        assert_eq!(safe_encode("0123456789"), "456789bcdf");
    }

    #[test]
    fn the_hash_is_deterministic_and_depends_on_the_template() {
        let a = json!({"metadata": {"labels": {"app": "api"}},
                       "spec": {"containers": [{"name": "api", "image": "shop/api:v1"}]}});
        let mut b = a.clone();
        b["spec"]["containers"][0]["image"] = json!("shop/api:v2");
        assert_eq!(template_hash(&a, None), template_hash(&a.clone(), None));
        assert_ne!(template_hash(&a, None), template_hash(&b, None));
        assert_ne!(template_hash(&a, None), template_hash(&a, Some(1)));
        assert!(
            template_hash(&a, None)
                .bytes()
                .all(|c| SAFE_ALPHABET.contains(&c))
        );
    }

    #[test]
    fn templates_compare_equal_ignoring_the_hash_label_and_empty_fields() {
        let deploy = json!({"metadata": {"labels": {"app": "api"}, "creationTimestamp": null},
                            "spec": {"containers": [{"name": "api", "image": "a"}]}});
        let rs = json!({"metadata": {"labels": {"app": "api", "pod-template-hash": "5d4f7c9b86"}},
                        "spec": {"containers": [{"name": "api", "image": "a", "env": []}]}});
        assert!(equal_ignore_hash(&deploy, &rs));
        let mut other = rs.clone();
        other["spec"]["containers"][0]["image"] = json!("b");
        assert!(!equal_ignore_hash(&deploy, &other));
    }
}
