//! Headless Chromium for the tests that look at pages in a real browser: finding it (Debian's
//! `chromium`, installed by `scripts/services.sh chromium`, or `NIGHTSHIFT_CHROMIUM`), running
//! it with a bounded time, and checking the screenshots it keeps under
//! `target/test-artifacts/`. Without Chromium a test fails saying how to install it, unless
//! `NIGHTSHIFT_SKIP_CHROMIUM=1` skips it loudly.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::process::Command;

/// The longest one Chromium run may take on a loaded machine.
pub const CHROMIUM_TIMEOUT: Duration = Duration::from_secs(120);

/// The smallest PNG taken as a real screenshot rather than a blank page.
pub const MIN_PNG_BYTES: u64 = 8_000;

fn chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("NIGHTSHIFT_CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| [dir.join("chromium"), dir.join("chromium-browser")])
        .find(|candidate| candidate.is_file())
}

/// Chromium, or `None` when the skip is asked for (saying that `what` did not run); otherwise
/// a failure saying how to install it.
pub fn chromium_or_skip(what: &str) -> Option<PathBuf> {
    if let Some(path) = chromium() {
        return Some(path);
    }
    if std::env::var_os("NIGHTSHIFT_SKIP_CHROMIUM").is_some() {
        eprintln!("\n!!! SKIPPED: {what} did not run (NIGHTSHIFT_SKIP_CHROMIUM is set) !!!\n");
        return None;
    }
    panic!(
        "chromium is not installed: run `scripts/services.sh chromium` (or `apt-get install chromium`), \
         set NIGHTSHIFT_CHROMIUM to a Chromium binary, or set NIGHTSHIFT_SKIP_CHROMIUM=1 to skip this test"
    );
}

/// Runs headless Chromium with `args` and a throwaway profile; its standard output.
pub async fn run(chromium: &Path, profile: &Path, args: &[String]) -> String {
    let mut command = Command::new(chromium);
    command
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .kill_on_drop(true);
    let output = tokio::time::timeout(CHROMIUM_TIMEOUT, command.output())
        .await
        .unwrap_or_else(|_| panic!("chromium did not finish within {CHROMIUM_TIMEOUT:?}: {args:?}"))
        .expect("chromium runs");
    assert!(
        output.status.success(),
        "chromium {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// `target/test-artifacts/<name>`, created.
pub fn artifacts(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/test-artifacts")
        .join(name);
    std::fs::create_dir_all(&dir).expect("artifact directory");
    dir
}

/// The screenshot at `file` is a PNG big enough not to be a blank page; its bytes.
pub fn screenshot(file: &Path) -> Vec<u8> {
    let bytes = std::fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    assert!(
        bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
        "{} is not a PNG",
        file.display()
    );
    assert!(
        bytes.len() as u64 > MIN_PNG_BYTES,
        "{} is only {} bytes: a blank page?",
        file.display(),
        bytes.len()
    );
    println!("screenshot: {}", file.display());
    bytes
}

/// The width and height a PNG's IHDR chunk declares.
pub fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    let word =
        |at: usize| u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    (word(16), word(20))
}
