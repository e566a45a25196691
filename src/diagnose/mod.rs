//! The rule-based diagnoser: the embedded default that needs no LLM. It reads evidence the way
//! an SRE does — container states and exit codes, events, rollout history, logs, nodes, jobs,
//! quotas — turns each observation into a weighted finding, and decides a primary category,
//! contributing ones, a confidence and a summary that cites what it used.

pub mod endpoint;
pub mod findings;
pub mod metrics;
pub mod patterns;
pub mod reduce;
pub mod rollout;
pub mod trust;

use std::collections::BTreeMap;

use jiff::Timestamp;

use crate::diagnose::findings::{Finding, clip};
use crate::diagnose::rollout::RolloutFinding;
use crate::domain::diagnosis::Diagnosis;
use crate::domain::evidence::{Evidence, Facts, PodFacts};
use crate::domain::playbook::Heuristic;
use crate::domain::signal::Signal;
use crate::domain::taxonomy::Category;

/// Below this score the diagnoser says `unknown`.
pub const UNKNOWN_BELOW: f64 = 0.35;

/// When two categories score alike, the more specific one wins (earlier in this list).
const SPECIFICITY: [Category; 13] = [
    Category::ImagePull,
    Category::ConfigMissing,
    Category::OomKilled,
    Category::VolumeFailure,
    Category::QuotaExceeded,
    Category::Unschedulable,
    Category::NodeFailure,
    Category::PermissionDenied,
    Category::DependencyUnavailable,
    Category::JobFailed,
    Category::ProbeFailure,
    Category::BadDeploy,
    Category::AppCrash,
];

/// Mechanisms a rollout cannot be blamed for as the primary cause: the infrastructure failed, or
/// the failure is more precisely named by its own category.
const NOT_DEPLOY_CAUSED: [Category; 6] = [
    Category::ImagePull,
    Category::NodeFailure,
    Category::Unschedulable,
    Category::QuotaExceeded,
    Category::VolumeFailure,
    Category::JobFailed,
];

/// What an SRE says when the evidence shows nothing deeper (DESIGN.md): a cause the evidence
/// does show takes the primary place and the symptom contributes.
const SYMPTOMS: [Category; 3] = [
    Category::AppCrash,
    Category::ProbeFailure,
    Category::JobFailed,
];

/// A cause must score at least this to take the primary place from a symptom it explains.
const CAUSE_OVER_SYMPTOM: f64 = 0.5;

/// The strongest cause (not a symptom, not `bad-deploy`, which the rollout analysis decides)
/// that explains a symptom.
fn cause_of_symptom(scores: &BTreeMap<Category, f64>) -> Option<(Category, f64)> {
    let mut exclude = SYMPTOMS.to_vec();
    exclude.extend([Category::BadDeploy, Category::Unknown]);
    best(scores, &exclude).filter(|(_, s)| *s >= CAUSE_OVER_SYMPTOM)
}

/// Scores per category: the strongest finding, plus a little for corroboration.
fn scores(findings: &[Finding]) -> BTreeMap<Category, f64> {
    let mut by: BTreeMap<Category, Vec<f64>> = BTreeMap::new();
    for f in findings {
        by.entry(f.category).or_default().push(f.weight);
    }
    by.into_iter()
        .map(|(category, mut weights)| {
            weights.sort_by(|a, b| b.total_cmp(a));
            let corroboration = weights
                .iter()
                .skip(1)
                .take(2)
                .map(|w| w * 0.05)
                .sum::<f64>();
            (category, (weights[0] + corroboration).min(1.0))
        })
        .collect()
}

fn best(scores: &BTreeMap<Category, f64>, exclude: &[Category]) -> Option<(Category, f64)> {
    let rank = |c: Category| {
        SPECIFICITY
            .iter()
            .position(|s| *s == c)
            .unwrap_or(SPECIFICITY.len())
    };
    scores
        .iter()
        .filter(|(c, _)| !exclude.contains(c))
        .map(|(c, s)| (*c, *s))
        // Scores within 0.05 tie; ties go to the more specific category.
        .max_by(|(ca, sa), (cb, sb)| {
            if (sa - sb).abs() < 0.05 {
                rank(*cb).cmp(&rank(*ca))
            } else {
                sa.total_cmp(sb)
            }
        })
}

fn pods(evidence: &Evidence) -> Vec<&PodFacts> {
    evidence.pods().map(|(_, p)| p).collect()
}

/// Everything the decision is made from: every finding and the rollout analysis.
#[derive(Debug, Clone)]
pub struct Analysis {
    /// Every finding, in extraction order.
    pub findings: Vec<Finding>,
    /// The rollout analysis and the id of the rollout evidence it came from.
    pub rollout: Option<(String, RolloutFinding)>,
}

/// Extracts and weighs every finding; `replay --explain` prints this.
pub fn analyse(
    signal: &Signal,
    evidence: &Evidence,
    heuristics: &[Heuristic],
    now: Timestamp,
) -> Analysis {
    let mut findings = findings::from_signal(signal);
    findings.extend(findings::from_pods(evidence));
    findings.extend(findings::from_events(evidence));
    findings.extend(findings::from_state(evidence));
    findings.extend(findings::from_logs(evidence));
    findings.extend(findings::from_alerts(evidence));
    findings.extend(findings::from_metrics(evidence));
    findings.extend(findings::from_heuristics(evidence, heuristics));
    // Logs and Events may not decide against what the objects' status says.
    trust::weigh(&mut findings, signal, evidence);
    let pods = pods(evidence);
    let rollout = evidence
        .rollouts()
        .find_map(|(id, r)| rollout::analyse(r, &pods, now).map(|f| (id.to_owned(), f)));
    // Readiness fails while a container crash-loops because nothing listens between restarts:
    // a consequence, not a cause.
    let crashing = findings
        .iter()
        .any(|f| f.category == Category::AppCrash && f.note.contains("keeps exiting"));
    if crashing {
        for f in findings.iter_mut().filter(|f| {
            f.category == Category::ProbeFailure && f.note.to_lowercase().contains("readiness")
        }) {
            f.weight = f.weight.min(0.3);
        }
    }
    // A liveness kill shows as exit 137 without OOMKilled; with liveness failures in the events
    // it is a probe failure, not a crash.
    let liveness = findings.iter().any(|f| {
        f.category == Category::ProbeFailure
            && f.contradicted.is_none()
            && f.note.to_lowercase().contains("liveness")
    });
    if liveness {
        for f in findings
            .iter_mut()
            .filter(|f| f.category == Category::AppCrash && f.note.contains("exit code 137"))
        {
            f.category = Category::ProbeFailure;
            f.weight = 0.8;
            f.note
                .push_str(", killed by the kubelet after failing its liveness probe");
        }
    }
    // An env var the new revision removed and the logs complain about is config-missing.
    if let Some((_, r)) = &rollout {
        for f in findings
            .iter_mut()
            .filter(|f| f.category == Category::AppCrash || f.category == Category::ConfigMissing)
        {
            if r.removed_env
                .iter()
                .any(|name| f.note.contains(name.as_str()))
            {
                f.category = Category::ConfigMissing;
                f.weight = f.weight.max(0.85);
            }
        }
    }
    Analysis { findings, rollout }
}

/// Decides the primary and contributing categories.
fn decide(signal: &Signal, analysis: &Analysis) -> (Category, Vec<Category>, f64) {
    let scores = scores(&analysis.findings);
    let get = |c: Category| scores.get(&c).copied().unwrap_or(0.0);
    let job_target = matches!(signal.target.kind.as_str(), "Job" | "CronJob")
        || signal
            .workload
            .as_ref()
            .is_some_and(|w| w.kind == "CronJob");
    if job_target && get(Category::JobFailed) >= 0.8 {
        // A Job whose pods could not reach their database failed because of it; one whose
        // program exits with its own error is job-failed.
        if let Some((cause, s)) = cause_of_symptom(&scores) {
            return (
                cause,
                vec![Category::JobFailed],
                s.max(get(Category::JobFailed)),
            );
        }
        let mechanism =
            best(&scores, &[Category::JobFailed, Category::Unknown]).filter(|(_, s)| *s >= 0.5);
        return (
            Category::JobFailed,
            mechanism.map(|(c, _)| c).into_iter().collect(),
            get(Category::JobFailed),
        );
    }
    if signal.target.kind == "Node" && get(Category::NodeFailure) >= 0.5 {
        return (
            Category::NodeFailure,
            Vec::new(),
            get(Category::NodeFailure),
        );
    }
    let deploy = analysis.rollout.as_ref().map_or(0.0, |(_, r)| r.score);
    // Error rate or latency that jumped when the newest revision rolled out blames it too.
    let deploy = deploy.max(metrics::regression_score(&analysis.findings));
    let mechanism = best(&scores, &[Category::BadDeploy, Category::Unknown]);
    if deploy >= 0.6 {
        match mechanism {
            Some((Category::ImagePull, s)) if s >= 0.5 => {
                let image = analysis
                    .rollout
                    .as_ref()
                    .is_some_and(|(_, r)| r.image_changed);
                let contributing = if image {
                    vec![Category::BadDeploy]
                } else {
                    Vec::new()
                };
                return (Category::ImagePull, contributing, s);
            }
            Some((c, s)) if s >= 0.5 && NOT_DEPLOY_CAUSED.contains(&c) => {
                return (c, Vec::new(), s);
            }
            Some((c, s)) if s >= 0.25 => return (Category::BadDeploy, vec![c], deploy.max(s)),
            _ => return (Category::BadDeploy, Vec::new(), deploy),
        }
    }
    let cause = cause_of_symptom(&scores);
    match (mechanism, cause) {
        (Some((c, s)), Some((cause, cause_score))) if SYMPTOMS.contains(&c) => {
            (cause, vec![c], cause_score.max(s))
        }
        (Some((c, s)), _) if s >= UNKNOWN_BELOW => {
            let contributing = scores
                .iter()
                .filter(|(other, score)| {
                    **other != c && **score >= 0.7 && **other != Category::AppCrash
                })
                .filter(|(other, _)| **other != Category::BadDeploy || deploy >= 0.35)
                .max_by(|a, b| a.1.total_cmp(b.1))
                .map(|(other, _)| *other);
            (c, contributing.into_iter().collect(), s)
        }
        (other, _) => (Category::Unknown, Vec::new(), other.map_or(0.0, |(_, s)| s)),
    }
}

fn headline(category: Category, signal: &Signal) -> String {
    let what = signal.workload.as_ref().unwrap_or(&signal.target);
    let who = format!("{} {}", what.kind, what.name);
    match category {
        Category::BadDeploy => format!("{who} started failing with its newest rollout"),
        Category::OomKilled => format!("{who} is being killed for exceeding its memory limit"),
        Category::ImagePull => format!("{who} cannot pull its image"),
        Category::ConfigMissing => format!("{who} references configuration that is missing"),
        Category::DependencyUnavailable => format!("{who} cannot reach a dependency"),
        Category::ProbeFailure => format!("{who} is failing its health probes"),
        Category::AppCrash => format!("{who} crashes with an application error"),
        Category::Unschedulable => format!("{who} cannot be scheduled"),
        Category::NodeFailure => format!("{who} is affected by a node failure"),
        Category::VolumeFailure => format!("{who} cannot get its volume"),
        Category::PermissionDenied => format!("{who} is denied permission"),
        Category::JobFailed => format!("{who} failed"),
        Category::QuotaExceeded if what.kind == "ResourceQuota" => {
            format!("{who} is used up and refuses new pods")
        }
        Category::QuotaExceeded => format!("{who} is blocked by a quota or limit range"),
        Category::Unknown if signal.is_investigation() => {
            format!("{who} was looked at on request: nothing in the evidence points at a failure")
        }
        Category::Unknown => format!(
            "{who} is unhealthy ({}) but the evidence does not say why",
            signal.reason
        ),
    }
}

/// What an investigation read, so that "nothing found" says how hard it looked.
fn looked_at(evidence: &Evidence) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for item in &evidence.items {
        let kind = match &item.facts {
            Facts::Pod(_) => "pods",
            Facts::Event(_) => "events",
            Facts::Log(_) => "container logs",
            Facts::Rollout(_) => "rollout histories",
            Facts::Node(_) => "nodes",
            Facts::Job(_) | Facts::CronJob(_) => "jobs",
            Facts::Metric(_) => "metric queries",
            Facts::Alert(_) => "alerts",
            _ => "other objects",
        };
        *counts.entry(kind).or_default() += 1;
    }
    if counts.is_empty() {
        return "no evidence could be gathered".into();
    }
    let listed: Vec<String> = counts.iter().map(|(k, n)| format!("{n} {k}")).collect();
    format!("Looked at {}", listed.join(", "))
}

/// What a note says, without who said it: two pods logging the same line say one thing.
fn gist(note: &str) -> &str {
    note.rsplit_once(": ").map_or(note, |(_, what)| what)
}

/// The findings a summary cites: the strongest distinct ones for the primary category (three at
/// most), then for each contributing category (two at most); for `unknown`, the strongest of all.
fn cite<'a>(
    findings: &'a [Finding],
    category: Category,
    contributing: &[Category],
) -> Vec<&'a Finding> {
    let mut sorted: Vec<&Finding> = findings.iter().collect();
    sorted.sort_by(|a, b| b.weight.total_cmp(&a.weight));
    let mut cited: Vec<&Finding> = Vec::new();
    let wanted = std::iter::once((category, 3)).chain(contributing.iter().map(|c| (*c, 2)));
    let wanted: Vec<(Category, usize)> = if category == Category::Unknown {
        vec![(Category::Unknown, 0)]
    } else {
        wanted.collect()
    };
    for (c, most) in wanted {
        let mut taken = 0;
        for f in sorted
            .iter()
            .filter(|f| f.category == c || c == Category::Unknown)
        {
            let limit = if c == Category::Unknown { 2 } else { most };
            if taken >= limit {
                break;
            }
            if cited.iter().any(|x| gist(&x.note) == gist(&f.note)) {
                continue;
            }
            cited.push(f);
            taken += 1;
        }
    }
    cited
}

/// Diagnoses an incident from its signal and evidence. `heuristics` come from the playbook.
pub fn diagnose(
    signal: &Signal,
    evidence: &Evidence,
    heuristics: &[Heuristic],
    now: Timestamp,
) -> Diagnosis {
    let analysis = analyse(signal, evidence, heuristics, now);
    let (category, contributing, score) = decide(signal, &analysis);
    let cited = cite(&analysis.findings, category, &contributing);
    let mut parts = vec![headline(category, signal)];
    if category == Category::Unknown && signal.is_investigation() {
        parts.push(looked_at(evidence));
    }
    let mut evidence_ids: Vec<String> = Vec::new();
    if let Some((id, r)) = analysis
        .rollout
        .as_ref()
        .filter(|_| category == Category::BadDeploy || contributing.contains(&Category::BadDeploy))
    {
        let changes = if r.changes.is_empty() {
            "no template change".to_owned()
        } else {
            r.changes.join("; ")
        };
        parts.push(format!(
            "revision {} was rolled out {:#} ago (previous {}): {}",
            r.revision,
            r.age.round(jiff::Unit::Minute).unwrap_or(r.age),
            r.previous,
            clip(&changes, 400)
        ));
        evidence_ids.push(id.clone());
    }
    for f in &cited {
        parts.push(f.note.clone());
        if !evidence_ids.contains(&f.evidence) && f.evidence != "signal" {
            evidence_ids.push(f.evidence.clone());
        }
    }
    let confidence = if category == Category::Unknown {
        0.2
    } else {
        (0.3 + score * 0.65).min(0.95)
    };
    Diagnosis {
        category,
        contributing,
        summary: clip(&parts.join(". "), 1500),
        confidence: (confidence * 100.0).round() / 100.0,
        evidence: evidence_ids,
        diagnoser: "rules".into(),
    }
}

#[cfg(test)]
mod tests;
