//! Where link-signing keys come from: `NIGHTSHIFT_LINK_KEYS` in the environment, or the file
//! named by `links.key_file` — never the settings file itself. Both hold `id:secret` entries
//! (secret in base64, at least 32 bytes), the first one signing and every one verifying, so a
//! key is rotated by putting the new one first and dropping the old one once its links have
//! expired. With neither, a SQLite store gets a generated key kept next to the database
//! (`nightshift-links.key`, mode 0600), re-read on every start; a PostgreSQL store has no
//! directory of its own, so the daemon refuses to start and says what to set.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};

use super::token::{Key, Keyring};
use crate::store::{Backend, Store};

/// The environment variable holding link-signing keys.
pub const KEYS_ENV: &str = "NIGHTSHIFT_LINK_KEYS";
/// The generated key file's name, in the SQLite store's directory.
pub const GENERATED_FILE: &str = "nightshift-links.key";

/// Where the keys were found, for the start-up log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// `NIGHTSHIFT_LINK_KEYS`.
    Env,
    /// `links.key_file`.
    File(PathBuf),
    /// Generated now, and kept at this path.
    Generated(PathBuf),
    /// Generated earlier by nightshift, read back from this path.
    Kept(PathBuf),
    /// Generated for an in-memory store: links die with the process.
    Ephemeral,
}

impl std::fmt::Display for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeySource::Env => write!(f, "from {KEYS_ENV}"),
            KeySource::File(p) => write!(f, "from links.key_file {}", p.display()),
            KeySource::Generated(p) => write!(
                f,
                "generated and kept in {} (set {KEYS_ENV} or links.key_file to choose your own)",
                p.display()
            ),
            KeySource::Kept(p) => write!(f, "generated earlier, read from {}", p.display()),
            KeySource::Ephemeral => write!(
                f,
                "generated in memory for an in-memory store: links stop working when the process ends"
            ),
        }
    }
}

/// Parses `id:secret` entries separated by commas, whitespace or newlines (`#` starts a
/// comment line). `origin` names the source in errors.
pub fn parse(text: &str, origin: &str) -> Result<Keyring, String> {
    let mut keys = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.starts_with('#') {
            continue;
        }
        for entry in line
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|e| !e.is_empty())
        {
            let where_ = format!("{origin} line {}", number + 1);
            let (id, secret) = entry.split_once(':').ok_or_else(|| {
                format!("{where_}: expected id:secret, found {:?}", redact(entry))
            })?;
            let secret = decode(secret)
                .ok_or_else(|| format!("{where_}: the secret of key {id:?} is not base64"))?;
            keys.push(Key::new(id, secret).map_err(|e| format!("{where_}: {e}"))?);
        }
    }
    Keyring::new(keys).map_err(|e| format!("{origin}: {e}"))
}

/// The first few characters of an entry, never the whole secret.
fn redact(entry: &str) -> String {
    let shown: String = entry.chars().take(6).collect();
    format!("{shown}…")
}

fn decode(secret: &str) -> Option<Vec<u8>> {
    [URL_SAFE_NO_PAD, URL_SAFE, STANDARD]
        .iter()
        .find_map(|engine| engine.decode(secret.trim_end_matches('=')).ok())
        .or_else(|| STANDARD.decode(secret).ok())
}

/// A new random key entry, `id:secret`.
pub fn generate() -> Result<(String, Keyring), String> {
    let mut secret = [0u8; 32];
    let mut id = [0u8; 4];
    getrandom::fill(&mut secret).map_err(|e| format!("no randomness for a link key: {e}"))?;
    getrandom::fill(&mut id).map_err(|e| format!("no randomness for a link key: {e}"))?;
    let id: String = id.iter().map(|b| format!("{b:02x}")).collect();
    let line = format!("k{id}:{}", URL_SAFE_NO_PAD.encode(secret));
    let ring = parse(&line, "a generated key")?;
    Ok((line, ring))
}

/// The daemon's keys: from `env` (`NIGHTSHIFT_LINK_KEYS`), else `key_file`, else generated
/// beside the SQLite store (see the module documentation).
pub fn load(
    env: impl Fn(&str) -> Option<String>,
    key_file: Option<&Path>,
    store: &Store,
) -> Result<(Keyring, KeySource), String> {
    if let Some(text) = env(KEYS_ENV).filter(|t| !t.trim().is_empty()) {
        return Ok((parse(&text, KEYS_ENV)?, KeySource::Env));
    }
    if let Some(path) = key_file {
        let origin = format!("links.key_file {}", path.display());
        let text = std::fs::read_to_string(path).map_err(|e| format!("{origin}: {e}"))?;
        return Ok((parse(&text, &origin)?, KeySource::File(path.to_owned())));
    }
    match store.backend() {
        Backend::Postgres => Err(format!(
            "no link-signing key: set {KEYS_ENV} (id:base64-secret, the first signs) or \
             links.key_file; with a PostgreSQL store nightshift has no directory of its own to \
             keep a generated key in, and every replica must share the same keys"
        )),
        Backend::Sqlite if store.in_memory() => {
            let (_, ring) = generate()?;
            Ok((ring, KeySource::Ephemeral))
        }
        Backend::Sqlite => {
            let dir = Path::new(store.location())
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            kept_or_generated(&dir.join(GENERATED_FILE))
        }
    }
}

/// Reads the generated key at `path`, or makes one there (0600, created exclusively so two
/// daemons starting together cannot each write a different key).
pub fn kept_or_generated(path: &Path) -> Result<(Keyring, KeySource), String> {
    let origin = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => return Ok((parse(&text, &origin)?, KeySource::Kept(path.to_owned()))),
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(format!("{origin}: {e}"));
        }
        Err(_) => {}
    }
    let (line, ring) = generate()?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = match options.open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let text = std::fs::read_to_string(path).map_err(|e| format!("{origin}: {e}"))?;
            return Ok((parse(&text, &origin)?, KeySource::Kept(path.to_owned())));
        }
        Err(e) => return Err(format!("{origin}: cannot create the link key: {e}")),
    };
    let text = format!(
        "# nightshift link-signing keys (id:secret, the first signs). Generated; keep private.\n{line}\n"
    );
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| format!("{origin}: cannot write the link key: {e}"))?;
    Ok((ring, KeySource::Generated(path.to_owned())))
}
