//! A digest of the rule and playbook files as they are on disk: each `*.yaml`/`*.yml` file's
//! path and contents, in name order. Opening, reading or touching a file leaves it unchanged;
//! only an edit, a new, removed or renamed file changes it. The reloader compares digests so it
//! reacts to content changes only.

use std::path::Path;

use sha2::{Digest, Sha256};

/// The digest of every rule and playbook file under `rules` and `playbooks`, hex. A directory
/// or file that cannot be read counts with its error, so it changing counts too. A side without
/// a directory is the built-in defaults, which never change.
pub fn digest(rules: Option<&Path>, playbooks: Option<&Path>) -> String {
    let mut hasher = Sha256::new();
    for dir in [rules, playbooks].into_iter().flatten() {
        hasher.update(dir.as_os_str().as_encoded_bytes());
        hasher.update([0]);
        let mut errors = Vec::new();
        for file in super::yaml_files(dir, &mut errors) {
            hasher.update(file.as_os_str().as_encoded_bytes());
            hasher.update([0]);
            match std::fs::read(&file) {
                Ok(bytes) => {
                    hasher.update((bytes.len() as u64).to_be_bytes());
                    hasher.update(&bytes);
                }
                Err(err) => hasher.update(format!("unreadable: {err}").as_bytes()),
            }
        }
        for error in errors {
            hasher.update(error.message.as_bytes());
        }
    }
    crate::domain::plan::hex(&hasher.finalize())
}

#[cfg(test)]
mod tests {
    use super::digest;

    #[test]
    fn reading_or_touching_a_file_leaves_the_digest_and_an_edit_changes_it() {
        let tmp = tempfile::tempdir().expect("tmp");
        let (rules, playbooks) = (tmp.path().join("rules"), tmp.path().join("playbooks"));
        std::fs::create_dir_all(&rules).expect("mkdir");
        std::fs::create_dir_all(&playbooks).expect("mkdir");
        let file = rules.join("a.yaml");
        std::fs::write(&file, "rules: []\n").expect("write");
        let before = digest(Some(&rules), Some(&playbooks));
        std::fs::read_to_string(&file).expect("read");
        let handle = std::fs::File::options()
            .append(true)
            .open(&file)
            .expect("open");
        handle
            .set_modified(std::time::SystemTime::now())
            .expect("touch");
        drop(handle);
        assert_eq!(digest(Some(&rules), Some(&playbooks)), before);
        std::fs::write(&file, "rules: [] # edited\n").expect("edit");
        assert_ne!(digest(Some(&rules), Some(&playbooks)), before);
        std::fs::write(rules.join("b.yml"), "").expect("new file");
        std::fs::write(rules.join("notes.txt"), "not a rule file").expect("other file");
        let with_new = digest(Some(&rules), Some(&playbooks));
        std::fs::remove_file(rules.join("notes.txt")).expect("rm");
        assert_eq!(
            digest(Some(&rules), Some(&playbooks)),
            with_new,
            "only rule files count"
        );
    }
}
