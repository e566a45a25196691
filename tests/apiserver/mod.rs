//! A fake apiserver for contract tests (tower-test): it expects an exact sequence of calls,
//! asserts each one's method and URI (query included), answers with an object, text, an error
//! Status, or never, and records every (method, path) for the RBAC checks.
#![allow(dead_code)]

use std::sync::Mutex;

use http::{Request, Response, StatusCode};
use kube::client::Body;
use serde_json::{Value, json};
use tower_test::mock::Handle;

/// How the fake apiserver answers.
pub enum Reply {
    /// 200 with a JSON object.
    Json(Value),
    /// 200 with plain text (logs).
    Text(String),
    /// An error `Status` with this code.
    Status(u16),
    /// No answer, ever.
    Hang,
}

/// One expected call.
pub struct Call {
    /// `GET`, `PATCH`...
    pub method: &'static str,
    /// Path and query, exactly as sent.
    pub uri: String,
    /// The answer.
    pub reply: Reply,
}

/// A `GET` of `uri` answered with `reply`.
pub fn get(uri: impl Into<String>, reply: Reply) -> Call {
    Call {
        method: "GET",
        uri: uri.into(),
        reply,
    }
}

/// Every (method, path) a test crate's fake apiserver saw.
pub type Seen = Mutex<Vec<(String, String)>>;

/// A kube client talking to a fake apiserver, and the handle that plays it.
pub fn client() -> (kube::Client, Handle<Request<Body>, Response<Body>>) {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    (kube::Client::new(service, "default"), handle)
}

fn status(code: u16) -> Value {
    let reason = match code {
        400 => "BadRequest",
        403 => "Forbidden",
        404 => "NotFound",
        _ => "InternalError",
    };
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
           "message": format!("fake apiserver says {code}"), "reason": reason, "code": code})
}

/// Plays `calls` in order, asserting each request; afterwards asserts no further request
/// comes (the client must be dropped for this task to end).
pub async fn serve(
    mut handle: Handle<Request<Body>, Response<Body>>,
    calls: Vec<Call>,
    seen: &Seen,
) {
    let mut held = Vec::new();
    for call in calls {
        let (request, send) = handle
            .next_request()
            .await
            .unwrap_or_else(|| panic!("the client stopped before {} {}", call.method, call.uri));
        let uri = request.uri().to_string();
        seen.lock().expect("lock").push((
            request.method().to_string(),
            request.uri().path().to_owned(),
        ));
        assert_eq!(request.method().as_str(), call.method, "method of {uri}");
        assert_eq!(uri, call.uri, "expected {} {}", call.method, call.uri);
        let (code, body) = match call.reply {
            Reply::Json(value) => (200, value.to_string()),
            Reply::Text(text) => (200, text),
            Reply::Status(code) => (code, status(code).to_string()),
            Reply::Hang => {
                held.push(send);
                continue;
            }
        };
        let response = Response::builder()
            .status(StatusCode::from_u16(code).expect("status code"))
            .body(Body::from(body.into_bytes()))
            .expect("response");
        send.send_response(response);
    }
    if let Some((request, _)) = handle.next_request().await {
        panic!("unexpected call {} {}", request.method(), request.uri());
    }
    drop(held);
}

/// A `kind: List` of `items`.
pub fn list(kind: &str, items: Vec<Value>) -> Value {
    json!({"apiVersion": "v1", "kind": kind, "metadata": {}, "items": items})
}
