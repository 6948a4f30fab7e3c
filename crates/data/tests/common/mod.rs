//! Test-only fixture loader: files under the workspace `test_data/` (see its `SOURCES.md`).

#![allow(dead_code)]

use std::path::PathBuf;

pub fn path(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../test_data").join(rel)
}

pub fn text(rel: &str) -> String {
    std::fs::read_to_string(path(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

pub fn json(rel: &str) -> serde_json::Value {
    serde_json::from_str(&text(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

mod tree;

#[allow(unused_imports)] // not every test binary compares trees
pub use tree::hashes;

/// A fresh, empty directory under cargo's per-target temp dir.
pub fn fresh_dir(name: &str) -> PathBuf {
    tree::fresh_dir_in("alphalab-data", name)
}
