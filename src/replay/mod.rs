//! `nightshift replay`: recorded incidents through rules → evidence → diagnosis → plan → policy,
//! with no cluster. The JSON output is a contract (DESIGN.md).

pub mod case;
pub mod output;
pub mod record;

use jiff::Timestamp;

use crate::domain::diagnosis::Diagnosis;
use crate::domain::evidence::{Evidence, Facts};
use crate::domain::incident::Severity;
use crate::domain::plan::Plan;
use crate::domain::playbook::{EvidenceSpec, Playbook};
use crate::domain::policy::Policy;
use crate::domain::rule::Rule;
use crate::domain::signal::{ObjectRef, Signal, canonical_kind};
use crate::k8s::detect;
use crate::k8s::gather::gather;
pub use crate::k8s::gather::workload_of;
use crate::k8s::objects::{ObjectSet, find};
use crate::k8s::scope::scope;
use crate::pipeline::{decide, fingerprint, select};
use crate::rules::RuleSet;

pub use case::{Case, CaseError};
pub use output::{check_expect, to_json, to_text};

/// What a case produced.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The case's directory name.
    pub case: String,
    /// The signals the detectors raised, in order.
    pub signals: Vec<Signal>,
    /// The incident, when a rule matched.
    pub incident: Option<Replayed>,
}

/// The incident a case opened and what nightshift decided.
#[derive(Debug, Clone)]
pub struct Replayed {
    /// The rule.
    pub rule: String,
    /// Its severity.
    pub severity: Severity,
    /// The dedup key.
    pub fingerprint: String,
    /// The playbook.
    pub playbook: String,
    /// The matched signal.
    pub signal: Signal,
    /// The evidence gathered.
    pub evidence: Evidence,
    /// The diagnosis.
    pub diagnosis: Diagnosis,
    /// The policy-checked plan.
    pub plan: Plan,
    /// The replay clock it was decided at.
    pub now: Timestamp,
}

/// The signals the detectors raise for `target`, falling back to Warning events about it.
pub fn object_signals(objects: &ObjectSet, target: &ObjectRef, now: Timestamp) -> Vec<Signal> {
    let ns = target.namespace.as_deref();
    let workload = workload_of(objects, target);
    let mut signals = match target.kind.as_str() {
        "Pod" => {
            find(&objects.pods, ns, &target.name).map(|p| detect::pod(p, workload.clone(), now))
        }
        "Node" => find(&objects.nodes, None, &target.name).map(|n| detect::node(n, now)),
        "Job" => {
            find(&objects.jobs, ns, &target.name).map(|j| detect::job(j, workload.clone(), now))
        }
        "Deployment" => {
            find(&objects.deployments, ns, &target.name).map(|d| detect::deployment(d, now))
        }
        "ReplicaSet" => find(&objects.replica_sets, ns, &target.name)
            .map(|r| detect::replica_set(r, workload.clone(), now)),
        "PersistentVolumeClaim" => {
            find(&objects.claims, ns, &target.name).map(|c| detect::claim(c, now))
        }
        _ => None,
    }
    .unwrap_or_default();
    let mut events: Vec<_> = objects
        .events
        .iter()
        .filter(|e| {
            e.involved_object.name.as_deref() == Some(target.name.as_str())
                && e.involved_object.kind.as_deref() == Some(target.kind.as_str())
        })
        .collect();
    events.sort_by_key(|e| std::cmp::Reverse(crate::k8s::events::last_seen(e)));
    for event in events {
        if let Some(mut s) = detect::event(event, now)
            && !signals.iter().any(|x| x.reason == s.reason)
        {
            s.workload = s.workload.or_else(|| workload.clone());
            signals.push(s);
        }
    }
    signals
}

fn case_signals(case: &Case, now: Timestamp) -> Vec<Signal> {
    if let Some(hook) = &case.alert {
        let alerts: Vec<Signal> = hook
            .alerts
            .iter()
            .filter(|a| a.status == "firing")
            .map(|a| {
                let mut s = a.signal(now);
                s.workload = s.workload.or_else(|| workload_of(&case.objects, &s.target));
                s
            })
            .collect();
        let mut signals = alerts.clone();
        for alert in &alerts {
            push_new(
                &mut signals,
                concerned_signals(&case.objects, &alert.target, now),
            );
        }
        return signals;
    }
    let signal = &case.file.signal;
    if let Some(asked) = &signal.investigate {
        let target = ObjectRef {
            kind: canonical_kind(&asked.kind)
                .unwrap_or(&asked.kind)
                .to_owned(),
            namespace: asked.namespace.clone(),
            name: asked.name.clone(),
        };
        return investigation_signals(&case.objects, &target, asked.question.clone(), now);
    }
    let target = ObjectRef {
        kind: signal.kind.clone().unwrap_or_default(),
        namespace: signal.namespace.clone(),
        name: signal.name.clone().unwrap_or_default(),
    };
    object_signals(&case.objects, &target, now)
}

fn push_new(signals: &mut Vec<Signal>, more: Vec<Signal>) {
    for s in more {
        if !signals.contains(&s) {
            signals.push(s);
        }
    }
}

/// What the detectors raise about what `target` concerns, the way an SRE reads it with
/// `kubectl describe`: for a workload, Job or claim, the pods it concerns first (unhealthy and
/// newest first, bounded as evidence is: the failing pod says most); for a CronJob, its newest
/// runs; then the object itself.
pub fn concerned_signals(objects: &ObjectSet, target: &ObjectRef, now: Timestamp) -> Vec<Signal> {
    let workload = workload_of(objects, target);
    let mut signals = Vec::new();
    if !matches!(target.kind.as_str(), "Pod" | "Node") {
        let pods = scope(objects, target, workload.as_ref(), &EvidenceSpec::default()).pods;
        for pod in pods {
            let Some(name) = pod.metadata.name.as_deref() else {
                continue;
            };
            let pod = ObjectRef {
                kind: "Pod".into(),
                namespace: target.namespace.clone(),
                name: name.to_owned(),
            };
            push_new(&mut signals, object_signals(objects, &pod, now));
        }
    }
    for job in cron_job_runs(objects, target) {
        push_new(&mut signals, object_signals(objects, &job, now));
    }
    push_new(&mut signals, object_signals(objects, target, now));
    signals
}

/// What a person asking about `target` is answered from: [`concerned_signals`], then the
/// request itself, which opens the incident (under the fallback `investigate` rule) when none
/// of the others matches a rule.
pub fn investigation_signals(
    objects: &ObjectSet,
    target: &ObjectRef,
    question: Option<String>,
    now: Timestamp,
) -> Vec<Signal> {
    let mut signals = concerned_signals(objects, target, now);
    signals.push(Signal::investigation(
        target.clone(),
        workload_of(objects, target),
        question,
        now,
    ));
    signals
}

/// The Jobs a target CronJob started, newest first, at most five.
fn cron_job_runs(objects: &ObjectSet, target: &ObjectRef) -> Vec<ObjectRef> {
    if target.kind != "CronJob" {
        return Vec::new();
    }
    let mut runs: Vec<_> = objects
        .jobs
        .iter()
        .filter(|j| j.metadata.namespace == target.namespace)
        .filter(|j| {
            crate::k8s::facts::controller(&j.metadata)
                .is_some_and(|o| o.kind == "CronJob" && o.name == target.name)
        })
        .collect();
    runs.sort_by_key(|j| std::cmp::Reverse(j.metadata.creation_timestamp.as_ref().map(|t| t.0)));
    runs.iter()
        .take(5)
        .filter_map(|j| j.metadata.name.clone())
        .map(|name| ObjectRef {
            kind: "Job".into(),
            namespace: target.namespace.clone(),
            name,
        })
        .collect()
}

/// The signal that opens the incident, its rule and playbook: the first that matches a rule,
/// or, for an investigation no rule matched, the built-in investigation rule.
fn opening(signals: &[Signal], rules: &RuleSet) -> Option<(Signal, Rule, Playbook)> {
    if let Some((signal, rule, playbook)) = select(signals, rules) {
        return Some((signal.clone(), rule.clone(), playbook.clone()));
    }
    let asked = signals.iter().find(|s| s.is_investigation())?;
    let (rule, playbook) = rules.investigation()?;
    Some((asked.clone(), rule, playbook))
}

/// Runs one loaded case.
pub fn run(case: &Case, rules: &RuleSet, policy: &Policy) -> Outcome {
    let now = case.file.now;
    let signals = case_signals(case, now);
    let incident = opening(&signals, rules).map(|(signal, rule, playbook)| {
        let (signal, rule, playbook) = (&signal, &rule, &playbook);
        let mut evidence = gather(
            &case.objects,
            &signal.target,
            signal.workload.as_ref(),
            &playbook.evidence,
            &case.logs,
        );
        if let Some(hook) = &case.alert {
            for alert in &hook.alerts {
                evidence.push(alert.evidence_id(), Facts::Alert(alert.facts()));
            }
        }
        for (id, metric) in &case.metrics {
            evidence.push(id.clone(), Facts::Metric(metric.clone()));
        }
        let (diagnosis, plan) = decide(signal, playbook, &evidence, policy, &[], now);
        Replayed {
            rule: rule.name.clone(),
            severity: rule.severity,
            fingerprint: fingerprint(rule, signal),
            playbook: playbook.name.clone(),
            signal: signal.clone(),
            evidence,
            diagnosis,
            plan,
            now,
        }
    });
    Outcome {
        case: case.name.clone(),
        signals,
        incident,
    }
}
