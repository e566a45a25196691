//! Upper bounds on what a playbook may ask the gatherer to read. The gatherer holds each log in
//! memory and the diagnoser reads it, so a playbook asking for a million lines or a gigabyte per
//! container is refused at load, with its file and line, instead of being obeyed.

use std::path::PathBuf;

use crate::domain::playbook::Playbook;
use crate::rules::LoadError;
use crate::rules::validate::error_at;

/// The most log lines kept per container log (`evidence.log_tail_lines`).
pub const MAX_LOG_TAIL_LINES: usize = 10_000;
/// The most bytes kept per container log (`evidence.log_max_bytes`): 4 MiB.
pub const MAX_LOG_MAX_BYTES: usize = 4 * 1024 * 1024;

/// Every evidence bound a playbook exceeds.
pub fn validate(
    playbooks: &[Playbook],
    files: &[PathBuf],
    texts: &[(PathBuf, String)],
) -> Vec<LoadError> {
    let mut errors = Vec::new();
    for (playbook, file) in playbooks.iter().zip(files) {
        let spec = &playbook.evidence;
        let checks = [
            (
                "log_tail_lines",
                spec.log_tail_lines,
                MAX_LOG_TAIL_LINES,
                "lines",
            ),
            (
                "log_max_bytes",
                spec.log_max_bytes,
                MAX_LOG_MAX_BYTES,
                "bytes",
            ),
        ];
        for (key, value, max, unit) in checks {
            if value > max {
                let message = format!(
                    "playbook `{}`: evidence.{key} is {value}, more than the {max} {unit} a \
                     container log may keep",
                    playbook.name
                );
                errors.push(error_at(
                    texts,
                    file,
                    key,
                    Some(&value.to_string()),
                    1,
                    message,
                ));
            }
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use crate::rules::RuleSet;

    #[test]
    fn a_playbook_asking_for_more_log_than_the_bounds_is_refused_with_its_file_and_line() {
        let tmp = tempfile::tempdir().expect("tmp");
        let (rules, playbooks) = (tmp.path().join("rules"), tmp.path().join("playbooks"));
        std::fs::create_dir_all(&rules).expect("mkdir");
        std::fs::create_dir_all(&playbooks).expect("mkdir");
        let rule = "rules:\n  - {name: r, match: {}, severity: info, playbook: p}\n";
        std::fs::write(rules.join("a.yaml"), rule).expect("write");
        let playbook = "name: p\nallowed_actions: [notify]\nevidence:\n  log_tail_lines: 10000\n  \
                        log_max_bytes: 1073741824\n";
        std::fs::write(playbooks.join("p.yaml"), playbook).expect("write");
        let errors = RuleSet::load(&rules, &playbooks).expect_err("refused");
        let lines: Vec<String> = errors.0.iter().map(ToString::to_string).collect();
        assert_eq!(
            lines.len(),
            1,
            "10000 lines is the bound itself: {lines:#?}"
        );
        assert!(
            lines[0].contains("p.yaml:5:3:") && lines[0].contains("log_max_bytes is 1073741824"),
            "{lines:#?}"
        );
        let over = playbook.replace("10000", "10001");
        std::fs::write(playbooks.join("p.yaml"), over).expect("write");
        let errors = RuleSet::load(&rules, &playbooks).expect_err("refused");
        assert!(
            errors
                .0
                .iter()
                .any(|e| e.to_string().contains("p.yaml:4:3:")
                    && e.message.contains("log_tail_lines is 10001")),
            "{errors}"
        );
    }
}
