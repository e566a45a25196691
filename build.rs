//! Rebuild when a migration is added: `sqlx::migrate!` embeds the directory's contents but, on
//! stable Rust, only notices edits to files it already saw.
//!
//! Lists the shipped `rules/*.yaml` and `playbooks/*.yaml` into `$OUT_DIR/defaults.rs`, so the
//! binary carries them as its built-in defaults (`src/rules/defaults.rs` includes it).
use std::fmt::Write as _;
use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=migrations");
    println!("cargo:rerun-if-changed=rules");
    println!("cargo:rerun-if-changed=playbooks");
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let out = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    let mut code = String::new();
    for (name, dir) in [("RULES", "rules"), ("PLAYBOOKS", "playbooks")] {
        let dir = Path::new(&manifest).join(dir);
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")))
            .collect();
        files.sort();
        let _ = writeln!(
            code,
            "/// The shipped `{}` files: (file name, contents).",
            name.to_lowercase()
        );
        let _ = writeln!(code, "pub static {name}: &[(&str, &str)] = &[");
        for file in files {
            println!("cargo:rerun-if-changed={}", file.display());
            let file_name = file
                .file_name()
                .and_then(|n| n.to_str())
                .expect("UTF-8 file name");
            let _ = writeln!(
                code,
                "    ({file_name:?}, include_str!({:?})),",
                file.display().to_string()
            );
        }
        let _ = writeln!(code, "];");
    }
    std::fs::write(Path::new(&out).join("defaults.rs"), code).expect("writing defaults.rs");
}
