//! Evidence reduction: logs lose ANSI codes and control characters, secrets are masked
//! ([`crate::domain::redact`]) over the kept tail as one block — so a private key spread over
//! lines goes whole, and what a cut left of one goes too — then lines are capped and only the
//! tail within the byte budget is kept. Log text is hostile input; after this it is only data.

use std::sync::LazyLock;

use regex::Regex;

use crate::domain::evidence::LogFacts;
use crate::domain::redact;

/// Longest line kept, in bytes.
pub const MAX_LINE_BYTES: usize = 2000;

static ANSI: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(\x07|\x1b\\)|\x1b[@-Z\\-_]")
        .expect("static regex")
});

/// Removes ANSI escapes and control characters (keeps tabs).
pub fn clean_line(line: &str) -> String {
    let stripped = ANSI.replace_all(line, "");
    stripped
        .chars()
        .filter(|c| !c.is_control() || *c == '\t')
        .collect()
}

fn cap(line: String) -> String {
    if line.len() <= MAX_LINE_BYTES {
        return line;
    }
    let mut end = MAX_LINE_BYTES;
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…[{} bytes cut]", &line[..end], line.len() - end)
}

/// Reduces a raw container log to its cleaned, redacted tail: at most `max_lines` lines and
/// `max_bytes` bytes.
pub fn reduce_log(
    namespace: &str,
    pod: &str,
    container: &str,
    previous: bool,
    text: &str,
    max_lines: usize,
    max_bytes: usize,
) -> LogFacts {
    let all: Vec<&str> = text.lines().collect();
    let first = all.len().saturating_sub(max_lines);
    let cleaned: Vec<String> = all[first..].iter().map(|raw| clean_line(raw)).collect();
    let masked = redact::text(&cleaned.join("\n"));
    let lines: Vec<&str> = if masked.is_empty() {
        Vec::new()
    } else {
        masked.split('\n').collect()
    };
    let mut kept: Vec<String> = Vec::new();
    let mut bytes = 0usize;
    for line in lines.iter().rev() {
        let line = cap((*line).to_owned());
        if bytes + line.len() > max_bytes && !kept.is_empty() {
            break;
        }
        bytes += line.len() + 1;
        kept.push(line);
    }
    let truncated = first > 0 || kept.len() < lines.len();
    kept.reverse();
    LogFacts {
        namespace: namespace.to_owned(),
        pod: pod.to_owned(),
        container: container.to_owned(),
        previous,
        lines: kept,
        truncated,
    }
}

#[cfg(test)]
mod tests {
    use super::{clean_line, reduce_log};

    #[test]
    fn ansi_colour_codes_and_control_characters_are_stripped() {
        assert_eq!(clean_line("\x1b[31mERROR\x1b[0m boom\x07"), "ERROR boom");
        assert_eq!(clean_line("\x1b]0;title\x07text"), "text");
    }

    #[test]
    fn credentials_in_log_lines_are_redacted() {
        let text = "db password=hunter2 host=x\nurl postgres://app:s3cr3t@db:5432/x\n";
        let log = reduce_log("ns", "p", "c", false, text, 10, 1 << 20);
        assert_eq!(
            log.lines,
            vec![
                "db password=<redacted> host=x",
                "url postgres://app:<redacted>@db:5432/x"
            ]
        );
    }

    #[test]
    fn a_private_key_in_a_log_goes_whole_and_is_not_counted_as_a_cut() {
        let text = "starting\n-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAzq9\nQm9keUJvZHlCb2R5\n-----END RSA PRIVATE KEY-----\nexit 1\n";
        let log = reduce_log("ns", "p", "c", false, text, 10, 1 << 20);
        assert_eq!(
            log.lines,
            vec!["starting", "<redacted-private-key>", "exit 1"]
        );
        assert!(!log.truncated);
    }

    #[test]
    fn a_key_cut_by_the_tail_leaves_no_body_behind() {
        let text = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nQm9keUJvZHlCb2R5Qm9keUJvZHk=\n-----END PRIVATE KEY-----\npanic: bad key\n";
        let log = reduce_log("ns", "p", "c", false, text, 3, 1 << 20);
        assert_eq!(log.lines, vec!["<redacted-private-key>", "panic: bad key"]);
        assert!(log.truncated);
    }

    #[test]
    fn only_the_tail_within_line_and_byte_budgets_is_kept() {
        let text: String = (0..100).map(|i| format!("line {i}\n")).collect();
        let log = reduce_log("ns", "p", "c", false, &text, 10, 1 << 20);
        assert_eq!(log.lines.len(), 10);
        assert_eq!(log.lines[9], "line 99");
        assert!(log.truncated);
        let log = reduce_log("ns", "p", "c", false, &text, 1000, 40);
        assert!(log.lines.iter().map(|l| l.len() + 1).sum::<usize>() <= 40);
        assert_eq!(log.lines.last().map(String::as_str), Some("line 99"));
    }

    #[test]
    fn a_huge_line_is_capped_not_dropped() {
        let text = "x".repeat(10_000);
        let log = reduce_log("ns", "p", "c", true, &text, 10, 1 << 20);
        assert!(log.lines[0].len() < 2100);
        assert!(log.lines[0].ends_with("bytes cut]"));
    }
}
