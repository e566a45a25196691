//! The incident pages: `GET /incidents` (filtered by `state`, `namespace`, `category`,
//! `since`) and `GET /incidents/{id}`, as server-rendered HTML for a phone at 2 AM, JSON with
//! `Accept: application/json` (or `?format=json`) and Markdown with `?format=md`.
//!
//! One incident renders through the report's view model and templates ([`crate::report`]),
//! so the page and `nightshift report` say the same thing. Authentication is not here: the
//! HTTP server mounts [`router`] behind it. Bad parameters are 400s naming the parameter; an
//! unknown incident is 404; a store failure is 503 (retryable), logged with its cause.

mod list;
mod query;
mod sent;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::report::{self, Format};
use crate::store::{IncidentRecord, Store};
pub use query::{BadParam, PageFormat};

/// The most incidents one list page shows, newest first.
pub const LIST_LIMIT: u32 = 200;

/// The longest incident id looked up; longer ones are 404 without asking the store.
const MAX_ID_CHARS: usize = 256;

/// The pages, with the store applied as state so the router merges into any other.
pub fn router(store: Store) -> Router {
    Router::new()
        .route("/incidents", get(incidents))
        .route("/incidents/{id}", get(incident))
        .with_state(store)
}

#[derive(Debug, Default, Deserialize)]
struct ListParams {
    state: Option<String>,
    namespace: Option<String>,
    category: Option<String>,
    since: Option<String>,
    format: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct ShowParams {
    format: Option<String>,
}

/// One incident as JSON: the record, with its `id` and engine `state` at the top level.
#[derive(Serialize)]
struct IncidentJson<'a> {
    id: &'a str,
    state: &'static str,
    #[serde(flatten)]
    record: &'a IncidentRecord,
    /// Pages sent to humans about it (absent when none were).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pages: Vec<sent::SentPage>,
}

async fn incidents(
    State(store): State<Store>,
    Query(params): Query<ListParams>,
    headers: HeaderMap,
) -> Response {
    let now = Timestamp::now();
    let format = match page_format(params.format.as_deref(), &headers) {
        Ok(format) => format,
        Err(err) => return bad_request(&err),
    };
    let filter = match query::filter(
        params.state.as_deref(),
        params.namespace.as_deref(),
        params.category.as_deref(),
        params.since.as_deref(),
        now,
    ) {
        Ok(filter) => filter,
        Err(err) => return bad_request(&err),
    };
    let listed = match store.search_incidents(&filter, LIST_LIMIT).await {
        Ok(listed) => listed,
        Err(err) => return unavailable(&err),
    };
    match list::render(&listed, &filter, format, now) {
        Ok(body) => respond(format, body),
        Err(err) => internal(&err),
    }
}

async fn incident(
    State(store): State<Store>,
    Path(id): Path<String>,
    Query(params): Query<ShowParams>,
    headers: HeaderMap,
) -> Response {
    let format = match page_format(params.format.as_deref(), &headers) {
        Ok(format) => format,
        Err(err) => return bad_request(&err),
    };
    if id.chars().count() > MAX_ID_CHARS {
        return not_found(&id);
    }
    let record = match store.load(&id).await {
        Ok(Some(record)) => record,
        Ok(None) => return not_found(&id),
        Err(err) => return unavailable(&err),
    };
    let pages = match store.pages_of(&id).await {
        Ok(pages) => sent::view(&pages),
        Err(err) => return unavailable(&err),
    };
    let body = match format {
        PageFormat::Json => serde_json::to_string_pretty(&IncidentJson {
            id: &record.incident.id,
            state: record.incident.state.as_str(),
            record: &record,
            pages,
        })
        .map_err(report::ReportError::from),
        PageFormat::Html => report::render_at(&record, Format::Html, Timestamp::now())
            .map(|html| sent::into_html(html, &pages)),
        PageFormat::Markdown => report::render_at(&record, Format::Markdown, Timestamp::now())
            .map(|md| sent::into_markdown(md, &pages)),
    };
    match body {
        Ok(body) => respond(format, body),
        Err(err) => internal(&err),
    }
}

fn page_format(param: Option<&str>, headers: &HeaderMap) -> Result<PageFormat, BadParam> {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    query::format(param, accept)
}

fn respond(format: PageFormat, body: String) -> Response {
    let content_type = match format {
        PageFormat::Html => "text/html; charset=utf-8",
        PageFormat::Json => "application/json",
        PageFormat::Markdown => "text/markdown; charset=utf-8",
    };
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::VARY, HeaderValue::from_static("Accept"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

fn bad_request(err: &BadParam) -> Response {
    (StatusCode::BAD_REQUEST, format!("{err}\n")).into_response()
}

fn not_found(id: &str) -> Response {
    let shown: String = id.chars().take(64).collect();
    (StatusCode::NOT_FOUND, format!("no incident `{shown}`\n")).into_response()
}

fn unavailable(err: &crate::store::StoreError) -> Response {
    tracing::error!(error = %err, "incident pages could not read the store");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        "the incident store could not be read; try again\n",
    )
        .into_response()
}

fn internal(err: &report::ReportError) -> Response {
    tracing::error!(error = %err, "an incident page failed to render");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        "the page failed to render\n",
    )
        .into_response()
}
