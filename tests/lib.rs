//! End-to-end and cross-crate tests for Portcullis; shared helpers live here.

pub mod corpus;

use std::path::PathBuf;

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace")
        .to_path_buf()
}

/// The default pack's folder.
pub fn rules_dir() -> PathBuf {
    workspace_root().join("rules")
}
