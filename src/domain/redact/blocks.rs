//! Secrets that span more than a token: PEM private keys (whole blocks across lines, blocks
//! inside one JSON string, and the pieces a cut log leaves — a body and `END` line without their
//! `BEGIN`, or a `BEGIN` whose end never came), and base64 blobs that decode to a credential or
//! a private key (`tls.key: LS0tLS1CRUdJTi...`, a base64-wrapped `password=...`).

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::{Captures, Regex};

/// What a private key, or any part of one, becomes.
pub const KEY_MASK: &str = "<redacted-private-key>";
/// What a base64 blob hiding a credential becomes.
pub const BASE64_MASK: &str = "<redacted-base64>";

/// The shortest full-width PEM body line (64 in OpenSSL's, 70 in OpenSSH's, 76 in MIME's).
const FULL_LINE: usize = 40;
/// `-----BEGIN` base64-encoded from the start of a blob.
const ENCODED_BEGIN: &str = "LS0tLS1CRUdJTi";
/// The label of a private key armour line: `RSA PRIVATE KEY`, `OPENSSH PRIVATE KEY`,
/// `ENCRYPTED PRIVATE KEY`, `PGP PRIVATE KEY BLOCK`.
const LABEL: &str = r"(?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----";

fn compile(pattern: &str) -> Regex {
    Regex::new(pattern).expect("static redaction pattern")
}

static WHOLE: LazyLock<Regex> =
    LazyLock::new(|| compile(&format!(r"(?s)-----BEGIN {LABEL}.*?-----END {LABEL}")));
static BEGIN: LazyLock<Regex> = LazyLock::new(|| compile(&format!(r"-----BEGIN {LABEL}")));
static END: LazyLock<Regex> = LazyLock::new(|| compile(&format!(r"-----END {LABEL}")));
/// A run of base64 (standard or URL-safe) long enough to hide a credential.
static BLOB: LazyLock<Regex> = LazyLock::new(|| compile(r"[A-Za-z0-9+/_-]{16,}={0,2}"));

/// Whether a line can be part of a PEM body: base64 or an RFC 1421 header.
fn is_body(line: &str) -> bool {
    let line = line.trim();
    ["Proc-Type:", "DEK-Info:", "Comment:"]
        .iter()
        .any(|h| line.starts_with(h))
        || (line.len() >= 4
            && line
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=')))
}

/// Where a base64 blob on this line starts that decodes to a private key's `BEGIN` line.
fn encoded_begin(line: &str) -> Option<usize> {
    line.find(ENCODED_BEGIN)?;
    BLOB.find_iter(line)
        .find(|m| decode(m.as_str()).is_some_and(|d| BEGIN.is_match(&d)))
        .map(|m| m.start())
}

/// Removes private keys: whole blocks first, then the pieces of cut ones, line by line.
pub fn private_keys(text: &str) -> Cow<'_, str> {
    if !text.contains("PRIVATE KEY") && !text.contains(ENCODED_BEGIN) {
        return Cow::Borrowed(text);
    }
    let whole = WHOLE.replace_all(text, KEY_MASK);
    let mut out: Vec<String> = Vec::new();
    let mut in_key = false;
    for line in whole.split('\n') {
        if in_key && is_body(line) {
            continue;
        }
        in_key = false;
        let begin = BEGIN
            .find(line)
            .map(|m| m.start())
            .or_else(|| encoded_begin(line));
        if let Some(start) = begin {
            out.push(format!("{}{KEY_MASK}", &line[..start]));
            in_key = true;
        } else if let Some(end) = END.find(line) {
            // The line before `END` is the body's last, of any length; the lines before it are
            // full-width, which keeps a short word of ordinary log text from being taken.
            if out.last().is_some_and(|l| is_body(l)) {
                out.pop();
            }
            while out
                .last()
                .is_some_and(|l| is_body(l) && l.trim().len() >= FULL_LINE)
            {
                out.pop();
            }
            out.push(format!("{KEY_MASK}{}", &line[end.end()..]));
        } else {
            out.push(line.to_owned());
        }
    }
    Cow::Owned(out.join("\n"))
}

/// Replaces base64 blobs that decode to text `hides` says holds a credential.
pub fn base64_wrapped(text: &str, hides: impl Fn(&str) -> bool) -> Cow<'_, str> {
    BLOB.replace_all(text, |caps: &Captures| {
        let blob = &caps[0];
        match decode(blob) {
            Some(decoded) if hides(&decoded) => BASE64_MASK.to_owned(),
            _ => blob.to_owned(),
        }
    })
}

fn sextet(b: u8) -> Option<u32> {
    let value = match b {
        b'A'..=b'Z' => b - b'A',
        b'a'..=b'z' => b - b'a' + 26,
        b'0'..=b'9' => b - b'0' + 52,
        b'+' | b'-' => 62,
        b'/' | b'_' => 63,
        _ => return None,
    };
    Some(u32::from(value))
}

/// Decodes standard or URL-safe base64 (padding optional, a trailing partial group ignored)
/// into text; `None` unless it is UTF-8 without control characters other than line breaks
/// and tabs — binary is not a credential this can recognise.
pub fn decode(blob: &str) -> Option<String> {
    let digits = blob.trim_end_matches('=').as_bytes();
    let mut bytes = Vec::with_capacity(digits.len() * 3 / 4);
    for group in digits.chunks(4) {
        let values: Option<Vec<u32>> = group.iter().map(|&b| sextet(b)).collect();
        let values = values?;
        let n = values.len();
        if n < 2 {
            break;
        }
        let word = values
            .iter()
            .chain(std::iter::repeat(&0))
            .take(4)
            .fold(0u32, |acc, v| (acc << 6) | v);
        let [_, a, b, c] = word.to_be_bytes();
        bytes.extend_from_slice(&[a, b, c][..n - 1]);
    }
    let text = String::from_utf8(bytes).ok()?;
    let printable = text
        .chars()
        .all(|c| !c.is_control() || matches!(c, '\n' | '\r' | '\t'));
    printable.then_some(text)
}
