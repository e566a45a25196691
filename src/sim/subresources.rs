//! Subresources: `pods/{name}/log`, `{deployments,replicasets}/{name}/scale` (an
//! `autoscaling/v1` Scale) and `*/{name}/status`.

use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use super::errors::{ApiError, ApiResult};
use super::handlers::Request;
use super::logs::LogQuery;
use super::meta;
use super::patch::{self, PatchType};
use super::router::{bytes_response, json_response};
use super::selector::format_selector;
use super::writes::UpdateMode;

/// Answers a request on `{resource}/{name}/{sub}`.
pub fn handle(req: &Request, method: &Method, name: &str, sub: &str) -> ApiResult<Response> {
    let rt = req.path.rt;
    match (sub, method) {
        ("log", &Method::GET) if rt.plural == "pods" => log(req, name),
        ("scale", &Method::GET) if rt.has_scale => {
            let obj = current(req, name)?;
            Ok(json_response(StatusCode::OK, &scale_of(&obj)))
        }
        ("scale", &Method::PUT) if rt.has_scale => {
            let body = req.json_body()?;
            set_scale(req, name, &body)
        }
        ("scale", &Method::PATCH) if rt.has_scale => {
            let kind = PatchType::from_content_type(content_type(req))?;
            let scale = scale_of(&*current(req, name)?);
            let patched = patch::apply(kind, &scale, &req.body)?;
            set_scale(req, name, &patched)
        }
        ("status", &Method::GET) if rt.has_status => {
            Ok(json_response(StatusCode::OK, &*current(req, name)?))
        }
        ("status", &Method::PUT) if rt.has_status => {
            let opts = req.write_options()?;
            let body = req.json_body()?;
            let mut store = req.app.cluster.store();
            let updated = store.update(rt, req.ns(), name, body, UpdateMode::Status, &opts)?;
            Ok(json_response(StatusCode::OK, &updated))
        }
        ("status", &Method::PATCH) if rt.has_status => req.patch(name, UpdateMode::Status),
        ("log" | "scale" | "status", _) if is_known(rt.plural, sub) => {
            Err(ApiError::method_not_allowed(method.as_str()))
        }
        _ => Err(ApiError::no_such_resource()),
    }
}

fn is_known(plural: &str, sub: &str) -> bool {
    super::resources::RESOURCES.iter().any(|rt| {
        rt.plural == plural
            && match sub {
                "log" => plural == "pods",
                "scale" => rt.has_scale,
                _ => rt.has_status,
            }
    })
}

fn content_type(req: &Request) -> &str {
    req.headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

fn current(req: &Request, name: &str) -> ApiResult<std::sync::Arc<Value>> {
    let obj = req.app.cluster.store().get(req.path.rt, req.ns(), name);
    obj.ok_or_else(|| ApiError::not_found(req.path.rt, name))
}

/// The `autoscaling/v1` Scale of a scalable object.
pub fn scale_of(obj: &Value) -> Value {
    let metadata = obj.get("metadata").cloned().unwrap_or_else(|| json!({}));
    let keep = [
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "creationTimestamp",
    ];
    let metadata: serde_json::Map<String, Value> = metadata
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(k, _)| keep.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default();
    let replicas = |path: &[&str]| {
        meta::value_at(obj, path)
            .and_then(Value::as_i64)
            .unwrap_or(0)
    };
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": metadata,
        "spec": { "replicas": replicas(&["spec", "replicas"]) },
        "status": {
            "replicas": replicas(&["status", "replicas"]),
            "selector": format_selector(meta::value_at(obj, &["spec", "selector"])),
        },
    })
}

fn set_scale(req: &Request, name: &str, scale: &Value) -> ApiResult<Response> {
    let rt = req.path.rt;
    let opts = req.write_options()?;
    let replicas = meta::value_at(scale, &["spec", "replicas"])
        .and_then(Value::as_i64)
        .filter(|r| *r >= 0)
        .ok_or_else(|| {
            ApiError::invalid(
                rt,
                name,
                "spec.replicas: Invalid value: must be greater than or equal to 0",
            )
        })?;
    let mut store = req.app.cluster.store();
    let current = store
        .get(rt, req.ns(), name)
        .ok_or_else(|| ApiError::not_found(rt, name))?;
    let wanted_rv = meta::str_at(scale, &["metadata", "resourceVersion"]).filter(|v| !v.is_empty());
    if wanted_rv
        .is_some_and(|rv| Some(rv) != meta::str_at(&current, &["metadata", "resourceVersion"]))
    {
        return Err(ApiError::conflict(rt, name));
    }
    let mut obj = (*current).clone();
    meta::object_mut(&mut obj, "spec").insert("replicas".into(), json!(replicas));
    let updated = store.update(rt, req.ns(), name, obj, UpdateMode::Main, &opts)?;
    Ok(json_response(StatusCode::OK, &scale_of(&updated)))
}

fn log(req: &Request, name: &str) -> ApiResult<Response> {
    let q = &req.query;
    let since_time = match q.get("sinceTime").filter(|t| !t.is_empty()) {
        None => None,
        Some(t) => Some(
            t.parse()
                .map_err(|_| ApiError::bad_request(format!("invalid sinceTime: {t}")))?,
        ),
    };
    let query = LogQuery {
        container: q
            .get("container")
            .filter(|c| !c.is_empty())
            .map(str::to_string),
        previous: q.flag("previous"),
        tail_lines: q.number("tailLines")?,
        limit_bytes: q.number("limitBytes")?,
        since_seconds: q.number("sinceSeconds")?,
        since_time,
        timestamps: q.flag("timestamps"),
    };
    let pod = current(req, name)?;
    let now = req.app.cluster.now();
    let text = req.app.cluster.logs().read(&pod, &query, now)?;
    Ok(bytes_response(StatusCode::OK, "text/plain", text))
}
