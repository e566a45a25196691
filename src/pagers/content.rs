//! What a page says, decided from values: which event a state change sends ([`event_for`]),
//! and the pager-neutral content ([`Page`]) built from the incident as stored. Each pager
//! encodes a [`Page`] its own way; the content is stored with the delivery so a retry after a
//! restart sends the same page.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::domain::incident::{IncidentState, Severity};
use crate::store::IncidentRecord;

use super::PageLinks;

/// PagerDuty's limit on a summary, which every pager keeps.
pub const MAX_SUMMARY_CHARS: usize = 1024;

/// What a page asks of the pager.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    /// Page a human (or page again).
    Trigger,
    /// A human answered: stop escalating the page.
    Acknowledge,
    /// Nothing is left for a human to do on this page.
    Resolve,
}

impl EventKind {
    /// Every kind.
    pub const ALL: [EventKind; 3] = [
        EventKind::Trigger,
        EventKind::Acknowledge,
        EventKind::Resolve,
    ];

    /// The wire name (PagerDuty's `event_action`).
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Trigger => "trigger",
            EventKind::Acknowledge => "acknowledge",
            EventKind::Resolve => "resolve",
        }
    }

    /// The kind a stored name stands for.
    pub fn parse(text: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

/// The event a move to `to` sends, as an SRE on call would want it:
/// - `awaiting-approval`: trigger (a human must decide);
/// - `escalated`: trigger (a human must look; after an acknowledge this pages again);
/// - `failed`: trigger (nightshift changed something and an action failed: a human now);
/// - `approved` by a human: acknowledge (someone has it);
/// - `resolved`, `denied`, `expired`: resolve, with the reason (nothing is left to decide;
///   the reason says whether it was fixed, refused or let lapse);
/// - anything else sends nothing.
///
/// Acknowledge and resolve are sent only on a pager that was triggered for the incident.
pub fn event_for(to: IncidentState) -> Option<EventKind> {
    use IncidentState::{Approved, AwaitingApproval, Denied, Escalated, Expired, Failed, Resolved};
    match to {
        AwaitingApproval | Escalated | Failed => Some(EventKind::Trigger),
        Approved => Some(EventKind::Acknowledge),
        Resolved | Denied | Expired => Some(EventKind::Resolve),
        _ => None,
    }
}

/// The links a page carries.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Links {
    /// The incident page.
    pub incident: Option<String>,
    /// Approve the current plan (signed, single use).
    pub approve: Option<String>,
    /// Deny the current plan.
    pub deny: Option<String>,
    /// The list of incidents (grouped pages).
    pub list: Option<String>,
}

/// A page, before a pager encodes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page {
    /// What the pager is asked to do.
    pub event: EventKind,
    /// The incident (or, for a grouped page, the first incident of the group).
    pub incident: String,
    /// One line, at most [`MAX_SUMMARY_CHARS`] characters.
    pub summary: String,
    /// `critical`, `error`, `warning` or `info` (PagerDuty's names).
    pub severity: String,
    /// The object in trouble (`Pod shop/payments-api-7d9f`).
    pub source: String,
    /// The workload (or the target) name.
    pub component: String,
    /// The namespace (or `cluster` for cluster-scoped objects).
    pub group: String,
    /// The rule that opened the incident.
    pub class: String,
    /// The state the incident moved to.
    pub state: String,
    /// Why (the transition's reason).
    pub reason: String,
    /// The diagnosis (category, contributing, summary, confidence), if one exists.
    pub diagnosis: Option<Value>,
    /// The plan (actions, risk, rationale) and its hash, if one exists.
    pub plan: Option<Value>,
    /// Links to act on it.
    pub links: Links,
    /// For a grouped page: the incidents it stands for.
    #[serde(default)]
    pub grouped: Vec<String>,
}

/// The page for `record` moving to `to` for `reason`.
pub fn page_for(
    record: &IncidentRecord,
    event: EventKind,
    to: IncidentState,
    reason: &str,
    links: &dyn PageLinks,
) -> Page {
    let incident = &record.incident;
    let target = &incident.target;
    let scope = incident.scope();
    let diagnosis = record.diagnosis.as_ref().map(|d| {
        let d = &d.diagnosis;
        json!({
            "category": d.category.as_str(),
            "contributing": d.contributing.iter().map(|c| c.as_str()).collect::<Vec<_>>(),
            "summary": d.summary,
            "confidence": d.confidence,
        })
    });
    let plan = record.plans.last();
    let plan_json = plan.map(|p| {
        json!({
            "hash": p.hash,
            "risk": p.plan.risk,
            "rationale": p.plan.rationale,
            "actions": p.plan.actions.iter()
                .map(|a| json!({"tool": a.tool.as_str(), "params": a.params}))
                .collect::<Vec<_>>(),
        })
    });
    let asks = to == IncidentState::AwaitingApproval;
    let hash = plan.map(|p| p.hash.as_str()).filter(|_| asks);
    let headline = match &record.diagnosis {
        Some(d) => format!("{} {}: {}", incident.rule, target, d.diagnosis.summary),
        None => format!("{} {}", incident.rule, target),
    };
    let summary = match event {
        EventKind::Trigger if asks => format!("[approval needed] {headline}"),
        EventKind::Trigger => format!("[{}] {headline} ({reason})", to.as_str()),
        EventKind::Acknowledge => format!("[acknowledged] {headline} ({reason})"),
        EventKind::Resolve => format!("[{}] {headline} ({reason})", to.as_str()),
    };
    Page {
        event,
        incident: incident.id.clone(),
        summary: clip(&summary, MAX_SUMMARY_CHARS),
        severity: severity(incident.severity, to).to_owned(),
        source: target.to_string(),
        component: scope.name.clone(),
        group: target.namespace.clone().unwrap_or_else(|| "cluster".into()),
        class: incident.rule.clone(),
        state: to.as_str().to_owned(),
        reason: reason.to_owned(),
        diagnosis,
        plan: plan_json,
        links: Links {
            incident: links.incident(&incident.id),
            approve: hash.and_then(|h| links.approve(&incident.id, h)),
            deny: hash.and_then(|h| links.deny(&incident.id, h)),
            list: None,
        },
        grouped: Vec::new(),
    }
}

/// The grouped page standing for `incidents` (oldest first) during a wide outage.
pub fn grouped_page(
    pager: &str,
    incidents: &[String],
    window_seconds: u64,
    links: &dyn PageLinks,
    list: Option<String>,
) -> Page {
    let first = incidents.first().cloned().unwrap_or_default();
    let summary = format!(
        "[wide outage] {} incidents within {} minutes; further pages to {pager} are grouped until the window ends",
        incidents.len(),
        window_seconds.div_ceil(60)
    );
    Page {
        event: EventKind::Trigger,
        incident: first.clone(),
        summary: clip(&summary, MAX_SUMMARY_CHARS),
        severity: "critical".into(),
        source: "nightshift".into(),
        component: "many".into(),
        group: "many".into(),
        class: "grouped".into(),
        state: IncidentState::AwaitingApproval.as_str().into(),
        reason: "many incidents at once".into(),
        diagnosis: None,
        plan: None,
        links: Links {
            incident: links.incident(&first),
            approve: None,
            deny: None,
            list,
        },
        grouped: incidents.to_vec(),
    }
}

/// PagerDuty's severity for an incident of `severity` moving to `to`: a failed action is
/// critical whatever the rule said.
fn severity(severity: Severity, to: IncidentState) -> &'static str {
    if to == IncidentState::Failed {
        return "critical";
    }
    match severity {
        Severity::Critical => "critical",
        Severity::Warning => "warning",
        Severity::Info => "info",
    }
}

/// `text` cut to at most `max` characters, with an ellipsis when cut.
pub fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::{EventKind, clip, event_for};
    use crate::domain::incident::IncidentState;

    #[test]
    fn each_state_a_human_cares_about_sends_its_event_and_the_rest_send_nothing() {
        use IncidentState::*;
        assert_eq!(event_for(AwaitingApproval), Some(EventKind::Trigger));
        assert_eq!(event_for(Escalated), Some(EventKind::Trigger));
        assert_eq!(event_for(Failed), Some(EventKind::Trigger));
        assert_eq!(event_for(Approved), Some(EventKind::Acknowledge));
        for state in [Resolved, Denied, Expired] {
            assert_eq!(event_for(state), Some(EventKind::Resolve), "{state}");
        }
        for state in [Open, Diagnosed, Executing, Verifying, Replayed] {
            assert_eq!(event_for(state), None, "{state}");
        }
    }

    #[test]
    fn a_long_summary_is_clipped_to_the_limit_on_a_character_boundary() {
        let long = "é".repeat(2000);
        let clipped = clip(&long, 1024);
        assert_eq!(clipped.chars().count(), 1024);
        assert!(clipped.ends_with('…'));
        assert_eq!(clip("short", 1024), "short");
    }
}
