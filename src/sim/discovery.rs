//! Discovery documents: `/version`, `/api`, `/apis`, `/apis/{group}` and the
//! `APIResourceList` of each group/version, in the legacy (unaggregated) format that
//! kubectl and kube-rs fall back to.

use serde_json::{Value, json};

use super::resources::{self, GROUPS, ResourceType};

const VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

/// `/version`: a `version.Info`.
pub fn version() -> Value {
    json!({
        "major": "1",
        "minor": "32",
        "emulationMajor": "1",
        "emulationMinor": "32",
        "minCompatibilityMajor": "1",
        "minCompatibilityMinor": "31",
        "gitVersion": "v1.32.0-nightshift-sim",
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "go1.23.0",
        "compiler": "gc",
        "platform": "linux/amd64",
    })
}

/// `/api`: `APIVersions`.
pub fn core_versions() -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:6443"}],
    })
}

fn group_body(group: &str) -> Value {
    let version = resources::version_of(group);
    let gv = json!({ "groupVersion": format!("{group}/{version}"), "version": version });
    json!({ "name": group, "versions": [gv.clone()], "preferredVersion": gv })
}

/// `/apis`: `APIGroupList`.
pub fn group_list() -> Value {
    let groups: Vec<Value> = GROUPS.iter().map(|g| group_body(g)).collect();
    json!({ "kind": "APIGroupList", "apiVersion": "v1", "groups": groups })
}

/// `/apis/{group}`: `APIGroup`.
pub fn group(group: &str) -> Value {
    let mut body = group_body(group);
    body["kind"] = json!("APIGroup");
    body["apiVersion"] = json!("v1");
    body
}

fn resource_entry(rt: &ResourceType) -> Value {
    let mut entry = json!({
        "name": rt.plural,
        "singularName": rt.singular,
        "namespaced": rt.namespaced,
        "kind": rt.kind,
        "verbs": VERBS,
    });
    if !rt.short_names.is_empty() {
        entry["shortNames"] = json!(rt.short_names);
    }
    if !rt.categories.is_empty() {
        entry["categories"] = json!(rt.categories);
    }
    entry
}

fn subresource(rt: &ResourceType, sub: &str, verbs: &[&str]) -> Value {
    json!({
        "name": format!("{}/{sub}", rt.plural),
        "singularName": "",
        "namespaced": rt.namespaced,
        "kind": rt.kind,
        "verbs": verbs,
    })
}

/// `/api/v1` or `/apis/{group}/{version}`: `APIResourceList` with subresources.
pub fn resource_list(group: &str, version: &str) -> Value {
    let mut list = Vec::new();
    for rt in resources::in_group_version(group, version) {
        list.push(resource_entry(rt));
        if rt.plural == "pods" {
            list.push(subresource(rt, "log", &["get"]));
        }
        if rt.has_scale {
            let mut scale = subresource(rt, "scale", &["get", "patch", "update"]);
            scale["group"] = json!("autoscaling");
            scale["version"] = json!("v1");
            scale["kind"] = json!("Scale");
            list.push(scale);
        }
        if rt.has_status {
            list.push(subresource(rt, "status", &["get", "patch", "update"]));
        }
    }
    let group_version = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": list,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_core_resource_list_names_subresources_and_short_names() {
        let list = resource_list("", "v1");
        let names: Vec<&str> = list["resources"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r["name"].as_str())
            .collect();
        assert!(names.contains(&"pods/log"));
        assert!(names.contains(&"nodes"));
        let apps = resource_list("apps", "v1");
        let scale = apps["resources"]
            .as_array()
            .and_then(|rs| rs.iter().find(|r| r["name"] == "deployments/scale"));
        assert_eq!(
            scale.map(|s| s["group"].clone()),
            Some(json!("autoscaling"))
        );
    }
}
