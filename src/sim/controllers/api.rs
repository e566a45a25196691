//! How the controllers write: through the same store operations as API clients (so
//! generations bump, status subresources are respected and watches fire), each under a
//! field manager. A failed write is logged and skipped; the next pass retries.

use std::sync::Arc;

use serde_json::Value;

use crate::sim::resources::{self, ResourceType};
use crate::sim::writes::{UpdateMode, WriteOptions};
use crate::sim::{SimCluster, meta};

/// The resource type of a plural name known to exist in the simulated API.
pub fn rt(plural: &str) -> Option<&'static ResourceType> {
    resources::by_name(plural)
}

/// Every object of a type (cheap: the store's shared values).
pub fn list(cluster: &SimCluster, plural: &str, namespace: Option<&str>) -> Vec<Arc<Value>> {
    match rt(plural) {
        Some(rt) => cluster.store().list(rt, namespace),
        None => Vec::new(),
    }
}

/// One object.
pub fn get(cluster: &SimCluster, plural: &str, namespace: &str, name: &str) -> Option<Arc<Value>> {
    cluster.store().get(rt(plural)?, namespace, name)
}

fn options(manager: &str) -> WriteOptions {
    WriteOptions {
        dry_run: false,
        manager: Some(manager.to_string()),
    }
}

/// Changes one object under the store lock. `change` returns whether it changed anything;
/// `uid` guards against writing to a recreated object of the same name.
pub fn modify(
    cluster: &SimCluster,
    target: (&str, &str, &str),
    uid: Option<&str>,
    mode: UpdateMode,
    manager: &str,
    change: impl FnOnce(&mut Value) -> bool,
) -> Option<Arc<Value>> {
    let (plural, namespace, name) = target;
    let rt = rt(plural)?;
    let mut store = cluster.store();
    let current = store.get(rt, namespace, name)?;
    if uid.is_some_and(|uid| meta::str_at(&current, &["metadata", "uid"]) != Some(uid)) {
        return None;
    }
    let mut next = (*current).clone();
    if !change(&mut next) {
        return Some(current);
    }
    match store.update(rt, namespace, name, next, mode, &options(manager)) {
        Ok(updated) => Some(updated),
        Err(e) => {
            tracing::warn!(kind = rt.kind, namespace, name, error = %e, "controller write failed");
            None
        }
    }
}

/// Creates an object as an API client would (defaults, validation, initial status).
pub fn create(
    cluster: &SimCluster,
    plural: &str,
    object: Value,
    manager: &str,
) -> Option<Arc<Value>> {
    let rt = rt(plural)?;
    let namespace = meta::namespace(&object).to_string();
    let created = cluster
        .store()
        .create(rt, &namespace, object, &options(manager));
    match created {
        Ok(obj) => Some(obj),
        Err(e) => {
            tracing::warn!(kind = rt.kind, namespace, error = %e, "controller create failed");
            None
        }
    }
}

/// Deletes an object (a pod's logs go with it).
pub fn delete(cluster: &SimCluster, plural: &str, namespace: &str, name: &str) -> bool {
    match cluster.delete(plural, namespace, name) {
        Ok(_) => true,
        Err(e) => {
            tracing::debug!(plural, namespace, name, error = %e, "controller delete failed");
            false
        }
    }
}

/// The uid of an object ("" when missing).
pub fn uid(obj: &Value) -> &str {
    meta::str_at(obj, &["metadata", "uid"]).unwrap_or_default()
}

/// The uid of the controller owner, if any.
pub fn controller_uid(obj: &Value) -> Option<&str> {
    meta::value_at(obj, &["metadata", "ownerReferences"])
        .and_then(Value::as_array)?
        .iter()
        .find(|r| r["controller"].as_bool() == Some(true))
        .and_then(|r| r["uid"].as_str())
}

/// An ownerReference making `owner` the controller of a dependent.
pub fn controller_ref(owner: &Value) -> Value {
    serde_json::json!({
        "apiVersion": owner["apiVersion"], "kind": owner["kind"],
        "name": meta::name(owner), "uid": uid(owner),
        "controller": true, "blockOwnerDeletion": true,
    })
}

/// Whether the object is being deleted.
pub fn deleting(obj: &Value) -> bool {
    meta::value_at(obj, &["metadata", "deletionTimestamp"]).is_some_and(|v| !v.is_null())
}

/// An integer field (0 when missing).
pub fn int(obj: &Value, path: &[&str]) -> i64 {
    meta::value_at(obj, path)
        .and_then(Value::as_i64)
        .unwrap_or(0)
}

/// A label selector object (`spec.selector`) parsed; `None` for an empty or missing one,
/// which selects nothing for workload controllers.
pub fn selector(obj: &Value) -> Option<crate::sim::selector::LabelSelector> {
    let sel = meta::value_at(obj, &["spec", "selector"])?;
    let text = crate::sim::selector::format_selector(Some(sel));
    if text == "<none>" {
        return None;
    }
    crate::sim::selector::LabelSelector::parse(&text).ok()
}
