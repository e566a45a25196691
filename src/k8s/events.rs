//! Events come in two shapes: legacy `core/v1` (`firstTimestamp`, `lastTimestamp`, `count`,
//! `source`) and `events.k8s.io/v1` (`eventTime`, `series`, `reportingController`), often with
//! fields missing. This folds both into one view.

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Event, EventSeries, EventSource, ObjectReference};
use k8s_openapi::api::events::v1::Event as NewEvent;

use crate::domain::evidence::EventFacts;
use crate::domain::signal::ObjectRef;

/// Converts an `events.k8s.io/v1` Event into the `core/v1` shape.
pub fn from_events_v1(event: NewEvent) -> Event {
    Event {
        metadata: event.metadata,
        involved_object: event.regarding.unwrap_or_default(),
        reason: event.reason,
        message: event.note,
        type_: event.type_,
        event_time: event.event_time,
        series: event.series.map(|s| EventSeries {
            count: Some(s.count),
            last_observed_time: Some(s.last_observed_time),
        }),
        reporting_component: event.reporting_controller.filter(|c| !c.is_empty()),
        reporting_instance: event.reporting_instance.filter(|c| !c.is_empty()),
        action: event.action,
        count: event.deprecated_count,
        first_timestamp: event.deprecated_first_timestamp,
        last_timestamp: event.deprecated_last_timestamp,
        source: event.deprecated_source,
        related: event.related,
    }
}

fn object_ref(reference: &ObjectReference) -> ObjectRef {
    ObjectRef {
        kind: reference.kind.clone().unwrap_or_default(),
        namespace: reference.namespace.clone(),
        name: reference.name.clone().unwrap_or_default(),
    }
}

/// The component that emitted the event, from whichever field carries it.
fn source(event: &Event) -> Option<String> {
    let legacy = event
        .source
        .as_ref()
        .and_then(|EventSource { component, .. }| component.clone());
    legacy
        .or_else(|| event.reporting_component.clone())
        .filter(|c| !c.is_empty())
}

/// When the event was first seen: `firstTimestamp`, else `eventTime`, else creation.
pub fn first_seen(event: &Event) -> Option<Timestamp> {
    event
        .first_timestamp
        .as_ref()
        .map(|t| t.0)
        .or_else(|| event.event_time.as_ref().map(|t| t.0))
        .or_else(|| event.metadata.creation_timestamp.as_ref().map(|t| t.0))
}

/// When the event was last seen: `series.lastObservedTime`, `lastTimestamp`, `eventTime`,
/// then creation.
pub fn last_seen(event: &Event) -> Option<Timestamp> {
    let series = event
        .series
        .as_ref()
        .and_then(|s| s.last_observed_time.as_ref())
        .map(|t| t.0);
    let last = event.last_timestamp.as_ref().map(|t| t.0);
    match (series, last) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b).or_else(|| first_seen(event)),
    }
}

/// How often it happened: `series.count`, else `count`, else 1.
pub fn count(event: &Event) -> u32 {
    let series = event.series.as_ref().and_then(|s| s.count);
    let n = series.or(event.count).unwrap_or(1);
    u32::try_from(n.max(1)).unwrap_or(1)
}

/// The event as facts.
pub fn facts(event: &Event) -> EventFacts {
    EventFacts {
        kind: event.type_.clone().unwrap_or_else(|| "Normal".into()),
        reason: event.reason.clone().unwrap_or_default(),
        message: event.message.clone().unwrap_or_default(),
        object: object_ref(&event.involved_object),
        count: count(event),
        first_seen: first_seen(event),
        last_seen: last_seen(event),
        source: source(event),
    }
}
