//! `mapflow retokenize`: new tokenizer configs over an existing output, without decoding audio.
//!
//! ```text
//!  commits/ + tracks/ (3 narrow columns) + beatmaps/ (track_row) ─► refs ─► InputSessions
//!  manifest configs (round 0: on disk) ± --tokenizer / --drop (round 1) ─► InputSession
//!        │ dataflow::token_shards: arrange refs, join, reduce per chunk, join with configs
//!        ▼
//!  apply::apply_changes: +1 write tokens/<hash>/<chunk>.parquet, −1 delete it; commit records
//!        │ exchange(0)
//!        ▼
//!  worker 0: tally ─► manifest.json (configs ± changes) + rejects.jsonl
//! ```
//! The token shards are a differential collection of (configs × committed chunks); round 0
//! holds what the manifest says is on disk, round 1 the requested change, so only the change
//! is written: a new config's shards are inserted, a dropped config's retracted (deleted).
//! Nothing reads `tracks.features` or the source; the summary reports the audio decodes this
//! process made (zero). Output for a config is byte-identical to `preprocess` with that config:
//! the same chunks, the same row order and code (`window_rows`, `write_token_shard`).

pub mod apply;
pub mod dataflow;
pub mod refs;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use differential_dataflow::input::Input;
use serde::{Deserialize, Serialize};
use timely::dataflow::ProbeHandle;
use timely::dataflow::operators::{Exchange, Inspect, Probe};

use self::apply::{Outcome, ShardChange, ShardTarget};
use self::refs::{ConfigRef, CorpusRefs, load_corpus};
use crate::preprocess::ClusterArgs;
use crate::preprocess::tokenize::TokenizerStage;
use shards::manifest::Manifest;

/// What `retokenize` is asked to do.
#[derive(Debug, Clone)]
pub struct RetokenizeOptions {
    /// The output directory of an earlier `preprocess`.
    pub out: PathBuf,
    /// Configs to add (one `tokens/<hash>/` table each); configs already there are left alone.
    pub add: Vec<TokenizerStage>,
    /// Hashes of configs to drop (their token shards are deleted).
    pub drop: Vec<String>,
    /// Worker threads.
    pub workers: usize,
}

/// What a run did, printed as JSON at the end.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RetokenizeSummary {
    /// Configs added.
    pub added: Vec<String>,
    /// Configs dropped.
    pub dropped: Vec<String>,
    /// Configs asked for that the output already had (nothing done).
    pub already_present: Vec<String>,
    /// Committed chunks with tracks.
    pub chunks: usize,
    /// Token shards written.
    pub shards_written: u64,
    /// Token shards an interrupted earlier run had already committed.
    pub shards_resumed: u64,
    /// Token shards deleted.
    pub shards_deleted: u64,
    /// Token rows written.
    pub token_rows: u64,
    /// Beatmaps tokenized (each once, whatever the number of new configs).
    pub beatmaps: u64,
    /// Beatmaps that could not be tokenized (in `rejects.jsonl`).
    pub rejects: u64,
    /// Shards not done, with the reason (rerun to retry; the manifest is then left as it was).
    pub failures: Vec<String>,
    /// Audio decodes this process made: always 0, retokenizing reads no audio.
    pub audio_decodes: u64,
    /// Wall time.
    pub wall_seconds: f64,
    /// Token rows per config in the whole output, from the new manifest.
    pub token_rows_by_config: BTreeMap<String, u64>,
}

impl RetokenizeSummary {
    fn tally(&mut self, change: &ShardChange) {
        self.rejects += change.rejects;
        match &change.outcome {
            Outcome::Written { rows, beatmaps } => {
                self.shards_written += 1;
                self.token_rows += rows;
                self.beatmaps += beatmaps;
            }
            Outcome::Resumed => self.shards_resumed += 1,
            Outcome::Deleted => self.shards_deleted += 1,
            Outcome::Failed(why) => self.failures.push(format!("{} for {}: {why}", change.chunk, change.hash)),
        }
    }
}

/// The config set before and after the change.
struct ConfigChange {
    on_disk: Vec<ConfigRef>,
    add: Vec<ConfigRef>,
    drop: Vec<ConfigRef>,
}

fn plan_change(
    manifest: &Manifest,
    options: &RetokenizeOptions,
    summary: &mut RetokenizeSummary,
) -> anyhow::Result<ConfigChange> {
    let recorded = TokenizerStage::all_recorded(&manifest.configs).map_err(anyhow::Error::msg)?;
    let on_disk: Vec<ConfigRef> = recorded.iter().map(ConfigRef::of).collect();
    let mut change = ConfigChange { on_disk, add: Vec::new(), drop: Vec::new() };
    for hash in &options.drop {
        if options.add.iter().any(|s| s.hash() == hash) {
            bail!("tokenizer config {hash} is both added and dropped");
        }
        let Some(config) = change.on_disk.iter().find(|c| &c.hash == hash) else {
            bail!(
                "{}: no tokenizer config {hash} to drop (the manifest has {:?})",
                options.out.display(),
                manifest.configs.tokenizers.keys().collect::<Vec<_>>()
            );
        };
        if !change.drop.contains(config) {
            change.drop.push(config.clone());
            summary.dropped.push(hash.clone());
        }
    }
    for stage in &options.add {
        let config = ConfigRef::of(stage);
        if change.on_disk.contains(&config) {
            summary.already_present.push(config.hash);
        } else if !change.add.contains(&config) {
            summary.added.push(config.hash.clone());
            change.add.push(config);
        }
    }
    Ok(change)
}

/// Runs the retokenize dataflow on `options.workers` threads and updates the manifest.
pub fn run(options: RetokenizeOptions) -> anyhow::Result<RetokenizeSummary> {
    let started = Instant::now();
    let manifest =
        Manifest::read(&options.out).context("retokenize needs the output of a finished `mapflow preprocess`")?;
    crate::preprocess::remove_temp_files(&options.out)?;
    let mut summary = RetokenizeSummary::default();
    let change = plan_change(&manifest, &options, &mut summary)?;
    let corpus = load_corpus(&options.out)?;
    summary.chunks = corpus.chunks;
    let timely_config = ClusterArgs { workers: options.workers, ..ClusterArgs::default() }.timely_config()?;
    let target =
        Arc::new(ShardTarget { out: options.out.clone(), feature_hash: manifest.configs.feature_config_hash.clone() });
    let inputs = Arc::new(Mutex::new(Some((corpus, change.on_disk.clone(), change.add.clone(), change.drop.clone()))));
    let changes: Arc<Mutex<Vec<ShardChange>>> = Arc::default();
    let collected = Arc::clone(&changes);

    let guards = timely::execute(timely_config, move |worker| {
        let probe = ProbeHandle::new();
        let collected = Arc::clone(&collected);
        let (mut configs, mut tracks, mut beatmaps) = worker.dataflow::<u64, _, _>(|scope| {
            let (config_in, configs) = scope.new_collection();
            let (track_in, tracks) = scope.new_collection();
            let (beatmap_in, beatmaps) = scope.new_collection();
            let shards = dataflow::token_shards(configs, tracks, beatmaps);
            apply::apply_changes(shards, Arc::clone(&target))
                .exchange(|_: &ShardChange| 0)
                .inspect(move |c: &ShardChange| collected.lock().expect("not poisoned").push(c.clone()))
                .probe_with(&probe);
            (config_in, track_in, beatmap_in)
        });
        let mine = if worker.index() == 0 { inputs.lock().expect("not poisoned").take() } else { None };
        let mut change = None;
        if let Some((CorpusRefs { tracks: t, beatmaps: b, .. }, on_disk, add, drop)) = mine {
            // Round 0: what is on disk.
            t.into_iter().for_each(|r| tracks.insert(r));
            b.into_iter().for_each(|r| beatmaps.insert(r));
            on_disk.into_iter().for_each(|c| configs.insert(c));
            change = Some((add, drop));
        }
        configs.advance_to(1);
        tracks.advance_to(1);
        beatmaps.advance_to(1);
        // Round 1: the requested change.
        if let Some((add, drop)) = change {
            add.into_iter().for_each(|c| configs.insert(c));
            drop.into_iter().for_each(|c| configs.remove(c));
        }
        configs.close();
        tracks.close();
        beatmaps.close();
        while !probe.done() {
            worker.step_or_park(Some(Duration::from_millis(20)));
        }
    })
    .map_err(anyhow::Error::msg)?;
    drop(guards);

    for change in changes.lock().expect("not poisoned").iter() {
        summary.tally(change);
    }
    summary.audio_decodes = operators::audio::decode_count();
    if summary.failures.is_empty() {
        let mut configs = manifest.configs.clone();
        for config in &change.drop {
            configs.tokenizers.remove(&config.hash);
            let dir = options.out.join("tokens").join(&config.hash);
            if dir.is_dir() {
                std::fs::remove_dir(&dir).with_context(|| format!("removing {} (files left in it?)", dir.display()))?;
            }
        }
        for config in &change.add {
            configs.tokenizers.insert(config.hash.clone(), serde_json::from_str(&config.json)?);
        }
        summary.token_rows_by_config = Manifest::write_merged(&options.out, &configs)?.token_rows;
    }
    summary.wall_seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}
