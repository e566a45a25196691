//! Attack corpus — the daemon stays calm: a flood of distinct broken workloads does not run
//! unbounded work at once; at most `engine.max_concurrent_incidents` incidents are gathered,
//! executed or verified at a time, and the rest wait, recorded in the store.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::future::BoxFuture;
use nightshift::domain::evidence::Evidence;
use nightshift::domain::incident::IncidentState;
use nightshift::domain::playbook::EvidenceSpec;
use nightshift::domain::policy::Policy;
use nightshift::domain::signal::Signal;
use nightshift::engine::{EngineSettings, Gathered, Gatherer, Progress};
use tokio::sync::Notify;
use tokio::task::JoinSet;

mod engine_support;
mod sim_harness;

use engine_support::world;

/// Gathers the fixture's evidence, and notes how many gathers ran at once: each waits (at most
/// a second) for another to overlap it.
struct Overlapping {
    evidence: Evidence,
    running: AtomicUsize,
    most: AtomicUsize,
    entered: Notify,
}

impl Gatherer for Overlapping {
    fn gather<'a>(&'a self, _: &'a Signal, _: &'a EvidenceSpec) -> BoxFuture<'a, Gathered> {
        Box::pin(async move {
            let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
            self.most.fetch_max(now, Ordering::SeqCst);
            self.entered.notify_waiters();
            let overlap = async {
                while self.running.load(Ordering::SeqCst) < 2 {
                    self.entered.notified().await;
                }
            };
            let _ = tokio::time::timeout(Duration::from_secs(1), overlap).await;
            self.running.fetch_sub(1, Ordering::SeqCst);
            Gathered {
                evidence: self.evidence.clone(),
                problems: vec![],
                workload: None,
            }
        })
    }
}

#[tokio::test]
async fn no_more_incidents_than_the_bound_are_worked_on_at_once() {
    let w = world().await;
    let gatherer = Arc::new(Overlapping {
        evidence: w.evidence.clone(),
        running: AtomicUsize::new(0),
        most: AtomicUsize::new(0),
        entered: Notify::new(),
    });
    let settings = EngineSettings {
        poll_millis: 20,
        max_concurrent_incidents: 1,
        ..EngineSettings::default()
    };
    let engine = w.engine_with_gatherer(Policy::default(), settings, gatherer.clone());
    let mut progress = engine.subscribe();
    let mut tasks = JoinSet::new();
    for name in ["payments-api", "ledger-api"] {
        let mut signal = w.signal.clone();
        if let Some(workload) = signal.workload.as_mut() {
            workload.name = name.into();
        }
        engine.intake(signal, w.now, &mut tasks).await;
    }
    let incidents = w.store.list_incidents(10).await.expect("list");
    assert_eq!(incidents.len(), 2, "two workloads, two incidents");
    // Each is gathered, diagnosed and routed (one pages, the other only notifies).
    let mut routed = 0;
    while routed < 2 {
        let step = tokio::time::timeout(Duration::from_secs(10), progress.recv())
            .await
            .expect("both routed within 10 s")
            .expect("progress");
        if let Progress::Moved { to, .. } = step
            && matches!(
                to,
                IncidentState::AwaitingApproval | IncidentState::Escalated
            )
        {
            routed += 1;
        }
    }
    assert_eq!(gatherer.most.load(Ordering::SeqCst), 1, "one at a time");
}
