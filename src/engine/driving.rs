//! At most one task drives an incident at a time in this engine. An incident the webhook
//! opened reaches the loop twice when it lands before the loop starts — in the store (resumed
//! as `open`) and on the adopt channel — and a test may open one beside a running loop; the
//! second driver would record a second diagnosis. The store's compare-and-set transitions
//! stay the guard between daemons; this is the guard within one.

use std::collections::HashSet;
use std::sync::{Mutex, PoisonError};

use super::Engine;

/// Held while an incident is driven; releases it when dropped.
pub(super) struct Driving<'a> {
    set: &'a Mutex<HashSet<String>>,
    id: String,
}

impl Drop for Driving<'_> {
    fn drop(&mut self) {
        self.set
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.id);
    }
}

impl Engine {
    /// Claims incident `id` for driving; `None` when another task drives it already.
    pub(super) fn claim(&self, id: &str) -> Option<Driving<'_>> {
        let set = &self.inner.driving;
        let claimed = set
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id.to_owned());
        claimed.then(|| Driving {
            set,
            id: id.to_owned(),
        })
    }
}
