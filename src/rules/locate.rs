//! Finding where a value sits in a YAML file, for errors that only show up after parsing
//! (a duplicate name, a missing playbook). Scans lines for `key: value`.

/// The 1-based (line, column) of the first `key: value` at or after `from_line`, or of the
/// first `key:` if the value is not found, or (1, 1).
pub fn locate(text: &str, key: &str, value: Option<&str>, from_line: usize) -> (usize, usize) {
    let mut key_only = None;
    for (index, line) in text.lines().enumerate().skip(from_line.saturating_sub(1)) {
        let trimmed = line.trim_start().trim_start_matches("- ");
        let Some(rest) = trimmed.strip_prefix(key).and_then(|r| r.strip_prefix(':')) else {
            continue;
        };
        let column = line.len() - trimmed.len() + 1;
        match value {
            Some(v) => {
                let found = rest
                    .split('#')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .trim_matches(['"', '\'']);
                if found == v {
                    return (index + 1, column);
                }
                key_only.get_or_insert((index + 1, column));
            }
            None => return (index + 1, column),
        }
    }
    key_only.unwrap_or((1, 1))
}

#[cfg(test)]
mod tests {
    use super::locate;

    #[test]
    fn finds_the_line_and_column_of_a_key_with_its_value() {
        let text = "rules:\n  - name: a\n    playbook: x\n  - name: b\n    playbook: \"y\"\n";
        assert_eq!(locate(text, "name", Some("b"), 1), (4, 5));
        assert_eq!(locate(text, "playbook", Some("y"), 1), (5, 5));
        assert_eq!(locate(text, "playbook", Some("y"), 5), (5, 5));
        assert_eq!(locate(text, "missing", None, 1), (1, 1));
    }
}
