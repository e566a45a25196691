//! The pages' request parameters, parsed purely: the list filter (`state`, `namespace`,
//! `category`, `since`) and the format a reader asked for (`?format=` first, then `Accept`).
//! Every bad value is an error that names the parameter and what it accepts.

use jiff::{Span, Timestamp};

use crate::domain::incident::IncidentState;
use crate::domain::taxonomy::Category;
use crate::store::IncidentFilter;

/// The most characters of a namespace filter (a Kubernetes namespace has at most 63).
const MAX_NAMESPACE_CHARS: usize = 63;

/// What a page is rendered as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageFormat {
    /// Server-rendered HTML, the default.
    Html,
    /// JSON, for `Accept: application/json` or `?format=json`.
    Json,
    /// Markdown, for `?format=md`.
    Markdown,
}

/// A parameter the reader got wrong: answered with 400 and this text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("query parameter `{param}`: {reason}")]
pub struct BadParam {
    /// The parameter's name.
    pub param: &'static str,
    /// What was wrong and what it accepts.
    pub reason: String,
}

fn bad(param: &'static str, reason: String) -> BadParam {
    BadParam { param, reason }
}

/// The format: `?format=` (html, json, md or markdown) wins over `Accept`, where
/// `application/json` or `text/markdown` ahead of `text/html` choose those formats.
pub fn format(param: Option<&str>, accept: Option<&str>) -> Result<PageFormat, BadParam> {
    if let Some(value) = param {
        return match value.to_ascii_lowercase().as_str() {
            "html" => Ok(PageFormat::Html),
            "json" => Ok(PageFormat::Json),
            "md" | "markdown" => Ok(PageFormat::Markdown),
            _ => Err(bad(
                "format",
                format!("unknown format `{}`: use html, json or md", clip(value)),
            )),
        };
    }
    let Some(accept) = accept else {
        return Ok(PageFormat::Html);
    };
    for range in accept.split(',') {
        let media = range.split(';').next().unwrap_or("").trim();
        match media.to_ascii_lowercase().as_str() {
            "text/html" | "application/xhtml+xml" | "*/*" | "text/*" => {
                return Ok(PageFormat::Html);
            }
            "application/json" => return Ok(PageFormat::Json),
            "text/markdown" => return Ok(PageFormat::Markdown),
            _ => {}
        }
    }
    Ok(PageFormat::Html)
}

/// The list filter from the raw query values; `now` anchors a relative `since`.
pub fn filter(
    state: Option<&str>,
    namespace: Option<&str>,
    category: Option<&str>,
    since: Option<&str>,
    now: Timestamp,
) -> Result<IncidentFilter, BadParam> {
    let state = present(state)
        .map(|s| {
            IncidentState::parse(s).ok_or_else(|| {
                let names: Vec<&str> = IncidentState::ALL.iter().map(|s| s.as_str()).collect();
                bad(
                    "state",
                    format!(
                        "unknown state `{}`: use one of {}",
                        clip(s),
                        names.join(", ")
                    ),
                )
            })
        })
        .transpose()?;
    let namespace = present(namespace).map(parse_namespace).transpose()?;
    let category = present(category).map(parse_category).transpose()?;
    let since = present(since).map(|s| parse_since(s, now)).transpose()?;
    Ok(IncidentFilter {
        state,
        namespace,
        category,
        since,
    })
}

fn parse_namespace(value: &str) -> Result<String, BadParam> {
    let valid = value.len() <= MAX_NAMESPACE_CHARS
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if valid {
        Ok(value.to_owned())
    } else {
        Err(bad(
            "namespace",
            format!(
                "`{}` is not a Kubernetes namespace (lowercase letters, digits and `-`, at most {MAX_NAMESPACE_CHARS})",
                clip(value)
            ),
        ))
    }
}

fn parse_category(value: &str) -> Result<Category, BadParam> {
    Category::ALL
        .into_iter()
        .find(|c| c.as_str() == value)
        .ok_or_else(|| {
            let names: Vec<&str> = Category::ALL.iter().map(|c| c.as_str()).collect();
            bad(
                "category",
                format!(
                    "unknown category `{}`: use one of {}",
                    clip(value),
                    names.join(", ")
                ),
            )
        })
}

/// An RFC 3339 instant (`2026-11-20T02:00:00Z`) or an age: a number and `m`, `h` or `d`.
fn parse_since(value: &str, now: Timestamp) -> Result<Timestamp, BadParam> {
    if let Ok(at) = value.parse::<Timestamp>() {
        return Ok(at);
    }
    let wrong = || {
        bad(
            "since",
            format!(
                "`{}` is neither an RFC 3339 time (2026-11-20T02:00:00Z) nor an age like 30m, 6h or 7d",
                clip(value)
            ),
        )
    };
    let (digits, unit) = value.split_at(value.len().saturating_sub(1));
    let n: i64 = digits.parse().map_err(|_| wrong())?;
    let span = match unit {
        "m" => Span::new().try_minutes(n),
        "h" => Span::new().try_hours(n),
        "d" => Span::new().try_hours(n.saturating_mul(24)),
        _ => return Err(wrong()),
    }
    .map_err(|_| wrong())?;
    now.checked_sub(span).map_err(|_| wrong())
}

/// A value that is there and not blank.
fn present(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}

/// A hostile value quoted back, bounded.
fn clip(value: &str) -> String {
    value.chars().take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::{PageFormat, filter, format};
    use crate::domain::incident::IncidentState;
    use crate::domain::taxonomy::Category;

    fn now() -> jiff::Timestamp {
        "2026-11-20T12:00:00Z".parse().expect("now")
    }

    #[test]
    fn the_format_parameter_wins_over_the_accept_header() {
        assert_eq!(
            format(Some("md"), Some("application/json")),
            Ok(PageFormat::Markdown)
        );
        assert_eq!(format(None, Some("application/json")), Ok(PageFormat::Json));
        assert_eq!(
            format(None, Some("text/html,application/json")),
            Ok(PageFormat::Html)
        );
        assert_eq!(format(None, None), Ok(PageFormat::Html));
        let err = format(Some("pdf"), None).expect_err("pdf");
        assert_eq!(err.param, "format");
    }

    #[test]
    fn filters_parse_states_categories_namespaces_and_ages() {
        let f = filter(
            Some("awaiting-approval"),
            Some("shop"),
            Some(Category::ALL[0].as_str()),
            Some("2h"),
            now(),
        )
        .expect("filter");
        assert_eq!(f.state, Some(IncidentState::AwaitingApproval));
        assert_eq!(f.namespace.as_deref(), Some("shop"));
        assert_eq!(f.category, Some(Category::ALL[0]));
        assert_eq!(f.since, Some("2026-11-20T10:00:00Z".parse().expect("t")));
        let f = filter(None, Some(""), None, Some("2026-11-19T00:00:00Z"), now()).expect("f");
        assert_eq!(f.namespace, None);
        assert_eq!(f.since, Some("2026-11-19T00:00:00Z".parse().expect("t")));
    }

    #[test]
    fn a_bad_filter_value_names_the_parameter_and_what_it_accepts() {
        let cases = [
            (
                filter(Some("sleeping"), None, None, None, now()),
                "state",
                "awaiting-approval",
            ),
            (
                filter(None, Some("Shop;drop"), None, None, now()),
                "namespace",
                "lowercase",
            ),
            (
                filter(None, None, Some("gremlins"), None, now()),
                "category",
                "use one of",
            ),
            (
                filter(None, None, None, Some("yesterday"), now()),
                "since",
                "30m",
            ),
            (
                filter(None, None, None, Some("99999999999999d"), now()),
                "since",
                "7d",
            ),
        ];
        for (result, param, hint) in cases {
            let err = result.expect_err(param);
            assert_eq!(err.param, param);
            assert!(err.to_string().contains(hint), "{err}");
        }
    }
}
