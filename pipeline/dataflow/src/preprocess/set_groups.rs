//! The groups of a Songs folder's sets (`sources::songs::groups`) recorded in the output, and the
//! removal of the chunks of groups the folder no longer has.
//!
//! ```text
//! OUT/set-groups/<group>.json     {"group": "songs-…", "root": "/…/Songs", "sets": ["123 A - B", …]}
//!
//! preprocess --source songs:ROOT, before the first track:
//!   a recorded group that is not one of this run's, and was made from ROOT or holds a set ROOT
//!   still has (a set was added to it or removed from it, it was split, or ROOT moved) is
//!   superseded:
//!     1. its chunks' commit records removed, the manifest rewritten: no reader sees them
//!     2. its chunks' files in tracks/, beatmaps/, tokens/*/ and its shards-done marker removed
//!     3. its record removed
//!   then this run's groups are recorded
//! ```
//! So a rerun over a changed folder leaves the output it would write into a fresh directory. A
//! run killed between the steps leaves the record, and the next run finishes the removal. The
//! chunks `songs-cNNNN` of outputs written before sets were grouped (the whole folder was one
//! shard) are superseded by any Songs-folder run. The groups of another folder, which share no
//! set with ROOT, are left as they are.

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::sources::songs::SetGroup;
use shards::done::DONE_DIR;
use shards::entries_of;
use shards::manifest::{CommitRecord, Manifest, ManifestConfigs, read_commits, read_json_files};

/// The folder of the group records, in the output directory.
pub const SET_GROUPS_DIR: &str = "set-groups";

/// The shard of the chunks written before sets were grouped.
const UNGROUPED_SHARD: &str = "songs";

/// A group as recorded: with the folder it was made from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct GroupRecord {
    group: String,
    root: String,
    sets: Vec<String>,
}

/// Removes the chunks of the recorded groups this run's `groups` of the folder `root` supersede,
/// and records `groups`; returns the names of the chunks removed.
pub fn supersede(
    out: &Path,
    root: &Path,
    groups: &[SetGroup],
    configs: &ManifestConfigs,
) -> anyhow::Result<Vec<String>> {
    let dir = out.join(SET_GROUPS_DIR);
    let root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_owned()).display().to_string();
    let recorded: Vec<GroupRecord> = read_json_files(&dir, "set group record")?;
    let current: BTreeSet<&str> = groups.iter().map(|g| g.group.as_str()).collect();
    let sets: HashSet<&str> = groups.iter().flat_map(|g| g.sets.iter().map(String::as_str)).collect();
    let superseded: Vec<&GroupRecord> = recorded
        .iter()
        .filter(|g| {
            !current.contains(g.group.as_str()) && (g.root == root || g.sets.iter().any(|s| sets.contains(s.as_str())))
        })
        .collect();
    let mut shards: Vec<&str> = superseded.iter().map(|g| g.group.as_str()).collect();
    shards.push(UNGROUPED_SHARD);

    let removed: Vec<String> = read_commits(out)?
        .into_iter()
        .map(|record| record.chunk)
        .filter(|chunk| shards.iter().any(|shard| is_chunk_of(chunk, shard)))
        .collect();
    for chunk in &removed {
        CommitRecord::remove(out, chunk)?;
    }
    if !removed.is_empty() {
        Manifest::write_merged(out, configs)?;
        log::info!(
            "{}: the sets of {root} changed: removed the {} chunks of the groups they left",
            out.display(),
            removed.len()
        );
    }
    for table in table_dirs(out)? {
        for file in entries_of(&table)? {
            let chunk = file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            if shards.iter().any(|shard| is_chunk_of(&chunk, shard)) {
                operators::atomic::remove(&file)?;
            }
        }
    }
    for shard in &shards {
        operators::atomic::remove(&out.join(DONE_DIR).join(format!("{shard}.json")))?;
    }
    for group in superseded {
        operators::atomic::remove(&record_path(&dir, &group.group))?;
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    for group in groups {
        let record = GroupRecord { group: group.group.clone(), root: root.clone(), sets: group.sets.clone() };
        if !recorded.contains(&record) {
            let path = record_path(&dir, &group.group);
            operators::atomic::write(&path, &serde_json::to_vec_pretty(&record)?)
                .with_context(|| format!("writing {}", path.display()))?;
        }
    }
    Ok(removed)
}

fn record_path(dir: &Path, group: &str) -> PathBuf {
    dir.join(format!("{group}.json"))
}

/// Whether `chunk` is `<shard>-c<digits>`.
pub(crate) fn is_chunk_of(chunk: &str, shard: &str) -> bool {
    let index = chunk.strip_prefix(shard).and_then(|rest| rest.strip_prefix("-c"));
    index.is_some_and(|i| !i.is_empty() && i.bytes().all(|b| b.is_ascii_digit()))
}

/// `tracks/`, `beatmaps/` and every `tokens/<hash>/` that exist.
pub(crate) fn table_dirs(out: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut dirs: Vec<PathBuf> = ["tracks", "beatmaps"].iter().map(|t| out.join(t)).collect();
    dirs.extend(entries_of(&out.join("tokens"))?);
    Ok(dirs.into_iter().filter(|d| d.is_dir()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_of_a_shard_are_named_shard_c_digits() {
        assert!(is_chunk_of("songs-0123456789abcdef-c0000", "songs-0123456789abcdef"));
        assert!(is_chunk_of("songs-c0012", "songs"));
        assert!(!is_chunk_of("songs-c0123456789abcde-c0000", "songs"));
        assert!(!is_chunk_of("songs-0123456789abcdef-c0000", "songs"));
        assert!(!is_chunk_of("songs-c", "songs"));
    }
}
