//! The shapes a credential takes inside one line of free text: authorization and cookie
//! headers, passwords in URLs, well-known token formats, `key=value` / `"key": "value"` pairs
//! and `--flag value` pairs whose name says the value is a secret. Each pattern is compiled once
//! and keeps what a diagnosis needs: the key or flag name, the URL's scheme, user and host.

use std::sync::LazyLock;

use regex::{Captures, Regex};

use super::MASK;

/// Components of a key, flag or variable name that make its value a credential. They match
/// inside `_`-, `-`- and `.`-joined names too (`PGPASSWORD`, `DB_PASSWORD`,
/// `aws_secret_access_key`, `spring.datasource.password`, `X-Api-Key`).
const KEYWORDS: &str = r"passw(?:or)?d|passphrase|pwd|secret|token|credentials?|api[_.-]?key|access[_.-]?key|private[_.-]?key|account[_.-]?key|signing[_.-]?key|encryption[_.-]?key|master[_.-]?key|auth[_.-]?key|session[_.-]?(?:id|key)";

/// Name characters around a keyword: `DB_` in `DB_PASSWORD`, `-db-` in `--db-password`.
const NAME: &str = r"[A-Za-z0-9_.-]*";

/// A quoted (JSON, JSON escaped once or more inside JSON, shell) or bare value.
const VALUE: &str = r#"\\+"(?:[^"\\]|\\[^"])*?\\+"|"(?:[^"\\]|\\.)*"|'[^']*'|[^\s"'&]+"#;

fn compile(pattern: &str) -> Regex {
    Regex::new(pattern).expect("static redaction pattern")
}

/// Headers whose whole value is a credential, scheme word kept.
static AUTHORIZATION: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r#"(?i)\b((?:proxy-)?authorization\\*["']?[ \t]*[:=][ \t]*\\*["']?)(?:(bearer|basic|token|digest|negotiate|aws4-hmac-sha256)[ \t]+)?[^\s"'\\,]+"#,
    )
});

static COOKIE: LazyLock<Regex> =
    LazyLock::new(|| compile(r"(?i)\b((?:set-)?cookie[ \t]*:[ \t]*)[^\r\n]+"));

/// `scheme://user:password@host`: the user may be empty (`redis://:pw@host`) and the password
/// may hold `@` and `/` (the last `@` before a space, `?` or `#` ends it; a URL with a port
/// and an `@` in its path loses its path too, which is safer than the other way round).
static URL_PASSWORD: LazyLock<Regex> =
    LazyLock::new(|| compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^\s:/@?#]*):[^\s?#]*@([^\s@/?#:]+)"));

/// Token formats recognisable by their shape alone, with what replaces them.
static TOKENS: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
    [
        (
            r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,})",
            "<redacted-token>",
        ),
        (r"\bglpat-[A-Za-z0-9_-]{20,}", "<redacted-token>"),
        (
            r"\bxox[abposre]-[A-Za-z0-9-]{10,}|\bxapp-[A-Za-z0-9-]{10,}",
            "<redacted-token>",
        ),
        (
            r"(?i)(hooks\.slack\.com/services/)[A-Za-z0-9/_-]+",
            "${1}<redacted>",
        ),
        (
            r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA|ABIA|ACCA)[0-9A-Z]{16}\b",
            "<redacted-aws-key>",
        ),
        (r"\bAIza[0-9A-Za-z_-]{35}", "<redacted-token>"),
        (
            r"\b(?:sk|rk)_(?:live|test)_[0-9A-Za-z]{16,}",
            "<redacted-token>",
        ),
        (
            r"\bsk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,}",
            "<redacted-token>",
        ),
        (r"\bnpm_[A-Za-z0-9]{36}\b", "<redacted-token>"),
        (
            r"\bSG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}",
            "<redacted-token>",
        ),
        (
            r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}",
            "<redacted-jwt>",
        ),
        (
            r"(?i)\b(bearer)[ \t]+[A-Za-z0-9._~+/=-]{8,}",
            "${1} <redacted>",
        ),
    ]
    .into_iter()
    .map(|(pattern, replacement)| (compile(pattern), replacement))
    .collect()
});

/// `password=x`, `DB_PASSWORD: x`, `"api_key":"x"`, `\"token\":\"x\"`, `--db-password=x`.
static KEY_VALUE: LazyLock<Regex> = LazyLock::new(|| {
    compile(&format!(
        r#"(?i)(?P<key>{NAME}(?:{KEYWORDS}){NAME})(?P<sep>\\*["']?[ \t]*[=:][ \t]*)(?P<value>{VALUE})"#
    ))
});

/// `--db-password x`, `-token x`: a secret-named flag and the word after it.
static FLAG_VALUE: LazyLock<Regex> = LazyLock::new(|| {
    compile(&format!(
        r#"(?im)(?P<flag>(?:^|[\s"'=])--?{NAME}(?:{KEYWORDS}){NAME})(?P<gap>[ \t]+)(?P<value>"[^"]*"|'[^']*'|[^\s"'-][^\s"']*)"#
    ))
});

/// MySQL's `-pPASSWORD`: the password glued to a one-letter flag, only on a MySQL command line.
static MYSQL_PASSWORD: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r"(?i)(\b(?:mysql|mysqldump|mysqladmin|mariadb|mariadb-dump)\b[^\n]*?[ \t]-p)[^\s\-][^\s\x22']*",
    )
});

/// Names whose value is where a secret lives, not the secret (`--password-file`).
pub(super) fn names_a_location(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    ["file", "path", "dir", "name", "ref", "env"]
        .iter()
        .any(|suffix| name.ends_with(suffix))
}

fn masked(value: &str) -> String {
    // The opening quote, with the backslashes escaping it (`"`, `\"`, `\\\"`...).
    let open = value
        .find(['"', '\''])
        .filter(|&i| value[..i].bytes().all(|b| b == b'\\'))
        .map(|i| &value[..=i]);
    let inner = match open {
        Some(q) if value.len() >= 2 * q.len() && value.ends_with(q) => {
            &value[q.len()..value.len() - q.len()]
        }
        _ => value,
    };
    if inner.is_empty() || inner == MASK || says_absent(inner) {
        // An empty or absent value hides nothing, and saying so is a diagnosis
        // (`DB_PASSWORD: required`, `token: expired`).
        return value.to_owned();
    }
    value.replacen(inner, MASK, 1)
}

/// Words an app writes where a credential is missing or refused, never a credential.
fn says_absent(value: &str) -> bool {
    const WORDS: &[&str] = &[
        "required",
        "missing",
        "empty",
        "unset",
        "undefined",
        "null",
        "nil",
        "none",
        "not",
        "invalid",
        "expired",
        "revoked",
        "denied",
        "true",
        "false",
    ];
    let word = value.trim_end_matches([',', ';', '.']);
    WORDS.iter().any(|w| word.eq_ignore_ascii_case(w)) || word.bytes().all(|b| b == b'*')
}

fn key_value(caps: &Captures) -> String {
    let value = &caps["value"];
    if names_a_location(&caps["key"]) {
        return caps[0].to_owned();
    }
    format!("{}{}{}", &caps["key"], &caps["sep"], masked(value))
}

fn flag_value(caps: &Captures) -> String {
    if names_a_location(&caps["flag"]) {
        return caps[0].to_owned();
    }
    format!(
        "{}{}{}",
        &caps["flag"],
        &caps["gap"],
        masked(&caps["value"])
    )
}

/// Masks every credential shape in `text`; line breaks are left where they are.
pub(super) fn apply(text: &str) -> String {
    let mut out = AUTHORIZATION
        .replace_all(text, |caps: &Captures| match caps.get(2) {
            Some(scheme) => format!("{}{} {MASK}", &caps[1], scheme.as_str()),
            None => format!("{}{MASK}", &caps[1]),
        })
        .into_owned();
    out = COOKIE
        .replace_all(&out, format!("${{1}}{MASK}"))
        .into_owned();
    out = URL_PASSWORD
        .replace_all(&out, format!("${{1}}:{MASK}@${{2}}"))
        .into_owned();
    for (pattern, replacement) in TOKENS.iter() {
        out = pattern.replace_all(&out, *replacement).into_owned();
    }
    out = MYSQL_PASSWORD
        .replace_all(&out, format!("${{1}}{MASK}"))
        .into_owned();
    out = KEY_VALUE.replace_all(&out, key_value).into_owned();
    FLAG_VALUE.replace_all(&out, flag_value).into_owned()
}
