//! Source shards whose every chunk is committed: `OUT/shards-done/<shard stem>.json`. A rerun
//! over the output does not download them from the hub again (their chunks would all be skipped
//! as committed anyway).
//!
//! ```text
//! source reader: shard read to its end, k chunks ─┐
//! run end (process 0): chunks <stem>-c0000 .. c(k−1) all committed? ─► shards-done/<stem>.json
//! next run: hub source skips every shard named there
//! ```

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::manifest::CommitRecord;
use crate::preprocess::plan::{chunk_name, shard_stem};

/// The folder of the markers, in the output directory.
pub const DONE_DIR: &str = "shards-done";

/// The marker of one finished source shard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DoneShard {
    /// The shard, as sources name it (`data-000003.tar`).
    pub shard: String,
    /// Its chunks, all committed.
    pub chunks: u64,
}

/// Writes the marker of `shard` (read to its end in `chunks` chunks) if all its chunks are
/// committed in `out`; returns whether it did.
pub fn mark_if_complete(out: &Path, shard: &str, chunks: u64) -> anyhow::Result<bool> {
    if !(0..chunks).all(|i| CommitRecord::is_committed(out, &chunk_name(shard, i))) {
        return Ok(false);
    }
    let path = out.join(DONE_DIR).join(format!("{}.json", shard_stem(shard)));
    std::fs::create_dir_all(out.join(DONE_DIR)).with_context(|| format!("creating {}", out.join(DONE_DIR).display()))?;
    let marker = DoneShard { shard: shard.to_owned(), chunks };
    operators::atomic::write(&path, &serde_json::to_vec_pretty(&marker)?).with_context(|| format!("writing {}", path.display()))?;
    Ok(true)
}

/// The shards marked done in `out` (none when it has no markers yet).
pub fn done_shards(out: &Path) -> anyhow::Result<BTreeSet<String>> {
    let dir = out.join(DONE_DIR);
    let mut done = BTreeSet::new();
    if dir.is_dir() {
        for entry in std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "json") {
                let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
                let marker: DoneShard =
                    serde_json::from_slice(&bytes).with_context(|| format!("reading {}", path.display()))?;
                done.insert(marker.shard);
            }
        }
    }
    Ok(done)
}
