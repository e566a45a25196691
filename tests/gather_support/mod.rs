//! What the gatherer contract tests share: the objects the fake apiserver serves, the URIs the
//! gatherer asks, and a runner.
#![allow(dead_code)]

pub mod objects;

use nightshift::domain::playbook::EvidenceSpec;
use nightshift::domain::signal::ObjectRef;
use nightshift::k8s::collect::{GatherLimits, Gathered, Gatherer};

use crate::apiserver::{self, Call, Reply, Seen, get, list};

pub const SHOP: &str = "/api/v1/namespaces/shop";
pub const APPS: &str = "/apis/apps/v1/namespaces/shop";
pub const BATCH: &str = "/apis/batch/v1/namespaces/shop";

/// Runs the gatherer against `calls` and returns what it gathered.
pub async fn gather_with(
    seen: &'static Seen,
    limits: GatherLimits,
    target: ObjectRef,
    workload: Option<ObjectRef>,
    spec: EvidenceSpec,
    calls: Vec<Call>,
) -> Gathered {
    let (client, handle) = apiserver::client();
    let server = tokio::spawn(async move { apiserver::serve(handle, calls, seen).await });
    let gatherer = Gatherer::with_limits(client, limits);
    let gathered = gatherer.gather(&target, workload.as_ref(), &spec).await;
    drop(gatherer);
    server
        .await
        .expect("the fake apiserver saw exactly the expected calls");
    gathered
}

pub fn events_uri(namespace: Option<&str>, kind: &str, name: &str) -> String {
    let base = namespace.map_or("/api/v1".to_owned(), |ns| {
        format!("/api/v1/namespaces/{ns}")
    });
    format!(
        "{base}/events?&fieldSelector=involvedObject.kind%3D{kind}%2CinvolvedObject.name%3D{name}&limit=50"
    )
}

pub fn log_uri(pod: &str, previous: bool, tail: usize, limit: usize) -> String {
    let previous = if previous { "&previous=true" } else { "" };
    format!("{SHOP}/pods/{pod}/log?&container=api&limitBytes={limit}{previous}&tailLines={tail}")
}

pub fn ids(gathered: &Gathered) -> Vec<&str> {
    gathered
        .evidence
        .items
        .iter()
        .map(|i| i.id.as_str())
        .collect()
}

pub fn namespace_limits(quotas: Reply, ranges: Reply) -> Vec<Call> {
    vec![
        get(format!("{SHOP}/resourcequotas?&limit=20"), quotas),
        get(format!("{SHOP}/limitranges?&limit=20"), ranges),
    ]
}

/// What else controls the workload: the namespace's autoscalers (asked only when the workload
/// is a Deployment), then its disruption budgets.
pub fn controls(autoscalers: Option<Reply>, budgets: Reply) -> Vec<Call> {
    let hpa = "/apis/autoscaling/v2/namespaces/shop/horizontalpodautoscalers?&limit=20";
    let pdb = "/apis/policy/v1/namespaces/shop/poddisruptionbudgets?&limit=20";
    autoscalers
        .map(|reply| get(hpa, reply))
        .into_iter()
        .chain(std::iter::once(get(pdb, budgets)))
        .collect()
}

pub fn empty(kind: &str) -> Reply {
    Reply::Json(list(kind, vec![]))
}
