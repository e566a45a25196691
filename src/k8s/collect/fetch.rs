//! One gathering's state and its requests: every call goes through [`Fetch::call`], which gives
//! it what remains of the time, treats "not there" as missing evidence and records any other
//! failure instead of returning it.

use std::fmt::Debug;
use std::future::Future;

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, ListParams};
use kube::{Client, Resource};
use serde::de::DeserializeOwned;
use tokio::time::Instant;

use super::{Fetched, GatherError, GatherLimits};
use crate::domain::signal::ObjectRef;
use crate::k8s::gather::LogSet;
use crate::k8s::objects::ObjectSet;

/// The apiserver answers that say "nothing there" rather than "failed".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Absent {
    /// Nothing: every error is a failure (a 404 on a list means the API is not served).
    Never,
    /// 404: the object (or namespace) does not exist.
    NotFound,
    /// 400 or 404: for logs, the container has no such instance (no previous run, waiting).
    NoLog,
}

impl Absent {
    fn covers(self, error: &kube::Error) -> bool {
        let kube::Error::Api(status) = error else {
            return false;
        };
        match self {
            Absent::Never => false,
            Absent::NotFound => status.code == 404,
            Absent::NoLog => status.code == 404 || status.code == 400,
        }
    }
}

/// A gathering under way.
pub(super) struct Fetch {
    client: Client,
    pub(super) limits: GatherLimits,
    pub(super) target: ObjectRef,
    pub(super) workload: Option<ObjectRef>,
    pub(super) set: ObjectSet,
    pub(super) logs: LogSet,
    pub(super) errors: Vec<GatherError>,
    /// The step under way, named in a timeout.
    pub(super) stage: &'static str,
    /// The step under way when the overall deadline passed.
    expired: Option<&'static str>,
    deadline: Instant,
}

impl Fetch {
    pub(super) fn new(
        client: Client,
        limits: GatherLimits,
        target: &ObjectRef,
        workload: Option<&ObjectRef>,
    ) -> Self {
        let deadline = Instant::now() + limits.timeout;
        Self {
            client,
            limits,
            target: target.clone(),
            workload: workload.cloned(),
            set: ObjectSet::default(),
            logs: LogSet::default(),
            errors: Vec::new(),
            stage: "start",
            expired: None,
            deadline,
        }
    }

    /// What was fetched; a passed deadline is reported as one [`GatherError::Timeout`].
    pub(super) fn finish(mut self) -> Fetched {
        if let Some(stage) = self.expired {
            tracing::warn!(target = %self.target, stage, "evidence gathering timed out");
            self.errors.push(GatherError::Timeout {
                after: self.limits.timeout,
                stage,
            });
        }
        Fetched {
            objects: self.set,
            logs: self.logs,
            workload: self.workload,
            errors: self.errors,
        }
    }

    /// The target's namespace.
    pub(super) fn namespace(&self) -> Option<String> {
        self.target.namespace.clone()
    }

    /// An API for a namespaced kind in `ns`.
    pub(super) fn namespaced<K>(&self, ns: &str) -> Api<K>
    where
        K: Resource<DynamicType = (), Scope = NamespaceResourceScope>,
    {
        Api::namespaced(self.client.clone(), ns)
    }

    /// An API for a cluster-scoped kind, or a namespaced kind across all namespaces.
    pub(super) fn cluster<K>(&self) -> Api<K>
    where
        K: Resource<DynamicType = ()>,
    {
        Api::all(self.client.clone())
    }

    /// Runs one request within what remains of the time. `None` when it failed (recorded), timed
    /// out (recorded) or found nothing (`absent`, not an error).
    pub(super) async fn call<T>(
        &mut self,
        what: String,
        absent: Absent,
        request: impl Future<Output = kube::Result<T>>,
    ) -> Option<T> {
        let remaining = self.deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            self.expire();
            return None;
        }
        let budget = remaining.min(self.limits.request_timeout);
        match tokio::time::timeout(budget, request).await {
            Ok(Ok(value)) => Some(value),
            Ok(Err(error)) if absent.covers(&error) => {
                tracing::debug!(what, "not there");
                None
            }
            Ok(Err(source)) => {
                tracing::warn!(what, error = %source, "evidence request failed");
                self.errors.push(GatherError::Api { what, source });
                None
            }
            Err(_) if budget == remaining => {
                self.expire();
                None
            }
            Err(_) => {
                self.errors.push(GatherError::RequestTimeout {
                    what,
                    after: budget,
                });
                None
            }
        }
    }

    /// The overall deadline passed: every later request is skipped.
    pub(super) fn expire(&mut self) {
        self.expired.get_or_insert(self.stage);
    }

    /// `GET` one object; `None` when it does not exist or could not be read.
    pub(super) async fn get<K>(&mut self, api: Api<K>, name: &str) -> Option<K>
    where
        K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug,
    {
        let what = format!("get {} {}", K::plural(&()), describe(&api, name));
        self.call(what, Absent::NotFound, api.get(name)).await
    }

    /// Lists objects (the caller sets the selector and `limit`).
    pub(super) async fn list<K>(&mut self, api: Api<K>, params: ListParams) -> Vec<K>
    where
        K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug,
    {
        let mut what = format!("list {}", K::plural(&()));
        if let Some(ns) = api.namespace() {
            what.push_str(&format!(" in {ns}"));
        }
        for selector in [&params.label_selector, &params.field_selector]
            .into_iter()
            .flatten()
        {
            what.push_str(&format!(" {selector}"));
        }
        let list = self.call(what, Absent::Never, api.list(&params)).await;
        list.map(|l| l.items).unwrap_or_default()
    }
}

fn describe<K: Resource<DynamicType = ()>>(api: &Api<K>, name: &str) -> String {
    match api.namespace() {
        Some(ns) => format!("{ns}/{name}"),
        None => name.to_owned(),
    }
}

/// Adds `object` to `list`, replacing an object with the same namespace and name.
pub(super) fn upsert<T>(list: &mut Vec<T>, object: T)
where
    T: k8s_openapi::Metadata<Ty = ObjectMeta>,
{
    let key = |o: &T| (o.metadata().namespace.clone(), o.metadata().name.clone());
    let wanted = key(&object);
    match list.iter_mut().find(|o| key(o) == wanted) {
        Some(slot) => *slot = object,
        None => list.push(object),
    }
}
