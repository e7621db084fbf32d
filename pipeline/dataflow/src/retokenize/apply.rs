//! Applies the changes of the token-shard collection to the output directory, chunk by chunk,
//! once the frontier has passed their round.
//!
//! ```text
//! ((config, job), t, ±1) ──exchange(hash(chunk))──► stash[t] ──frontier > t──► consolidate
//!    per chunk: +1 ─► tokenize job with the new configs (one parse per beatmap) ─► tokens/<hash>/<chunk>.parquet
//!               −1 only ─► forget the config in the commit record, then delete its file
//!    ─► commits/<chunk>.json (one atomic rewrite) ─► ShardChange* (to worker 0, for the summary)
//! ```
//! Round 0 is the state already on disk (the manifest's configs over the committed chunks): it
//! is arranged, never written, and its updates are dropped as they arrive. A shard whose commit record already lists it is skipped, so a
//! killed run resumes where it stopped. One worker owns each chunk, so commit records are
//! never written concurrently.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use differential_dataflow::VecCollection;
use differential_dataflow::consolidation::consolidate;
use serde::{Deserialize, Serialize};
use timely::dataflow::Stream;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::Capability;
use timely::dataflow::operators::generic::Operator;

use super::dataflow::stable_hash;
use super::refs::{ChunkJob, ConfigRef};
use crate::panic::catch_panic;
use crate::preprocess::chunk_writer::{beatmap_shard_path, write_token_shard};
use crate::preprocess::tokenize::{PreparedBeatmap, TokenizerStage, window_rows};
use crate::preprocess::tokens_metadata;
use shards::manifest::CommitRecord;
use shards::read::read_beatmaps;
use shards::rejects::Reject;
use shards::rows::TokenRow;
use shards::writer::ShardFile;

/// A token shard: the config and what it is made from (an element of the collection).
type Shard = (ConfigRef, ChunkJob);
/// A round's updates, with the capability to report on them.
type Round = (Capability<u64>, Vec<(Shard, isize)>);
/// A chunk's consolidated changes: shards inserted, configs retracted.
type ChunkChanges = (Vec<Shard>, BTreeSet<ConfigRef>);

/// The round whose updates describe what is already on disk.
pub const ON_DISK: u64 = 0;

/// What happened to one token shard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Outcome {
    /// Written.
    Written {
        /// Token rows.
        rows: u64,
        /// Beatmaps tokenized for this chunk (on the first config written at once, else 0).
        beatmaps: u64,
    },
    /// Already committed by an interrupted earlier run.
    Resumed,
    /// Deleted (its config was dropped).
    Deleted,
    /// Not done; the message says why (the chunk is left as it was for this config).
    Failed(String),
}

/// One token shard's change, reported to worker 0.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardChange {
    /// The chunk.
    pub chunk: String,
    /// The config hash.
    pub hash: String,
    /// What happened.
    pub outcome: Outcome,
    /// Beatmaps that could not be tokenized (recorded in the chunk's commit record).
    pub rejects: u64,
}

/// Where shards go, and what their metadata says.
#[derive(Debug, Clone)]
pub struct ShardTarget {
    /// The output directory.
    pub out: PathBuf,
    /// The output's feature config hash (in every token file's metadata).
    pub feature_hash: String,
}

impl ShardTarget {
    /// Applies one chunk's consolidated changes at one round.
    /// `rewritten`: configs whose job changed (retracted and inserted at this round).
    fn apply_chunk(
        &self,
        chunk: &str,
        added: Vec<Shard>,
        dropped: Vec<ConfigRef>,
        rewritten: &BTreeSet<String>,
    ) -> Vec<ShardChange> {
        let change =
            |hash: &str, outcome| ShardChange { chunk: chunk.to_owned(), hash: hash.to_owned(), outcome, rejects: 0 };
        let mut record = match CommitRecord::read(&self.out, chunk) {
            Ok(record) => record,
            Err(e) => {
                let all = added.iter().map(|(c, _)| c).chain(&dropped);
                return all.map(|c| change(&c.hash, Outcome::Failed(format!("{e:#}")))).collect();
            }
        };
        let original = record.clone();
        let mut changes = Vec::new();
        // Configs already committed here (an interrupted run) are not redone.
        let (done, todo): (Vec<_>, Vec<_>) =
            added.into_iter().partition(|(c, _)| record.tokens.contains_key(&c.hash) && !rewritten.contains(&c.hash));
        changes.extend(done.iter().map(|(c, _)| change(&c.hash, Outcome::Resumed)));
        // Every config added at this round sees the same job (the chunk's content at this round).
        if let Some((_, job)) = todo.first() {
            let configs: Vec<ConfigRef> = todo.iter().map(|(c, _)| c.clone()).collect();
            match self.tokenize(job, &configs) {
                Ok((files, mut beatmaps, rejects)) => {
                    let new_rejects: Vec<Reject> =
                        rejects.into_iter().filter(|r| !record.rejects.contains(r)).collect();
                    // Beatmaps and rejects are shared by the configs: counted once, on the first.
                    let mut rejects = new_rejects.len() as u64;
                    for (hash, file) in files {
                        let outcome = Outcome::Written { rows: file.rows, beatmaps: std::mem::take(&mut beatmaps) };
                        changes.push(ShardChange { rejects: std::mem::take(&mut rejects), ..change(&hash, outcome) });
                        record.tokens.insert(hash, file);
                    }
                    record.rejects.extend(new_rejects);
                    record.rejects.sort();
                }
                Err(e) => changes.extend(configs.iter().map(|c| change(&c.hash, Outcome::Failed(format!("{e:#}"))))),
            }
        }
        let dropped: Vec<ConfigRef> = dropped.into_iter().filter(|c| record.tokens.contains_key(&c.hash)).collect();
        let files: Vec<String> = dropped.iter().filter_map(|c| record.tokens.remove(&c.hash)).map(|f| f.path).collect();
        // The record stops naming a file before the file goes, so no record names a missing file.
        if record != original
            && let Err(e) = record.commit(&self.out)
        {
            let message = format!("{e:#}");
            return changes
                .into_iter()
                .map(|c| ShardChange { outcome: Outcome::Failed(message.clone()), ..c })
                .chain(dropped.iter().map(|c| change(&c.hash, Outcome::Failed(message.clone()))))
                .collect();
        }
        for (config, path) in dropped.iter().zip(files) {
            let outcome = match std::fs::remove_file(self.out.join(&path)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Outcome::Failed(format!("deleting {path}: {e}")),
                _ => Outcome::Deleted,
            };
            changes.push(change(&config.hash, outcome));
        }
        changes
    }

    /// Tokenizes `job` with `configs` (each beatmap parsed once for all of them) and writes one
    /// token shard per config: the files by hash, the beatmaps tokenized, the beatmaps rejected.
    fn tokenize(
        &self,
        job: &ChunkJob,
        configs: &[ConfigRef],
    ) -> anyhow::Result<(BTreeMap<String, ShardFile>, u64, Vec<Reject>)> {
        let stages = configs
            .iter()
            .map(ConfigRef::stage)
            .collect::<Result<Vec<TokenizerStage>, String>>()
            .map_err(anyhow::Error::msg)?;
        let stored = if job.beatmaps.is_empty() {
            Vec::new()
        } else {
            read_beatmaps(&self.out.join(beatmap_shard_path(&job.chunk)))?
        };
        let mut rows: HashMap<String, Vec<TokenRow>> = HashMap::new();
        let (mut tokenized, mut rejects) = (0, Vec::new());
        for timed in &job.beatmaps {
            let beatmap = stored
                .get(timed.row as usize)
                .ok_or_else(|| anyhow::anyhow!("{}: no row {}", beatmap_shard_path(&job.chunk), timed.row))?;
            let ids = (beatmap.beatmap_id, beatmap.beatmapset_id);
            let windows = catch_panic(&beatmap.name, "tokenize", || {
                let prepared = PreparedBeatmap::from_stored(&beatmap.name, &beatmap.osu_text, beatmap.stars)?;
                Ok(window_rows(&stages, timed.track.facts(), ids, &prepared))
            });
            match windows {
                Ok(windows) => {
                    tokenized += 1;
                    for (hash, row) in windows {
                        rows.entry(hash).or_default().push(row);
                    }
                }
                Err(reject) => rejects.push(reject),
            }
        }
        let mut files = BTreeMap::new();
        for stage in &stages {
            let mut shard_rows = rows.remove(stage.hash()).unwrap_or_default();
            let metadata = tokens_metadata(&self.feature_hash, stage);
            let file = write_token_shard(&self.out, stage.hash(), &job.chunk, &mut shard_rows, &metadata)?;
            files.insert(stage.hash().to_owned(), file);
        }
        Ok((files, tokenized, rejects))
    }
}

/// Applies the collection's changes at every completed round after [`ON_DISK`]; emits one
/// [`ShardChange`] per shard touched.
pub fn apply_changes<'scope>(
    shards: VecCollection<'scope, u64, Shard>,
    target: Arc<ShardTarget>,
) -> Stream<'scope, u64, Vec<ShardChange>> {
    let route = Exchange::new(|((_, job), _, _): &(Shard, u64, isize)| stable_hash(&job.chunk));
    shards
        .inner
        .unary_frontier(route, "ApplyTokenShards", move |_cap, _info| {
            let mut rounds: BTreeMap<u64, Round> = BTreeMap::new();
            move |(input, frontier), output| {
                input.for_each(|cap, data| {
                    // What is on disk is never applied: it is dropped as it arrives, so only
                    // the change is held (not every config × chunk of the output).
                    for (shard, time, diff) in data.drain(..).filter(|(_, time, _)| *time != ON_DISK) {
                        rounds.entry(time).or_insert_with(|| (cap.delayed(&time, 0), Vec::new())).1.push((shard, diff));
                    }
                });
                let complete: Vec<u64> = rounds.keys().copied().filter(|t| !frontier.less_equal(t)).collect();
                for time in complete {
                    let (cap, mut updates) = rounds.remove(&time).expect("listed above");
                    consolidate(&mut updates);
                    let mut per_chunk: BTreeMap<String, ChunkChanges> = BTreeMap::new();
                    for ((config, job), diff) in updates {
                        let entry = per_chunk.entry(job.chunk.clone()).or_default();
                        if diff > 0 {
                            entry.0.push((config, job));
                        } else {
                            entry.1.insert(config);
                        }
                    }
                    let mut session = output.session(&cap);
                    for (chunk, (added, removed)) in per_chunk {
                        // A retraction with an insertion of the same config is a rewrite: the
                        // new job replaces the file, nothing is deleted.
                        let added_hashes: BTreeSet<String> = added.iter().map(|(c, _)| c.hash.clone()).collect();
                        let (rewritten, dropped): (Vec<ConfigRef>, Vec<ConfigRef>) =
                            removed.into_iter().partition(|c| added_hashes.contains(&c.hash));
                        let rewritten: BTreeSet<String> = rewritten.into_iter().map(|c| c.hash).collect();
                        session.give_iterator(target.apply_chunk(&chunk, added, dropped, &rewritten).into_iter());
                    }
                }
            }
        })
        .container::<Vec<_>>()
}
