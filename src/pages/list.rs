//! The incident list page: the newest incidents matching a filter, as HTML, JSON or Markdown.
//! Rows link to each incident's page; times read relative with the exact time beside them.

use jiff::Timestamp;
use serde::Serialize;

use super::query::PageFormat;
use crate::report::{self, ReportError, When, when};
use crate::store::{IncidentFilter, ListedIncident};

const HTML: &str = include_str!("templates/list.html");
const MARKDOWN: &str = include_str!("templates/list.md");

/// One row of the list.
#[derive(Debug, Serialize)]
struct Row {
    id: String,
    state: &'static str,
    severity: &'static str,
    rule: String,
    target: String,
    category: Option<String>,
    opened_at: When,
    updated_at: When,
}

/// The list as JSON.
#[derive(Debug, Serialize)]
struct ListJson<'a> {
    filter: FilterView,
    incidents: &'a [ListedIncident],
}

/// The filter as the page echoes it.
#[derive(Debug, Serialize)]
struct FilterView {
    state: Option<&'static str>,
    namespace: Option<String>,
    category: Option<&'static str>,
    since: Option<String>,
}

fn filter_view(filter: &IncidentFilter) -> FilterView {
    FilterView {
        state: filter.state.map(|s| s.as_str()),
        namespace: filter.namespace.clone(),
        category: filter.category.map(|c| c.as_str()),
        since: filter.since.map(|t| t.to_string()),
    }
}

fn row(listed: &ListedIncident, now: Timestamp) -> Row {
    let s = &listed.summary;
    Row {
        id: s.id.clone(),
        state: s.state.as_str(),
        severity: s.severity.as_str(),
        rule: s.rule.clone(),
        target: s.target.to_string(),
        category: listed.category.clone(),
        opened_at: when(s.opened_at, now),
        updated_at: when(s.updated_at, now),
    }
}

/// Renders the list in `format`.
pub fn render(
    listed: &[ListedIncident],
    filter: &IncidentFilter,
    format: PageFormat,
    now: Timestamp,
) -> Result<String, ReportError> {
    let (name, source, label) = match format {
        PageFormat::Json => {
            let json = ListJson {
                filter: filter_view(filter),
                incidents: listed,
            };
            return Ok(serde_json::to_string_pretty(&json)?);
        }
        PageFormat::Html => ("list.html", HTML, "html"),
        PageFormat::Markdown => ("list.md", MARKDOWN, "markdown"),
    };
    let template_error = |source| ReportError::Template {
        format: label,
        source,
    };
    let env = report::environment(name, source).map_err(template_error)?;
    let rows: Vec<Row> = listed.iter().map(|l| row(l, now)).collect();
    let context = minijinja::context! {
        incidents => rows,
        filter => filter_view(filter),
        limit => super::LIST_LIMIT,
    };
    env.get_template(name)
        .and_then(|t| t.render(context))
        .map_err(template_error)
}
