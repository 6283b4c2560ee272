//! Embeds the default rule pack (`rules/*.rhai`) into the engine.

use std::fmt::Write as _;
use std::path::PathBuf;

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let rules_dir = manifest_dir.join("../rules");
    println!("cargo:rerun-if-changed={}", rules_dir.display());

    // The rules, and their tests so that `portcullis test` can check the binary's own pack.
    write_list(&rules_dir, ".rhai", "builtin_rules.rs");
    write_list(&rules_dir, ".tests.yaml", "builtin_rule_tests.rs");
    // Helper modules the rules import (`import "lists" as lists;`).
    write_list(&rules_dir.join("lib"), ".rhai", "builtin_helpers.rs");
}

/// Writes `&[(file name, contents), …]` for the files in `dir` ending in `suffix`.
fn write_list(dir: &PathBuf, suffix: &str, out_name: &str) {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| {
            path.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with(suffix))
        })
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
    let out_path = PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo")).join(out_name);
    std::fs::write(&out_path, out).expect("writing the embedded list");
}
