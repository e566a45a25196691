//! Server-side printing: `meta.k8s.io/v1` Table responses with the columns the real
//! apiserver prints for `kubectl get` (kubectl asks with `Accept: ...;as=Table`).

use jiff::Timestamp;
use serde_json::{Value, json};

use super::meta::str_at;
use super::printers;
use super::resources::ResourceType;

/// Renders objects of one type as Table rows.
#[derive(Debug, Clone)]
pub struct TableRenderer {
    rt: &'static ResourceType,
    /// `includeObject=Object`: rows carry the full object rather than its metadata.
    full_objects: bool,
    now: Timestamp,
}

/// A column: header, type, priority (0 shown always, 1 only with `-o wide`).
type Column = (&'static str, &'static str, u8);

const NAME: Column = ("Name", "string", 0);
const AGE: Column = ("Age", "string", 0);

fn columns(rt: &ResourceType) -> &'static [Column] {
    match rt.plural {
        "pods" => &[
            NAME,
            ("Ready", "string", 0),
            ("Status", "string", 0),
            ("Restarts", "string", 0),
            AGE,
            ("IP", "string", 1),
            ("Node", "string", 1),
        ],
        "deployments" => &[
            NAME,
            ("Ready", "string", 0),
            ("Up-to-date", "integer", 0),
            ("Available", "integer", 0),
            AGE,
            ("Containers", "string", 1),
            ("Images", "string", 1),
            ("Selector", "string", 1),
        ],
        "replicasets" => &[
            NAME,
            ("Desired", "integer", 0),
            ("Current", "integer", 0),
            ("Ready", "integer", 0),
            AGE,
            ("Containers", "string", 1),
            ("Images", "string", 1),
        ],
        "nodes" => &[
            NAME,
            ("Status", "string", 0),
            ("Roles", "string", 0),
            AGE,
            ("Version", "string", 0),
        ],
        "namespaces" => &[NAME, ("Status", "string", 0), AGE],
        "events" => &[
            ("Last Seen", "string", 0),
            ("Type", "string", 0),
            ("Reason", "string", 0),
            ("Object", "string", 0),
            ("Message", "string", 0),
        ],
        "jobs" => &[
            NAME,
            ("Status", "string", 0),
            ("Completions", "string", 0),
            ("Duration", "string", 0),
            AGE,
        ],
        "cronjobs" => &[
            NAME,
            ("Schedule", "string", 0),
            ("Suspend", "boolean", 0),
            ("Active", "integer", 0),
            ("Last Schedule", "string", 0),
            AGE,
        ],
        "configmaps" => &[NAME, ("Data", "integer", 0), AGE],
        "secrets" => &[NAME, ("Type", "string", 0), ("Data", "integer", 0), AGE],
        "persistentvolumeclaims" => &[
            NAME,
            ("Status", "string", 0),
            ("Volume", "string", 0),
            ("Capacity", "string", 0),
            ("Access Modes", "string", 0),
            ("StorageClass", "string", 0),
            AGE,
        ],
        _ => &[NAME, ("Created At", "date", 0)],
    }
}

impl TableRenderer {
    /// A renderer for `rt` at time `now`.
    pub fn new(rt: &'static ResourceType, full_objects: bool, now: Timestamp) -> Self {
        TableRenderer {
            rt,
            full_objects,
            now,
        }
    }

    fn column_definitions(&self) -> Value {
        let defs: Vec<Value> = columns(self.rt)
            .iter()
            .map(|(name, kind, priority)| {
                let format = if *name == "Name" { "name" } else { "" };
                json!({"name": name, "type": kind, "format": format,
                       "description": name, "priority": priority})
            })
            .collect();
        Value::Array(defs)
    }

    /// A whole Table for a list response.
    pub fn render_list<'a>(
        &self,
        items: impl Iterator<Item = &'a Value>,
        list_meta: Value,
    ) -> Value {
        let rows: Vec<Value> = items.map(|o| self.row(o)).collect();
        json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": list_meta,
               "columnDefinitions": self.column_definitions(), "rows": rows})
    }

    /// A one-row Table, as a watch event object or a single-object get.
    pub fn render_one(&self, obj: &Value) -> Value {
        let rv = str_at(obj, &["metadata", "resourceVersion"]).unwrap_or_default();
        let list_meta = json!({ "resourceVersion": rv });
        self.render_list(std::iter::once(obj), list_meta)
    }

    fn row(&self, obj: &Value) -> Value {
        let object = if self.full_objects {
            obj.clone()
        } else {
            json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                   "metadata": obj.get("metadata").cloned().unwrap_or_else(|| json!({}))})
        };
        let cells = printers::cells(self.rt.plural, obj, self.now);
        json!({ "cells": cells, "object": object })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::resources::by_name;

    #[test]
    fn a_pod_table_has_kubectls_columns_and_metadata_rows() {
        let now: Timestamp = "2026-11-20T02:13:00Z".parse().expect("time");
        let pods = by_name("pods").expect("pods");
        let pod = json!({"metadata": {"name": "web-1", "creationTimestamp": "2026-11-20T02:08:00Z"},
            "spec": {"containers": [{"name": "app"}]}, "status": {"phase": "Running"}});
        let table = TableRenderer::new(pods, false, now).render_one(&pod);
        assert_eq!(table["columnDefinitions"][2]["name"], "Status");
        assert_eq!(
            table["rows"][0]["cells"],
            json!(["web-1", "0/1", "Running", "0", "5m", "<none>", "<none>"])
        );
        assert_eq!(table["rows"][0]["object"]["kind"], "PartialObjectMetadata");
    }
}
