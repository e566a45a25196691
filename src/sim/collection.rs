//! Verbs on collections: list (with selectors and `limit`/`continue` pagination), watch,
//! and deletecollection.

use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use serde::Serialize;
use serde_json::{Value, json};

use super::errors::{ApiError, ApiResult};
use super::handlers::Request;
use super::meta;
use super::resources::ResourceType;
use super::router::{bytes_response, error_response, json_response};
use super::store::Key;
use super::watch::{self, WatchRequest};

impl Request {
    /// GET on a collection: a `{Kind}List` (or Table), paginated with `limit`/`continue`.
    pub fn list(&self) -> ApiResult<Response> {
        let (labels, fields) = self.selectors()?;
        let limit = self.query.number::<usize>("limit")?.filter(|n| *n > 0);
        let resume = self.query.get("continue").filter(|c| !c.is_empty());
        let resume = resume.map(decode_continue).transpose()?;
        let ns = self.path.namespace.as_deref();
        let (items, rv, next) = {
            let store = self.app.cluster.store();
            let all = match &resume {
                Some((_, after)) => store.list_after(self.path.rt, ns, after),
                None => store.list(self.path.rt, ns),
            };
            let mut matching = all
                .into_iter()
                .filter(|o| labels.matches(o) && fields.matches(o));
            let items: Vec<_> = matching
                .by_ref()
                .take(limit.unwrap_or(usize::MAX))
                .collect();
            let rv = resume
                .as_ref()
                .map_or(store.resource_version(), |(rv, _)| *rv);
            let next = match (limit, items.last()) {
                (Some(_), Some(last)) if matching.next().is_some() => {
                    Some(encode_continue(rv, meta::namespace(last), meta::name(last)))
                }
                _ => None,
            };
            (items, rv, next)
        };
        let mut list_meta = json!({ "resourceVersion": rv.to_string() });
        if let Some(next) = next {
            list_meta["continue"] = json!(next);
        }
        let rt = self.path.rt;
        if let Some(t) = self.table() {
            return Ok(json_response(
                StatusCode::OK,
                &t.render_list(items.iter().map(|o| &**o), list_meta),
            ));
        }
        Ok(list_response(
            rt,
            list_meta,
            items.iter().map(|o| &**o).collect(),
        ))
    }

    /// GET with `watch=true`: a streaming response of watch events.
    pub fn watch(&self) -> ApiResult<Response> {
        let (labels, fields) = self.selectors()?;
        let resource_version = match self.query.get("resourceVersion").filter(|v| !v.is_empty()) {
            None => None,
            Some(v) => Some(
                v.parse::<u64>()
                    .map_err(|_| ApiError::bad_request(format!("invalid resource version: {v}")))?,
            ),
        };
        let timeout = self.query.number::<u64>("timeoutSeconds")?.unwrap_or(1800);
        let req = WatchRequest {
            rt: self.path.rt,
            namespace: self.path.namespace.clone(),
            labels,
            fields,
            resource_version,
            send_initial_events: self.query.flag("sendInitialEvents"),
            bookmarks: self.query.flag("allowWatchBookmarks"),
            timeout: Duration::from_secs(timeout),
            table: self.table(),
        };
        let stream = watch::start(self.app.cluster.clone(), req, self.app.shutdown.clone());
        let mut response = Response::new(Body::from_stream(stream));
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        Ok(response)
    }

    /// DELETE on a collection: deletes every matching object, returns them as a list.
    pub fn delete_collection(&self) -> ApiResult<Response> {
        let (labels, fields) = self.selectors()?;
        let (pre, opts) = self.delete_options()?;
        let rt = self.path.rt;
        let ns = self.namespace_or_cluster().unwrap_or_default();
        let mut store = self.app.cluster.store();
        let targets: Vec<String> = store
            .list(rt, Some(ns))
            .iter()
            .filter(|o| labels.matches(o) && fields.matches(o))
            .map(|o| meta::name(o).to_string())
            .collect();
        let mut deleted = Vec::new();
        for name in &targets {
            deleted.push(store.delete(rt, ns, name, &pre, &opts)?);
        }
        drop(store);
        if rt.plural == "pods" && !opts.dry_run {
            let mut logs = self.app.cluster.logs();
            targets.iter().for_each(|name| logs.remove_pod(ns, name));
        }
        Ok(list_response(
            rt,
            json!({}),
            deleted.iter().map(|o| &**o).collect(),
        ))
    }
}

/// A `{Kind}List` body, serialized straight from the stored objects (no copies).
#[derive(Serialize)]
struct ListBody<'a> {
    kind: String,
    #[serde(rename = "apiVersion")]
    api_version: String,
    metadata: Value,
    items: Vec<&'a Value>,
}

fn list_response(rt: &ResourceType, metadata: Value, items: Vec<&Value>) -> Response {
    let body = ListBody {
        kind: format!("{}List", rt.kind),
        api_version: rt.api_version(),
        metadata,
        items,
    };
    match serde_json::to_vec(&body) {
        Ok(bytes) => bytes_response(StatusCode::OK, "application/json", bytes),
        Err(e) => error_response(&ApiError::internal(e.to_string())),
    }
}

fn encode_continue(rv: u64, ns: &str, name: &str) -> String {
    format!("{rv}/{ns}/{name}")
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn decode_continue(token: &str) -> ApiResult<(u64, Key)> {
    let invalid = || ApiError::bad_request("continue key is not valid");
    let bytes = (0..token.len())
        .step_by(2)
        .map(|i| {
            token
                .get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        })
        .collect::<Option<Vec<u8>>>()
        .ok_or_else(invalid)?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let mut parts = text.splitn(3, '/');
    let rv = parts
        .next()
        .and_then(|r| r.parse().ok())
        .ok_or_else(invalid)?;
    let ns = parts.next().ok_or_else(invalid)?.to_string();
    let name = parts.next().ok_or_else(invalid)?.to_string();
    Ok((rv, (ns, name)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continue_tokens_round_trip_and_garbage_is_refused() {
        let token = encode_continue(42, "shop", "web-1");
        assert_eq!(
            decode_continue(&token),
            Ok((42, ("shop".into(), "web-1".into())))
        );
        assert_eq!(decode_continue("zz").map_err(|e| e.code), Err(400));
    }
}
