//! Events as the real components record them. The kubelet and the controllers use the
//! legacy `core/v1` shape (`source`, `count`, `firstTimestamp`, `lastTimestamp`); the
//! scheduler the `events.k8s.io` one (`eventTime`, `series`, `reportingController`). A
//! repeat of the same event (same object, reason, message and source) updates the existing
//! object's count instead of creating a new one, as client-go's correlator does.

use std::collections::HashMap;

use jiff::Timestamp;
use serde_json::{Value, json};

use super::api;
use crate::sim::writes::UpdateMode;
use crate::sim::{SimCluster, meta};

/// Who records an event.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Source {
    /// A legacy recorder: `source.component` (and `source.host` for the kubelet).
    Legacy {
        /// `kubelet`, `deployment-controller`, `replicaset-controller`, `node-controller`.
        component: &'static str,
        /// The node, for the kubelet.
        host: Option<String>,
    },
    /// An `events.k8s.io` recorder (the scheduler) with its action.
    Reporting {
        /// `default-scheduler`.
        controller: &'static str,
        /// `Scheduling`, `Binding`.
        action: &'static str,
    },
}

impl Source {
    /// The kubelet of a node.
    pub fn kubelet(node: &str) -> Self {
        Source::Legacy {
            component: "kubelet",
            host: Some(node.to_string()),
        }
    }

    /// A controller of kube-controller-manager.
    pub fn controller(component: &'static str) -> Self {
        Source::Legacy {
            component,
            host: None,
        }
    }
}

/// `Normal` or `Warning`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Routine.
    Normal,
    /// Something went wrong.
    Warning,
}

/// One event to record about `object` (optionally one of its containers).
pub struct Event<'a> {
    /// The object the event is about.
    pub object: &'a Value,
    /// `spec.containers{name}` for container events.
    pub field_path: Option<String>,
    /// Normal or Warning.
    pub kind: Kind,
    /// The machine-readable reason (`BackOff`).
    pub reason: &'static str,
    /// The human-readable message.
    pub message: String,
}

type Key = (Source, String, Option<String>, Kind, &'static str, String);

/// Records events, aggregating repeats.
#[derive(Debug, Default)]
pub struct Recorder {
    seen: HashMap<Key, (String, String)>,
    sequence: u64,
}

fn micro_time(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%S.%6fZ").to_string()
}

impl Recorder {
    /// Records `event` from `source` at `now`.
    pub fn emit(&mut self, cluster: &SimCluster, now: Timestamp, source: &Source, event: Event) {
        let uid = api::uid(event.object).to_string();
        let key: Key = (
            source.clone(),
            uid,
            event.field_path.clone(),
            event.kind,
            event.reason,
            event.message.clone(),
        );
        if let Some((namespace, name)) = self.seen.get(&key)
            && self.bump(cluster, now, source, namespace, name)
        {
            return;
        }
        let object = self.new_event(now, source, &event);
        let namespace = meta::namespace(&object).to_string();
        if let Some(created) = api::create(cluster, "events", object, manager(source)) {
            self.seen
                .insert(key, (namespace, meta::name(&created).to_string()));
        }
    }

    fn bump(
        &self,
        cluster: &SimCluster,
        now: Timestamp,
        source: &Source,
        namespace: &str,
        name: &str,
    ) -> bool {
        let target = ("events", namespace, name);
        let changed = api::modify(
            cluster,
            target,
            None,
            UpdateMode::Main,
            manager(source),
            |e| {
                match source {
                    Source::Legacy { .. } => {
                        e["count"] = json!(api::int(e, &["count"]).max(1) + 1);
                        e["lastTimestamp"] = json!(meta::format_time(now));
                    }
                    Source::Reporting { .. } => {
                        let count = api::int(e, &["series", "count"]).max(1) + 1;
                        e["series"] = json!({"count": count, "lastObservedTime": micro_time(now)});
                    }
                }
                true
            },
        );
        changed.is_some()
    }

    fn new_event(&mut self, now: Timestamp, source: &Source, event: &Event) -> Value {
        self.sequence += 1;
        let o = event.object;
        let involved_name = meta::name(o);
        let stamp = now.as_nanosecond() as u64 + self.sequence;
        let namespace = match meta::namespace(o) {
            "" => "default",
            ns => ns,
        };
        let mut involved = json!({
            "apiVersion": o["apiVersion"], "kind": o["kind"], "name": involved_name,
            "uid": api::uid(o),
            "resourceVersion": meta::str_at(o, &["metadata", "resourceVersion"]).unwrap_or(""),
        });
        if !meta::namespace(o).is_empty() {
            involved["namespace"] = json!(namespace);
        }
        if let Some(path) = &event.field_path {
            involved["fieldPath"] = json!(path);
        }
        let kind = match event.kind {
            Kind::Normal => "Normal",
            Kind::Warning => "Warning",
        };
        let mut e = json!({
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": format!("{involved_name}.{stamp:x}"), "namespace": namespace},
            "involvedObject": involved, "reason": event.reason, "message": event.message,
            "type": kind,
        });
        let time = meta::format_time(now);
        match source {
            Source::Legacy { component, host } => {
                let mut src = json!({"component": component});
                if let Some(host) = host {
                    src["host"] = json!(host);
                }
                e["source"] = src;
                e["count"] = json!(1);
                e["firstTimestamp"] = json!(time);
                e["lastTimestamp"] = json!(time);
                e["eventTime"] = Value::Null;
                e["reportingComponent"] = json!(component);
                e["reportingInstance"] = json!(host.as_deref().unwrap_or(""));
            }
            Source::Reporting { controller, action } => {
                e["source"] = json!({});
                e["eventTime"] = json!(micro_time(now));
                e["firstTimestamp"] = Value::Null;
                e["lastTimestamp"] = Value::Null;
                e["action"] = json!(action);
                e["reportingComponent"] = json!(controller);
                e["reportingInstance"] = json!(format!("{controller}-sim-control-plane"));
            }
        }
        e
    }

    /// Forgets aggregation state of objects that no longer exist (keeps memory bounded).
    pub fn forget(&mut self, live_uids: &std::collections::HashSet<String>) {
        self.seen.retain(|key, _| live_uids.contains(&key.1));
    }
}

fn manager(source: &Source) -> &'static str {
    match source {
        Source::Legacy {
            component: "kubelet",
            ..
        } => "kubelet",
        Source::Legacy { .. } => "kube-controller-manager",
        Source::Reporting { .. } => "kube-scheduler",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster() -> SimCluster {
        let cluster = SimCluster::new();
        let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}});
        cluster.apply(ns).expect("namespace");
        cluster
    }

    fn pod() -> Value {
        json!({"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": "api-1", "namespace": "shop", "uid": "u-1"}})
    }

    fn back_off(object: &Value) -> Event<'_> {
        Event {
            object,
            field_path: Some("spec.containers{api}".into()),
            kind: Kind::Warning,
            reason: "BackOff",
            message: "Back-off restarting failed container api".into(),
        }
    }

    #[test]
    fn a_repeated_event_increments_its_count_instead_of_piling_up() {
        let cluster = cluster();
        let mut recorder = Recorder::default();
        let (t0, t1): (Timestamp, Timestamp) = (
            "2026-11-20T02:13:00Z".parse().expect("t0"),
            "2026-11-20T02:14:00Z".parse().expect("t1"),
        );
        let pod = pod();
        let source = Source::kubelet("worker-1");
        recorder.emit(&cluster, t0, &source, back_off(&pod));
        recorder.emit(&cluster, t1, &source, back_off(&pod));
        let events = cluster.list("events", Some("shop"));
        assert_eq!(events.len(), 1);
        let e = &events[0];
        assert_eq!(e["count"], 2);
        assert_eq!(e["firstTimestamp"], "2026-11-20T02:13:00Z");
        assert_eq!(e["lastTimestamp"], "2026-11-20T02:14:00Z");
        assert_eq!(
            e["source"],
            json!({"component": "kubelet", "host": "worker-1"})
        );
        assert_eq!(e["involvedObject"]["fieldPath"], "spec.containers{api}");
    }

    #[test]
    fn scheduler_events_use_the_new_shape_with_a_series() {
        let cluster = cluster();
        let mut recorder = Recorder::default();
        let now = Timestamp::now();
        let source = Source::Reporting {
            controller: "default-scheduler",
            action: "Scheduling",
        };
        let pod = pod();
        for _ in 0..3 {
            recorder.emit(&cluster, now, &source, back_off(&pod));
        }
        let events = cluster.list("events", Some("shop"));
        assert_eq!(events.len(), 1);
        assert_eq!(events[0]["series"]["count"], 3);
        assert_eq!(events[0]["reportingComponent"], "default-scheduler");
        assert!(events[0]["eventTime"].is_string());
    }
}
