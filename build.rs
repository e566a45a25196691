//! Rebuild when a migration is added: `sqlx::migrate!` embeds the directory's contents but, on
//! stable Rust, only notices edits to files it already saw.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
