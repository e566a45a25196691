//! Routing: which pagers an incident's pages go to, decided from the incident's severity,
//! namespace and signal labels. Routes are tried in order; the first that matches decides.
//! Without routes every pager receives `warning` and `critical` incidents.

use crate::domain::incident::{Incident, Severity};

use super::settings::Route;

/// The pager names `incident` is paged to, out of `pagers` (all configured names).
pub fn pagers_for(incident: &Incident, routes: &[Route], pagers: &[String]) -> Vec<String> {
    if routes.is_empty() {
        if incident.severity == Severity::Info {
            return Vec::new();
        }
        return pagers.to_vec();
    }
    routes
        .iter()
        .find(|r| matches(incident, r))
        .map(|r| r.pagers.clone())
        .unwrap_or_default()
}

fn matches(incident: &Incident, route: &Route) -> bool {
    let severity = route.severity.is_empty() || route.severity.contains(&incident.severity);
    let namespace = route.namespaces.is_empty()
        || incident
            .target
            .namespace
            .as_ref()
            .is_some_and(|ns| route.namespaces.contains(ns));
    let labels = route
        .labels
        .iter()
        .all(|(k, v)| incident.signal.labels.get(k) == Some(v));
    severity && namespace && labels
}
