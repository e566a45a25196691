//! Evidence reduction and redaction: logs lose ANSI codes and control characters, secrets are
//! masked, lines are capped, and only the tail within the byte budget is kept. Log text is
//! hostile input; after this it is still only data. Env values, args and probe commands of pod
//! templates go through the same masking ([`redact_env`], [`redact`]).

use std::sync::LazyLock;

use regex::Regex;

use crate::domain::evidence::LogFacts;

/// Longest line kept, in bytes.
pub const MAX_LINE_BYTES: usize = 2000;

static ANSI: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(\x07|\x1b\\)|\x1b[@-Z\\-_]")
        .expect("static regex")
});

static SECRETS: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
    [
        (r#"(?i)\b(password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|client[_-]?secret)(["']?\s*[=:]\s*["']?)[^\s"',;&]+"#, "${1}${2}<redacted>"),
        (r"(?i)\b(authorization:\s*)(bearer|basic)\s+[A-Za-z0-9._~+/=-]+", "${1}${2} <redacted>"),
        (r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]{16,}", "Bearer <redacted>"),
        (r"([a-z][a-z0-9+.-]*://[^/\s:@]+):[^@\s/]+@", "${1}:<redacted>@"),
        (r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}", "<redacted-jwt>"),
        (r"\b(AKIA|ASIA)[0-9A-Z]{16}\b", "<redacted-aws-key>"),
        (r"-----BEGIN [A-Z ]*PRIVATE KEY-----", "<redacted-private-key>"),
    ]
    .into_iter()
    .map(|(pattern, replacement)| (Regex::new(pattern).expect("static regex"), replacement))
    .collect()
});

/// Env var names whose values are credentials whatever they look like.
static SECRET_ENV_NAME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)(pass(word|wd|phrase)?|pwd|secret|token|api_?key|access_?key|private_?key|credential|authorization|auth_?key|cookie|dsn|(^|_)key$)",
    )
    .expect("static regex")
});

/// An env var's literal value as evidence: `<redacted>` when the name says it is a credential,
/// else the value with anything that looks like a credential (URL passwords, bearer tokens,
/// `password=...`) masked.
pub fn redact_env(name: &str, value: &str) -> String {
    if SECRET_ENV_NAME.is_match(name) && !value.is_empty() {
        "<redacted>".to_owned()
    } else {
        redact(value)
    }
}

/// Removes ANSI escapes and control characters (keeps tabs).
pub fn clean_line(line: &str) -> String {
    let stripped = ANSI.replace_all(line, "");
    stripped
        .chars()
        .filter(|c| !c.is_control() || *c == '\t')
        .collect()
}

/// Masks things that look like credentials.
pub fn redact(line: &str) -> String {
    let mut out = line.to_owned();
    for (pattern, replacement) in SECRETS.iter() {
        out = pattern.replace_all(&out, *replacement).into_owned();
    }
    out
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
    let mut kept: Vec<String> = Vec::new();
    let mut bytes = 0usize;
    for raw in all.iter().rev() {
        if kept.len() >= max_lines {
            break;
        }
        let line = cap(redact(&clean_line(raw)));
        if bytes + line.len() > max_bytes && !kept.is_empty() {
            break;
        }
        bytes += line.len() + 1;
        kept.push(line);
    }
    let truncated = kept.len() < all.len();
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
    use super::{clean_line, redact, redact_env, reduce_log};

    #[test]
    fn ansi_colour_codes_and_control_characters_are_stripped() {
        assert_eq!(clean_line("\x1b[31mERROR\x1b[0m boom\x07"), "ERROR boom");
        assert_eq!(clean_line("\x1b]0;title\x07text"), "text");
    }

    #[test]
    fn credentials_in_log_lines_are_redacted() {
        assert_eq!(
            redact("db password=hunter2 host=x"),
            "db password=<redacted> host=x"
        );
        assert_eq!(
            redact("url postgres://app:s3cr3t@db:5432/x"),
            "url postgres://app:<redacted>@db:5432/x"
        );
        assert_eq!(
            redact(r#"{"api_key": "abc123"}"#),
            r#"{"api_key": "<redacted>"}"#
        );
        assert!(redact("Authorization: Bearer abcdefghijklmnopqrstuvwxyz").contains("<redacted>"));
        assert!(!redact("key AKIAABCDEFGHIJKLMNOP").contains("AKIA"));
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

    #[test]
    fn env_values_named_like_credentials_are_redacted_whatever_they_look_like() {
        for name in [
            "DB_PASSWORD",
            "api_key",
            "STRIPE_SECRET",
            "GITHUB_TOKEN",
            "SIGNING_KEY",
        ] {
            assert_eq!(redact_env(name, "plain-value"), "<redacted>", "{name}");
        }
        assert_eq!(
            redact_env("DB_PASSWORD", ""),
            "",
            "an empty value hides nothing"
        );
    }

    #[test]
    fn other_env_values_keep_their_text_but_lose_embedded_credentials() {
        assert_eq!(redact_env("DEPLOY_ENV", "production"), "production");
        assert_eq!(redact_env("LOG_LEVEL", "debug"), "debug");
        assert_eq!(
            redact_env("DATABASE_URL", "postgres://app:s3cr3t@db:5432/pay"),
            "postgres://app:<redacted>@db:5432/pay"
        );
        assert_eq!(
            redact_env("JAVA_OPTS", "-Xmx512m -Dspring.datasource.password=hunter2"),
            "-Xmx512m -Dspring.datasource.password=<redacted>"
        );
    }
}
