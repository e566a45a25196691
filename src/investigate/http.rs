//! `POST /api/v1/investigations` `{kind, namespace, name, question?}`: 201 with the incident
//! (as `nightshift incidents show` prints it) when this request opened it, 200 when the
//! workload's open incident answers; 400 naming the field for a bad body, 404 when the object
//! does not exist, 409 when no incident can be opened (a cooldown), 502 when the cluster cannot
//! be read, 500 when the store fails. Errors are `{"error": "..."}`. Mounted by the daemon's
//! server behind its authentication.

use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::json;

use super::{InvestigateError, Investigator, Request};

/// The route, over `investigator`.
pub fn router(investigator: Investigator) -> Router {
    Router::new()
        .route("/api/v1/investigations", post(create))
        .with_state(investigator)
}

async fn create(
    State(investigator): State<Investigator>,
    body: Result<Json<Request>, JsonRejection>,
) -> Response {
    let request = match body {
        Ok(Json(request)) => request,
        // serde's message names the field and where (`missing field `name` at line 1...`).
        Err(rejection) => return error(StatusCode::BAD_REQUEST, &rejection.body_text()),
    };
    match investigator.investigate(request).await {
        Ok(answer) => {
            let status = if answer.opened {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            (status, Json(answer.record)).into_response()
        }
        Err(err) => {
            let status = match &err {
                InvestigateError::BadRequest(_) => StatusCode::BAD_REQUEST,
                InvestigateError::NotFound(_) => StatusCode::NOT_FOUND,
                InvestigateError::NotOpened(_) => StatusCode::CONFLICT,
                InvestigateError::Cluster { .. } => StatusCode::BAD_GATEWAY,
                InvestigateError::Engine(_) | InvestigateError::Store(_) => {
                    tracing::error!(error = %err, "investigation failed");
                    StatusCode::INTERNAL_SERVER_ERROR
                }
            };
            error(status, &err.to_string())
        }
    }
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}
