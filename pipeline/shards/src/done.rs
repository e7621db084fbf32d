//! Source shards whose every chunk is committed: `OUT/shards-done/<marker>.json`. A rerun over
//! the output does not download them from the hub again (their chunks would all be skipped as
//! committed anyway).
//!
//! ```text
//! source reader: shard read to its end, k chunks ─┐
//! each commit on process 0, and the run's end: chunks <stem>-c0000 .. c(k−1) all committed?
//!                                               ─► shards-done/<stem>.json             (local shards)
//!                                                  shards-done/<config>--<stem>.json   (hub: with the
//!                                                  repo, config, commit and the shard's size + SHA-256)
//! next run (also after a crash): hub source skips every shard whose marker has its content
//! ```
//! A hub shard's marker names the config, so markers of `compressed/` and `original/` never
//! collide, and records the content it was read with: a shard counts as done only while the
//! listing still lists that content for it ([`done_shards`]).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::manifest::{CommitRecord, SourceRevision, read_json_files};
use crate::chunks::{chunk_name, shard_stem};

/// The folder of the markers, in the output directory.
pub const DONE_DIR: &str = "shards-done";

/// A hub shard's content as the tree lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShardContent {
    /// Bytes.
    pub size: u64,
    /// SHA-256 (lower-case hex), when listed (LFS files).
    pub sha256: Option<String>,
}

/// A hub source pinned to a commit, with the content of each of its config's shards there (by
/// file name, `data-000003.tar`): what markers record and are checked against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinnedSource {
    /// The data set, config and commit.
    pub revision: SourceRevision,
    /// Every shard of the config at that commit (not only the selected ones).
    pub shards: BTreeMap<String, ShardContent>,
}

/// The marker of one finished source shard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DoneShard {
    /// The shard, as sources name it (`data-000003.tar`).
    pub shard: String,
    /// Its chunks, all committed.
    pub chunks: u64,
    /// Hub shards: the data set, config and commit it was read at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<SourceRevision>,
    /// Hub shards: the content it was read with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<ShardContent>,
}

/// The marker file of `shard`: `<stem>.json`, or `<config>--<stem>.json` for a hub shard.
fn marker_path(out: &Path, shard: &str, source: Option<&SourceRevision>) -> PathBuf {
    let name = match source {
        Some(source) => format!("{}--{}.json", shard_stem(&source.config), shard_stem(shard)),
        None => format!("{}.json", shard_stem(shard)),
    };
    out.join(DONE_DIR).join(name)
}

/// Writes the marker of `shard` (read to its end in `chunks` chunks, from `pinned` when a hub
/// source) if all its chunks are committed in `out`; says whether it did.
pub fn mark_if_complete(out: &Path, shard: &str, chunks: u64, pinned: Option<&PinnedSource>) -> anyhow::Result<bool> {
    if !(0..chunks).all(|i| CommitRecord::is_committed(out, &chunk_name(shard, i))) {
        return Ok(false);
    }
    let dir = out.join(DONE_DIR);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let source = pinned.map(|p| p.revision.clone());
    let path = marker_path(out, shard, source.as_ref());
    let content = pinned.and_then(|p| p.shards.get(shard).cloned());
    let marker = DoneShard { shard: shard.to_owned(), chunks, source, content };
    operators::atomic::write(&path, &serde_json::to_vec_pretty(&marker)?)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(true)
}

/// Shards read to their end, with their chunk counts, whose markers are not written yet.
#[derive(Debug, Default)]
pub struct ReadThrough {
    pending: Mutex<Vec<(String, u64)>>,
    pinned: Option<PinnedSource>,
}

impl ReadThrough {
    /// Markers for shards of `pinned` (a hub source), or of a local source when `None`.
    pub fn new(pinned: Option<PinnedSource>) -> Self {
        Self { pending: Mutex::default(), pinned }
    }

    /// `shard` was read to its end in `chunks` chunks.
    pub fn push(&self, shard: &str, chunks: u64) {
        self.pending.lock().expect("not poisoned").push((shard.to_owned(), chunks));
    }

    /// Writes the markers of the shards whose chunks are all committed in `out` by now, and
    /// forgets them; the others wait for their chunks.
    pub fn mark_complete(&self, out: &Path) -> anyhow::Result<()> {
        let mut pending = self.pending.lock().expect("not poisoned");
        let mut failed = None;
        pending.retain(|(shard, chunks)| match mark_if_complete(out, shard, *chunks, self.pinned.as_ref()) {
            Ok(marked) => !marked,
            Err(e) => {
                failed.get_or_insert(e);
                true
            }
        });
        failed.map_or(Ok(()), Err)
    }
}

/// Every marker in `out` (none when it has no markers yet).
pub fn markers(out: &Path) -> anyhow::Result<Vec<DoneShard>> {
    read_json_files(&out.join(DONE_DIR), "shard marker")
}

/// The shards marked done in `out` for this source: for a local source (`pinned` is `None`),
/// every marker without a hub source; for a hub source, the markers of its data set and config
/// whose recorded content is the one `pinned` lists for the shard now.
pub fn done_shards(out: &Path, pinned: Option<&PinnedSource>) -> anyhow::Result<BTreeSet<String>> {
    Ok(markers(out)?.into_iter().filter(|marker| is_done_for(marker, pinned)).map(|marker| marker.shard).collect())
}

/// Whether `marker` says its shard is done for the source `pinned` (see [`done_shards`]).
pub fn is_done_for(marker: &DoneShard, pinned: Option<&PinnedSource>) -> bool {
    match (pinned, &marker.source) {
        (None, None) => true,
        (Some(pinned), Some(source)) => {
            source.repo == pinned.revision.repo
                && source.config == pinned.revision.config
                && marker.content.is_some()
                && marker.content.as_ref() == pinned.shards.get(&marker.shard)
        }
        _ => false,
    }
}

/// Removes the marker of `shard` (as [`mark_if_complete`] wrote it for `source`), if any.
pub fn remove_marker(out: &Path, shard: &str, source: Option<&SourceRevision>) -> anyhow::Result<()> {
    Ok(operators::atomic::remove(&marker_path(out, shard, source))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pinned(config: &str, sha: &str, content: &[(&str, &str)]) -> PinnedSource {
        PinnedSource {
            revision: SourceRevision { repo: "o/n".into(), config: config.into(), sha: sha.into() },
            shards: content
                .iter()
                .map(|(shard, digest)| (shard.to_string(), ShardContent { size: 10, sha256: Some(digest.to_string()) }))
                .collect(),
        }
    }

    fn commit(out: &Path, chunk: &str) {
        let record = CommitRecord {
            chunk: chunk.into(),
            tracks: None,
            beatmaps_file: None,
            tokens: BTreeMap::new(),
            rejects: Vec::new(),
            audio_seconds: 0.0,
            beatmaps: 0,
            filtered: Default::default(),
        };
        record.commit(out).unwrap();
    }

    #[test]
    fn hub_markers_name_their_config_and_count_only_for_the_content_they_were_read_with() {
        let out = tempfile::tempdir().unwrap();
        let out = out.path();
        commit(out, "data-000000-c0000");
        let compressed = pinned("compressed", "aaa", &[("data-000000.tar", "d0")]);
        let original = pinned("original", "aaa", &[("data-000000.tar", "e0")]);
        assert!(mark_if_complete(out, "data-000000.tar", 1, Some(&compressed)).unwrap());
        assert!(mark_if_complete(out, "data-000000.tar", 1, Some(&original)).unwrap());
        assert!(mark_if_complete(out, "data-000000.tar", 1, None).unwrap());
        let mut files: Vec<String> = crate::entries_of(&out.join(DONE_DIR))
            .unwrap()
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        files.sort();
        assert_eq!(files, ["compressed--data-000000.json", "data-000000.json", "original--data-000000.json"]);
        let marker: DoneShard =
            serde_json::from_slice(&std::fs::read(out.join(DONE_DIR).join("compressed--data-000000.json")).unwrap())
                .unwrap();
        assert_eq!(marker.source, Some(compressed.revision.clone()));
        assert_eq!(marker.content.as_ref().and_then(|c| c.sha256.as_deref()), Some("d0"));

        let one: BTreeSet<String> = ["data-000000.tar".to_owned()].into();
        assert_eq!(done_shards(out, Some(&compressed)).unwrap(), one);
        assert_eq!(done_shards(out, None).unwrap(), one, "the local marker");
        // Another commit with the same content: still done; with other content: not.
        let moved = pinned("compressed", "bbb", &[("data-000000.tar", "d0")]);
        assert_eq!(done_shards(out, Some(&moved)).unwrap(), one);
        let changed = pinned("compressed", "bbb", &[("data-000000.tar", "d1")]);
        assert!(done_shards(out, Some(&changed)).unwrap().is_empty());
        remove_marker(out, "data-000000.tar", Some(&original.revision)).unwrap();
        assert!(!out.join(DONE_DIR).join("original--data-000000.json").exists());
        assert!(done_shards(out, Some(&original)).unwrap().is_empty());
        // A shard whose chunks are not all committed is not marked.
        assert!(!mark_if_complete(out, "data-000001.tar", 1, Some(&compressed)).unwrap());
    }
}
