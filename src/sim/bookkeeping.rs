//! The metadata bookkeeping of writes: identity checks, no-op detection, managedFields.

use serde_json::{Map, Value, json};

use super::errors::{ApiError, ApiResult};
use super::meta::{self, metadata_mut};
use super::resources::ResourceType;
use super::writes::UpdateMode;

/// Checks and sets `apiVersion`, `kind` and `metadata.namespace` for `rt` in `namespace`.
pub fn set_identity(rt: &ResourceType, namespace: &str, obj: &mut Value) -> ApiResult<()> {
    let Some(map) = obj.as_object_mut() else {
        return Err(ApiError::bad_request(
            "the request body must be a JSON object",
        ));
    };
    let api_version = rt.api_version();
    if let Some(v) = map.get("apiVersion").and_then(Value::as_str)
        && v != api_version
    {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({v}) does not match the expected API version \
             ({api_version})"
        )));
    }
    if let Some(k) = map.get("kind").and_then(Value::as_str)
        && k != rt.kind
    {
        return Err(ApiError::bad_request(format!(
            "the kind in the data ({k}) does not match the expected kind ({})",
            rt.kind
        )));
    }
    map.insert("apiVersion".into(), json!(api_version));
    map.insert("kind".into(), json!(rt.kind));
    let md = metadata_mut(obj);
    if rt.namespaced {
        match md.get("namespace").and_then(Value::as_str) {
            Some(ns) if !ns.is_empty() && ns != namespace => {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on \
                     the request",
                ));
            }
            _ => {
                md.insert("namespace".into(), json!(namespace));
            }
        }
    } else {
        md.remove("namespace");
    }
    Ok(())
}

/// Whether two versions differ in anything but resourceVersion and managedFields.
pub fn same_content(a: &Value, b: &Value) -> bool {
    let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else {
        return a == b;
    };
    let strip = |m: &Map<String, Value>| -> Map<String, Value> {
        m.iter()
            .filter(|(k, _)| *k != "resourceVersion" && *k != "managedFields")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };
    let meta_of = |m: &Map<String, Value>| m.get("metadata").and_then(Value::as_object).map(strip);
    a.len() == b.len()
        && a.iter()
            .filter(|(k, _)| *k != "metadata")
            .all(|(k, v)| b.get(k) == Some(v))
        && meta_of(a) == meta_of(b)
}

/// Records `manager` in `metadata.managedFields` (one entry per manager and subresource).
pub fn record_manager(
    obj: &mut Value,
    manager: Option<&str>,
    api_version: &str,
    sub: Option<&str>,
    now: &str,
) {
    let Some(manager) = manager else { return };
    let md = metadata_mut(obj);
    let entries = md.entry("managedFields").or_insert_with(|| json!([]));
    if !entries.is_array() {
        *entries = json!([]);
    }
    let mut entry = json!({
        "manager": manager, "operation": "Update", "apiVersion": api_version,
        "time": now, "fieldsType": "FieldsV1", "fieldsV1": {},
    });
    if let Some(sub) = sub {
        entry["subresource"] = json!(sub);
    }
    if let Value::Array(list) = entries {
        list.retain(|e| {
            e.get("manager").and_then(Value::as_str) != Some(manager)
                || e.get("subresource").and_then(Value::as_str) != sub
        });
        list.push(entry);
    }
}

/// Whether `metadata.finalizers` is non-empty.
pub fn has_finalizers(obj: &Value) -> bool {
    meta::value_at(obj, &["metadata", "finalizers"])
        .and_then(Value::as_array)
        .is_some_and(|f| !f.is_empty())
}

/// Copies metadata fields from `from` to `to`, removing those `from` lacks.
pub fn copy_meta(from: &Value, to: &mut Value, keys: &[&str]) {
    let md = metadata_mut(to);
    for key in keys {
        match from.get("metadata").and_then(|m| m.get(*key)) {
            Some(v) => md.insert((*key).to_string(), v.clone()),
            None => md.remove(*key),
        };
    }
}

/// Refuses a body naming another object or carrying a stale resourceVersion; fills a
/// missing name from the URL.
pub fn check_name_and_version(
    rt: &ResourceType,
    name: &str,
    old: &Value,
    obj: &mut Value,
) -> ApiResult<()> {
    match meta::name(obj) {
        "" => drop(metadata_mut(obj).insert("name".into(), json!(name))),
        body if body != name => {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({body}) does not match the name on the URL ({name})"
            )));
        }
        _ => {}
    }
    match meta::str_at(obj, &["metadata", "resourceVersion"]) {
        Some(rv)
            if !rv.is_empty()
                && Some(rv) != meta::str_at(old, &["metadata", "resourceVersion"]) =>
        {
            Err(ApiError::conflict(rt, name))
        }
        _ => Ok(()),
    }
}

/// The object an update writes, given what the mode may change, and the subresource to
/// record in managedFields.
pub fn carry_over(
    rt: &ResourceType,
    old: &Value,
    mut obj: Value,
    mode: UpdateMode,
) -> (Value, Option<&'static str>) {
    match mode {
        UpdateMode::Status => {
            let status = obj.get("status").cloned().unwrap_or_else(|| json!({}));
            let managed = obj["metadata"].get("managedFields").cloned();
            let mut next = old.clone();
            next["status"] = status;
            if let Some(managed) = managed {
                metadata_mut(&mut next).insert("managedFields".into(), managed);
            }
            (next, Some("status"))
        }
        UpdateMode::Main => {
            let server_owned = [
                "uid",
                "creationTimestamp",
                "deletionTimestamp",
                "generation",
            ];
            copy_meta(old, &mut obj, &server_owned);
            if rt.has_status {
                match old.get("status") {
                    Some(status) => obj["status"] = status.clone(),
                    None => drop(obj.as_object_mut().map(|m| m.remove("status"))),
                }
            }
            (obj, None)
        }
        UpdateMode::Direct => {
            let md = metadata_mut(&mut obj);
            for key in ["uid", "creationTimestamp"] {
                if !md.contains_key(key) {
                    md.insert(key.to_string(), old["metadata"][key].clone());
                }
            }
            (obj, None)
        }
    }
}

/// Bumps `metadata.generation` when the spec changed (or a deployment's annotations, as
/// the deployment strategy does); a direct write may set it itself.
pub fn set_generation(rt: &ResourceType, old: &Value, obj: &mut Value, mode: UpdateMode) {
    if !rt.tracks_generation {
        return;
    }
    let given = mode == UpdateMode::Direct && obj["metadata"].get("generation").is_some();
    if given {
        return;
    }
    let annotations = |o: &Value| o["metadata"].get("annotations").cloned();
    let changed = old.get("spec") != obj.get("spec")
        || (rt.plural == "deployments" && annotations(old) != annotations(obj));
    let old_gen = old["metadata"]["generation"].as_i64().unwrap_or(1);
    let generation = old_gen + i64::from(changed);
    metadata_mut(obj).insert("generation".into(), json!(generation));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::resources::by_name;

    #[test]
    fn versions_differing_only_in_resource_version_and_managed_fields_are_the_same() {
        let a = json!({"metadata": {"name": "x", "resourceVersion": "1"}, "spec": {"a": 1}});
        let mut b = json!({"metadata": {"name": "x", "resourceVersion": "2"}, "spec": {"a": 1}});
        record_manager(&mut b, Some("kubectl"), "v1", None, "2026-01-01T00:00:00Z");
        assert!(same_content(&a, &b));
        b["spec"]["a"] = json!(2);
        assert!(!same_content(&a, &b));
    }

    #[test]
    fn identity_is_filled_in_and_mismatches_are_refused() {
        let pods = by_name("pods").expect("pods");
        let mut obj = json!({"metadata": {"name": "x"}});
        assert!(set_identity(pods, "shop", &mut obj).is_ok());
        assert_eq!(
            (obj["kind"].as_str(), obj["metadata"]["namespace"].as_str()),
            (Some("Pod"), Some("shop"))
        );
        let mut other = json!({"metadata": {"name": "x", "namespace": "web"}});
        assert_eq!(
            set_identity(pods, "shop", &mut other).map_err(|e| e.code),
            Err(400)
        );
        let mut wrong = json!({"kind": "Node", "metadata": {"name": "x"}});
        assert_eq!(
            set_identity(pods, "shop", &mut wrong).map_err(|e| e.code),
            Err(400)
        );
    }
}
