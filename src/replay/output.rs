//! Replay output: one JSON object per case per line (the DESIGN.md contract, plus a few extra
//! fields), or text for people tuning rules.

use std::fmt::Write as _;

use serde_json::{Value, json};

use crate::domain::corroborate::Verdict;
use crate::replay::Outcome;
use crate::replay::case::Expect;

/// The JSON line for one outcome.
pub fn to_json(outcome: &Outcome) -> Value {
    let Some(i) = &outcome.incident else {
        return json!({"case": outcome.case, "incident": null, "diagnosis": null, "plan": null, "verification": []});
    };
    json!({
        "case": outcome.case,
        "incident": {
            "rule": i.rule,
            "severity": i.severity,
            "fingerprint": i.fingerprint,
            "playbook": i.playbook,
            "reason": i.signal.reason,
            "target": {"kind": i.signal.target.kind, "namespace": i.signal.target.namespace, "name": i.signal.target.name},
        },
        "diagnosis": {
            "category": i.diagnosis.category,
            "contributing": i.diagnosis.contributing,
            "summary": i.diagnosis.summary,
            "confidence": i.diagnosis.confidence,
            "evidence": i.diagnosis.evidence,
        },
        "plan": {
            "actions": i.plan.actions,
            "requires_approval": i.plan.requires_approval,
            "risk": i.plan.risk,
            "hash": i.plan.hash(),
            "rationale": i.plan.rationale,
            "downgraded": i.plan.downgraded.as_ref().map(|d| json!({"reason": d.reason, "proposed": d.proposed})),
            "corroboration": corroboration(i),
        },
        "verification": i.plan.verification,
    })
}

/// The structural verdict on each mutating action proposed, as JSON.
fn corroboration(i: &crate::replay::Replayed) -> Vec<Value> {
    crate::domain::corroborate::assess_plan(&i.plan, &i.evidence, i.now)
        .into_iter()
        .map(|c| {
            let verdict = match c.verdict {
                Verdict::Supported => "supported",
                Verdict::Vetoed => "vetoed",
                Verdict::Unsupported => "unsupported",
            };
            json!({"tool": c.tool, "verdict": verdict, "fact": c.fact, "evidence": c.evidence})
        })
        .collect()
}

/// Whether an outcome meets a case's expectation; `Err` lists what differs.
pub fn check_expect(outcome: &Outcome, expect: &Expect) -> Result<(), Vec<String>> {
    let Some(i) = &outcome.incident else {
        return Err(vec!["no rule matched".into()]);
    };
    let mut problems = Vec::new();
    if i.diagnosis.category != expect.category {
        problems.push(format!(
            "category {} (expected {})",
            i.diagnosis.category, expect.category
        ));
    }
    for c in &expect.contributing {
        if !i.diagnosis.contributing.contains(c) {
            problems.push(format!(
                "contributing {:?} lacks {c}",
                i.diagnosis
                    .contributing
                    .iter()
                    .map(|c| c.as_str())
                    .collect::<Vec<_>>()
            ));
        }
    }
    if let Some(action) = expect.action {
        let first = i
            .plan
            .first_mutation()
            .map_or(crate::domain::catalog::Tool::Notify, |a| a.tool);
        if first != action {
            problems.push(format!("action {first} (expected {action})"));
        }
    }
    if !expect.refusal.is_empty() {
        match &i.plan.downgraded {
            None => problems.push("no proposed mutation was refused".into()),
            Some(d) => {
                let reason = d.reason.to_lowercase();
                for word in &expect.refusal {
                    if !reason.contains(&word.to_lowercase()) {
                        problems.push(format!("refusal does not mention {word:?}"));
                    }
                }
            }
        }
    }
    let summary = i.diagnosis.summary.to_lowercase();
    for word in &expect.keywords {
        if !summary.contains(&word.to_lowercase()) {
            problems.push(format!("summary does not mention {word:?}"));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

/// Text for people: what fired and why, the diagnosis with its evidence, the plan.
pub fn to_text(outcome: &Outcome, expect: Option<&Expect>) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "== {}", outcome.case);
    let Some(i) = &outcome.incident else {
        let reasons: Vec<String> = outcome
            .signals
            .iter()
            .map(|s| format!("{} on {}", s.reason, s.target))
            .collect();
        let _ = writeln!(
            out,
            "  no rule matched; signals: {}",
            if reasons.is_empty() {
                "none".into()
            } else {
                reasons.join(", ")
            }
        );
        return out;
    };
    let _ = writeln!(
        out,
        "  rule      {} ({}) on {} {} → playbook {}",
        i.rule,
        i.severity.as_str(),
        i.signal.reason,
        i.signal.target,
        i.playbook
    );
    let _ = writeln!(out, "  dedup     {}", i.fingerprint);
    let contributing: Vec<&str> = i
        .diagnosis
        .contributing
        .iter()
        .map(|c| c.as_str())
        .collect();
    let _ = writeln!(
        out,
        "  diagnosis {} [{}] confidence {:.2}",
        i.diagnosis.category,
        contributing.join(", "),
        i.diagnosis.confidence
    );
    let _ = writeln!(out, "  summary   {}", i.diagnosis.summary);
    let _ = writeln!(out, "  evidence  {}", i.diagnosis.evidence.join(", "));
    for a in &i.plan.actions {
        let _ = writeln!(out, "  action    {} {}", a.tool, a.params);
    }
    let _ = writeln!(
        out,
        "  approval  {}  risk {:?}  hash {}",
        if i.plan.requires_approval {
            "required"
        } else {
            "not required"
        },
        i.plan.risk,
        &i.plan.hash()[..12]
    );
    if let Some(d) = &i.plan.downgraded {
        let _ = writeln!(out, "  refused   downgraded to notify: {}", d.reason);
    }
    for c in &i.plan.verification {
        let _ = writeln!(out, "  verify    {:?} {}", c.check, c.params);
    }
    if let Some(expect) = expect {
        match check_expect(outcome, expect) {
            Ok(()) => {
                let _ = writeln!(out, "  expect    ok");
            }
            Err(problems) => {
                let _ = writeln!(out, "  expect    MISMATCH: {}", problems.join("; "));
            }
        }
    }
    out
}
