//! Incident search for the incident pages: the newest incidents matching a filter on state,
//! namespace, the newest diagnosis's category and opening time, each with that category.
//! Filter values are always bound as parameters, never spliced into the SQL.

use jiff::Timestamp;
use serde::Serialize;
use sqlx::Row;

use super::error::{Context, Result};
use super::incidents::{IncidentSummary, SUMMARY_COLUMNS, decode_summary};
use super::{Store, millis};
use crate::domain::incident::IncidentState;
use crate::domain::taxonomy::Category;

/// Which incidents to list; `None` fields do not filter.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IncidentFilter {
    /// Only incidents in this state.
    pub state: Option<IncidentState>,
    /// Only incidents whose target lives in this namespace.
    pub namespace: Option<String>,
    /// Only incidents whose newest diagnosis has this category.
    pub category: Option<Category>,
    /// Only incidents opened at or after this instant.
    pub since: Option<Timestamp>,
}

/// One incident of a search, with the category of its newest diagnosis.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ListedIncident {
    /// The incident's list line.
    #[serde(flatten)]
    pub summary: IncidentSummary,
    /// The newest diagnosis's category, once diagnosed.
    pub category: Option<String>,
}

enum Bound {
    Text(String),
    Int(i64),
}

const CATEGORY: &str = "(SELECT d.category FROM diagnoses d WHERE d.incident_id = incidents.id \
     ORDER BY d.id DESC LIMIT 1)";

/// The WHERE clause and its parameters, numbered from `$1`.
fn conditions(filter: &IncidentFilter) -> (String, Vec<Bound>) {
    let mut clauses = Vec::new();
    let mut bound = Vec::new();
    let mut add = |clause: &str, value: Bound| {
        bound.push(value);
        clauses.push(format!("{clause} ${}", bound.len()));
    };
    if let Some(state) = filter.state {
        add("state =", Bound::Text(state.as_str().to_owned()));
    }
    if let Some(namespace) = &filter.namespace {
        add("target_namespace =", Bound::Text(namespace.clone()));
    }
    if let Some(category) = filter.category {
        add(
            &format!("{CATEGORY} ="),
            Bound::Text(category.as_str().to_owned()),
        );
    }
    if let Some(since) = filter.since {
        add("opened_at >=", Bound::Int(millis(since)));
    }
    let sql = if clauses.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", clauses.join(" AND "))
    };
    (sql, bound)
}

impl Store {
    /// The newest `limit` incidents matching `filter`, newest first.
    pub async fn search_incidents(
        &self,
        filter: &IncidentFilter,
        limit: u32,
    ) -> Result<Vec<ListedIncident>> {
        let (clause, bound) = conditions(filter);
        let sql = format!(
            "SELECT {SUMMARY_COLUMNS}, {CATEGORY} AS category FROM incidents {clause} \
             ORDER BY opened_at DESC, id DESC LIMIT ${}",
            bound.len() + 1
        );
        let mut query = sqlx::query(&sql);
        for value in bound {
            query = match value {
                Bound::Text(text) => query.bind(text),
                Bound::Int(n) => query.bind(n),
            };
        }
        let rows = query
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .context("searching incidents")?;
        rows.iter()
            .map(|row| {
                Ok(ListedIncident {
                    summary: decode_summary(row)?,
                    category: row.try_get("category").context("reading a category")?,
                })
            })
            .collect()
    }
}
