//! The engine's gatherer and verifier against a live cluster: thin adapters over
//! `k8s::collect` and `k8s::verify`, which own the API calls.

use futures::future::BoxFuture;
use jiff::Timestamp;

use super::{Gathered, Gatherer, Verifier};
use crate::domain::evidence::Evidence;
use crate::domain::incident::Incident;
use crate::domain::plan::Plan;
use crate::domain::playbook::EvidenceSpec;
use crate::domain::signal::Signal;
use crate::domain::verdict::Verdict;
use crate::k8s::{collect, verify};

/// Evidence from the apiserver, bounded by the playbook and the gatherer's limits.
pub struct LiveGatherer(pub collect::Gatherer);

impl Gatherer for LiveGatherer {
    fn gather<'a>(&'a self, signal: &'a Signal, spec: &'a EvidenceSpec) -> BoxFuture<'a, Gathered> {
        Box::pin(async move {
            let gathered = self
                .0
                .gather(&signal.target, signal.workload.as_ref(), spec)
                .await;
            Gathered {
                problems: gathered.errors.iter().map(ToString::to_string).collect(),
                evidence: gathered.evidence,
                // What the owner chain led to: kept, not thrown away.
                workload: gathered.workload,
            }
        })
    }

    fn concerned<'a>(
        &'a self,
        signal: &'a Signal,
        spec: &'a EvidenceSpec,
        now: Timestamp,
    ) -> BoxFuture<'a, Vec<Signal>> {
        Box::pin(async move {
            let fetched = self
                .0
                .fetch(&signal.target, signal.workload.as_ref(), spec)
                .await;
            crate::replay::concerned_signals(&fetched.objects, &signal.target, now)
        })
    }
}

/// The plan's checks polled against the apiserver.
pub struct LiveVerifier(pub verify::Verifier);

impl Verifier for LiveVerifier {
    fn verify<'a>(
        &'a self,
        incident: &'a Incident,
        plan: &'a Plan,
        before: &'a Evidence,
    ) -> BoxFuture<'a, Verdict> {
        Box::pin(async move {
            let subject = verify::Subject {
                target: incident.target.clone(),
                workload: incident.signal.workload.clone(),
                reason: incident.signal.reason.clone(),
            };
            let pods: Vec<_> = before.pods().map(|(_, p)| p.clone()).collect();
            self.0
                .verify(&plan.verification, &subject, &pods, Timestamp::now())
                .await
        })
    }
}
