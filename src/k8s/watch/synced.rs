//! Readiness of the watchers: which have listed their resource at least once.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

/// Which watchers have listed their resource at least once (readiness).
#[derive(Clone, Default)]
pub struct Synced(Arc<Mutex<BTreeMap<String, bool>>>);

impl Synced {
    /// Expects a first list of `resource`.
    pub(super) fn register(&self, resource: &str) {
        let mut all = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        all.entry(resource.to_owned()).or_insert(false);
    }

    /// `resource` has been listed.
    pub(super) fn mark(&self, resource: &str) {
        let mut all = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        all.insert(resource.to_owned(), true);
    }

    /// The resources whose first list has not completed yet.
    pub fn pending(&self) -> Vec<String> {
        let all = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        all.iter()
            .filter(|(_, done)| !**done)
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// Whether watchers are registered and all of them have listed.
    pub fn all(&self) -> bool {
        let all = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        !all.is_empty() && all.values().all(|done| *done)
    }
}

#[cfg(test)]
mod tests {
    use super::Synced;

    #[test]
    fn ready_only_once_every_registered_watcher_has_listed() {
        let synced = Synced::default();
        assert!(!synced.all(), "no watcher yet is not ready");
        synced.register("pods");
        synced.register("nodes");
        synced.mark("pods");
        assert!(!synced.all());
        assert_eq!(synced.pending(), vec!["nodes".to_owned()]);
        synced.mark("nodes");
        synced.register("nodes");
        assert!(synced.all(), "registering again does not undo a list");
    }
}
