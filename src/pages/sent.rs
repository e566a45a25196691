//! The "Pages sent" section of an incident page: each delivery to a pager, where it stands,
//! how many attempts it took and the last error — an undeliverable page stays visible here.

use jiff::Timestamp;
use serde::Serialize;

use crate::store::PageRecord;

/// One delivery as the incident page shows it.
#[derive(Debug, Clone, Serialize)]
pub struct SentPage {
    /// The pager's name.
    pub pager: String,
    /// `trigger`, `acknowledge` or `resolve`.
    pub event: String,
    /// `pending`, `delivered`, `failed` or `grouped`.
    pub status: &'static str,
    /// HTTP attempts so far.
    pub attempts: i64,
    /// The last attempt's error.
    pub last_error: Option<String>,
    /// The key tying the incident's events together at the pager.
    pub dedup_key: String,
    /// Queued at.
    pub queued_at: Timestamp,
    /// Delivered at.
    pub delivered_at: Option<Timestamp>,
}

/// The view of `pages`.
pub fn view(pages: &[PageRecord]) -> Vec<SentPage> {
    pages
        .iter()
        .map(|p| SentPage {
            pager: p.pager.clone(),
            event: if p.intent.starts_with("group:") {
                format!("{} (grouped page)", p.event)
            } else {
                p.event.clone()
            },
            status: p.status.as_str(),
            attempts: p.attempts,
            last_error: p.last_error.clone(),
            dedup_key: p.dedup_key.clone(),
            queued_at: p.created_at,
            delivered_at: p.delivered_at,
        })
        .collect()
}

/// `html` with the section inserted before `</body>` (appended when there is none).
pub fn into_html(html: String, pages: &[SentPage]) -> String {
    if pages.is_empty() {
        return html;
    }
    let mut section = String::from(
        "<section id=\"pages-sent\"><h2>Pages sent</h2><table><thead><tr><th>pager</th>\
         <th>event</th><th>status</th><th>attempts</th><th>queued</th><th>last error</th>\
         </tr></thead><tbody>",
    );
    for p in pages {
        section.push_str(&format!(
            "<tr class=\"page-{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            p.status,
            escape(&p.pager),
            escape(&p.event),
            p.status,
            p.attempts,
            p.queued_at,
            escape(p.last_error.as_deref().unwrap_or("")),
        ));
    }
    section.push_str("</tbody></table></section>\n");
    match html.rfind("</body>") {
        Some(at) => {
            let mut out = html;
            out.insert_str(at, &section);
            out
        }
        None => html + &section,
    }
}

/// `markdown` with the section appended.
pub fn into_markdown(markdown: String, pages: &[SentPage]) -> String {
    if pages.is_empty() {
        return markdown;
    }
    let mut out = markdown;
    out.push_str("\n## Pages sent\n\n| pager | event | status | attempts | queued | last error |\n|---|---|---|---|---|---|\n");
    for p in pages {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            cell(&p.pager),
            cell(&p.event),
            p.status,
            p.attempts,
            p.queued_at,
            cell(p.last_error.as_deref().unwrap_or("")),
        ));
    }
    out
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::{SentPage, into_html, into_markdown};

    fn failed() -> SentPage {
        SentPage {
            pager: "pd".into(),
            event: "trigger".into(),
            status: "failed",
            attempts: 1,
            last_error: Some("refused with 400: <b>bad</b>".into()),
            dedup_key: "inc-1".into(),
            queued_at: jiff::Timestamp::UNIX_EPOCH,
            delivered_at: None,
        }
    }

    #[test]
    fn a_failed_page_shows_in_html_before_the_end_of_the_body_with_its_error_escaped() {
        let html = into_html("<html><body><h1>x</h1></body></html>".into(), &[failed()]);
        let section = html.find("Pages sent").expect("section");
        assert!(section < html.find("</body>").expect("body"), "{html}");
        assert!(html.contains("&lt;b&gt;bad&lt;/b&gt;"), "{html}");
        assert!(html.contains("<td>failed</td>"), "{html}");
        assert_eq!(into_html("<p>".into(), &[]), "<p>");
    }

    #[test]
    fn a_page_shows_in_markdown_as_a_table_row() {
        let md = into_markdown("# inc-1\n".into(), &[failed()]);
        assert!(md.contains("## Pages sent"), "{md}");
        assert!(md.contains("| pd | trigger | failed | 1 |"), "{md}");
    }
}
