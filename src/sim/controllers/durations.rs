//! Durations as scenario files write them (`5s`, `500ms`, `1m30s`, `2.5s`, a bare number of
//! seconds) and as Go prints them in kubelet messages (`10s`, `1m20s`, `5m0s`).

use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// Parses `1h`, `1m30s`, `2.5s`, `500ms`, or a bare number of seconds.
pub fn parse(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("an empty duration".into());
    }
    if let Ok(seconds) = text.parse::<f64>() {
        return from_seconds(seconds, text);
    }
    let mut total = 0.0;
    let mut rest = text;
    while !rest.is_empty() {
        let split = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("`{text}` lacks a unit after its last number"))?;
        let (number, tail) = rest.split_at(split);
        let value: f64 = number
            .parse()
            .map_err(|_| format!("`{text}` is not a duration like 5s, 500ms or 1m30s"))?;
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, next) = tail.split_at(unit_len);
        let factor = match unit {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            other => {
                return Err(format!(
                    "`{text}` has the unknown unit `{other}` (use ms, s, m or h)"
                ));
            }
        };
        total += value * factor;
        rest = next;
    }
    from_seconds(total, text)
}

fn from_seconds(seconds: f64, text: &str) -> Result<Duration, String> {
    Duration::try_from_secs_f64(seconds).map_err(|_| format!("`{text}` is not a valid duration"))
}

/// Serde adapter for a `Duration` field written as text or a number of seconds.
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Seconds(f64),
        Text(String),
    }
    let text = match Raw::deserialize(d)? {
        Raw::Seconds(s) => s.to_string(),
        Raw::Text(t) => t,
    };
    parse(&text).map_err(serde::de::Error::custom)
}

/// Serde adapter for an optional `Duration` field.
pub fn deserialize_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    deserialize(d).map(Some)
}

/// Go's `time.Duration.String()` at millisecond precision: `10s`, `1m20s`, `5m0s`, `1.5s`,
/// `500ms`.
pub fn go_format(d: Duration) -> String {
    let millis = d.as_millis();
    if millis == 0 {
        return "0s".into();
    }
    if millis < 1000 {
        return format!("{millis}ms");
    }
    let (hours, minutes) = (millis / 3_600_000, (millis / 60_000) % 60);
    let seconds = (millis % 60_000) as f64 / 1000.0;
    let seconds = format!("{seconds:.3}");
    let seconds = seconds.trim_end_matches('0').trim_end_matches('.');
    match (hours, minutes) {
        (0, 0) => format!("{seconds}s"),
        (0, m) => format!("{m}m{seconds}s"),
        (h, m) => format!("{h}h{m}m{seconds}s"),
    }
}

/// A `std` duration as a signed jiff duration, for timestamp arithmetic.
pub fn signed(d: Duration) -> jiff::SignedDuration {
    jiff::SignedDuration::try_from(d).unwrap_or(jiff::SignedDuration::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenario_durations_parse_in_every_written_form() {
        assert_eq!(parse("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse("2.5s"), Ok(Duration::from_millis(2500)));
        assert_eq!(parse("3"), Ok(Duration::from_secs(3)));
        assert!(parse("5 parsecs").is_err());
        assert!(parse("5").is_ok() && parse("").is_err() && parse("10").is_ok());
    }

    #[test]
    fn go_formatting_matches_the_kubelets_back_off_messages() {
        let f = |ms| go_format(Duration::from_millis(ms));
        assert_eq!(f(10_000), "10s");
        assert_eq!(f(80_000), "1m20s");
        assert_eq!(f(300_000), "5m0s");
        assert_eq!(f(1_500), "1.5s");
        assert_eq!(f(250), "250ms");
        assert_eq!(f(3_600_000), "1h0m0s");
    }
}
