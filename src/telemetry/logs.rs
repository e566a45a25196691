//! Log setup: `NIGHTSHIFT_LOG` is an `EnvFilter` directive (default: nightshift's own info lines
//! — incidents opening, pages, actions — and everyone's warnings); `NIGHTSHIFT_LOG_FORMAT` is
//! `text` (default) or `json` (one JSON object a line, as log shippers expect). Logs go to
//! stderr; stdout is the commands' output.

use std::io::IsTerminal;

use thiserror::Error;
use tracing_subscriber::EnvFilter;

/// The filter when `NIGHTSHIFT_LOG` is not set.
pub const DEFAULT_FILTER: &str = "warn,nightshift=info";

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object a line.
    Json,
}

/// A logging setting nightshift cannot use.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum LogError {
    /// `NIGHTSHIFT_LOG_FORMAT` names no format.
    #[error("NIGHTSHIFT_LOG_FORMAT={0:?} is not a log format: use `text` or `json`")]
    Format(String),
    /// `NIGHTSHIFT_LOG` is not a filter directive.
    #[error(
        "NIGHTSHIFT_LOG={value:?} is not a log filter ({reason}); e.g. `info` or `nightshift=debug,warn`"
    )]
    Filter {
        /// The value.
        value: String,
        /// What the parser said.
        reason: String,
    },
}

impl LogFormat {
    /// The format `NIGHTSHIFT_LOG_FORMAT` names (unset or empty: text).
    pub fn parse(value: Option<&str>) -> Result<LogFormat, LogError> {
        match value.map(str::trim) {
            None | Some("") => Ok(LogFormat::Text),
            Some(v) if v.eq_ignore_ascii_case("text") => Ok(LogFormat::Text),
            Some(v) if v.eq_ignore_ascii_case("json") => Ok(LogFormat::Json),
            Some(v) => Err(LogError::Format(v.to_owned())),
        }
    }
}

/// The filter `NIGHTSHIFT_LOG` names (unset or empty: [`DEFAULT_FILTER`]).
pub fn filter(value: Option<&str>) -> Result<EnvFilter, LogError> {
    let directive = match value.map(str::trim) {
        None | Some("") => DEFAULT_FILTER,
        Some(v) => v,
    };
    EnvFilter::try_new(directive).map_err(|err| LogError::Filter {
        value: directive.to_owned(),
        reason: err.to_string(),
    })
}

/// Installs the global subscriber from `NIGHTSHIFT_LOG` and `NIGHTSHIFT_LOG_FORMAT`.
pub fn init() -> Result<(), LogError> {
    let level = std::env::var("NIGHTSHIFT_LOG").ok();
    let format = std::env::var("NIGHTSHIFT_LOG_FORMAT").ok();
    let filter = filter(level.as_deref())?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match LogFormat::parse(format.as_deref())? {
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .init(),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{LogError, LogFormat, filter};

    #[test]
    fn the_log_format_is_text_unless_json_is_asked_for() {
        assert_eq!(LogFormat::parse(None), Ok(LogFormat::Text));
        assert_eq!(LogFormat::parse(Some("")), Ok(LogFormat::Text));
        assert_eq!(LogFormat::parse(Some("JSON")), Ok(LogFormat::Json));
        assert_eq!(
            LogFormat::parse(Some("yaml")),
            Err(LogError::Format("yaml".into()))
        );
    }

    #[test]
    fn the_default_filter_shows_nightshift_info_lines_and_others_warnings() {
        let shown = filter(None).expect("default filter").to_string();
        assert_eq!(shown, "nightshift=info,warn");
    }

    #[test]
    fn a_bad_filter_is_an_error_naming_the_variable() {
        let err = filter(Some("nightshift=loud")).expect_err("not a level");
        assert!(
            err.to_string()
                .starts_with("NIGHTSHIFT_LOG=\"nightshift=loud\""),
            "{err}"
        );
    }
}
