//! Naming a signal's workload before it is fingerprinted. A pod's signal belongs to its
//! workload (`crash-loop/shop/checkout`, not one pod of it), else a restart — when Events can
//! arrive before the pod watcher's first list — opens a second incident for one crash loop.
//! The caches answer first; when they do not know, the apiserver is asked: the pod's owner
//! chain (Pod → ReplicaSet → Deployment, Pod → Job → CronJob, or the StatefulSet/DaemonSet that
//! owns it), and for a pod already deleted, the ReplicaSet or Job its generated name points to
//! — only once that object is read and its name matches how its pods are named, never from
//! the pod's name alone.

use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;

use super::{Key, Owned, Watch};
use crate::domain::signal::{ObjectRef, Signal};
use crate::k8s::facts;

/// How long the apiserver's answer about a pod's workload is reused: repeated Events about one
/// pod — or a stream of forged ones about a pod nobody has — cost the apiserver one lookup.
const ANSWER_FOR: Duration = Duration::from_secs(300);
/// The most answers remembered.
const MAX_ANSWERS: usize = 10_000;

/// A pod-name suffix the apiserver generates (`generateName`): five lowercase alphanumerics.
fn generated(suffix: &str) -> bool {
    suffix.len() == 5
        && suffix
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

fn object(kind: &str, ns: &str, name: &str) -> ObjectRef {
    ObjectRef {
        kind: kind.to_owned(),
        namespace: Some(ns.to_owned()),
        name: name.to_owned(),
    }
}

impl Watch {
    /// Fills in `signal.workload` when the detector could not name it from the caches.
    pub(super) async fn complete(&self, signal: &mut Signal) {
        if signal.workload.is_some() {
            return;
        }
        let target = signal.target.clone();
        let Some(ns) = target.namespace.as_deref() else {
            return;
        };
        let found = match target.kind.as_str() {
            "Pod" if !self.known_bare(ns, &target.name) => {
                self.pod_workload_once(ns, &target.name).await
            }
            "ReplicaSet" => self
                .owner_workload(ns, "ReplicaSet", &target.name)
                .await
                .map(Some),
            _ => return,
        };
        match found {
            Ok(workload) => signal.workload = workload,
            Err(err) => tracing::warn!(
                error = %err, target = %target,
                "could not name the workload; the signal goes on about its target alone"
            ),
        }
    }

    /// Whether the pod watcher saw this pod and it has no owner.
    fn known_bare(&self, ns: &str, name: &str) -> bool {
        let pods = self
            .pods
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        matches!(pods.get(&(ns.to_owned(), name.to_owned())), Some(None))
    }

    /// [`Watch::pod_workload`], answered from memory when it was asked lately.
    async fn pod_workload_once(
        &self,
        ns: &str,
        name: &str,
    ) -> Result<Option<ObjectRef>, kube::Error> {
        let key: Key = (ns.to_owned(), name.to_owned());
        if let Some((at, workload)) = self.cached(&self.answers, &key)
            && at.elapsed() < ANSWER_FOR
        {
            return Ok(workload);
        }
        let workload = self.pod_workload(ns, name).await?;
        let mut answers = self
            .answers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if answers.len() >= MAX_ANSWERS {
            answers.retain(|_, (at, _)| at.elapsed() < ANSWER_FOR);
            if answers.len() >= MAX_ANSWERS {
                answers.clear();
            }
        }
        answers.insert(key, (Instant::now(), workload.clone()));
        Ok(workload)
    }

    /// The workload of a pod, read from the apiserver.
    async fn pod_workload(&self, ns: &str, name: &str) -> Result<Option<ObjectRef>, kube::Error> {
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), ns);
        let Some(pod) = pods.get_opt(name).await? else {
            return self.deleted_pod_workload(ns, name).await;
        };
        match facts::controller(&pod.metadata) {
            Some(owner) => self
                .owner_workload(ns, &owner.kind, &owner.name)
                .await
                .map(Some),
            None => Ok(None),
        }
    }

    /// The workload an owner leads to: a ReplicaSet's or Job's own controller (Deployment,
    /// CronJob) when it has one, else the owner itself.
    async fn owner_workload(
        &self,
        ns: &str,
        kind: &str,
        name: &str,
    ) -> Result<ObjectRef, kube::Error> {
        let owned = match kind {
            "ReplicaSet" => self.replica_set_owned(ns, name).await?,
            "Job" => self.job_owned(ns, name).await?,
            _ => None,
        };
        let controller = owned.and_then(|o| o.controller);
        Ok(match controller {
            Some((kind, name)) => object(&kind, ns, &name),
            None => object(kind, ns, name),
        })
    }

    /// A pod the apiserver no longer has: `<replicaset>-<xxxxx>` or `<job>-<xxxxx>`, confirmed
    /// by reading that object (a ReplicaSet's name must end in its own pod-template-hash).
    async fn deleted_pod_workload(
        &self,
        ns: &str,
        pod: &str,
    ) -> Result<Option<ObjectRef>, kube::Error> {
        let Some((prefix, _)) = pod.rsplit_once('-').filter(|(_, s)| generated(s)) else {
            return Ok(None);
        };
        if let Some(rs) = self.replica_set_owned(ns, prefix).await?
            && rs
                .template_hash
                .as_ref()
                .is_some_and(|h| prefix.ends_with(&format!("-{h}")))
        {
            return Ok(Some(match rs.controller {
                Some((kind, name)) => object(&kind, ns, &name),
                None => object("ReplicaSet", ns, prefix),
            }));
        }
        if let Some(job) = self.job_owned(ns, prefix).await? {
            return Ok(Some(match job.controller {
                Some((kind, name)) if kind == "CronJob" => object(&kind, ns, &name),
                _ => object("Job", ns, prefix),
            }));
        }
        tracing::debug!(
            ns,
            pod,
            "deleted pod: no ReplicaSet or Job confirms its workload"
        );
        Ok(None)
    }

    /// What the cache knows of a ReplicaSet, or what the apiserver says when it does not.
    async fn replica_set_owned(&self, ns: &str, name: &str) -> Result<Option<Owned>, kube::Error> {
        let key: Key = (ns.to_owned(), name.to_owned());
        if let Some(known) = self.cached(&self.replica_sets, &key) {
            return Ok(Some(known));
        }
        let api: Api<ReplicaSet> = Api::namespaced(self.client.clone(), ns);
        Ok(api.get_opt(name).await?.map(|rs| Owned::of(&rs.metadata)))
    }

    /// What the cache knows of a Job, or what the apiserver says when it does not.
    async fn job_owned(&self, ns: &str, name: &str) -> Result<Option<Owned>, kube::Error> {
        let key: Key = (ns.to_owned(), name.to_owned());
        if let Some(known) = self.cached(&self.jobs, &key) {
            return Ok(Some(known));
        }
        let api: Api<Job> = Api::namespaced(self.client.clone(), ns);
        Ok(api.get_opt(name).await?.map(|job| Owned::of(&job.metadata)))
    }
}

#[cfg(test)]
mod tests {
    use super::generated;

    #[test]
    fn only_a_five_character_lowercase_alphanumeric_suffix_counts_as_generated() {
        assert!(generated("x2k4q"));
        assert!(!generated("0"), "a StatefulSet ordinal is not generated");
        assert!(!generated("X2K4Q"));
        assert!(!generated("x2k4qz"));
    }
}
