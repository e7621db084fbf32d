//! The chunk writer: gathers every part of a chunk on one worker and, once the frontier has
//! passed the chunk's last time, writes its Parquet files and commit record.
//!
//! ```text
//! ChunkItem ──exchange(hash(chunk))──► stash[chunk] ──frontier ≥ chunk.end──► sort by time
//!     ──► tracks/<chunk>.parquet, tokens/<hash>/<chunk>.parquet ──► commits/<chunk>.json
//!     ──► CommitRecord downstream (to worker 0, for the manifest)
//! ```
//! Rows are sorted by (time, beatmap, window) before writing, so files are byte-identical
//! whichever worker wrote them and in whatever order parts arrived.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use timely::dataflow::Stream;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::Capability;
use timely::dataflow::operators::generic::Operator;

use super::stages::{ChunkItem, ChunkPart};
use crate::shards::manifest::CommitRecord;
use crate::shards::rows::{TokenRow, TrackRow, tokens_batch, tracks_batch};
use crate::shards::writer::write_parquet;

/// Rows per row group of `tracks/` (each row holds a whole song's features, ~2 MB).
pub const TRACK_ROWS_PER_GROUP: usize = 16;
/// Rows per row group of `tokens/`.
pub const TOKEN_ROWS_PER_GROUP: usize = 4096;

/// Everything needed to write a chunk.
#[derive(Debug, Clone)]
pub struct ChunkSink {
    /// Output directory.
    pub out: PathBuf,
    /// Key-value metadata for `tracks/` files.
    pub tracks_metadata: Vec<(&'static str, String)>,
    /// Key-value metadata for `tokens/<hash>/` files, by hash.
    pub tokens_metadata: BTreeMap<String, Vec<(&'static str, String)>>,
}

#[derive(Default)]
struct Stash {
    tracks: Vec<TrackRow>,
    tokens: BTreeMap<String, Vec<TokenRow>>,
    rejects: Vec<crate::rejects::Reject>,
    beatmaps: u64,
}

impl ChunkSink {
    fn write(&self, name: &str, mut stash: Stash) -> anyhow::Result<CommitRecord> {
        stash.tracks.sort_by_key(|r| r.seq);
        stash.rejects.sort();
        let audio_seconds = stash.tracks.iter().map(|r| r.duration_s).sum();
        let tracks = if stash.tracks.is_empty() {
            None
        } else {
            Some(write_parquet(
                &self.out,
                &format!("tracks/{name}.parquet"),
                &tracks_batch(&stash.tracks)?,
                TRACK_ROWS_PER_GROUP,
                &self.tracks_metadata,
            )?)
        };
        let mut tokens = BTreeMap::new();
        for (hash, metadata) in &self.tokens_metadata {
            let mut rows = stash.tokens.remove(hash).unwrap_or_default();
            if rows.is_empty() && tracks.is_none() {
                continue;
            }
            rows.sort_by(|a, b| {
                (a.seq, a.beatmap_id, a.window_start_ms.to_bits()).cmp(&(b.seq, b.beatmap_id, b.window_start_ms.to_bits()))
            });
            let file = write_parquet(
                &self.out,
                &format!("tokens/{hash}/{name}.parquet"),
                &tokens_batch(&rows)?,
                TOKEN_ROWS_PER_GROUP,
                metadata,
            )?;
            tokens.insert(hash.clone(), file);
        }
        let record = CommitRecord {
            chunk: name.to_owned(),
            tracks,
            tokens,
            rejects: stash.rejects,
            audio_seconds,
            beatmaps: stash.beatmaps,
        };
        record.commit(&self.out)?;
        Ok(record)
    }
}

/// Writes chunks as they complete; emits one [`CommitRecord`] per chunk.
pub fn write_chunks<'scope>(
    parts: Stream<'scope, u64, Vec<ChunkItem>>,
    sink: Arc<ChunkSink>,
) -> Stream<'scope, u64, Vec<CommitRecord>> {
    let route = Exchange::new(|item: &ChunkItem| {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::hash::DefaultHasher::new();
        item.chunk.name.hash(&mut hasher);
        hasher.finish()
    });
    parts
        .unary_frontier(route, "WriteChunks", move |_cap, _info| {
            let mut open: HashMap<String, (Capability<u64>, u64, Stash)> = HashMap::new();
            move |(input, frontier), output| {
                input.for_each(|cap, data| {
                    for item in data.drain(..) {
                        let entry = open
                            .entry(item.chunk.name.clone())
                            .or_insert_with(|| (cap.delayed(&item.seq, 0), item.chunk.end, Stash::default()));
                        if item.seq < *entry.0.time() {
                            entry.0 = cap.delayed(&item.seq, 0);
                        }
                        let stash = &mut entry.2;
                        match item.part {
                            ChunkPart::Track(row) => stash.tracks.push(row),
                            ChunkPart::Tokens(hash, row) => stash.tokens.entry(hash).or_default().push(row),
                            ChunkPart::Reject(reject) => stash.rejects.push(reject),
                            ChunkPart::Beatmap => stash.beatmaps += 1,
                        }
                    }
                });
                let complete: Vec<String> = open
                    .iter()
                    .filter(|(_, (_, end, _))| !frontier.frontier().less_than(end))
                    .map(|(name, _)| name.clone())
                    .collect();
                for name in complete {
                    let (cap, _, stash) = open.remove(&name).expect("listed above");
                    match sink.write(&name, stash) {
                        Ok(record) => output.session(&cap).give(record),
                        // A failed write (disk full, permissions) must not commit the chunk: the
                        // run reports it and a later run redoes the chunk.
                        Err(e) => log::error!("chunk {name}: not committed: {e:#}"),
                    }
                }
            }
        })
        .container::<Vec<_>>()
}
