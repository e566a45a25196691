//! PagerDuty Events API v2: one `POST` of an event per page. `dedup_key` ties the trigger, the
//! acknowledge and the resolve of one incident together; 202 is success, 400 is a body
//! PagerDuty will never take (not retried), 429 and 5xx are retried.

use futures::future::BoxFuture;
use serde_json::{Value, json};

use super::content::{EventKind, Page};
use super::{Delivery, Pager, PagerError, post_json, to_bytes};

/// A PagerDuty integration (one routing key).
pub struct PagerDuty {
    name: String,
    url: String,
    routing_key: String,
    client: reqwest::Client,
}

impl PagerDuty {
    /// A pager named `name` posting events for `routing_key` to `url`.
    pub fn new(name: &str, url: &str, routing_key: &str, client: reqwest::Client) -> PagerDuty {
        PagerDuty {
            name: name.to_owned(),
            url: url.to_owned(),
            routing_key: routing_key.to_owned(),
            client,
        }
    }
}

impl Pager for PagerDuty {
    fn name(&self) -> &str {
        &self.name
    }

    fn send<'a>(&'a self, delivery: &'a Delivery) -> BoxFuture<'a, Result<(), PagerError>> {
        Box::pin(async move {
            let body = encode(&self.routing_key, &delivery.dedup_key, &delivery.page);
            post_json(&self.client, &self.url, to_bytes(&body)?, &[]).await
        })
    }
}

/// The Events API v2 body for `page` (documented fields only). Every event carries a payload:
/// a trigger needs one, and on acknowledge and resolve it carries the reason.
pub fn encode(routing_key: &str, dedup_key: &str, page: &Page) -> Value {
    let mut details = json!({
        "incident": page.incident,
        "state": page.state,
        "reason": page.reason,
    });
    if let Some(d) = &page.diagnosis {
        details["diagnosis"] = d.clone();
    }
    if let Some(p) = &page.plan {
        details["plan"] = p.clone();
    }
    if !page.grouped.is_empty() {
        details["grouped_incidents"] = json!(page.grouped);
    }
    let mut links = Vec::new();
    let named = [
        (&page.links.approve, "Approve the plan"),
        (&page.links.deny, "Deny the plan"),
        (&page.links.incident, "Incident page"),
        (&page.links.list, "Incident list"),
    ];
    for (href, text) in named {
        if let Some(href) = href {
            links.push(json!({"href": href, "text": text}));
        }
    }
    let mut body = json!({
        "routing_key": routing_key,
        "event_action": page.event.as_str(),
        "dedup_key": dedup_key,
        "client": "nightshift",
        "payload": {
            "summary": page.summary,
            "source": page.source,
            "severity": page.severity,
            "component": page.component,
            "group": page.group,
            "class": page.class,
            "custom_details": details,
        },
    });
    if page.event == EventKind::Trigger {
        body["links"] = Value::Array(links);
        if let Some(url) = &page.links.incident {
            body["client_url"] = json!(url);
        }
    }
    body
}
