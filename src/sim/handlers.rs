//! The verbs on collections and objects: list, watch, get, create, update, patch, delete and
//! deletecollection. Subresources are in [`super::subresources`].

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::Response;
use serde_json::Value;

use super::errors::{ApiError, ApiResult, success_status};
use super::meta;
use super::patch::{self, PatchType};
use super::path::ResourcePath;
use super::router::{AppState, Query, error_response, json_response};
use super::selector::{FieldSelector, LabelSelector};
use super::subresources;
use super::table::TableRenderer;
use super::writes::{Preconditions, UpdateMode, WriteOptions};

/// Answers a request on a resource path.
pub async fn handle(
    app: AppState,
    method: Method,
    path: ResourcePath,
    query: Query,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let req = Request {
        app,
        path,
        query,
        headers,
        body,
    };
    let result = match (
        &method,
        req.path.name.as_deref(),
        req.path.subresource.as_deref(),
    ) {
        _ if !req.scope_ok() => Err(ApiError::no_such_resource()),
        (&Method::GET, None, _) if req.path.legacy_watch || req.query.flag("watch") => req.watch(),
        (&Method::GET, None, _) => req.list(),
        (&Method::POST, None, _) if req.namespace_or_cluster().is_some() => req.create(),
        (&Method::DELETE, None, _) if req.namespace_or_cluster().is_some() => {
            req.delete_collection()
        }
        (&Method::GET, Some(name), None) => req.get(name),
        (&Method::PUT, Some(name), None) => req.update(name),
        (&Method::PATCH, Some(name), None) => req.patch(name, UpdateMode::Main),
        (&Method::DELETE, Some(name), None) => req.delete(name),
        (_, Some(name), Some(sub)) => subresources::handle(&req, &method, name, sub),
        _ => Err(ApiError::method_not_allowed(method.as_str())),
    };
    result.unwrap_or_else(|e| error_response(&e))
}

/// One parsed request.
pub struct Request {
    /// Shared state.
    pub app: AppState,
    /// The resource path.
    pub path: ResourcePath,
    /// The query parameters.
    pub query: Query,
    /// The request headers.
    pub headers: HeaderMap,
    /// The request body.
    pub body: Bytes,
}

impl Request {
    fn scope_ok(&self) -> bool {
        let rt = self.path.rt;
        match (&self.path.namespace, &self.path.name) {
            (Some(_), _) => rt.namespaced,
            (None, Some(_)) => !rt.namespaced,
            (None, None) => true,
        }
    }

    /// The namespace of a namespaced path ("" for cluster-scoped types); `None` when a
    /// namespaced type is addressed across all namespaces.
    pub fn namespace_or_cluster(&self) -> Option<&str> {
        match (&self.path.namespace, self.path.rt.namespaced) {
            (Some(ns), _) => Some(ns),
            (None, false) => Some(""),
            (None, true) => None,
        }
    }

    /// The namespace key for a single object ("" for cluster-scoped).
    pub fn ns(&self) -> &str {
        self.path.namespace.as_deref().unwrap_or_default()
    }

    /// `dryRun` and `fieldManager` (falling back to the client's user agent).
    pub fn write_options(&self) -> ApiResult<WriteOptions> {
        let dry_run = match self.query.get("dryRun") {
            None | Some("") => false,
            Some("All") => true,
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "Invalid dry run value: {other}; supported values: All"
                )));
            }
        };
        let manager = match self.query.get("fieldManager") {
            Some(m) if m.len() > 128 => {
                return Err(ApiError::bad_request(
                    "fieldManager: Too long: may not be more than 128 bytes",
                ));
            }
            Some(m) if !m.is_empty() => m.to_string(),
            _ => self
                .headers
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .and_then(|ua| ua.split('/').next())
                .filter(|m| !m.is_empty())
                .unwrap_or("unknown")
                .to_string(),
        };
        Ok(WriteOptions {
            dry_run,
            manager: Some(manager),
        })
    }

    /// A Table renderer when the client asked for `as=Table`.
    pub fn table(&self) -> Option<TableRenderer> {
        let accept = self.headers.get(header::ACCEPT)?.to_str().ok()?;
        accept.contains("as=Table").then(|| {
            let full = self.query.get("includeObject") == Some("Object");
            TableRenderer::new(self.path.rt, full, self.app.cluster.now())
        })
    }

    /// The body as JSON.
    pub fn json_body(&self) -> ApiResult<Value> {
        serde_json::from_slice(&self.body).map_err(|e| {
            ApiError::bad_request(format!("the body of the request could not be decoded: {e}"))
        })
    }

    /// `labelSelector` and `fieldSelector`.
    pub fn selectors(&self) -> ApiResult<(LabelSelector, FieldSelector)> {
        let labels = LabelSelector::parse(self.query.get("labelSelector").unwrap_or_default())?;
        let fields = FieldSelector::parse(
            self.query.get("fieldSelector").unwrap_or_default(),
            self.path.rt,
        )?;
        Ok((labels, fields))
    }

    fn object_response(&self, code: StatusCode, obj: &Value) -> ApiResult<Response> {
        Ok(match self.table() {
            Some(t) => json_response(code, &t.render_one(obj)),
            None => json_response(code, obj),
        })
    }

    fn get(&self, name: &str) -> ApiResult<Response> {
        let obj = self.app.cluster.store().get(self.path.rt, self.ns(), name);
        let obj = obj.ok_or_else(|| ApiError::not_found(self.path.rt, name))?;
        self.object_response(StatusCode::OK, &obj)
    }

    fn create(&self) -> ApiResult<Response> {
        let opts = self.write_options()?;
        let obj = self.json_body()?;
        let ns = self.namespace_or_cluster().unwrap_or_default();
        let created = self
            .app
            .cluster
            .store()
            .create(self.path.rt, ns, obj, &opts)?;
        self.object_response(StatusCode::CREATED, &created)
    }

    fn update(&self, name: &str) -> ApiResult<Response> {
        let opts = self.write_options()?;
        let obj = self.json_body()?;
        let mut store = self.app.cluster.store();
        let updated = store.update(self.path.rt, self.ns(), name, obj, UpdateMode::Main, &opts)?;
        drop(store);
        self.object_response(StatusCode::OK, &updated)
    }

    /// PATCH of the object (mode `Main`) or its status (mode `Status`).
    pub fn patch(&self, name: &str, mode: UpdateMode) -> ApiResult<Response> {
        let opts = self.write_options()?;
        let content_type = self
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let kind = PatchType::from_content_type(content_type)?;
        let mut store = self.app.cluster.store();
        let current = store
            .get(self.path.rt, self.ns(), name)
            .ok_or_else(|| ApiError::not_found(self.path.rt, name))?;
        let patched = patch::apply(kind, &current, &self.body)?;
        let updated = store.update(self.path.rt, self.ns(), name, patched, mode, &opts)?;
        drop(store);
        self.object_response(StatusCode::OK, &updated)
    }

    /// Preconditions and dry run from the DeleteOptions body and query.
    pub fn delete_options(&self) -> ApiResult<(Preconditions, WriteOptions)> {
        let mut opts = self.write_options()?;
        let body: Value = if self.body.is_empty() {
            Value::Null
        } else {
            self.json_body()?
        };
        if body["dryRun"]
            .as_array()
            .is_some_and(|d| d.iter().any(|v| v == "All"))
        {
            opts.dry_run = true;
        }
        let pre = |f: &str| body["preconditions"][f].as_str().map(str::to_string);
        let pre = Preconditions {
            uid: pre("uid"),
            resource_version: pre("resourceVersion"),
        };
        Ok((pre, opts))
    }

    fn delete(&self, name: &str) -> ApiResult<Response> {
        let (pre, opts) = self.delete_options()?;
        let rt = self.path.rt;
        let deleted = self
            .app
            .cluster
            .store()
            .delete(rt, self.ns(), name, &pre, &opts)?;
        let pending = meta::value_at(&deleted, &["metadata", "deletionTimestamp"]).is_some();
        if rt.plural == "pods" && !opts.dry_run && !pending {
            self.app.cluster.logs().remove_pod(self.ns(), name);
        }
        match (pending, rt.plural) {
            (true, _) => self.object_response(StatusCode::ACCEPTED, &deleted),
            (false, "pods") => self.object_response(StatusCode::OK, &deleted),
            (false, _) => {
                let uid = meta::str_at(&deleted, &["metadata", "uid"]).unwrap_or_default();
                Ok(json_response(
                    StatusCode::OK,
                    &success_status(rt, name, uid),
                ))
            }
        }
    }
}
