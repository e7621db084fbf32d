//! The chunk writer: gathers every part of a chunk on one worker and, once the frontier has
//! passed the chunk's last time, writes its Parquet files and commit record.
//!
//! ```text
//! ChunkItem ──exchange(hash(chunk))──► tracks ──frontier passes their time──► tracks/<chunk>.parquet (open)
//!                                  └─► stash[chunk] ──frontier ≥ chunk.end──► sort by time
//!     ──► close tracks/, write beatmaps/<chunk>.parquet, tokens/<hash>/<chunk>.parquet
//!     ──► commits/<chunk>.json
//!     ──► CommitRecord downstream (to worker 0, for the manifest)
//! ```
//! The `tracks` rows (the songs' features, nearly all the bytes) come encoded by the decode
//! threads, one row group per song ([`EncodedTrack`]): a reader streams the table a song at a
//! time, and the writer only copies each into the file, as soon as the frontier shows no earlier
//! track can still come, so the file is the same whatever the arrival order and the chunk's end
//! leaves little to write. The other tables are sorted by (time, beatmap, window) and written at
//! the end, so files are byte-identical whichever worker wrote them and in whatever order parts
//! arrived.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use timely::dataflow::Stream;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::Capability;
use timely::dataflow::operators::generic::Operator;

use super::progress::Progress;
use super::stages::{ChunkItem, ChunkPart};
use shards::manifest::CommitRecord;
use shards::rows::{BeatmapRow, EncodedTrack, TokenRow, beatmaps_batch, tokens_batch, tracks_schema};
use shards::writer::{ParquetStream, ShardFile, write_parquet};

/// Rows per row group of `tokens/`.
pub const TOKEN_ROWS_PER_GROUP: usize = 4096;
/// Rows per row group of `beatmaps/` (each row holds a `.osu` text, ~10–100 kB).
pub const BEATMAP_ROWS_PER_GROUP: usize = 256;

/// Everything needed to write a chunk.
#[derive(Debug, Clone)]
pub struct ChunkSink {
    /// Output directory.
    pub out: PathBuf,
    /// Key-value metadata for `tracks/` files.
    pub tracks_metadata: Vec<(&'static str, String)>,
    /// Key-value metadata for `beatmaps/` files.
    pub beatmaps_metadata: Vec<(&'static str, String)>,
    /// Key-value metadata for `tokens/<hash>/` files, by hash.
    pub tokens_metadata: BTreeMap<String, Vec<(&'static str, String)>>,
    /// `mapflow run`'s gate: a chunk that cannot be committed ends the run (its credit would
    /// never come back).
    pub gate: Option<crate::gate::ChunkGate>,
}

#[derive(Default)]
struct Stash {
    /// Tracks not yet in the `tracks` file, by time.
    tracks: BTreeMap<u64, EncodedTrack>,
    tokens: BTreeMap<String, Vec<TokenRow>>,
    rejects: Vec<shards::rejects::Reject>,
    filtered: shards::filter::FilteredCounts,
    /// `(time of the track, row)`.
    beatmaps: Vec<(u64, BeatmapRow)>,
}

/// A chunk's `tracks` file while its tracks arrive (opened with the first).
#[derive(Default)]
struct TrackFile {
    file: Option<ParquetStream>,
    /// Times of the rows written, in row order (beatmaps point at their track's row).
    times: Vec<u64>,
    audio_seconds: f64,
    /// The first failed write: the chunk is then not committed.
    error: Option<anyhow::Error>,
}

/// Writes `tokens/<hash>/<chunk>.parquet` from `rows`, in the one order every writer uses:
/// (track time, beatmap id, window start), stable, so rows of one beatmap keep their order.
pub fn write_token_shard(
    out: &std::path::Path,
    hash: &str,
    chunk: &str,
    rows: &mut [TokenRow],
    metadata: &[(&'static str, String)],
) -> anyhow::Result<ShardFile> {
    rows.sort_by(|a, b| {
        (a.seq, a.beatmap_id, a.window_start_ms.to_bits()).cmp(&(b.seq, b.beatmap_id, b.window_start_ms.to_bits()))
    });
    write_parquet(out, &token_shard_path(hash, chunk), &tokens_batch(rows)?, TOKEN_ROWS_PER_GROUP, metadata)
}

/// `tokens/<hash>/<chunk>.parquet`, relative to the output directory.
fn token_shard_path(hash: &str, chunk: &str) -> String {
    format!("tokens/{hash}/{chunk}.parquet")
}

/// `beatmaps/<chunk>.parquet`, relative to the output directory.
pub fn beatmap_shard_path(chunk: &str) -> String {
    format!("beatmaps/{chunk}.parquet")
}

/// `tracks/<chunk>.parquet`, relative to the output directory.
fn track_shard_path(chunk: &str) -> String {
    format!("tracks/{chunk}.parquet")
}

impl ChunkSink {
    /// Appends `rows` (in time order, after every row already written) to chunk `name`'s
    /// `tracks` file.
    fn append_tracks(&self, name: &str, file: &mut TrackFile, rows: impl IntoIterator<Item = EncodedTrack>) {
        for row in rows {
            if file.error.is_some() {
                return;
            }
            let written = (|| {
                let groups = row.row_group.map_err(anyhow::Error::msg)?;
                let stream = match &mut file.file {
                    Some(stream) => stream,
                    None => file.file.insert(ParquetStream::create(
                        &self.out,
                        &track_shard_path(name),
                        tracks_schema(),
                        &self.tracks_metadata,
                    )?),
                };
                stream.append(groups)
            })();
            match written {
                Ok(()) => {
                    file.times.push(row.seq);
                    file.audio_seconds += row.duration_s;
                }
                Err(e) => file.error = Some(e),
            }
        }
    }

    fn write(&self, name: &str, mut stash: Stash, mut track_file: TrackFile) -> anyhow::Result<CommitRecord> {
        let pending = std::mem::take(&mut stash.tracks);
        self.append_tracks(name, &mut track_file, pending.into_values());
        let TrackFile { file, times, audio_seconds, error } = track_file;
        // An input that could not be read this time (a failed download, an I/O error) must not
        // be committed as a reject: the chunk would be skipped for good by every later run.
        let unread =
            stash.rejects.iter().find(|r| r.is_retryable()).map(|r| {
                anyhow::anyhow!("it holds an input that could not be read this time ({r}); rerun to retry it")
            });
        // Rows of a tokenizer config this process does not know would be dropped silently.
        let unknown = stash.tokens.keys().find(|hash| !self.tokens_metadata.contains_key(*hash)).map(|hash| {
            anyhow::anyhow!("token rows of tokenizer config {hash}, which this process was not given (every process needs the same --tokenizer list)")
        });
        if let Some(e) = error.or(unread).or(unknown) {
            file.into_iter().for_each(ParquetStream::abandon);
            anyhow::bail!("{e:#}");
        }
        stash.rejects.sort();
        let (tracks, beatmaps_file) = match file {
            None => (None, None),
            Some(file) => {
                let tracks = file.finish()?;
                // Beatmaps point at their track's row; sorting by time keeps a track's beatmaps in
                // input order, the order `retokenize` tokenizes them in.
                let track_rows: HashMap<u64, u32> = times.iter().enumerate().map(|(i, &t)| (t, i as u32)).collect();
                stash.beatmaps.sort_by_key(|(seq, _)| *seq);
                let beatmaps: Vec<BeatmapRow> = stash
                    .beatmaps
                    .drain(..)
                    .map(|(seq, row)| BeatmapRow { track_row: track_rows[&seq], ..row })
                    .collect();
                let file = write_parquet(
                    &self.out,
                    &beatmap_shard_path(name),
                    &beatmaps_batch(&beatmaps)?,
                    BEATMAP_ROWS_PER_GROUP,
                    &self.beatmaps_metadata,
                )?;
                (Some(tracks), Some(file))
            }
        };
        let beatmaps = beatmaps_file.as_ref().map_or(0, |f| f.rows);
        let mut tokens = BTreeMap::new();
        for (hash, metadata) in &self.tokens_metadata {
            let mut rows = stash.tokens.remove(hash).unwrap_or_default();
            if rows.is_empty() && tracks.is_none() {
                continue;
            }
            tokens.insert(hash.clone(), write_token_shard(&self.out, hash, name, &mut rows, metadata)?);
        }
        let record = CommitRecord {
            chunk: name.to_owned(),
            tracks,
            tokens,
            rejects: stash.rejects,
            audio_seconds,
            beatmaps,
            beatmaps_file,
            filtered: stash.filtered,
        };
        record.commit(&self.out)?;
        Ok(record)
    }
}

/// A chunk being gathered.
struct OpenChunk {
    /// At the chunk's earliest time seen.
    cap: Capability<u64>,
    /// One past the chunk's last time.
    end: u64,
    stash: Stash,
    tracks: TrackFile,
}

/// Writes chunks as they complete; emits one [`CommitRecord`] per chunk.
pub fn write_chunks<'scope>(
    parts: Stream<'scope, u64, Vec<ChunkItem>>,
    sink: Arc<ChunkSink>,
    progress: Arc<Progress>,
) -> Stream<'scope, u64, Vec<CommitRecord>> {
    let route = Exchange::new(|item: &ChunkItem| {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::hash::DefaultHasher::new();
        item.chunk.name.hash(&mut hasher);
        hasher.finish()
    });
    parts
        .unary_frontier(route, "WriteChunks", move |_cap, _info| {
            let mut open: HashMap<String, OpenChunk> = HashMap::new();
            move |(input, frontier), output| {
                input.for_each(|cap, data| {
                    for item in data.drain(..) {
                        let chunk = open.entry(item.chunk.name.clone()).or_insert_with(|| OpenChunk {
                            cap: cap.delayed(&item.seq, 0),
                            end: item.chunk.end,
                            stash: Stash::default(),
                            tracks: TrackFile::default(),
                        });
                        if item.seq < *chunk.cap.time() {
                            chunk.cap = cap.delayed(&item.seq, 0);
                        }
                        let stash = &mut chunk.stash;
                        match item.part {
                            ChunkPart::Track(row) => {
                                stash.tracks.insert(row.seq, row);
                            }
                            ChunkPart::Tokens(hash, row) => stash.tokens.entry(hash).or_default().push(row),
                            ChunkPart::Reject(reject) => stash.rejects.push(reject),
                            ChunkPart::Beatmap(row) => stash.beatmaps.push((item.seq, row)),
                            ChunkPart::Filtered(counts) => stash.filtered.add(&counts),
                        }
                    }
                });
                // Tracks before the frontier are all here: encode them now, in time order.
                if let Some(&passed) = frontier.frontier().as_option() {
                    for (name, chunk) in &mut open {
                        let later = chunk.stash.tracks.split_off(&passed);
                        let ready = std::mem::replace(&mut chunk.stash.tracks, later);
                        sink.append_tracks(name, &mut chunk.tracks, ready.into_values());
                    }
                }
                let complete: Vec<String> = open
                    .iter()
                    .filter(|(_, chunk)| !frontier.frontier().less_than(&chunk.end))
                    .map(|(name, _)| name.clone())
                    .collect();
                for name in complete {
                    let OpenChunk { cap, stash, tracks, .. } = open.remove(&name).expect("listed above");
                    match sink.write(&name, stash, tracks) {
                        Ok(record) => output.session(&cap).give(record),
                        // A failed write (disk full, permissions) must not commit the chunk: the
                        // run ends with an error and a later run redoes the chunk.
                        Err(e) => {
                            progress.chunk_failed(&name, &e);
                            if let Some(gate) = &sink.gate {
                                gate.fail(format!("chunk {name} was not committed: {e:#}"));
                            }
                        }
                    }
                }
            }
        })
        .container::<Vec<_>>()
}

#[cfg(test)]
mod tests {
    use super::*;
    use shards::rows::{Split, TrackRow};

    /// Writes chunk `x-c0000` from `stash` with tokenizer configs `known`, which must fail and
    /// leave nothing behind (no commit record, its `tracks` file abandoned, temp file and all);
    /// the error.
    fn failed_write(known: &[&str], stash: Stash) -> String {
        let dir = tempfile::tempdir().unwrap();
        let sink = ChunkSink {
            out: dir.path().to_owned(),
            tracks_metadata: Vec::new(),
            beatmaps_metadata: Vec::new(),
            tokens_metadata: known.iter().map(|hash| ((*hash).to_owned(), Vec::new())).collect(),
            gate: None,
        };
        let error = format!("{:#}", sink.write("x-c0000", stash, TrackFile::default()).unwrap_err());
        assert!(!CommitRecord::is_committed(dir.path(), "x-c0000"));
        let left: Vec<_> = std::fs::read_dir(dir.path().join("tracks")).unwrap().map(|e| e.unwrap().path()).collect();
        assert!(left.is_empty(), "the chunk's files are abandoned: {left:?}");
        error
    }

    #[test]
    fn a_chunk_with_token_rows_of_a_config_the_writer_lacks_fails_and_leaves_nothing() {
        let mut stash = Stash::default();
        // The track comes first: the `tracks` file is started.
        stash.tracks.insert(0, TrackRow::example(0, Split::Train).encode());
        stash.tokens.insert("unknown".to_owned(), vec![TokenRow::example()]);
        let error = failed_write(&["known"], stash);
        assert!(error.contains("tokenizer config unknown") && error.contains("--tokenizer"), "{error}");
    }

    #[test]
    fn a_track_that_could_not_be_encoded_fails_its_chunk_naming_it_and_leaves_nothing() {
        let mut stash = Stash::default();
        stash.tracks.insert(0, TrackRow::example(0, Split::Train).encode());
        let failed = EncodedTrack {
            row_group: Err("encoding the tracks row of x.tar:000002: out of memory".into()),
            ..TrackRow::example(1, Split::Train).encode()
        };
        stash.tracks.insert(1, failed);
        let error = failed_write(&[], stash);
        assert!(error.contains("encoding the tracks row of x.tar:000002: out of memory"), "{error}");
    }
}
