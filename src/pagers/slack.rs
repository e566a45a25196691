//! Slack incoming webhooks: one message per page, in Block Kit with a plain-text fallback —
//! the diagnosis, the plan and the approve / deny / incident links. Slack answers 200 `ok`;
//! 429 and 5xx are retried, any other answer is final.

use futures::future::BoxFuture;
use serde_json::{Value, json};

use super::content::{EventKind, Page};
use super::{Delivery, Pager, PagerError, post_json, to_bytes};

/// A Slack incoming webhook.
pub struct Slack {
    name: String,
    url: String,
    client: reqwest::Client,
}

impl Slack {
    /// A pager named `name` posting to the incoming webhook `url`.
    pub fn new(name: &str, url: &str, client: reqwest::Client) -> Slack {
        Slack {
            name: name.to_owned(),
            url: url.to_owned(),
            client,
        }
    }
}

impl Pager for Slack {
    fn name(&self) -> &str {
        &self.name
    }

    fn send<'a>(&'a self, delivery: &'a Delivery) -> BoxFuture<'a, Result<(), PagerError>> {
        Box::pin(async move {
            let body = to_bytes(&encode(&delivery.page))?;
            post_json(&self.client, &self.url, body, &[]).await
        })
    }
}

/// Slack's mrkdwn with `&`, `<` and `>` escaped (untrusted text never becomes a link).
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The message for `page`: `text` is the notification fallback, `blocks` the message.
pub fn encode(page: &Page) -> Value {
    let icon = match page.event {
        EventKind::Trigger => ":rotating_light:",
        EventKind::Acknowledge => ":eyes:",
        EventKind::Resolve => ":white_check_mark:",
    };
    let mut blocks = vec![json!({
        "type": "section",
        "text": {"type": "mrkdwn", "text": format!("{icon} *{}*", escape(&page.summary))},
    })];
    let mut fields = vec![
        format!("*Incident*\n{}", escape(&page.incident)),
        format!("*State*\n{}", escape(&page.state)),
        format!("*Severity*\n{}", escape(&page.severity)),
        format!("*Target*\n{}", escape(&page.source)),
    ];
    if page.event != EventKind::Trigger || page.state != "awaiting-approval" {
        fields.push(format!("*Why*\n{}", escape(&page.reason)));
    }
    blocks.push(json!({
        "type": "section",
        "fields": fields.iter().map(|f| json!({"type": "mrkdwn", "text": f})).collect::<Vec<_>>(),
    }));
    if let Some(d) = &page.diagnosis {
        let text = format!(
            "*Diagnosis* ({}, confidence {})\n{}",
            escape(d["category"].as_str().unwrap_or("unknown")),
            d["confidence"],
            escape(d["summary"].as_str().unwrap_or(""))
        );
        blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": text}}));
    }
    if let Some(p) = &page.plan {
        blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": plan_text(p)}}));
    }
    if !page.grouped.is_empty() {
        let ids: Vec<String> = page.grouped.iter().map(|i| escape(i)).collect();
        let text = format!("*Incidents*\n{}", ids.join(", "));
        blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": text}}));
    }
    let buttons = buttons(page);
    if !buttons.is_empty() {
        blocks.push(json!({"type": "actions", "elements": buttons}));
    }
    json!({"text": page.summary, "blocks": blocks})
}

fn plan_text(plan: &Value) -> String {
    let mut text = format!(
        "*Plan* (risk {})",
        escape(plan["risk"].as_str().unwrap_or("unknown"))
    );
    for action in plan["actions"].as_array().into_iter().flatten() {
        text.push_str(&format!(
            "\n• `{}` {}",
            escape(action["tool"].as_str().unwrap_or("?")),
            escape(&action["params"].to_string())
        ));
    }
    text
}

fn buttons(page: &Page) -> Vec<Value> {
    let links = &page.links;
    let named = [
        (&links.approve, "Approve", Some("primary")),
        (&links.deny, "Deny", Some("danger")),
        (&links.incident, "Incident", None),
        (&links.list, "Incident list", None),
    ];
    named
        .into_iter()
        .filter_map(|(href, text, style)| {
            let href = href.as_ref()?;
            let mut button = json!({
                "type": "button",
                "text": {"type": "plain_text", "text": text},
                "url": href,
            });
            if let Some(style) = style {
                button["style"] = json!(style);
            }
            Some(button)
        })
        .collect()
}
