//! The output of `preprocess` — the on-disk contract other tools read: Parquet shards, their
//! manifest, and the commit protocol.
//!
//! ```text
//! OUT/
//! ├── manifest.json                      every committed shard: rows, bytes, sha256; the configs
//! ├── commits/<chunk>.json               one commit record per finished chunk (merged into ^)
//! ├── tracks/<chunk>.parquet             one row per audio track: features [129, T] as f16
//! ├── beatmaps/<chunk>.parquet           one row per tokenized beatmap: ids, stars, .osu text, metadata
//! ├── tokens/<tokenizer-hash>/<chunk>.parquet   one row per beatmap window
//! ├── shards-done/<shard>.json           source shards whose chunks are all committed
//! ├── set-groups/<group>.json            a Songs folder's groups of sets (its source shards)
//! └── rejects.jsonl                      everything skipped, with the reason
//! ```
//! A *chunk* is a fixed run of tracks of one source shard (e.g. `data-000003-c0001`), so output
//! names and contents depend only on the input and the configs — never on how many workers or
//! processes ran, or whether the run was interrupted. A chunk is committed by writing its
//! Parquet files (temp + rename), then its commit record (temp + rename); a chunk without a
//! commit record is redone on resume.

pub mod chunks;
pub mod done;
pub mod filter;
pub mod manifest;
pub mod read;
pub mod rejects;
pub mod rows;
pub mod training_rows;
pub mod writer;

use std::path::{Path, PathBuf};

use anyhow::Context;

/// The entries of `dir` (none when it does not exist).
pub fn entries_of(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    match std::fs::read_dir(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        entries => entries
            .and_then(|entries| entries.map(|e| e.map(|e| e.path())).collect())
            .with_context(|| format!("reading {}", dir.display())),
    }
}
