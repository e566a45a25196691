//! One observation per check: the few objects it judges, read fresh from the apiserver and
//! turned into facts (or, for `condition-cleared`, into the signals the detectors raise now).

use std::fmt::Debug;
use std::future::Future;

use jiff::Timestamp;
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{Node, PersistentVolumeClaim, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::Resource;
use kube::api::{Api, ListParams};
use kube::core::Selector;
use serde::de::DeserializeOwned;
use tokio::time::Instant;

use super::{Subject, Verifier, VerifyError};
use crate::domain::evidence::{CronJobFacts, NodeFacts, PodFacts, RolloutFacts};
use crate::domain::plan::CheckKind;
use crate::domain::signal::{ObjectRef, Signal};
use crate::domain::verdict::Examined;
use crate::k8s::{detect, facts};

/// At most this many pods are judged per observation.
const MAX_PODS: u32 = 200;

/// What one observation saw.
pub(super) enum Observation {
    /// A Deployment's rollout state.
    Rollout(Box<RolloutFacts>),
    /// The target's live pods (neither terminating nor finished).
    Pods(Vec<PodFacts>),
    /// A node.
    Node(NodeFacts),
    /// A CronJob.
    CronJob(CronJobFacts),
    /// The signals the detectors raise now.
    Signals {
        /// What they were raised on.
        examined: Examined,
        /// The incident's reason.
        reason: String,
        /// The signals.
        signals: Vec<Signal>,
    },
    /// What the check needs is not there.
    Missing(String),
}

/// How long a request may take even when the check's deadline is (nearly) there, so the last
/// look before a verdict is a real look, not a request given no time at all.
const LAST_LOOK: std::time::Duration = std::time::Duration::from_secs(2);

impl Verifier {
    pub(super) async fn observe(
        &self,
        kind: CheckKind,
        target: &ObjectRef,
        subject: &Subject,
        now: Timestamp,
        deadline: Instant,
    ) -> Result<Observation, VerifyError> {
        let reader = Reader {
            client: self.client.clone(),
            // The last look comes at the deadline: it still gets LAST_LOOK to answer.
            budget: self.request_timeout.min(
                deadline
                    .saturating_duration_since(Instant::now())
                    .max(LAST_LOOK),
            ),
        };
        match kind {
            CheckKind::RolloutComplete => reader.rollout(target, subject).await,
            CheckKind::PodsReady | CheckKind::NoNewRestarts => {
                let pods = reader.live_pods(target, subject).await?;
                let facts = pods.iter().map(|p| facts::pod(p, None)).collect();
                Ok(Observation::Pods(facts))
            }
            CheckKind::NodeCordoned => reader.node(target, subject).await,
            CheckKind::CronjobSuspended => reader.cron_job(target, subject).await,
            CheckKind::ConditionCleared => reader.signals(subject, now).await,
        }
    }
}

/// Reads for one observation, each request within `budget`.
struct Reader {
    client: kube::Client,
    budget: std::time::Duration,
}

fn one_of<'a>(kind: &str, candidates: [Option<&'a ObjectRef>; 2]) -> Option<&'a ObjectRef> {
    candidates.into_iter().flatten().find(|o| o.kind == kind)
}

impl Reader {
    async fn call<T>(
        &self,
        what: String,
        request: impl Future<Output = kube::Result<T>>,
    ) -> Result<T, VerifyError> {
        match tokio::time::timeout(self.budget, request).await {
            Ok(result) => result.map_err(|source| VerifyError::Api { what, source }),
            Err(_) => Err(VerifyError::RequestTimeout {
                what,
                after: self.budget,
            }),
        }
    }

    async fn get<K>(&self, object: &ObjectRef) -> Result<Option<K>, VerifyError>
    where
        K: Resource<DynamicType = (), Scope = NamespaceResourceScope>,
        K: Clone + DeserializeOwned + Debug,
    {
        let Some(ns) = object.namespace.as_deref() else {
            return Ok(None);
        };
        let api: Api<K> = Api::namespaced(self.client.clone(), ns);
        let what = format!("get {}", object);
        self.call(what, api.get_opt(&object.name)).await
    }

    async fn node_named(&self, name: &str) -> Result<Option<Node>, VerifyError> {
        let api: Api<Node> = Api::all(self.client.clone());
        self.call(format!("get Node/{name}"), api.get_opt(name))
            .await
    }

    async fn rollout(
        &self,
        target: &ObjectRef,
        subject: &Subject,
    ) -> Result<Observation, VerifyError> {
        let Some(d) = one_of("Deployment", [Some(target), subject.workload.as_ref()]) else {
            return Ok(Observation::Missing(format!(
                "{target} is not a Deployment"
            )));
        };
        Ok(match self.get::<Deployment>(d).await? {
            Some(deployment) => Observation::Rollout(Box::new(facts::rollout(&deployment, &[], 0))),
            None => Observation::Missing(format!("{d} not found")),
        })
    }

    async fn node(
        &self,
        target: &ObjectRef,
        subject: &Subject,
    ) -> Result<Observation, VerifyError> {
        let Some(n) = one_of("Node", [Some(target), Some(&subject.target)]) else {
            return Ok(Observation::Missing(format!("{target} is not a Node")));
        };
        Ok(match self.node_named(&n.name).await? {
            Some(node) => Observation::Node(facts::node(&node)),
            None => Observation::Missing(format!("{n} not found")),
        })
    }

    async fn cron_job(
        &self,
        target: &ObjectRef,
        subject: &Subject,
    ) -> Result<Observation, VerifyError> {
        let Some(c) = one_of("CronJob", [Some(target), subject.workload.as_ref()]) else {
            return Ok(Observation::Missing(format!("{target} is not a CronJob")));
        };
        Ok(match self.get::<CronJob>(c).await? {
            Some(cron) => Observation::CronJob(facts::cron_job(&cron)),
            None => Observation::Missing(format!("{c} not found")),
        })
    }

    /// The pod selector of a Deployment, ReplicaSet or Job, read fresh.
    async fn selector(&self, owner: &ObjectRef) -> Result<Option<LabelSelector>, VerifyError> {
        Ok(match owner.kind.as_str() {
            "Deployment" => self
                .get::<Deployment>(owner)
                .await?
                .map(|d| d.spec.selector),
            "ReplicaSet" => self
                .get::<ReplicaSet>(owner)
                .await?
                .map(|r| r.spec.selector),
            "Job" => self
                .get::<Job>(owner)
                .await?
                .and_then(|j| j.spec.and_then(|s| s.selector)),
            _ => None,
        })
    }

    /// Pods matching an owner's selector, in its namespace, bounded.
    async fn pods_of(&self, owner: &ObjectRef) -> Result<Option<Vec<Pod>>, VerifyError> {
        let (Some(ns), Some(selector)) = (&owner.namespace, self.selector(owner).await?) else {
            return Ok(None);
        };
        let Some(selector) = Selector::try_from(selector)
            .ok()
            .filter(|s| !s.selects_all())
        else {
            return Ok(None);
        };
        let api: Api<Pod> = Api::namespaced(self.client.clone(), ns);
        let params = ListParams::default()
            .labels(&selector.to_string())
            .limit(MAX_PODS);
        let what = format!("list pods of {owner}");
        let list = self.call(what, api.list(&params)).await?;
        Ok(Some(list.items))
    }

    /// The pods a readiness or restart check judges: the workload's (or the target's) pods,
    /// without those being deleted or already finished (an evicted pod was replaced).
    async fn live_pods(
        &self,
        target: &ObjectRef,
        subject: &Subject,
    ) -> Result<Vec<Pod>, VerifyError> {
        let pods = match self.pods_of(target).await? {
            Some(pods) => pods,
            None => match one_of("Pod", [Some(target), Some(&subject.target)]) {
                Some(pod) => self.get::<Pod>(pod).await?.into_iter().collect(),
                None => Vec::new(),
            },
        };
        let finished = |p: &Pod| {
            let phase = p.status.as_ref().and_then(|s| s.phase.as_deref());
            matches!(phase, Some("Succeeded" | "Failed"))
        };
        Ok(pods
            .into_iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none() && !finished(p))
            .collect())
    }

    /// The signals the detectors raise now on the incident's target, or on the pods that
    /// replaced a target pod that is gone.
    async fn signals(&self, subject: &Subject, now: Timestamp) -> Result<Observation, VerifyError> {
        let target = &subject.target;
        let workload = subject.workload.clone();
        let examined = Examined::Target(target.to_string());
        let found: Option<Vec<Signal>> = match target.kind.as_str() {
            // A terminating pod is on its way out: judged by what replaces it.
            "Pod" => self
                .get::<Pod>(target)
                .await?
                .filter(|p| p.metadata.deletion_timestamp.is_none())
                .map(|p| detect::pod(&p, workload.clone(), now)),
            "Node" => self
                .node_named(&target.name)
                .await?
                .map(|n| detect::node(&n, now)),
            "Job" => self
                .get::<Job>(target)
                .await?
                .map(|j| detect::job(&j, workload.clone(), now)),
            "Deployment" => self
                .get::<Deployment>(target)
                .await?
                .map(|d| detect::deployment(&d, now)),
            "ReplicaSet" => self
                .get::<ReplicaSet>(target)
                .await?
                .map(|r| detect::replica_set(&r, workload.clone(), now)),
            "PersistentVolumeClaim" => self
                .get::<PersistentVolumeClaim>(target)
                .await?
                .map(|c| detect::claim(&c, now)),
            kind => {
                return Ok(Observation::Missing(format!(
                    "the detectors cannot observe a {kind}"
                )));
            }
        };
        let reason = subject.reason.clone();
        if let Some(signals) = found {
            return Ok(Observation::Signals {
                examined,
                reason,
                signals,
            });
        }
        self.replacements(subject, reason, now).await
    }

    /// The target pod is gone: the detectors run on its workload's live pods instead; with no
    /// workload, nothing is left to raise the condition.
    async fn replacements(
        &self,
        subject: &Subject,
        reason: String,
        now: Timestamp,
    ) -> Result<Observation, VerifyError> {
        let workload = subject.workload.clone();
        let pods = match (subject.target.kind.as_str(), &workload) {
            ("Pod", Some(w)) => self.pods_of(w).await?,
            _ => None,
        };
        let Some(pods) = pods else {
            return Ok(Observation::Signals {
                examined: Examined::Gone(subject.target.to_string()),
                reason,
                signals: Vec::new(),
            });
        };
        let live: Vec<&Pod> = pods
            .iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .collect();
        let signals = live
            .iter()
            .flat_map(|p| detect::pod(p, workload.clone(), now))
            .collect();
        Ok(Observation::Signals {
            examined: Examined::Replacements(live.len()),
            reason,
            signals,
        })
    }
}
