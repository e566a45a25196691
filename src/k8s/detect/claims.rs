//! The claim detector: a PersistentVolumeClaim Lost, or Pending when a pod waits for it.

use jiff::Timestamp;
use k8s_openapi::api::core::v1::PersistentVolumeClaim;

use super::{signal, target};
use crate::domain::signal::Signal;

/// How long a claim may stay Pending, once a pod needs it, before it is stuck: provisioning
/// takes seconds to a minute or two.
pub const CLAIM_PENDING_AFTER: jiff::SignedDuration = jiff::SignedDuration::from_mins(5);

/// Set by the scheduler on a `WaitForFirstConsumer` claim once a pod that uses it is placed.
const SELECTED_NODE: &str = "volume.kubernetes.io/selected-node";

/// Whether a Pending claim is waiting on something that should have happened: a pod was placed
/// for it (`WaitForFirstConsumer`). A claim nobody uses yet may legitimately wait for ever; a
/// claim that cannot bind for a pod shows on that pod (`FailedScheduling`: unbound immediate
/// PersistentVolumeClaims) and in `ProvisioningFailed` events, which are signals of their own.
fn claim_awaited(claim: &PersistentVolumeClaim) -> bool {
    claim
        .metadata
        .annotations
        .as_ref()
        .is_some_and(|a| a.contains_key(SELECTED_NODE))
}

fn claim_phase(claim: &PersistentVolumeClaim) -> &str {
    claim
        .status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or_default()
}

fn claim_created(claim: &PersistentVolumeClaim) -> Option<Timestamp> {
    claim.metadata.creation_timestamp.as_ref().map(|t| t.0)
}

/// Signals a PVC raises: Lost, or Pending for a placed pod for longer than
/// [`CLAIM_PENDING_AFTER`] since it was created (or for an unknown time).
pub fn claim(claim: &PersistentVolumeClaim, now: Timestamp) -> Vec<Signal> {
    let phase = claim_phase(claim);
    let stuck = claim_awaited(claim)
        && claim_created(claim).is_none_or(|at| now.duration_since(at) > CLAIM_PENDING_AFTER);
    if (phase == "Pending" && stuck) || phase == "Lost" {
        let reason = format!("Claim{phase}");
        vec![signal(
            target("PersistentVolumeClaim", &claim.metadata),
            &claim.metadata,
            &reason,
            None,
            now,
        )]
    } else {
        Vec::new()
    }
}

/// When a Pending claim, unchanged, would count as stuck (see [`pod_recheck_at`]).
pub fn claim_recheck_at(claim: &PersistentVolumeClaim, now: Timestamp) -> Option<Timestamp> {
    let at = claim_created(claim)
        .filter(|_| claim_phase(claim) == "Pending" && claim_awaited(claim))?
        .checked_add(CLAIM_PENDING_AFTER + jiff::SignedDuration::from_secs(1))
        .ok()?;
    (at > now).then_some(at)
}
