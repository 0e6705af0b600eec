//! Compiles this repository's `migrations/` and `scenarios/` into the binary, so `loadtest run
//! token-race` works from any folder after `cargo install`.

use std::fmt::Write;
use std::path::Path;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = String::new();
    for (konst, dir, ext) in [
        ("MIGRATIONS", "migrations", "sql"),
        ("SCENARIOS", "scenarios", "toml"),
    ] {
        println!("cargo:rerun-if-changed={dir}");
        let mut files: Vec<_> = std::fs::read_dir(root.join(dir))
            .map(|rd| rd.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        files.retain(|p| p.extension().is_some_and(|e| e == ext));
        files.sort();
        writeln!(out, "pub const {konst}: &[(&str, &str)] = &[").unwrap();
        for p in files {
            let name = p.file_name().unwrap().to_string_lossy();
            let key = if ext == "toml" {
                name.trim_end_matches(".toml").to_string()
            } else {
                name.to_string()
            };
            writeln!(
                out,
                "    ({key:?}, include_str!({:?})),",
                p.display().to_string()
            )
            .unwrap();
        }
        writeln!(out, "];").unwrap();
    }
    let dest = Path::new(&std::env::var("OUT_DIR").unwrap()).join("builtin.rs");
    std::fs::write(dest, out).unwrap();
}
