//! The report's view model: an [`IncidentRecord`] turned into the strings an on-call engineer
//! reads, every untrusted one cleaned and bounded. Templates only lay these out; field names
//! are the names the templates use.

use serde::Serialize;
use serde_json::Value;

use jiff::Timestamp;

use super::evidence::{self, EvidenceView, MAX_TEXT_CHARS, clean_block, clean_line};
use super::sentences::{self, CheckLine};
use super::when::{When, exact, when};
use crate::domain::plan::{Action, Plan, canonical_json};
use crate::store::{AuditRow, Decision, IncidentRecord, PlanRecord, kinds};

/// The most characters of a verification verdict shown.
const MAX_VERDICT_CHARS: usize = 4000;

/// Everything a template renders.
#[derive(Debug, Clone, Serialize)]
pub struct View {
    pub id: String,
    pub title: String,
    pub state: &'static str,
    pub terminal: bool,
    pub severity: &'static str,
    pub rule: String,
    pub playbook: String,
    pub fingerprint: String,
    pub target: String,
    pub reason: String,
    pub message: Option<String>,
    pub opened_at: When,
    pub updated_at: When,
    pub closed_at: Option<When>,
    /// What nightshift asks of the reader now, first thing on the page.
    pub ask: String,
    /// The commands that do what [`View::ask`] asks.
    pub ask_commands: Vec<String>,
    pub timeline: Vec<TimelineEntry>,
    pub diagnosis: Option<DiagnosisView>,
    pub evidence: Vec<EvidenceView>,
    pub plans: Vec<PlanView>,
    pub actions: Vec<ExecutedView>,
    pub verifications: Vec<VerificationView>,
    /// A Markdown code fence longer than any backtick run in the shown log lines.
    pub fence: String,
    /// The kill switch when the record was read (who, since when, why), if nightshift is paused.
    pub paused: Option<String>,
}

/// One audit row as a timeline line.
#[derive(Debug, Clone, Serialize)]
pub struct TimelineEntry {
    pub at: When,
    pub kind: String,
    pub actor: String,
    pub text: String,
}

/// The newest diagnosis.
#[derive(Debug, Clone, Serialize)]
pub struct DiagnosisView {
    pub category: &'static str,
    pub contributing: Vec<&'static str>,
    pub confidence: String,
    pub summary: String,
    pub diagnoser: String,
    pub evidence: Vec<String>,
    pub at: When,
}

/// A planned action.
#[derive(Debug, Clone, Serialize)]
pub struct ActionView {
    pub index: usize,
    pub tool: &'static str,
    /// The action as a sentence ("Roll back Deployment shop/api to revision 3").
    pub sentence: String,
}

/// A plan, with its approval state.
#[derive(Debug, Clone, Serialize)]
pub struct PlanView {
    pub hash: String,
    pub short_hash: String,
    pub at: When,
    pub risk: String,
    pub requires_approval: bool,
    /// `approved by alice at ...`, `awaiting approval`, `auto-approved by playbook`, or
    /// `none needed` for a plan that only notifies.
    pub approval: String,
    pub rationale: String,
    pub downgrade_reason: Option<String>,
    pub proposed: Vec<ActionView>,
    pub actions: Vec<ActionView>,
    pub checks: Vec<String>,
}

/// A recorded action and its outcome.
#[derive(Debug, Clone, Serialize)]
pub struct ExecutedView {
    pub short_hash: String,
    pub index: usize,
    pub tool: &'static str,
    pub sentence: String,
    pub outcome: &'static str,
    pub detail: String,
    pub at: When,
}

/// A verification verdict.
#[derive(Debug, Clone, Serialize)]
pub struct VerificationView {
    pub at: When,
    /// `passed`, `failed`, or whatever headline field the verdict carries.
    pub headline: Option<String>,
    /// The verdict's checks, each with what was observed.
    pub checklist: Vec<CheckLine>,
    /// The whole verdict, pretty-printed, for whoever needs more than the checklist.
    pub verdict: String,
}

fn line(text: &str) -> String {
    clean_line(text, MAX_TEXT_CHARS)
}

fn short(hash: &str) -> String {
    hash.chars().take(12).collect()
}

fn actions(list: &[Action]) -> Vec<ActionView> {
    list.iter()
        .enumerate()
        .map(|(index, action)| ActionView {
            index,
            tool: action.tool.as_str(),
            sentence: sentences::action(action.tool, &action.params),
        })
        .collect()
}

/// Builds the view of a record.
pub fn build(record: &IncidentRecord, now: Timestamp) -> View {
    let incident = &record.incident;
    let cited: Vec<&str> = record
        .diagnosis
        .as_ref()
        .map(|d| d.diagnosis.evidence.iter().map(String::as_str).collect())
        .unwrap_or_default();
    let evidence: Vec<EvidenceView> = record
        .evidence
        .items
        .iter()
        .map(|item| evidence::view(item, cited.contains(&item.id.as_str())))
        .collect();
    let verifications: Vec<VerificationView> = record
        .verifications
        .iter()
        .map(|v| VerificationView {
            at: when(v.at, now),
            headline: headline(&v.verdict),
            checklist: sentences::checklist(&v.verdict),
            verdict: clean_block(
                &serde_json::to_string_pretty(&v.verdict).unwrap_or_else(|_| v.verdict.to_string()),
                MAX_VERDICT_CHARS,
            ),
        })
        .collect();
    let longest_backticks = evidence
        .iter()
        .flat_map(|e| e.lines.iter())
        .chain(verifications.iter().map(|v| &v.verdict))
        .map(|text| longest_run(text, '`'))
        .max()
        .unwrap_or(0);
    let (ask, ask_commands) = super::ask::ask(record);
    View {
        id: line(&incident.id),
        title: line(&format!(
            "{} on {}",
            incident.signal.reason, incident.target
        )),
        state: incident.state.as_str(),
        terminal: incident.state.is_terminal(),
        severity: incident.severity.as_str(),
        rule: line(&incident.rule),
        playbook: line(&incident.playbook),
        fingerprint: line(&incident.fingerprint),
        target: line(&incident.target.to_string()),
        reason: line(&incident.signal.reason),
        message: incident.signal.message.as_deref().map(line),
        opened_at: when(incident.opened_at, now),
        updated_at: when(record.updated_at, now),
        closed_at: record.closed_at.map(|t| when(t, now)),
        ask,
        ask_commands,
        paused: record.paused.as_ref().map(|p| line(&p.to_string())),
        timeline: record
            .audit
            .iter()
            .map(|row| timeline_entry(row, now))
            .collect(),
        diagnosis: record.diagnosis.as_ref().map(|d| DiagnosisView {
            category: d.diagnosis.category.as_str(),
            contributing: d
                .diagnosis
                .contributing
                .iter()
                .map(|c| c.as_str())
                .collect(),
            confidence: format!("{:.0}%", d.diagnosis.confidence.clamp(0.0, 1.0) * 100.0),
            summary: clean_block(&d.diagnosis.summary, MAX_TEXT_CHARS * 4),
            diagnoser: line(&d.diagnosis.diagnoser),
            evidence: d.diagnosis.evidence.iter().map(|id| line(id)).collect(),
            at: when(d.at, now),
        }),
        evidence,
        plans: record
            .plans
            .iter()
            .map(|p| plan_view(p, record, now))
            .collect(),
        actions: record
            .actions
            .iter()
            .map(|a| ExecutedView {
                short_hash: short(&a.plan_hash),
                index: a.index,
                tool: a.action.tool.as_str(),
                sentence: sentences::action(a.action.tool, &a.action.params),
                outcome: a.outcome.as_str(),
                detail: line(&a.detail),
                at: when(a.at, now),
            })
            .collect(),
        verifications,
        fence: "`".repeat((longest_backticks + 1).max(3)),
    }
}

fn plan_view(stored: &PlanRecord, record: &IncidentRecord, now: Timestamp) -> PlanView {
    let plan: &Plan = &stored.plan;
    let decision = record
        .approvals
        .iter()
        .rev()
        .find(|a| a.plan_hash == stored.hash);
    let approval = match decision {
        Some(a) => {
            let verb = match a.decision {
                Decision::Approved => "approved by",
                Decision::Denied => "denied by",
                Decision::Expired => "expired; last asked of",
            };
            format!("{verb} {} at {}", line(&a.actor), exact(a.at))
        }
        // A plan that changes nothing needs no approval; it was never auto-approved.
        None if !plan.is_mutating() => match &plan.downgraded {
            Some(_) => "none needed: policy downgraded the plan to notify".to_owned(),
            None => "none needed: the plan only notifies".to_owned(),
        },
        None if !plan.requires_approval => auto_approval(stored, record),
        None => "awaiting approval (no decision recorded)".to_owned(),
    };
    PlanView {
        hash: stored.hash.clone(),
        short_hash: short(&stored.hash),
        at: when(stored.at, now),
        risk: format!("{:?}", plan.risk).to_lowercase(),
        requires_approval: plan.requires_approval,
        approval,
        rationale: clean_block(&plan.rationale, MAX_TEXT_CHARS * 4),
        downgrade_reason: plan.downgraded.as_ref().map(|d| line(&d.reason)),
        proposed: plan
            .downgraded
            .as_ref()
            .map(|d| actions(&d.proposed))
            .unwrap_or_default(),
        actions: actions(&plan.actions),
        checks: plan.verification.iter().map(sentences::check).collect(),
    }
}

/// A plan the playbook may run without a human: `auto-approved by playbook:x at ...` only when
/// the audit shows it moved to approved after the plan was recorded; until then (held by a
/// limit, a kill switch, a restart) it says it is not approved yet.
fn auto_approval(stored: &PlanRecord, record: &IncidentRecord) -> String {
    let approved = record.audit.iter().find(|row| {
        row.kind == kinds::INCIDENT_TRANSITIONED
            && row.at >= stored.at
            && row.actor.starts_with("playbook:")
            && row.detail.get("to").and_then(Value::as_str) == Some("approved")
    });
    match approved {
        Some(row) => format!("auto-approved by {} at {}", line(&row.actor), exact(row.at)),
        None => "the playbook allows it without a human; not approved yet".to_owned(),
    }
}

fn timeline_entry(row: &AuditRow, now: Timestamp) -> TimelineEntry {
    TimelineEntry {
        at: when(row.at, now),
        kind: line(&row.kind),
        actor: line(&row.actor),
        text: line(&describe(row)),
    }
}

/// A sentence for an audit row.
fn describe(row: &AuditRow) -> String {
    let d = &row.detail;
    let s = |key: &str| d.get(key).and_then(Value::as_str).unwrap_or("?").to_owned();
    let short_plan = |key: &str| short(&s(key));
    match row.kind.as_str() {
        kinds::INCIDENT_OPENED => format!("opened by rule {}: {}", s("rule"), s("reason")),
        kinds::INVESTIGATION_ASKED => match d.get("question").and_then(Value::as_str) {
            Some(question) => format!("asked to investigate {}: {question}", s("target")),
            None => format!("asked to investigate {}", s("target")),
        },
        kinds::INCIDENT_TRANSITIONED => format!("{} → {}", s("from"), s("to")),
        kinds::EVIDENCE_RECORDED => {
            let n = d.get("items").and_then(Value::as_array).map_or(0, Vec::len);
            format!("{n} evidence item(s) recorded")
        }
        kinds::DIAGNOSIS_RECORDED => {
            let confidence = d.get("confidence").and_then(Value::as_f64).unwrap_or(0.0);
            format!(
                "diagnosed {} ({:.0}% confidence)",
                s("category"),
                confidence * 100.0
            )
        }
        kinds::PLAN_RECORDED => {
            let tools: Vec<&str> = d
                .get("tools")
                .and_then(Value::as_array)
                .map(|t| t.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            format!("plan {} proposed: {}", short_plan("hash"), tools.join(", "))
        }
        kinds::APPROVAL_RECORDED => format!("plan {} {}", short_plan("plan_hash"), s("decision")),
        kinds::ACTION_RECORDED | kinds::ACTION_COMPLETED => {
            let number = d.get("index").and_then(Value::as_u64).unwrap_or(0) + 1;
            let tool = d
                .get("tool")
                .and_then(Value::as_str)
                .map(|t| format!(" {t}"))
                .unwrap_or_default();
            let detail = s("detail");
            let detail = if detail.is_empty() || detail == "?" {
                String::new()
            } else {
                format!(": {detail}")
            };
            format!("action {number}{tool} {}{detail}", s("outcome"))
        }
        kinds::VERIFICATION_RECORDED => match headline(d) {
            Some(headline) => format!("verification: {headline}"),
            None => "verification recorded".to_owned(),
        },
        kinds::INCIDENT_ESCALATION => format!("escalated to a human: {}", s("why")),
        kinds::EXECUTION_HELD => format!("held, nothing sent: {}", s("why")),
        kinds::SIGNAL_JOINED => format!(
            "also raised: {} on {} (rule {}), recorded here rather than paged again",
            s("reason"),
            s("target"),
            s("rule")
        ),
        _ => canonical_json(d),
    }
}

/// A verdict's headline: its `verdict`/`status`/`outcome` string, or `passed`/`failed` from a
/// `passed`/`healthy`/`ok` boolean.
fn headline(verdict: &Value) -> Option<String> {
    for key in ["verdict", "status", "outcome"] {
        if let Some(text) = verdict.get(key).and_then(Value::as_str) {
            return Some(line(text));
        }
    }
    ["passed", "healthy", "ok"]
        .into_iter()
        .find_map(|key| verdict.get(key).and_then(Value::as_bool))
        .map(|ok| if ok { "passed" } else { "failed" }.to_owned())
}

fn longest_run(text: &str, c: char) -> usize {
    let (mut best, mut run) = (0, 0);
    for ch in text.chars() {
        run = if ch == c { run + 1 } else { 0 };
        best = best.max(run);
    }
    best
}
