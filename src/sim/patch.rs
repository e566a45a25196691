//! PATCH bodies: JSON merge patch (RFC 7386) and JSON patch (RFC 6902) via `json-patch`,
//! and the subset of strategic merge patch kubectl and nightshift send.

use serde_json::{Map, Value};

use super::errors::{ApiError, ApiResult};

/// The patch formats, chosen by the request's Content-Type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    /// `application/merge-patch+json`
    Merge,
    /// `application/json-patch+json`
    Json,
    /// `application/strategic-merge-patch+json`
    Strategic,
}

impl PatchType {
    /// The patch type of a Content-Type header; server-side apply and others are refused (415).
    pub fn from_content_type(content_type: &str) -> ApiResult<Self> {
        let media = content_type.split(';').next().unwrap_or_default().trim();
        match media {
            "application/merge-patch+json" => Ok(PatchType::Merge),
            "application/json-patch+json" => Ok(PatchType::Json),
            "application/strategic-merge-patch+json" => Ok(PatchType::Strategic),
            other => Err(ApiError::unsupported_media_type(other)),
        }
    }
}

/// Applies a patch body to `target`, returning the patched object.
pub fn apply(kind: PatchType, target: &Value, body: &[u8]) -> ApiResult<Value> {
    let mut doc = target.clone();
    match kind {
        PatchType::Merge => json_patch::merge(&mut doc, &parse(body)?),
        PatchType::Json => {
            let ops: json_patch::Patch = serde_json::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
            json_patch::patch(&mut doc, &ops).map_err(|e| {
                ApiError::new(
                    422,
                    "Invalid",
                    format!("the server rejected our request due to an error in our request: {e}"),
                )
            })?;
        }
        PatchType::Strategic => {
            let patch = parse(body)?;
            if !patch.is_object() {
                return Err(ApiError::bad_request(
                    "strategic merge patch must be a JSON object",
                ));
            }
            strategic_merge(&mut doc, &patch);
        }
    }
    Ok(doc)
}

fn parse(body: &[u8]) -> ApiResult<Value> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))
}

/// The merge key of a list field, from the Kubernetes types' `patchMergeKey` tags.
fn merge_key(field: &str, patch_items: &[Value]) -> Option<&'static str> {
    match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "volumes"
        | "env"
        | "imagePullSecrets" => Some("name"),
        "volumeMounts" => Some("mountPath"),
        "volumeDevices" => Some("devicePath"),
        "conditions" | "addresses" => Some("type"),
        "ownerReferences" => Some("uid"),
        "hostAliases" => Some("ip"),
        "topologySpreadConstraints" => Some("topologyKey"),
        // Container ports merge by containerPort; Service ports by port.
        "ports" if patch_items.iter().any(|p| p.get("containerPort").is_some()) => {
            Some("containerPort")
        }
        "ports" => Some("port"),
        _ => None,
    }
}

/// Lists of scalars the types mark `patchStrategy: merge` (a set union).
fn is_merged_scalar_list(field: &str) -> bool {
    matches!(field, "finalizers")
}

/// Strategic merge: maps merge recursively, `null` deletes, keyed lists merge element-wise,
/// other lists replace; `$patch: replace|delete` and `$deleteFromPrimitiveList` are honoured,
/// other `$` directives (`$setElementOrder`, `$retainKeys`) are ignored.
pub fn strategic_merge(target: &mut Value, patch: &Value) {
    let Value::Object(patch_map) = patch else {
        *target = strip_directives(patch);
        return;
    };
    if patch_map.get("$patch").and_then(Value::as_str) == Some("replace") {
        *target = strip_directives(patch);
        return;
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(target_map) = target else {
        return;
    };
    for (key, value) in patch_map {
        if let Some(field) = key.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(list)), Value::Array(remove)) =
                (target_map.get_mut(field), value)
            {
                list.retain(|v| !remove.contains(v));
            }
            continue;
        }
        if key.starts_with('$') {
            continue;
        }
        match value {
            Value::Null => {
                target_map.remove(key);
            }
            Value::Object(_) => {
                let slot = target_map.entry(key.clone()).or_insert(Value::Null);
                strategic_merge(slot, value);
            }
            Value::Array(items) => {
                let slot = target_map.entry(key.clone()).or_insert(Value::Null);
                merge_list(slot, items, key);
            }
            scalar => {
                target_map.insert(key.clone(), scalar.clone());
            }
        }
    }
}

fn merge_list(target: &mut Value, items: &[Value], field: &str) {
    let replace_all = items
        .iter()
        .any(|i| i.get("$patch").and_then(Value::as_str) == Some("replace"));
    let key = merge_key(field, items);
    if replace_all || (key.is_none() && !is_merged_scalar_list(field)) {
        let kept = items
            .iter()
            .filter(|i| i.get("$patch").is_none())
            .map(strip_directives);
        *target = Value::Array(kept.collect());
        return;
    }
    if !target.is_array() {
        *target = Value::Array(Vec::new());
    }
    let Value::Array(list) = target else {
        return;
    };
    let Some(key) = key else {
        for item in items {
            if !list.contains(item) {
                list.push(item.clone());
            }
        }
        return;
    };
    for item in items {
        let id = item.get(key);
        let position = id.and_then(|id| list.iter().position(|e| e.get(key) == Some(id)));
        let delete = item.get("$patch").and_then(Value::as_str) == Some("delete");
        match (position, delete) {
            (Some(i), true) => {
                list.remove(i);
            }
            (None, true) => {}
            (Some(i), false) => strategic_merge(&mut list[i], item),
            (None, false) => list.push(strip_directives(item)),
        }
    }
}

/// A copy without `$`-prefixed directive keys, recursively.
fn strip_directives(v: &Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| !k.starts_with('$'))
                .map(|(k, v)| (k.clone(), strip_directives(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(strip_directives).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn deployment() -> Value {
        json!({"metadata": {"name": "web", "finalizers": ["a"]},
               "spec": {"replicas": 2, "template": {"spec": {"containers": [
                   {"name": "app", "image": "app:v1", "ports": [{"containerPort": 80}],
                    "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]},
                   {"name": "sidecar", "image": "proxy:v1"}]}}}})
    }

    #[test]
    fn strategic_merge_merges_containers_by_name_and_env_by_name() {
        let patch = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "app", "image": "app:v2", "env": [{"name": "B", "value": "3"}, {"name": "C", "value": "4"}]}]}}}});
        let mut d = deployment();
        strategic_merge(&mut d, &patch);
        let containers = &d["spec"]["template"]["spec"]["containers"];
        assert_eq!(containers.as_array().map(Vec::len), Some(2));
        assert_eq!(containers[0]["image"], "app:v2");
        assert_eq!(containers[0]["ports"][0]["containerPort"], 80);
        assert_eq!(
            containers[0]["env"],
            json!([{"name": "A", "value": "1"},
            {"name": "B", "value": "3"}, {"name": "C", "value": "4"}])
        );
        assert_eq!(containers[1]["image"], "proxy:v1");
    }

    #[test]
    fn strategic_merge_honours_delete_directives_and_null() {
        let patch = json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]},
            "spec": {"replicas": null, "template": {"spec": {"containers": [
                {"name": "sidecar", "$patch": "delete"}],
                "$setElementOrder/containers": [{"name": "app"}]}}}});
        let mut d = deployment();
        strategic_merge(&mut d, &patch);
        assert_eq!(d["metadata"]["finalizers"], json!([]));
        assert!(d["spec"].get("replicas").is_none());
        assert_eq!(
            d["spec"]["template"]["spec"]["containers"]
                .as_array()
                .map(Vec::len),
            Some(1)
        );
        assert!(
            d["spec"]["template"]["spec"]
                .get("$setElementOrder/containers")
                .is_none()
        );
    }

    #[test]
    fn unkeyed_lists_are_replaced_and_finalizers_are_unioned() {
        let patch = json!({"metadata": {"finalizers": ["b"]},
            "spec": {"template": {"spec": {"containers": [{"name": "app", "args": ["x"]}]}}}});
        let mut d = deployment();
        strategic_merge(&mut d, &patch);
        assert_eq!(d["metadata"]["finalizers"], json!(["a", "b"]));
        assert_eq!(
            d["spec"]["template"]["spec"]["containers"][0]["args"],
            json!(["x"])
        );
    }

    #[test]
    fn merge_and_json_patches_use_the_rfc_semantics() {
        let merged = apply(
            PatchType::Merge,
            &deployment(),
            br#"{"spec":{"replicas":5}}"#,
        );
        assert_eq!(merged.map(|d| d["spec"]["replicas"].clone()), Ok(json!(5)));
        let ops = br#"[{"op":"replace","path":"/spec/replicas","value":7}]"#;
        let patched = apply(PatchType::Json, &deployment(), ops);
        assert_eq!(patched.map(|d| d["spec"]["replicas"].clone()), Ok(json!(7)));
        let failing = br#"[{"op":"test","path":"/spec/replicas","value":9}]"#;
        assert_eq!(
            apply(PatchType::Json, &deployment(), failing).map_err(|e| e.code),
            Err(422)
        );
        assert_eq!(
            PatchType::from_content_type("application/apply-patch+yaml").map_err(|e| e.code),
            Err(415)
        );
    }
}
