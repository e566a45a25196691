//! The in-memory object store: objects keyed by (resource, namespace, name), a global
//! resourceVersion, and a bounded per-resource history of watch events.
//!
//! Everything here runs under one lock held by [`super::SimCluster`]; the write logic
//! (create, update, delete) lives in the `writes` module.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use serde_json::{Value, json};
use tokio::sync::watch;

use super::meta::{Clock, Ids, format_time, metadata_mut};
use super::resources::ResourceType;

/// How many watch events each resource type keeps by default for watches to resume from.
pub const DEFAULT_WATCH_WINDOW: usize = 2048;

/// `(namespace, name)`; the namespace is "" for cluster-scoped objects.
pub type Key = (String, String);

/// The type of a watch event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// The object was created.
    Added,
    /// The object changed.
    Modified,
    /// The object was removed.
    Deleted,
}

impl EventType {
    /// The wire name: `ADDED`, `MODIFIED`, `DELETED`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One recorded change, replayed to watches that resume from before it.
#[derive(Debug)]
pub struct StoredEvent {
    /// The resourceVersion the change was written at.
    pub rv: u64,
    /// What happened.
    pub kind: EventType,
    /// The object after the change (for `Deleted`, its last state stamped with `rv`).
    pub object: Arc<Value>,
    /// The object before the change, so selector watches can see objects leave their view.
    pub previous: Option<Arc<Value>>,
}

/// Events of one resource after a resourceVersion, or the floor if that version is compacted.
pub enum Since {
    /// Every retained event with a newer resourceVersion, oldest first.
    Events(Vec<Arc<StoredEvent>>),
    /// The requested version is older than the retained window; the payload is the oldest
    /// version a watch could still resume from.
    Expired(u64),
}

#[derive(Default)]
struct Table {
    objects: BTreeMap<Key, Arc<Value>>,
    history: VecDeque<Arc<StoredEvent>>,
    /// The resourceVersion of the newest evicted event; resuming below it is impossible.
    floor: u64,
}

/// The objects and their history.
pub struct Store {
    tables: HashMap<&'static str, Table>,
    rv: u64,
    window: usize,
    pub(super) ids: Ids,
    pub(super) clock: Clock,
    changes: watch::Sender<u64>,
}

impl Store {
    /// An empty store retaining `window` events per resource type.
    pub fn new(window: usize, clock: Clock) -> Self {
        Store {
            tables: HashMap::new(),
            rv: 1,
            window: window.max(1),
            ids: Ids::from_time(),
            clock,
            changes: watch::Sender::new(1),
        }
    }

    /// The current (latest written) resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.rv
    }

    /// A receiver that sees the resourceVersion change after every write.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// The current time as `metav1.Time` text.
    pub fn now(&self) -> String {
        format_time((self.clock)())
    }

    /// One object.
    pub fn get(&self, rt: &ResourceType, namespace: &str, name: &str) -> Option<Arc<Value>> {
        let key = (namespace.to_string(), name.to_string());
        self.tables.get(rt.plural)?.objects.get(&key).cloned()
    }

    /// Every object of a type, in one namespace or (with `None`) all of them, ordered by key.
    pub fn list(&self, rt: &ResourceType, namespace: Option<&str>) -> Vec<Arc<Value>> {
        let Some(table) = self.tables.get(rt.plural) else {
            return Vec::new();
        };
        match namespace {
            None => table.objects.values().cloned().collect(),
            Some(ns) => table
                .objects
                .range((ns.to_string(), String::new())..)
                .take_while(|((n, _), _)| n == ns)
                .map(|(_, v)| v.clone())
                .collect(),
        }
    }

    /// Objects after `after` (exclusive) in key order, for paginated lists.
    pub fn list_after(
        &self,
        rt: &ResourceType,
        namespace: Option<&str>,
        after: &Key,
    ) -> Vec<Arc<Value>> {
        let Some(table) = self.tables.get(rt.plural) else {
            return Vec::new();
        };
        table
            .objects
            .range(after.clone()..)
            .filter(|(k, _)| k != &after)
            .take_while(|((n, _), _)| namespace.is_none_or(|ns| ns == n))
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Whether a namespace object exists.
    pub fn namespace_exists(&self, namespace: &str) -> bool {
        self.tables.get("namespaces").is_some_and(|t| {
            t.objects
                .contains_key(&(String::new(), namespace.to_string()))
        })
    }

    /// Retained events of a type after `rv`, or `Expired` if `rv` is older than the window.
    pub fn events_since(&self, rt: &ResourceType, rv: u64) -> Since {
        let Some(table) = self.tables.get(rt.plural) else {
            return Since::Events(Vec::new());
        };
        if rv < table.floor {
            return Since::Expired(table.floor);
        }
        let start = table.history.partition_point(|e| e.rv <= rv);
        Since::Events(table.history.range(start..).cloned().collect())
    }

    /// Stamps the next resourceVersion on `obj`, stores it, and records the event.
    pub(super) fn commit(
        &mut self,
        rt: &'static ResourceType,
        key: Key,
        kind: EventType,
        mut obj: Value,
    ) -> Arc<Value> {
        self.rv += 1;
        let rv = self.rv;
        metadata_mut(&mut obj).insert("resourceVersion".into(), json!(rv.to_string()));
        let obj = Arc::new(obj);
        let window = self.window;
        let table = self.tables.entry(rt.plural).or_default();
        let previous = if kind == EventType::Deleted {
            table.objects.remove(&key)
        } else {
            table.objects.insert(key, obj.clone())
        };
        table.history.push_back(Arc::new(StoredEvent {
            rv,
            kind,
            object: obj.clone(),
            previous,
        }));
        while table.history.len() > window {
            if let Some(evicted) = table.history.pop_front() {
                table.floor = evicted.rv;
            }
        }
        self.changes.send_replace(rv);
        obj
    }

    /// Every key of a type in a namespace (for cascading namespace deletion).
    pub(super) fn keys_in(&self, rt: &ResourceType, namespace: &str) -> Vec<Key> {
        self.list(rt, Some(namespace))
            .iter()
            .map(|o| (namespace.to_string(), super::meta::name(o).to_string()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::meta::system_clock;
    use crate::sim::resources::by_name;

    fn pod(ns: &str, name: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"namespace": ns, "name": name}})
    }

    fn key(ns: &str, name: &str) -> Key {
        (ns.to_string(), name.to_string())
    }

    #[test]
    fn every_commit_stamps_a_higher_resource_version() {
        let pods = by_name("pods").expect("pods");
        let mut store = Store::new(10, system_clock());
        let a = store.commit(pods, key("a", "p"), EventType::Added, pod("a", "p"));
        let b = store.commit(pods, key("a", "p"), EventType::Modified, pod("a", "p"));
        assert!(crate::sim::meta::resource_version(&b) > crate::sim::meta::resource_version(&a));
        assert_eq!(store.list(pods, Some("a")).len(), 1);
    }

    #[test]
    fn listing_a_namespace_returns_only_its_objects() {
        let pods = by_name("pods").expect("pods");
        let mut store = Store::new(10, system_clock());
        for (ns, name) in [("a", "1"), ("b", "1"), ("b", "2"), ("c", "1")] {
            store.commit(pods, key(ns, name), EventType::Added, pod(ns, name));
        }
        assert_eq!(store.list(pods, Some("b")).len(), 2);
        assert_eq!(store.list(pods, None).len(), 4);
        assert_eq!(store.list_after(pods, Some("b"), &key("b", "1")).len(), 1);
    }

    #[test]
    fn events_older_than_the_window_are_expired() {
        let pods = by_name("pods").expect("pods");
        let mut store = Store::new(2, system_clock());
        let start = store.resource_version();
        for i in 0..5 {
            store.commit(
                pods,
                key("a", &i.to_string()),
                EventType::Added,
                pod("a", "x"),
            );
        }
        assert!(matches!(store.events_since(pods, start), Since::Expired(_)));
        let Since::Events(recent) = store.events_since(pods, store.resource_version() - 2) else {
            panic!("recent versions are retained");
        };
        assert_eq!(recent.len(), 2);
    }
}
