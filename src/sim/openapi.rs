//! A minimal OpenAPI v3 discovery: the `/openapi/v3` index and, per group/version, one PATCH
//! operation per resource carrying `x-kubernetes-group-version-kind` and the
//! `fieldValidation` query parameter. That is what kubectl's `create`/`apply` check to
//! decide that the server validates fields itself; no schemas are served (kubectl falls
//! back to its compiled-in types for client-side apply patches).

use serde_json::{Map, Value, json};

use super::resources::{self, GROUPS};

fn gv_path(group: &str) -> String {
    if group.is_empty() {
        "api/v1".to_string()
    } else {
        format!("apis/{group}/{}", resources::version_of(group))
    }
}

/// `/openapi/v3`: the index of group/version documents.
pub fn index() -> Value {
    let paths: Map<String, Value> = std::iter::once("")
        .chain(GROUPS.iter().copied())
        .map(|g| {
            let path = gv_path(g);
            let url = format!("/openapi/v3/{path}?hash=nightshift-sim");
            (path, json!({ "serverRelativeURL": url }))
        })
        .collect();
    json!({ "paths": paths })
}

/// `/openapi/v3/api/v1` or `/openapi/v3/apis/{group}/{version}`, if served.
pub fn group_version(group: &str, version: &str) -> Option<Value> {
    let mut paths = Map::new();
    for rt in resources::in_group_version(group, version) {
        let prefix = format!("/{}", gv_path(rt.group));
        let path = if rt.namespaced {
            format!("{prefix}/namespaces/{{namespace}}/{}/{{name}}", rt.plural)
        } else {
            format!("{prefix}/{}/{{name}}", rt.plural)
        };
        let operation = json!({
            "operationId": format!("patch{}", rt.kind),
            "x-kubernetes-action": "patch",
            "x-kubernetes-group-version-kind": {
                "group": rt.group, "version": rt.version, "kind": rt.kind,
            },
            "parameters": [
                { "name": "dryRun", "in": "query", "schema": { "type": "string" } },
                { "name": "fieldManager", "in": "query", "schema": { "type": "string" } },
                { "name": "fieldValidation", "in": "query", "schema": { "type": "string" } },
            ],
            "responses": { "200": { "description": "OK" } },
        });
        paths.insert(path, json!({ "patch": operation }));
    }
    if paths.is_empty() {
        return None;
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": { "title": "Kubernetes", "version": "v1.32.0-nightshift-sim" },
        "paths": paths,
        "components": { "schemas": {} },
    }))
}
