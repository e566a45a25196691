//! Incident reports rendered from the store: what an on-call engineer reads after (or during)
//! an incident — state, diagnosis, the evidence it cites, the plan and its approval, what was
//! executed, the verification verdicts and the audited timeline.
//!
//! Rendering is pure: a record in, a string out. Markdown and HTML come from MiniJinja
//! templates over a cleaned view model ([`view`]); HTML auto-escapes everything, because log
//! lines, event messages, alert annotations and LLM summaries are hostile input. Markdown
//! backslash-escapes what could make links, raw HTML, code spans or table cells, and on every
//! line of multi-line text the marker that would start a heading, list item, quote, fence or
//! code block. Credentials never get this far: they are masked where evidence is made
//! ([`crate::domain::redact`]). JSON is the record itself, serialized.

mod ask;
mod evidence;
mod sentences;
mod view;
mod when;

use jiff::Timestamp;
use minijinja::{AutoEscape, Environment};

use crate::store::IncidentRecord;

pub use evidence::{MAX_LINE_CHARS, MAX_LOG_LINES};
/// The view model the report templates render, for other pages that show an incident.
pub(crate) use view::{View, build as build_view};
pub use when::{When, when};

/// A report format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// GitHub-flavoured Markdown, for terminals, tickets and chat.
    Markdown,
    /// A standalone HTML page.
    Html,
    /// The whole [`IncidentRecord`] as pretty-printed JSON.
    Json,
}

impl std::str::FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "markdown" | "md" => Ok(Format::Markdown),
            "html" => Ok(Format::Html),
            "json" => Ok(Format::Json),
            other => Err(format!(
                "unknown report format `{other}`: use markdown, html or json"
            )),
        }
    }
}

/// Rendering failed: a template or serialization bug, never bad input.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A template failed to compile or render.
    #[error("rendering the {format} report failed: {source}")]
    Template {
        /// `markdown` or `html`.
        format: &'static str,
        /// MiniJinja's error.
        #[source]
        source: minijinja::Error,
    },
    /// The record could not be serialized.
    #[error("serializing the report as JSON failed: {0}")]
    Json(#[from] serde_json::Error),
}

const MARKDOWN: &str = include_str!("templates/report.md");
const HTML: &str = include_str!("templates/report.html");

/// Renders the report for one incident as of the clock's now (the `report` command's edge).
pub fn render(record: &IncidentRecord, format: Format) -> Result<String, ReportError> {
    render_at(record, format, Timestamp::now())
}

/// Renders the report for one incident, relative times counted back from `now`.
pub fn render_at(
    record: &IncidentRecord,
    format: Format,
    now: Timestamp,
) -> Result<String, ReportError> {
    let (name, source, label) = match format {
        Format::Json => return Ok(serde_json::to_string_pretty(record)?),
        Format::Markdown => ("report.md", MARKDOWN, "markdown"),
        Format::Html => ("report.html", HTML, "html"),
    };
    let template_error = |source| ReportError::Template {
        format: label,
        source,
    };
    let env = environment(name, source).map_err(template_error)?;
    let template = env.get_template(name).map_err(template_error)?;
    let mut out = template
        .render(view::build(record, now))
        .map_err(template_error)?;
    if !out.ends_with('\n') {
        out.push('\n');
    }
    Ok(out)
}

/// A MiniJinja environment holding one template: HTML auto-escaped for `.html` names, the
/// `md` filter for Markdown, and the shared page parts (`parts.html`: style, times script).
pub(crate) fn environment(
    name: &'static str,
    source: &'static str,
) -> Result<Environment<'static>, minijinja::Error> {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|name| {
        if name.ends_with(".html") {
            AutoEscape::Html
        } else {
            AutoEscape::None
        }
    });
    env.add_filter("md", markdown_escape);
    env.add_template("parts.html", PARTS)?;
    env.add_template(name, source)?;
    Ok(env)
}

const PARTS: &str = include_str!("templates/parts.html");

/// Backslash-escapes the Markdown characters that could turn text into links, raw HTML, code
/// spans or table cells, and on every line the block marker a line could start with (a
/// heading, list item, quote, fence, thematic break or setext underline), with leading
/// whitespace dropped so no line becomes an indented code block: untrusted multi-line text
/// stays one paragraph of text. Emphasis characters inside a line are left alone so
/// identifiers stay readable.
pub(crate) fn markdown_escape(text: String) -> String {
    let lines: Vec<String> = text.split('\n').map(escape_line).collect();
    lines.join("\n")
}

fn escape_line(line: &str) -> String {
    let body = line.trim_start();
    let mut out = String::with_capacity(body.len() + 8);
    let digits = body.bytes().take_while(u8::is_ascii_digit).count();
    let marker = if matches!(
        body.as_bytes().first(),
        Some(b'#' | b'-' | b'+' | b'*' | b'=' | b'_' | b'~')
    ) {
        Some(0)
    } else if digits > 0 && matches!(body.as_bytes().get(digits), Some(b'.' | b')')) {
        // `1.` and `1)` start ordered list items.
        Some(digits)
    } else {
        None
    };
    for (i, c) in body.char_indices() {
        if Some(i) == marker || matches!(c, '\\' | '<' | '>' | '[' | ']' | '`' | '|' | '!') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{Format, markdown_escape};

    #[test]
    fn markdown_escaping_defuses_links_html_and_table_pipes() {
        assert_eq!(
            markdown_escape("<img src=x> [a](b) | `c`".into()),
            "\\<img src=x\\> \\[a\\](b) \\| \\`c\\`"
        );
        assert_eq!(markdown_escape("DEPLOY_ENV".into()), "DEPLOY_ENV");
    }

    #[test]
    fn untrusted_lines_cannot_start_headings_lists_quotes_or_code_blocks() {
        let hostile = "ok\n# Approved\n- [x] done\n  * item\n12. step\n3) step\n---\n===\n~~~\n    code\n> quote";
        assert_eq!(
            markdown_escape(hostile.into()),
            "ok\n\\# Approved\n\\- \\[x\\] done\n\\* item\n12\\. step\n3\\) step\n\\---\n\\===\n\\~~~\ncode\n\\> quote"
        );
        assert_eq!(
            markdown_escape("exit 1. Retrying".into()),
            "exit 1. Retrying"
        );
    }

    #[test]
    fn formats_parse_from_their_names() {
        assert_eq!("md".parse::<Format>(), Ok(Format::Markdown));
        assert_eq!("HTML".parse::<Format>(), Ok(Format::Html));
        assert!("pdf".parse::<Format>().is_err());
    }
}
