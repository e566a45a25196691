//! `GET /approve/{token}`, `GET /deny/{token}`: the confirmation page, which decides nothing
//! (mail scanners and chat previewers open links). `POST` to the same path from that page's form
//! decides, once: the form carries a hidden field that is an HMAC of the token and of the caller
//! who loaded the page, so a cross-site form (which cannot read the page) or another user cannot
//! post it, without any cookie. Every refusal is a 4xx page saying which — 403 forged, altered,
//! wrong field or not an approver; 404 unknown incident; 409 already decided; 410 expired,
//! superseded by a newer plan, or already used — and JSON with `Accept: application/json`.
//! Mounted behind the front door's authentication; the approver is the authenticated caller.

use std::sync::Arc;

use axum::extract::rejection::FormRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get};
use axum::{Extension, Form, Router};
use jiff::Timestamp;
use serde::Deserialize;

use super::page;
use super::token::{Claims, Keyring, LinkDecision, LinkError};
use crate::approval::{AnswerError, Answered, Request};
use crate::domain::approvers::{Approver, ApproverPolicy, Intent};
use crate::domain::incident::IncidentState;
use crate::http::auth::{Caller, CallerGroups};
use crate::store::{Decision, IncidentRecord, Store};

/// The longest reason kept, in characters.
const MAX_REASON_CHARS: usize = 500;

/// What the link routes need.
#[derive(Clone)]
pub struct Links {
    store: Store,
    keys: Keyring,
    policy: Arc<ApproverPolicy>,
}

impl Links {
    /// The routes' state.
    pub fn new(store: Store, keys: Keyring, policy: ApproverPolicy) -> Links {
        Links {
            store,
            keys,
            policy: Arc::new(policy),
        }
    }
}

/// The routes, to be mounted behind authentication.
pub fn router(links: Links) -> Router {
    Router::new()
        .route("/approve/{token}", answer(LinkDecision::Approve))
        .route("/deny/{token}", answer(LinkDecision::Deny))
        .with_state(links)
}

/// A link's two methods for `decision`: GET shows the confirmation page and decides nothing;
/// only the POST of its form decides.
fn answer(decision: LinkDecision) -> MethodRouter<Links> {
    get(
        move |State(links): State<Links>,
              Path(token): Path<String>,
              caller: Extension<Caller>,
              groups: Option<Extension<CallerGroups>>,
              headers: HeaderMap| async move {
            show(&links, &token, decision, &caller.0, groups, &headers).await
        },
    )
    .post(
        move |State(links): State<Links>,
              Path(token): Path<String>,
              caller: Extension<Caller>,
              groups: Option<Extension<CallerGroups>>,
              headers: HeaderMap,
              form: Result<Form<ConfirmForm>, FormRejection>| async move {
            // A missing or unreadable form is treated as an empty one: refused for its missing
            // field.
            let form = form.map(|f| f.0).unwrap_or_default();
            decide(&links, &token, decision, &caller.0, groups, form)
                .await
                .respond(&headers)
        },
    )
}

/// The confirmation form's fields.
#[derive(Debug, Default, Deserialize)]
pub struct ConfirmForm {
    /// The hidden field bound to the token and the caller.
    #[serde(default)]
    confirm: String,
    /// Why (optional).
    #[serde(default)]
    reason: String,
}

/// A refusal or outcome, rendered as a page or JSON.
struct Outcome {
    status: StatusCode,
    outcome: &'static str,
    title: &'static str,
    message: String,
    incident: Option<String>,
}

impl Outcome {
    fn new(
        status: StatusCode,
        outcome: &'static str,
        title: &'static str,
        message: String,
    ) -> Self {
        Outcome {
            status,
            outcome,
            title,
            message,
            incident: None,
        }
    }

    fn about(mut self, incident: &str) -> Self {
        self.incident = Some(incident.to_owned());
        self
    }

    fn respond(self, headers: &HeaderMap) -> Response {
        if wants_json(headers) {
            let body = serde_json::json!({
                "outcome": self.outcome,
                "status": self.status.as_u16(),
                "message": self.message,
                "incident": self.incident,
            });
            return finish(self.status, "application/json", body.to_string());
        }
        match page::outcome(
            self.status.as_u16(),
            self.outcome,
            self.title,
            &self.message,
            self.incident.as_deref(),
        ) {
            Ok(html) => finish(self.status, "text/html; charset=utf-8", html),
            Err(err) => {
                tracing::error!(error = %err, "a link page failed to render");
                finish(self.status, "text/plain; charset=utf-8", self.message)
            }
        }
    }
}

fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/json"))
}

fn finish(status: StatusCode, content_type: &'static str, body: String) -> Response {
    let mut response = (status, body).into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // No other site may frame the page (clickjacking the button).
    h.insert(
        header::X_FRAME_OPTIONS,
        HeaderValue::from_static("SAMEORIGIN"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("frame-ancestors 'self'"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::VARY, HeaderValue::from_static("Accept"));
    response
}

fn forged(err: &LinkError) -> Outcome {
    Outcome::new(
        StatusCode::FORBIDDEN,
        "forged",
        "This link is not valid",
        format!("{err}. Nothing was decided; use the link from the page as it was sent."),
    )
}

fn unavailable(err: &dyn std::fmt::Display) -> Outcome {
    tracing::error!(error = %err, "an approval link could not reach the store");
    Outcome::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        "Try again",
        "the incident store could not be reached; nothing was decided".into(),
    )
}

fn group_list(groups: Option<Extension<CallerGroups>>) -> Vec<String> {
    groups.map(|g| g.0.0).unwrap_or_default()
}

/// What GET and POST both check: a genuine, unexpired link for the incident's current plan,
/// unused, while the incident awaits approval. An expired link escalates the incident.
async fn usable(
    links: &Links,
    token: &str,
    wanted: LinkDecision,
    now: Timestamp,
) -> Result<(Claims, IncidentRecord), Outcome> {
    let claims = match links.keys.verify(token, wanted, now) {
        Ok(claims) => claims,
        Err(LinkError::Expired { at, claims }) => {
            escalate_expired(links, &claims, now).await;
            return Err(Outcome::new(
                StatusCode::GONE,
                "expired",
                "This link has expired",
                format!(
                    "the approval request expired at {at}; nothing was decided and the incident \
                     was escalated"
                ),
            )
            .about(&claims.incident));
        }
        Err(err) => return Err(forged(&err)),
    };
    let record = match links.store.load(&claims.incident).await {
        Ok(Some(record)) => record,
        Ok(None) => {
            return Err(Outcome::new(
                StatusCode::NOT_FOUND,
                "unknown-incident",
                "No such incident",
                format!("there is no incident {}", claims.incident),
            ));
        }
        Err(err) => return Err(unavailable(&err)),
    };
    let id = claims.incident.clone();
    let current = record.plans.last().map(|p| p.hash.as_str());
    if current != Some(claims.plan_hash.as_str()) {
        return Err(Outcome::new(
            StatusCode::GONE,
            "superseded",
            "This plan was superseded",
            format!(
                "incident {id} has a newer plan than the one this link was sent for; nothing was \
                 decided. Open the incident page to see the current plan."
            ),
        )
        .about(&id));
    }
    match links.store.link_used(&claims.nonce).await {
        Ok(Some((actor, at))) => return Err(used(&id, &actor, at)),
        Ok(None) => {}
        Err(err) => return Err(unavailable(&err)),
    }
    if record.incident.state != IncidentState::AwaitingApproval {
        return Err(Outcome::new(
            StatusCode::CONFLICT,
            "not-awaiting",
            "Already decided",
            format!(
                "incident {id} is {}, not awaiting approval; nothing was decided",
                record.incident.state
            ),
        )
        .about(&id));
    }
    Ok((claims, record))
}

fn used(id: &str, actor: &str, at: Timestamp) -> Outcome {
    Outcome::new(
        StatusCode::GONE,
        "used",
        "This link was already used",
        format!(
            "this link was used by {actor} at {at}; a link decides once. Nothing was recorded."
        ),
    )
    .about(id)
}

/// Records that the approval request expired (the engine then moves the incident on).
async fn escalate_expired(links: &Links, claims: &Claims, now: Timestamp) {
    let Ok(Some(record)) = links.store.load(&claims.incident).await else {
        return;
    };
    let current = record.plans.last().map(|p| p.hash.as_str());
    if record.incident.state != IncidentState::AwaitingApproval
        || current != Some(claims.plan_hash.as_str())
    {
        return;
    }
    let answer = crate::store::Answer {
        id: &claims.incident,
        plan_hash: &claims.plan_hash,
        decision: Decision::Expired,
        actor: "nightshift",
        reason: Some("the approval request expired"),
        nonce: None,
        required: 1,
        via: "link",
    };
    if let Err(err) = links.store.record_answer(answer, now).await {
        tracing::warn!(incident = %claims.incident, error = %err, "could not record an expired approval request");
    }
}

fn approver_refusal(
    links: &Links,
    record: &IncidentRecord,
    caller: &str,
    groups: &[String],
    wanted: LinkDecision,
) -> Option<Outcome> {
    let plan = record.plans.last()?;
    let intent = match wanted {
        LinkDecision::Approve => Intent::Approve,
        LinkDecision::Deny => Intent::Deny,
    };
    let who = Approver {
        user: caller,
        groups,
    };
    let namespace = record.incident.target.namespace.as_deref();
    links
        .policy
        .allows(&who, namespace, plan.plan.risk, intent)
        .err()
        .map(|err| {
            Outcome::new(
                StatusCode::FORBIDDEN,
                "not-allowed",
                "You may not answer this page",
                format!("{err}; nothing was decided"),
            )
            .about(&record.incident.id)
        })
}

async fn show(
    links: &Links,
    token: &str,
    wanted: LinkDecision,
    caller: &Caller,
    groups: Option<Extension<CallerGroups>>,
    headers: &HeaderMap,
) -> Response {
    let now = Timestamp::now();
    let groups = group_list(groups);
    let (claims, record) = match usable(links, token, wanted, now).await {
        Ok(found) => found,
        Err(outcome) => return outcome.respond(headers),
    };
    if let Some(refusal) = approver_refusal(links, &record, &caller.0, &groups, wanted) {
        return refusal.respond(headers);
    }
    let field = links.keys.form_field(token, &caller.0);
    let need = record
        .plans
        .last()
        .map_or(1, |p| links.policy.required(p.plan.risk));
    let have = record
        .approvals
        .iter()
        .filter(|a| a.plan_hash == claims.plan_hash && a.decision == Decision::Approved)
        .map(|a| a.actor.as_str())
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    if wants_json(headers) {
        let body = serde_json::json!({
            "outcome": "confirm",
            "incident": claims.incident,
            "plan_hash": claims.plan_hash,
            "decision": wanted.as_str(),
            "confirm": field,
            "approvers": {"have": have, "need": need},
        });
        return finish(StatusCode::OK, "application/json", body.to_string());
    }
    let view = crate::report::build_view(&record, now);
    let expires = Timestamp::from_second(claims.expires).unwrap_or(now);
    let confirm = page::Confirm {
        view: &view,
        decision: wanted.as_str(),
        token,
        field: &field,
        caller: &caller.0,
        expires,
        have,
        need,
        now,
    };
    match page::confirm(&confirm) {
        Ok(html) => finish(StatusCode::OK, "text/html; charset=utf-8", html),
        Err(err) => {
            tracing::error!(error = %err, "a confirmation page failed to render");
            Outcome::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "error",
                "The page failed to render",
                "the confirmation page failed to render; nothing was decided".into(),
            )
            .respond(headers)
        }
    }
}

async fn decide(
    links: &Links,
    token: &str,
    wanted: LinkDecision,
    caller: &Caller,
    groups: Option<Extension<CallerGroups>>,
    form: ConfirmForm,
) -> Outcome {
    let now = Timestamp::now();
    let groups = group_list(groups);
    // The signature first: a forged link learns nothing about the form.
    if let Err(err) = links.keys.open(token) {
        return forged(&err);
    }
    if form.confirm.is_empty() || !links.keys.check_form_field(token, &caller.0, &form.confirm) {
        return Outcome::new(
            StatusCode::FORBIDDEN,
            "bad-form",
            "Confirm from the link's page",
            "this request did not come from the confirmation page nightshift showed you (the form \
             field is missing or belongs to another link or user); open the link and press the \
             button there. Nothing was decided."
                .into(),
        );
    }
    let (claims, record) = match usable(links, token, wanted, now).await {
        Ok(found) => found,
        Err(outcome) => return outcome,
    };
    let id = claims.incident.as_str();
    let reason: String = form.reason.trim().chars().take(MAX_REASON_CHARS).collect();
    let decision = match wanted {
        LinkDecision::Approve => Decision::Approved,
        LinkDecision::Deny => Decision::Denied,
    };
    let request = Request {
        id,
        plan_hash: Some(&claims.plan_hash),
        decision,
        actor: &caller.0,
        groups: &groups,
        checked: true,
        reason: (!reason.is_empty()).then_some(reason.as_str()),
        nonce: Some(&claims.nonce),
        via: "link",
    };
    drop(record);
    match crate::approval::answer_with(&links.store, &links.policy, &request, now).await {
        Ok(Answered::Recorded(hash)) => {
            let (outcome, title, what) = match wanted {
                LinkDecision::Approve => ("approved", "Approved", "nightshift runs it now"),
                LinkDecision::Deny => ("denied", "Denied", "nothing will run"),
            };
            Outcome::new(
                StatusCode::OK,
                outcome,
                title,
                format!(
                    "{title} plan {} of incident {id} as {}; {what}.",
                    short(&hash),
                    caller.0
                ),
            )
            .about(id)
        }
        Ok(Answered::Awaiting { hash, have, need }) => Outcome::new(
            StatusCode::OK,
            "awaiting-approver",
            "Approval recorded",
            format!(
                "your approval of plan {} is recorded ({have} of {need} distinct approvers); it \
                 runs once another approver approves it",
                short(&hash)
            ),
        )
        .about(id),
        Ok(Answered::AlreadyDecided { hash, actor, at }) => Outcome::new(
            StatusCode::CONFLICT,
            "already-decided",
            "Already decided",
            format!(
                "plan {} was already {} by {actor} at {at}; nothing new was recorded",
                short(&hash),
                decision.as_str()
            ),
        )
        .about(id),
        Ok(Answered::LinkUsed { actor, at, .. }) => used(id, &actor, at),
        Err(err) => refusal(id, &err),
    }
}

fn refusal(id: &str, err: &AnswerError) -> Outcome {
    let (status, outcome, title) = match err {
        AnswerError::UnknownIncident(_) => (
            StatusCode::NOT_FOUND,
            "unknown-incident",
            "No such incident",
        ),
        AnswerError::NotAwaiting { .. } => {
            (StatusCode::CONFLICT, "not-awaiting", "Already decided")
        }
        AnswerError::WrongPlan { .. } | AnswerError::ShortHash(_) => {
            (StatusCode::GONE, "superseded", "This plan was superseded")
        }
        AnswerError::NotAllowed(_) => (
            StatusCode::FORBIDDEN,
            "not-allowed",
            "You may not answer this page",
        ),
        AnswerError::Store(err) => return unavailable(err).about(id),
    };
    Outcome::new(
        status,
        outcome,
        title,
        format!("{err}; nothing was decided"),
    )
    .about(id)
}

fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}
