//! The shipped rules and playbooks, compiled into the binary: the rule set every command uses
//! when no `--rules`/`--playbooks` flag, `NIGHTSHIFT_RULES`/`NIGHTSHIFT_PLAYBOOKS` variable or
//! settings key names a directory, and what `nightshift rules init DIR` writes out.

use std::path::{Path, PathBuf};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/defaults.rs"));
}

/// What errors call an embedded file: `<built-in>/rules/kubernetes.yaml`.
pub const BUILT_IN: &str = "<built-in>";

/// The embedded rule files: (name shown in errors, contents).
pub fn rules() -> Vec<(PathBuf, &'static str)> {
    named("rules", embedded::RULES)
}

/// The embedded playbook files: (name shown in errors, contents).
pub fn playbooks() -> Vec<(PathBuf, &'static str)> {
    named("playbooks", embedded::PLAYBOOKS)
}

fn named(side: &str, files: &[(&str, &'static str)]) -> Vec<(PathBuf, &'static str)> {
    files
        .iter()
        .map(|(name, text)| (Path::new(BUILT_IN).join(side).join(name), *text))
        .collect()
}

/// Why `rules init` wrote nothing.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    /// A file is already there and `--force` was not given.
    #[error("{0} already exists (use --force to overwrite it)")]
    Exists(PathBuf),
    /// The file system refused.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: std::io::Error,
    },
}

/// Writes the defaults to `dir/rules/*.yaml` and `dir/playbooks/*.yaml`, returning the files
/// written. Without `force`, refuses (before writing anything) if any of them exists.
pub fn write(dir: &Path, force: bool) -> Result<Vec<PathBuf>, InitError> {
    let files: Vec<(PathBuf, &str)> = [
        ("rules", embedded::RULES),
        ("playbooks", embedded::PLAYBOOKS),
    ]
    .into_iter()
    .flat_map(|(side, files)| {
        files
            .iter()
            .map(move |(name, text)| (dir.join(side).join(name), *text))
    })
    .collect();
    if !force && let Some((path, _)) = files.iter().find(|(path, _)| path.exists()) {
        return Err(InitError::Exists(path.clone()));
    }
    for (path, text) in &files {
        let io = |source| InitError::Io {
            path: path.clone(),
            source,
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        std::fs::write(path, text).map_err(io)?;
    }
    Ok(files.into_iter().map(|(path, _)| path).collect())
}

#[cfg(test)]
mod tests {
    use super::{InitError, playbooks, rules, write};

    #[test]
    fn the_embedded_defaults_are_the_shipped_files() {
        let names: Vec<String> = rules()
            .iter()
            .map(|(p, _)| p.display().to_string())
            .collect();
        assert!(
            names.contains(&"<built-in>/rules/kubernetes.yaml".to_string()),
            "{names:?}"
        );
        let on_disk = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/playbooks/workload.yaml"
        ))
        .expect("shipped playbook");
        assert!(playbooks().iter().any(|(_, text)| *text == on_disk));
    }

    #[test]
    fn init_writes_every_default_and_refuses_to_overwrite_without_force() {
        let dir = tempfile::tempdir().expect("tempdir");
        let written = write(dir.path(), false).expect("first init");
        assert_eq!(written.len(), rules().len() + playbooks().len());
        assert!(dir.path().join("rules/kubernetes.yaml").is_file());
        std::fs::write(dir.path().join("rules/kubernetes.yaml"), "tuned").expect("edit");
        let refused = write(dir.path(), false).expect_err("exists");
        assert!(matches!(refused, InitError::Exists(_)), "{refused}");
        let kept = std::fs::read_to_string(dir.path().join("rules/kubernetes.yaml")).expect("read");
        assert_eq!(kept, "tuned");
        write(dir.path(), true).expect("forced");
        let restored =
            std::fs::read_to_string(dir.path().join("rules/kubernetes.yaml")).expect("read");
        assert_ne!(restored, "tuned");
    }
}
