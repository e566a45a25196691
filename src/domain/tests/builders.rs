//! Builders for domain values in tests: `signal()`, `pod("api-1").crash_looping()`...

use std::collections::BTreeMap;

use jiff::Timestamp;

use crate::domain::diagnosis::Diagnosis;
use crate::domain::evidence::{
    ConditionFacts, ContainerFacts, ContainerState, Evidence, Facts, NodeFacts, PodFacts,
    RevisionFacts, RolloutFacts,
};
use crate::domain::signal::{ObjectRef, Signal, SignalSource};
use crate::domain::taxonomy::Category;

pub fn at(s: &str) -> Timestamp {
    s.parse().expect("timestamp")
}

pub fn signal(reason: &str) -> Signal {
    Signal {
        source: SignalSource::Kubernetes,
        target: ObjectRef::namespaced("Pod", "shop", "api-7d9f-x2k4q"),
        workload: Some(ObjectRef::namespaced("Deployment", "shop", "api")),
        reason: reason.into(),
        container: Some("api".into()),
        container_state: None,
        labels: BTreeMap::from([("app".into(), "api".into())]),
        alertname: None,
        message: None,
        observed_at: at("2026-11-20T02:13:00Z"),
    }
}

pub fn diagnosis(category: Category, contributing: &[Category]) -> Diagnosis {
    Diagnosis {
        category,
        contributing: contributing.to_vec(),
        summary: format!("{category} happened"),
        confidence: 0.8,
        evidence: vec![],
        diagnoser: "rules".into(),
    }
}

pub struct PodBuilder(pub PodFacts);

pub fn pod(name: &str) -> PodBuilder {
    PodBuilder(PodFacts {
        namespace: "shop".into(),
        name: name.into(),
        phase: Some("Running".into()),
        node: Some("worker-1".into()),
        template_hash: Some("7d9f".into()),
        workload: Some(ObjectRef::namespaced("Deployment", "shop", "api")),
        containers: vec![ContainerFacts {
            name: "api".into(),
            image: "shop/api:v2".into(),
            ready: true,
            state: Some(ContainerState::Running { started_at: None }),
            memory_limit: Some(512 << 20),
            ..ContainerFacts::default()
        }],
        ..PodFacts::default()
    })
}

impl PodBuilder {
    pub fn crash_looping(mut self, exit_code: i32, reason: &str) -> Self {
        let c = &mut self.0.containers[0];
        c.ready = false;
        c.restart_count = 5;
        c.state = Some(ContainerState::Waiting {
            reason: Some("CrashLoopBackOff".into()),
            message: None,
        });
        c.last_state = Some(ContainerState::Terminated {
            reason: Some(reason.into()),
            exit_code,
            signal: None,
            message: None,
            started_at: None,
            finished_at: None,
        });
        self
    }

    /// Gives the first container a probe of `kind` (`liveness`, `readiness`, `startup`).
    pub fn probe(mut self, kind: &str) -> Self {
        let probe = "http GET :8080/healthz delay=0s period=10s timeout=1s fail=3";
        self.0.containers[0]
            .probes
            .insert(kind.into(), probe.into());
        self
    }

    pub fn hash(mut self, hash: &str) -> Self {
        self.0.template_hash = Some(hash.into());
        self
    }

    pub fn node(mut self, node: &str) -> Self {
        self.0.node = Some(node.into());
        self
    }

    pub fn build(self) -> PodFacts {
        self.0
    }
}

pub fn revision(
    number: u64,
    hash: &str,
    image: &str,
    created: &str,
    replicas: i32,
) -> RevisionFacts {
    RevisionFacts {
        revision: number,
        replica_set: format!("api-{hash}"),
        template_hash: Some(hash.into()),
        created_at: Some(at(created)),
        replicas,
        ready_replicas: replicas,
        containers: vec![crate::domain::evidence::TemplateContainer {
            name: "api".into(),
            image: image.into(),
            ..Default::default()
        }],
        ..RevisionFacts::default()
    }
}

pub fn rollout(revisions: Vec<RevisionFacts>) -> RolloutFacts {
    RolloutFacts {
        deployment: ObjectRef::namespaced("Deployment", "shop", "api"),
        replicas: 3,
        updated_replicas: 1,
        revisions,
        ..RolloutFacts::default()
    }
}

pub fn evidence(items: Vec<(&str, Facts)>) -> Evidence {
    let mut e = Evidence::default();
    for (id, facts) in items {
        e.push(id, facts);
    }
    e
}

/// A node condition.
pub fn condition(kind: &str, status: &str, reason: &str) -> ConditionFacts {
    ConditionFacts {
        kind: kind.into(),
        status: status.into(),
        reason: Some(reason.into()),
        message: None,
        since: None,
    }
}

/// A node whose kubelet stopped posting status.
pub fn not_ready(name: &str) -> NodeFacts {
    NodeFacts {
        name: name.into(),
        conditions: vec![condition("Ready", "Unknown", "NodeStatusUnknown")],
        ..NodeFacts::default()
    }
}

/// A node that is Ready with no pressure.
pub fn ready(name: &str) -> NodeFacts {
    NodeFacts {
        name: name.into(),
        conditions: vec![
            condition("Ready", "True", "KubeletReady"),
            condition("MemoryPressure", "False", "KubeletHasSufficientMemory"),
        ],
        ..NodeFacts::default()
    }
}
