//! The axum entry point: parses every request path into a route and answers it with the
//! apiserver's status codes, content types and `Status` errors.

use std::collections::HashMap;
use std::str::FromStr;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::SimCluster;
use super::discovery;
use super::errors::{ApiError, ApiResult};
use super::handlers;
use super::openapi;
use super::path::{self, Route};

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// The cluster served.
    pub cluster: SimCluster,
    /// Cancelled at shutdown; open watches end when it fires.
    pub shutdown: CancellationToken,
}

/// The router serving the whole API (every path goes through one dispatcher).
pub fn router(cluster: SimCluster, shutdown: CancellationToken) -> Router {
    Router::new()
        .fallback(dispatch)
        .with_state(AppState { cluster, shutdown })
}

async fn dispatch(
    State(app): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let query = match Query::parse(&uri) {
        Ok(q) => q,
        Err(e) => return error_response(&e),
    };
    let route = path::parse(uri.path());
    tracing::debug!(%method, path = uri.path(), "sim request");
    let is_get = method == Method::GET;
    match route {
        Route::Resource(path) => handlers::handle(app, method, path, query, headers, body).await,
        _ if !is_get => error_response(&ApiError::method_not_allowed(method.as_str())),
        Route::Version => json_response(StatusCode::OK, &discovery::version()),
        Route::Health => (StatusCode::OK, "ok").into_response(),
        Route::CoreVersions => json_response(StatusCode::OK, &discovery::core_versions()),
        Route::Groups => json_response(StatusCode::OK, &discovery::group_list()),
        Route::Group(g) => json_response(StatusCode::OK, &discovery::group(&g)),
        Route::ResourceList(g, v) => {
            json_response(StatusCode::OK, &discovery::resource_list(&g, &v))
        }
        Route::OpenApiIndex => json_response(StatusCode::OK, &openapi::index()),
        Route::OpenApi(g, v) => match openapi::group_version(&g, &v) {
            Some(doc) => json_response(StatusCode::OK, &doc),
            None => not_found_page(),
        },
        Route::Unknown if uri.path().starts_with("/api") => {
            error_response(&ApiError::no_such_resource())
        }
        Route::Unknown => not_found_page(),
    }
}

fn not_found_page() -> Response {
    (StatusCode::NOT_FOUND, "404 page not found\n").into_response()
}

/// A JSON body with the given status code.
pub fn json_response(code: StatusCode, value: &Value) -> Response {
    match serde_json::to_vec(value) {
        Ok(bytes) => bytes_response(code, "application/json", bytes),
        Err(e) => error_response(&ApiError::internal(e.to_string())),
    }
}

/// A body of the given content type.
pub fn bytes_response(code: StatusCode, content_type: &'static str, bytes: Vec<u8>) -> Response {
    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() = code;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// The `Status` object of an error, with its code.
pub fn error_response(err: &ApiError) -> Response {
    let code = StatusCode::from_u16(err.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    json_response(code, &err.to_status())
}

/// The query string as a map (the last value of a repeated key wins).
#[derive(Debug, Default, Clone)]
pub struct Query(HashMap<String, String>);

impl Query {
    fn parse(uri: &Uri) -> ApiResult<Self> {
        if uri.query().is_none() {
            return Ok(Query::default());
        }
        let axum::extract::Query(pairs) =
            axum::extract::Query::<Vec<(String, String)>>::try_from_uri(uri)
                .map_err(|e| ApiError::bad_request(format!("malformed query string: {e}")))?;
        Ok(Query(pairs.into_iter().collect()))
    }

    /// A parameter's value.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// A boolean parameter (`true` or `1`).
    pub fn flag(&self, key: &str) -> bool {
        matches!(self.get(key), Some("true" | "1"))
    }

    /// A numeric parameter; a malformed one is a 400.
    pub fn number<T: FromStr>(&self, key: &str) -> ApiResult<Option<T>> {
        match self.get(key).filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|_| ApiError::bad_request(format!("invalid value for {key}: {v:?}"))),
        }
    }
}
