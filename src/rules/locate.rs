//! Finding where a value sits in a YAML file, for errors that only show up after parsing
//! (a duplicate name, a missing playbook). Scans lines for `key: value`, in block style
//! (`key: value`) and flow style (`{key: value, ...}`).

/// The 1-based (line, column) of the first `key: value` at or after `from_line`; else of the
/// first `key:` there; else (1, 1).
pub fn locate(text: &str, key: &str, value: Option<&str>, from_line: usize) -> (usize, usize) {
    let mut key_only = None;
    for (index, line) in text.lines().enumerate().skip(from_line.saturating_sub(1)) {
        for (column, rest) in keys_in(line, key) {
            let found = rest
                .split([',', '}', ']', '#'])
                .next()
                .unwrap_or("")
                .trim()
                .trim_matches(['"', '\'']);
            match value {
                Some(v) if found == v => return (index + 1, column),
                Some(_) => {
                    key_only.get_or_insert((index + 1, column));
                }
                None => return (index + 1, column),
            }
        }
    }
    key_only.unwrap_or((1, 1))
}

/// Every place `key:` starts a key in `line`: (1-based column, text after the colon).
fn keys_in<'a>(line: &'a str, key: &str) -> Vec<(usize, &'a str)> {
    let mut out = Vec::new();
    let mut start = 0;
    while let Some(found) = line[start..].find(key) {
        let at = start + found;
        let before = line[..at].trim_end_matches(['"', '\'']).chars().next_back();
        let after = &line[at + key.len()..];
        let after = after.strip_prefix(['"', '\'']).unwrap_or(after);
        let starts_key = matches!(before, None | Some(' ' | '{' | ',' | '-' | '\t'));
        if starts_key && let Some(rest) = after.strip_prefix(':') {
            out.push((at + 1, rest));
        }
        start = at + key.len();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::locate;

    #[test]
    fn finds_the_line_and_column_of_a_key_with_its_value() {
        let text = "rules:\n  - name: a\n    playbook: x\n  - name: b\n    playbook: \"y\"\n";
        assert_eq!(locate(text, "name", Some("b"), 1), (4, 5));
        assert_eq!(locate(text, "playbook", Some("y"), 1), (5, 5));
        // Not found after line 3: falls back to the first `name:` there.
        assert_eq!(locate(text, "name", Some("a"), 3), (4, 5));
        assert_eq!(locate(text, "missing", None, 1), (1, 1));
    }

    #[test]
    fn finds_keys_inside_flow_mappings_but_not_inside_other_words() {
        let text = "approval:\n  auto_approve: [{tool: pod.delete}, {tool: deployment.scale, namespaces: [dev]}]\n";
        assert_eq!(locate(text, "tool", Some("deployment.scale"), 1), (2, 39));
        assert_eq!(locate("mytool: x\n", "tool", None, 1), (1, 1));
    }
}
