//! The persistent volume controller with a default dynamic provisioner: a new claim is
//! provisioned and Bound on the next pass, as a cluster with a default StorageClass does. A
//! claim with `storageClassName: ""` asks for a pre-provisioned volume, and the simulated
//! cluster has none, so it stays Pending with the controller's `FailedBinding` event — what a
//! real cluster does when no PersistentVolume matches. Claims loaded with a status keep it.

use serde_json::{Value, json};

use super::Ctx;
use super::api;
use super::events::{Event, Kind, Source};
use crate::sim::meta;
use crate::sim::writes::UpdateMode;

/// The provisioner named on claims it provisioned.
const PROVISIONER: &str = "sim.nightshift.dev/hostpath";

/// Binds new claims; leaves the ones that ask for no class Pending.
pub fn reconcile(ctx: &mut Ctx) {
    for claim in api::list(ctx.cluster, "persistentvolumeclaims", None) {
        let phase = claim["status"]["phase"].as_str().unwrap_or_default();
        if !phase.is_empty() || api::deleting(&claim) {
            continue;
        }
        if claim["spec"]["storageClassName"].as_str() == Some("") {
            leave_pending(ctx, &claim);
        } else {
            bind(ctx, &claim);
        }
    }
}

fn target(claim: &Value) -> (&'static str, &str, &str) {
    (
        "persistentvolumeclaims",
        meta::namespace(claim),
        meta::name(claim),
    )
}

fn bind(ctx: &mut Ctx, claim: &Value) {
    let volume = format!("pvc-{}", api::uid(claim));
    let written = api::modify(
        ctx.cluster,
        target(claim),
        Some(api::uid(claim)),
        UpdateMode::Direct,
        "kube-controller-manager",
        |c| {
            let size = c["spec"]["resources"]["requests"]["storage"].clone();
            let modes = c["spec"]["accessModes"].clone();
            c["spec"]["volumeName"] = json!(volume);
            let annotations = meta::object_mut(&mut c["metadata"], "annotations");
            for (key, value) in [
                ("pv.kubernetes.io/bind-completed", "yes"),
                ("pv.kubernetes.io/bound-by-controller", "yes"),
                ("volume.kubernetes.io/storage-provisioner", PROVISIONER),
            ] {
                annotations.insert(key.into(), json!(value));
            }
            c["status"] =
                json!({"phase": "Bound", "accessModes": modes, "capacity": {"storage": size}});
            true
        },
    );
    if let Some(claim) = written {
        let message = format!("Successfully provisioned volume {volume}");
        event(ctx, &claim, PROVISIONER, "ProvisioningSucceeded", message);
    }
}

fn leave_pending(ctx: &mut Ctx, claim: &Value) {
    let written = api::modify(
        ctx.cluster,
        target(claim),
        Some(api::uid(claim)),
        UpdateMode::Status,
        "kube-controller-manager",
        |c| {
            c["status"] = json!({"phase": "Pending"});
            true
        },
    );
    if let Some(claim) = written {
        let message = "no persistent volumes available for this claim and no storage class is set";
        let source = "persistentvolume-controller";
        event(ctx, &claim, source, "FailedBinding", message.into());
    }
}

/// A Normal event about `claim`.
fn event(
    ctx: &mut Ctx,
    claim: &Value,
    source: &'static str,
    reason: &'static str,
    message: String,
) {
    let event = Event {
        object: claim,
        field_path: None,
        kind: Kind::Normal,
        reason,
        message,
    };
    ctx.events
        .emit(ctx.cluster, ctx.now, &Source::controller(source), event);
}
