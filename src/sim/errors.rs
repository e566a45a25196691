//! API errors as the real apiserver reports them: a `meta/v1` `Status` object with an HTTP code.

use serde_json::{Value, json};

use super::resources::ResourceType;

/// A failed API call: serialized as a `kind: Status` object with `status: Failure`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{code} {reason}: {message}")]
pub struct ApiError {
    /// The HTTP status code (404, 409, ...).
    pub code: u16,
    /// The machine-readable reason (`NotFound`, `AlreadyExists`, `Conflict`, ...).
    pub reason: &'static str,
    /// The human-readable message, worded like the real apiserver's.
    pub message: String,
    /// `details` of the Status: the object's name, group and resource, when known.
    pub details: Option<Details>,
}

/// `Status.details`: which object the error is about.
#[derive(Debug, Clone, PartialEq)]
pub struct Details {
    /// The object's name.
    pub name: String,
    /// The API group ("" for core).
    pub group: &'static str,
    /// The resource plural (the real apiserver puts it in `details.kind`).
    pub kind: &'static str,
}

/// Shorthand for results of the simulated API.
pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    /// An error with any code, reason and message.
    pub fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            code,
            reason,
            message: message.into(),
            details: None,
        }
    }

    fn about(mut self, rt: &ResourceType, name: &str) -> Self {
        self.details = Some(Details {
            name: name.to_string(),
            group: rt.group,
            kind: rt.plural,
        });
        self
    }

    /// 404: `pods "x" not found`.
    pub fn not_found(rt: &ResourceType, name: &str) -> Self {
        let message = format!("{} \"{name}\" not found", rt.qualified());
        Self::new(404, "NotFound", message).about(rt, name)
    }

    /// 404 for a path that names no known resource.
    pub fn no_such_resource() -> Self {
        Self::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
    }

    /// 409: `pods "x" already exists`.
    pub fn already_exists(rt: &ResourceType, name: &str) -> Self {
        let message = format!("{} \"{name}\" already exists", rt.qualified());
        Self::new(409, "AlreadyExists", message).about(rt, name)
    }

    /// 409: the optimistic-concurrency failure of an update from a stale resourceVersion.
    pub fn conflict(rt: &ResourceType, name: &str) -> Self {
        let message = format!(
            "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; \
             please apply your changes to the latest version and try again",
            rt.qualified()
        );
        Self::new(409, "Conflict", message).about(rt, name)
    }

    /// 409 for a failed delete precondition or a conflicting request.
    pub fn conflict_message(rt: &ResourceType, name: &str, why: &str) -> Self {
        let message = format!(
            "Operation cannot be fulfilled on {} \"{name}\": {why}",
            rt.qualified()
        );
        Self::new(409, "Conflict", message).about(rt, name)
    }

    /// 400 with the given message.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    /// 422: `Pod "x" is invalid: <field>: <why>`.
    pub fn invalid(rt: &ResourceType, name: &str, cause: &str) -> Self {
        let message = format!("{} \"{name}\" is invalid: {cause}", rt.kind);
        Self::new(422, "Invalid", message).about(rt, name)
    }

    /// 405: the verb is not supported on this path.
    pub fn method_not_allowed(verb: &str) -> Self {
        Self::new(
            405,
            "MethodNotAllowed",
            format!("the server does not allow this method on the requested resource ({verb})"),
        )
    }

    /// 415: the patch content type is not supported.
    pub fn unsupported_media_type(content_type: &str) -> Self {
        Self::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types \
                 include: application/json-patch+json, application/merge-patch+json, \
                 application/strategic-merge-patch+json (got {content_type})"
            ),
        )
    }

    /// 410: a watch or list from a resourceVersion older than the retained history.
    pub fn expired(requested: u64, oldest: u64) -> Self {
        Self::new(
            410,
            "Expired",
            format!("too old resource version: {requested} ({oldest})"),
        )
    }

    /// 500 for a failure inside the simulator itself.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, "InternalError", message)
    }

    /// The `Status` object the apiserver sends for this error.
    pub fn to_status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some(d) = &self.details {
            let mut details = json!({ "name": d.name, "kind": d.kind });
            if !d.group.is_empty() {
                details["group"] = json!(d.group);
            }
            status["details"] = details;
        }
        status
    }
}

/// A `Status` object with `status: Success`, as a delete returns when there is no object to show.
pub fn success_status(rt: &ResourceType, name: &str, uid: &str) -> Value {
    let mut details = json!({ "name": name, "kind": rt.plural, "uid": uid });
    if !rt.group.is_empty() {
        details["group"] = json!(rt.group);
    }
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": details,
    })
}
