//! Runs every case of sigstore-conformance `test/assets/bundle-verify` (vendored under
//! `tests/vectors/sigstore-conformance/`): a case named `*_fail` must be rejected, every
//! other case must verify. Identity, issuer, artifact and trusted root follow the suite's
//! `test/client.py` defaults.

mod common;

use common::{SKIPPED, dir, run_case};
use std::path::PathBuf;

#[test]
fn every_conformance_case_agrees() {
    let mut cases: Vec<PathBuf> = std::fs::read_dir(dir())
        .expect("vectors")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    assert!(
        cases.len() >= 70,
        "expected the 70 vendored cases, found {}",
        cases.len()
    );
    let (mut agree, mut disagree, mut skipped) = (0, Vec::new(), 0);
    for case in &cases {
        let name = case.file_name().unwrap().to_string_lossy().to_string();
        if let Some((_, why)) = SKIPPED.iter().find(|(n, _)| *n == name) {
            println!("SKIPPED {name}: {why}");
            skipped += 1;
            continue;
        }
        let expect_ok = !name.ends_with("_fail");
        let got = run_case(case);
        let status = match (&got, expect_ok) {
            (Ok(()), true) | (Err(_), false) => {
                agree += 1;
                "agree"
            }
            _ => {
                disagree.push(name.clone());
                "DISAGREE"
            }
        };
        println!(
            "{status:8} {name}: {}",
            got.err().unwrap_or_else(|| "verified".into())
        );
    }
    println!(
        "sigstore-conformance: {agree} agree, {} disagree, {skipped} skipped",
        disagree.len()
    );
    assert!(disagree.is_empty(), "cases that disagree: {disagree:?}");
}
