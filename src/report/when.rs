//! Times as the reader sees them: relative ("4 min ago") for the person paged at 2 AM, the
//! exact UTC time beside it, and the RFC 3339 instant a page's script turns into the
//! reader's own zone.

use jiff::Timestamp;
use serde::Serialize;

/// One instant, three ways.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct When {
    /// RFC 3339, for `<time datetime>` and machines.
    pub iso: String,
    /// `2026-11-20 02:13:05 UTC`.
    pub exact: String,
    /// `4 min ago`, as of the `now` the page was rendered at.
    pub relative: String,
}

/// `at` as seen at `now`.
pub fn when(at: Timestamp, now: Timestamp) -> When {
    When {
        iso: at.to_string(),
        exact: exact(at),
        relative: relative(now.as_second() - at.as_second()),
    }
}

/// `2026-11-20 02:13:05 UTC`.
pub fn exact(at: Timestamp) -> String {
    at.strftime("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// `seconds` ago in the largest unit that fits; negative is the future.
pub fn relative(seconds: i64) -> String {
    let (ago, s) = if seconds < 0 {
        (false, seconds.saturating_neg())
    } else {
        (true, seconds)
    };
    let amount = match s {
        0..45 => return "just now".to_owned(),
        45..5_400 => format!("{} min", ((s + 30) / 60).max(1)),
        5_400..172_800 => format!("{} h", (s + 1_800) / 3_600),
        _ => format!("{} days", (s + 43_200) / 86_400),
    };
    if ago {
        format!("{amount} ago")
    } else {
        format!("in {amount}")
    }
}

#[cfg(test)]
mod tests {
    use super::{relative, when};

    #[test]
    fn ages_read_in_the_largest_unit_that_fits() {
        assert_eq!(relative(3), "just now");
        assert_eq!(relative(240), "4 min ago");
        assert_eq!(relative(3 * 3600), "3 h ago");
        assert_eq!(relative(3 * 86_400), "3 days ago");
        assert_eq!(relative(-600), "in 10 min");
    }

    #[test]
    fn an_instant_carries_its_exact_time_and_its_age() {
        let at = "2026-11-20T02:13:05Z".parse().expect("at");
        let now = "2026-11-20T02:17:05Z".parse().expect("now");
        let w = when(at, now);
        assert_eq!(w.iso, "2026-11-20T02:13:05Z");
        assert_eq!(w.exact, "2026-11-20 02:13:05 UTC");
        assert_eq!(w.relative, "4 min ago");
    }
}
