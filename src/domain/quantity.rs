//! Kubernetes resource quantities (`512Mi`, `1.5Gi`, `250m`) to numbers and back.

/// Parses a memory quantity into bytes (`512Mi`, `1G`, `1.5Gi`, `134217728`).
pub fn parse_memory(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == 'e' || c == '+'))
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(split);
    let value: f64 = number.parse().ok()?;
    let factor: f64 = match suffix {
        "" => 1.0,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "m" => 1e-3,
        _ => return None,
    };
    let bytes = value * factor;
    (bytes.is_finite() && bytes >= 0.0).then_some(bytes.round() as u64)
}

/// Parses a CPU quantity into millicores (`250m`, `1`, `1.5`).
pub fn parse_cpu(text: &str) -> Option<u64> {
    let text = text.trim();
    let (number, factor) = match text.strip_suffix('m') {
        Some(milli) => (milli, 1.0),
        None => (text, 1000.0),
    };
    let value: f64 = number.parse().ok()?;
    let milli = value * factor;
    (milli.is_finite() && milli >= 0.0).then_some(milli.round() as u64)
}

/// Formats bytes as the largest binary unit that divides them exactly, rounding up to whole
/// MiB first (`805306368` → `768Mi`).
pub fn format_memory(bytes: u64) -> String {
    const MI: u64 = 1024 * 1024;
    let mib = bytes.div_ceil(MI);
    if mib > 0 && mib.is_multiple_of(1024) {
        format!("{}Gi", mib / 1024)
    } else {
        format!("{mib}Mi")
    }
}

/// Formats millicores (`1500` → `1500m`, `2000` → `2`).
pub fn format_cpu(milli: u64) -> String {
    if milli.is_multiple_of(1000) {
        format!("{}", milli / 1000)
    } else {
        format!("{milli}m")
    }
}

#[cfg(test)]
mod tests {
    use super::{format_cpu, format_memory, parse_cpu, parse_memory};

    #[test]
    fn memory_quantities_parse_in_binary_and_decimal_units() {
        assert_eq!(parse_memory("512Mi"), Some(512 * 1024 * 1024));
        assert_eq!(parse_memory("1Gi"), Some(1 << 30));
        assert_eq!(parse_memory("1.5Gi"), Some(3 << 29));
        assert_eq!(parse_memory("1G"), Some(1_000_000_000));
        assert_eq!(parse_memory("128974848"), Some(128_974_848));
        assert_eq!(parse_memory("lots"), None);
        assert_eq!(parse_memory("12Qi"), None);
    }

    #[test]
    fn cpu_quantities_parse_to_millicores() {
        assert_eq!(parse_cpu("250m"), Some(250));
        assert_eq!(parse_cpu("1.5"), Some(1500));
        assert_eq!(parse_cpu("2"), Some(2000));
        assert_eq!(parse_cpu("x"), None);
    }

    #[test]
    fn formatting_rounds_up_to_whole_mebibytes() {
        assert_eq!(format_memory(768 * 1024 * 1024), "768Mi");
        assert_eq!(format_memory(2 << 30), "2Gi");
        assert_eq!(format_memory(1), "1Mi");
        assert_eq!(format_cpu(1500), "1500m");
        assert_eq!(format_cpu(2000), "2");
    }
}
