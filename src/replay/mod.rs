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
use crate::domain::policy::Policy;
use crate::domain::signal::{ObjectRef, Signal};
use crate::k8s::detect;
use crate::k8s::gather::gather;
pub use crate::k8s::gather::workload_of;
use crate::k8s::objects::{ObjectSet, find};
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
        return hook
            .alerts
            .iter()
            .filter(|a| a.status == "firing")
            .map(|a| {
                let mut s = a.signal(now);
                s.workload = s.workload.or_else(|| workload_of(&case.objects, &s.target));
                s
            })
            .collect();
    }
    let signal = &case.file.signal;
    let target = ObjectRef {
        kind: signal.kind.clone().unwrap_or_default(),
        namespace: signal.namespace.clone(),
        name: signal.name.clone().unwrap_or_default(),
    };
    object_signals(&case.objects, &target, now)
}

/// Runs one loaded case.
pub fn run(case: &Case, rules: &RuleSet, policy: &Policy) -> Outcome {
    let now = case.file.now;
    let signals = case_signals(case, now);
    let incident = select(&signals, rules).map(|(signal, rule, playbook)| {
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
        for metric in &case.metrics {
            evidence.push(
                format!("metric/{}", metric.query),
                Facts::Metric(metric.clone()),
            );
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
