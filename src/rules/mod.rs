//! Loading and validating `rules/*.yaml` and `playbooks/*.yaml`. Every problem is reported as
//! `file:line:column: what was expected`; a set with any error is refused whole, and a holder
//! that reloads keeps its previous good set.

mod bounds;
pub mod defaults;
mod digest;
mod locate;
mod validate;

use std::path::{Path, PathBuf};

use crate::domain::playbook::Playbook;
use crate::domain::rule::{Rule, RuleFile};

pub use bounds::{MAX_LOG_MAX_BYTES, MAX_LOG_TAIL_LINES};
pub use digest::digest;
pub use locate::locate;

/// One problem in one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError {
    /// The file.
    pub file: PathBuf,
    /// 1-based line, when known.
    pub line: usize,
    /// 1-based column, when known.
    pub column: usize,
    /// What is wrong, and what was expected.
    pub message: String,
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file.display(),
            self.line,
            self.column,
            self.message
        )
    }
}

impl std::error::Error for LoadError {}

/// Every problem found in a rule set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} problem(s) in rules/playbooks:\n{}", .0.len(), .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
pub struct LoadErrors(pub Vec<LoadError>);

/// A rule with the file it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedRule {
    /// The rule.
    pub rule: Rule,
    /// Its file.
    pub file: PathBuf,
}

/// A validated set of rules and playbooks.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RuleSet {
    /// Rules in file-name order, then file order.
    pub rules: Vec<LoadedRule>,
    /// Playbooks by file-name order.
    pub playbooks: Vec<Playbook>,
}

impl RuleSet {
    /// Loads and validates every `*.yaml`/`*.yml` under `rules` and `playbooks`.
    pub fn load(rules: &Path, playbooks: &Path) -> Result<RuleSet, LoadErrors> {
        RuleSet::load_from(Some(rules), Some(playbooks))
    }

    /// Loads and validates the rules and playbooks under the given directories; a side without
    /// one uses the built-in defaults ([`defaults`]), named `<built-in>/rules/FILE` in errors.
    pub fn load_from(
        rules: Option<&Path>,
        playbooks: Option<&Path>,
    ) -> Result<RuleSet, LoadErrors> {
        let mut errors = Vec::new();
        let rule_texts = sources(rules, defaults::rules, &mut errors);
        let playbook_texts = sources(playbooks, defaults::playbooks, &mut errors);
        let mut set = RuleSet::default();
        for (file, text) in &rule_texts {
            match parse::<RuleFile>(file, text) {
                Ok(parsed) => set
                    .rules
                    .extend(parsed.rules.into_iter().map(|rule| LoadedRule {
                        rule,
                        file: file.clone(),
                    })),
                Err(e) => errors.push(e),
            }
        }
        let mut playbook_files = Vec::new();
        for (file, text) in &playbook_texts {
            match parse::<Playbook>(file, text) {
                Ok(playbook) => {
                    set.playbooks.push(playbook);
                    playbook_files.push(file.clone());
                }
                Err(e) => errors.push(e),
            }
        }
        if errors.is_empty() && set.rules.is_empty() {
            errors.push(LoadError {
                file: rules.map_or_else(
                    || Path::new(defaults::BUILT_IN).join("rules"),
                    Path::to_owned,
                ),
                line: 0,
                column: 0,
                message: "no rules found (expected *.yaml files with `rules:`)".into(),
            });
        }
        let texts: Vec<(PathBuf, String)> = rule_texts.into_iter().chain(playbook_texts).collect();
        errors.extend(validate::validate(&set, &playbook_files, &texts));
        errors.extend(bounds::validate(&set.playbooks, &playbook_files, &texts));
        if errors.is_empty() {
            Ok(set)
        } else {
            Err(LoadErrors(errors))
        }
    }

    /// The playbook with this name.
    pub fn playbook(&self, name: &str) -> Option<&Playbook> {
        self.playbooks.iter().find(|p| p.name == name)
    }

    /// The rule and playbook that open an investigation no loaded rule matched: this set's
    /// `investigate` playbook when it has one, else the shipped one, which is built in.
    pub fn investigation(&self) -> Option<(Rule, Playbook)> {
        let (rule, builtin) = BUILTIN_INVESTIGATION.as_ref()?;
        let playbook = self.playbook(&rule.playbook).unwrap_or(builtin);
        Some((rule.clone(), playbook.clone()))
    }
}

/// The shipped `rules/investigate.yaml` and `playbooks/investigate.yaml`, compiled in.
static BUILTIN_INVESTIGATION: std::sync::LazyLock<Option<(Rule, Playbook)>> =
    std::sync::LazyLock::new(|| {
        let rules: RuleFile = parse(
            Path::new("rules/investigate.yaml"),
            include_str!("../../rules/investigate.yaml"),
        )
        .ok()?;
        let playbook: Playbook = parse(
            Path::new("playbooks/investigate.yaml"),
            include_str!("../../playbooks/investigate.yaml"),
        )
        .ok()?;
        Some((rules.rules.into_iter().next()?, playbook))
    });

/// The files of one side: those under `dir`, or the built-in ones when none was given.
fn sources(
    dir: Option<&Path>,
    built_in: fn() -> Vec<(PathBuf, &'static str)>,
    errors: &mut Vec<LoadError>,
) -> Vec<(PathBuf, String)> {
    let Some(dir) = dir else {
        return built_in()
            .into_iter()
            .map(|(file, text)| (file, text.to_owned()))
            .collect();
    };
    yaml_files(dir, errors)
        .into_iter()
        .filter_map(|file| read(&file, errors).map(|text| (file, text)))
        .collect()
}

fn yaml_files(dir: &Path, errors: &mut Vec<LoadError>) -> Vec<PathBuf> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) => {
            errors.push(LoadError {
                file: dir.to_owned(),
                line: 0,
                column: 0,
                message: format!("cannot read directory: {err}"),
            });
            return Vec::new();
        }
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.is_file() && matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"))
        })
        .collect();
    files.sort();
    files
}

fn read(file: &Path, errors: &mut Vec<LoadError>) -> Option<String> {
    match std::fs::read_to_string(file) {
        Ok(text) => Some(text),
        Err(err) => {
            errors.push(LoadError {
                file: file.to_owned(),
                line: 0,
                column: 0,
                message: format!("cannot read: {err}"),
            });
            None
        }
    }
}

/// Parses one YAML document into `T`, turning serde's error into a located [`LoadError`].
pub fn parse<T: serde::de::DeserializeOwned>(file: &Path, text: &str) -> Result<T, LoadError> {
    serde_yaml_ng::from_str(text).map_err(|err| {
        let (line, column) = err.location().map_or((1, 1), |l| (l.line(), l.column()));
        let message = err.to_string();
        let message = match message.rfind(" at line ") {
            Some(at) => message[..at].to_owned(),
            None => message,
        };
        LoadError {
            file: file.to_owned(),
            line,
            column,
            message,
        }
    })
}

/// Holds the current good rule set; a reload with errors keeps the previous set. Only the
/// directories it was given are reloaded: a built-in side never changes.
#[derive(Debug, Clone)]
pub struct RulesHolder {
    rules_dir: Option<PathBuf>,
    playbooks_dir: Option<PathBuf>,
    current: std::sync::Arc<RuleSet>,
    /// The [`digest`] of the files last loaded or tried.
    seen: String,
}

/// What [`RulesHolder::reload_if_changed`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reload {
    /// The files are as last loaded or tried: nothing was done.
    Unchanged,
    /// The changed files loaded: the new set is in force.
    Reloaded,
    /// The changed files have errors: the previous set stays in force.
    Failed(LoadErrors),
}

impl RulesHolder {
    /// Loads the first set; fails if it has errors (there is nothing to fall back to).
    pub fn load(rules_dir: &Path, playbooks_dir: &Path) -> Result<RulesHolder, LoadErrors> {
        RulesHolder::load_from(Some(rules_dir), Some(playbooks_dir))
    }

    /// Like [`RulesHolder::load`]; a side without a directory uses the built-in defaults.
    pub fn load_from(
        rules_dir: Option<&Path>,
        playbooks_dir: Option<&Path>,
    ) -> Result<RulesHolder, LoadErrors> {
        let seen = digest(rules_dir, playbooks_dir);
        let set = RuleSet::load_from(rules_dir, playbooks_dir)?;
        Ok(RulesHolder {
            rules_dir: rules_dir.map(Path::to_owned),
            playbooks_dir: playbooks_dir.map(Path::to_owned),
            current: std::sync::Arc::new(set),
            seen,
        })
    }

    /// The directories it reloads from (none when both sides are built in).
    pub fn dirs(&self) -> Vec<&Path> {
        [&self.rules_dir, &self.playbooks_dir]
            .into_iter()
            .filter_map(|dir| dir.as_deref())
            .collect()
    }

    /// The current set.
    pub fn current(&self) -> std::sync::Arc<RuleSet> {
        self.current.clone()
    }

    /// Reloads from disk when the files' contents changed since they were last loaded or tried
    /// (a read or a touch is no change; the same broken files are not tried twice).
    pub fn reload_if_changed(&mut self) -> Reload {
        let now = digest(self.rules_dir.as_deref(), self.playbooks_dir.as_deref());
        if now == self.seen {
            return Reload::Unchanged;
        }
        self.seen = now;
        match self.reload() {
            Ok(()) => Reload::Reloaded,
            Err(errors) => Reload::Failed(errors),
        }
    }

    /// Reloads from disk. On errors the previous set stays in force and the errors are returned.
    pub fn reload(&mut self) -> Result<(), LoadErrors> {
        let set = RuleSet::load_from(self.rules_dir.as_deref(), self.playbooks_dir.as_deref())?;
        self.current = std::sync::Arc::new(set);
        Ok(())
    }
}
