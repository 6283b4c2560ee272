//! Embeds the default rule pack (`rules/*.rhai`) into the engine.

use std::fmt::Write as _;
use std::path::PathBuf;

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let rules_dir = manifest_dir.join("../rules");
    println!("cargo:rerun-if-changed={}", rules_dir.display());

    let mut files: Vec<PathBuf> = std::fs::read_dir(&rules_dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", rules_dir.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "rhai"))
        .collect();
    files.sort();

    let mut out = String::from("&[\n");
    for path in &files {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .expect("utf-8 file name");
        let absolute = path.canonicalize().expect("rule file exists");
        writeln!(
            out,
            "    ({name:?}, include_str!({:?})),",
            absolute.display().to_string()
        )
        .expect("writing to a String");
    }
    out.push(']');
    let out_path =
        PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo")).join("builtin_rules.rs");
    std::fs::write(&out_path, out).expect("writing builtin_rules.rs");
}
