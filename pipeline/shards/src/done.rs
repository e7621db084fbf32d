//! Source shards whose every chunk is committed: `OUT/shards-done/<shard stem>.json`. A rerun
//! over the output does not download them from the hub again (their chunks would all be skipped
//! as committed anyway).
//!
//! ```text
//! source reader: shard read to its end, k chunks ─┐
//! each commit on process 0, and the run's end: chunks <stem>-c0000 .. c(k−1) all committed?
//!                                               ─► shards-done/<stem>.json
//! next run (also after a crash): hub source skips every shard named there
//! ```

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Mutex;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::manifest::{CommitRecord, read_json_files};
use crate::chunks::{chunk_name, shard_stem};

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
/// committed in `out`; says whether it did.
pub fn mark_if_complete(out: &Path, shard: &str, chunks: u64) -> anyhow::Result<bool> {
    if !(0..chunks).all(|i| CommitRecord::is_committed(out, &chunk_name(shard, i))) {
        return Ok(false);
    }
    let dir = out.join(DONE_DIR);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join(format!("{}.json", shard_stem(shard)));
    let marker = DoneShard { shard: shard.to_owned(), chunks };
    operators::atomic::write(&path, &serde_json::to_vec_pretty(&marker)?)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(true)
}

/// Shards read to their end, with their chunk counts, whose markers are not written yet.
#[derive(Debug, Default)]
pub struct ReadThrough(Mutex<Vec<(String, u64)>>);

impl ReadThrough {
    /// `shard` was read to its end in `chunks` chunks.
    pub fn push(&self, shard: &str, chunks: u64) {
        self.0.lock().expect("not poisoned").push((shard.to_owned(), chunks));
    }

    /// Writes the markers of the shards whose chunks are all committed in `out` by now, and
    /// forgets them; the others wait for their chunks.
    pub fn mark_complete(&self, out: &Path) -> anyhow::Result<()> {
        let mut pending = self.0.lock().expect("not poisoned");
        let mut failed = None;
        pending.retain(|(shard, chunks)| match mark_if_complete(out, shard, *chunks) {
            Ok(marked) => !marked,
            Err(e) => {
                failed.get_or_insert(e);
                true
            }
        });
        failed.map_or(Ok(()), Err)
    }
}

/// The shards marked done in `out` (none when it has no markers yet).
pub fn done_shards(out: &Path) -> anyhow::Result<BTreeSet<String>> {
    let markers: Vec<DoneShard> = read_json_files(&out.join(DONE_DIR), "shard marker")?;
    Ok(markers.into_iter().map(|marker| marker.shard).collect())
}
