//! Output directories as maps of files, compared by name and bytes (shared by the CLI tests).
//! Include it with `#[path = "support/snapshot.rs"] mod snapshot;`.
#![allow(dead_code)] // shared by several test binaries; each uses part of it

use std::collections::BTreeMap;
use std::path::Path;

/// Every file under `dir` (relative path → bytes); empty when `dir` does not exist.
pub fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.insert(
                    path.strip_prefix(dir).unwrap().to_string_lossy().into_owned(),
                    std::fs::read(&path).unwrap(),
                );
            }
        }
    }
    files
}

/// Asserts two non-empty snapshots are equal, naming the files that differ (not dumping their bytes).
pub fn assert_same(got: &BTreeMap<String, Vec<u8>>, want: &BTreeMap<String, Vec<u8>>, what: &str) {
    assert!(!want.is_empty(), "{what}: nothing to compare");
    let names = |m: &BTreeMap<String, Vec<u8>>| m.keys().cloned().collect::<Vec<_>>();
    assert_eq!(names(got), names(want), "{what}: different files");
    let differing: Vec<&String> = want.keys().filter(|k| got[*k] != want[*k]).collect();
    assert!(differing.is_empty(), "{what}: these files differ: {differing:?}");
}
