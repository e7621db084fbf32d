//! `mapflow preprocess`: songs → features and tokens in Parquet shards, as a timely dataflow.
//!
//! ```text
//!  reader thread (worker 0) ── bounded channel ──► input (paced: ≤ max_in_flight tracks ahead
//!   source → ChunkPlan                               of the probe)
//!        │ exchange(track time: round-robin)
//!        ▼
//!  decode + features + encode the tracks row,
//!  tokenize (per beatmap, every tokenizer config): the process's decode threads
//!        │ exchange(hash(chunk))
//!        ▼
//!  chunk writer (Parquet + commit record) ── exchange(0) ──► progress + manifest (worker 0) ─► probe
//! ```
//! Backpressure: the input admits a track only while fewer than `max_in_flight` admitted tracks
//! have not yet left the decode threads (the probe on their output: featurized and tokenized). The
//! chunk writer appends each song's encoded `tracks` row group to its chunk's file as soon as
//! the songs before it are in, and keeps the token and beatmap rows of its open chunks until
//! they are complete, so memory is bounded by `max_in_flight` songs in decoding or waiting for
//! an earlier one, and the chunks' token rows, whatever the corpus size.
//! Resume: chunks with a commit record are skipped by the reader.
//! In `mapflow run` a [`ChunkGate`] adds end-to-end backpressure: the source reader takes a
//! credit before the first track of each chunk and the trainer's reader returns it.

pub(crate) mod chunk_writer;
mod cluster;
mod decode_threads;
pub mod plan;
mod progress;
mod revision;
pub mod set_groups;
pub mod stages;
#[cfg(test)]
mod tests;
pub mod tokenize;

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use crossbeam::channel::{RecvTimeoutError, bounded};
use operators::features::FeatureConfig;
use timely::dataflow::operators::vec::Input;
use timely::dataflow::operators::{Exchange, Inspect, Probe};
use timely::dataflow::{InputHandleVec, ProbeHandle};

pub use cluster::ClusterArgs;
pub use progress::{Summary, peak_rss_mib, rss_mib};

use self::chunk_writer::ChunkSink;
use self::decode_threads::DecodePool;
use self::plan::ChunkPlan;
use self::progress::{CpuTimes, Progress};
use self::stages::{SourceItem, Stages};
use self::tokenize::TokenizerStage;
use crate::gate::ChunkGate;
use crate::sources::{self, SourceEntry, SourceOptions, SourceUri};
use shards::done::{PinnedSource, ReadThrough};
use shards::filter::BeatmapFilter;
use shards::manifest::{CommitRecord, Manifest, ManifestConfigs};

/// Defaults of the knobs below, in one place.
pub mod defaults {
    /// Tracks per output chunk.
    pub const CHUNK_TRACKS: usize = 64;
    /// Tracks admitted into the dataflow ahead of the slowest unfinished one.
    pub const MAX_IN_FLIGHT: u64 = 8;
    /// Seed of the train/val/test assignment.
    pub const SPLIT_SEED: u64 = 0x6d_6170_666c_6f77;
    /// `mapflow run`: chunks the input may have admitted and the trainer not yet read.
    pub const MAX_CHUNKS_AHEAD: usize = 2;
}

/// Everything `preprocess` needs besides the source.
#[derive(Debug, Clone)]
pub struct PreprocessOptions {
    /// Output directory.
    pub out: PathBuf,
    /// Feature config.
    pub features: FeatureConfig,
    /// Tokenizers (one `tokens/<hash>/` table each). On an existing output the configs its
    /// manifest lists are added (see [`run`]); empty on a new output: the default config.
    pub tokenizers: Vec<TokenizerStage>,
    /// Tracks per chunk.
    pub chunk_tracks: usize,
    /// Backpressure bound, in tracks.
    pub max_in_flight: u64,
    /// Split seed.
    pub split_seed: u64,
    /// Which beatmaps to keep (`--status`, `--years`, `--stars`, `--modes`); recorded in the
    /// manifest, and an output made with another is refused.
    pub filter: BeatmapFilter,
    /// Where the workers run.
    pub cluster: ClusterArgs,
    /// Show progress on stderr.
    pub progress: bool,
    /// `mapflow run`: credits shared with the trainer, taken per chunk before its first track
    /// is admitted (`None`: no end-to-end backpressure, as in `mapflow preprocess`).
    pub gate: Option<ChunkGate>,
    /// A hub source: the data set, config and commit it is pinned to and its shards' content
    /// there (recorded in the manifest and the shard markers); `None` for a local source.
    pub pinned: Option<PinnedSource>,
    /// Move an output read at another commit to `pinned`'s, redoing the shards whose content
    /// changed (else such a rerun is refused).
    pub accept_new_revision: bool,
}

/// What a source is opened for.
pub struct OpenContext<'a> {
    /// Tracks per chunk: a Songs folder's sets are grouped by half as many, so that most groups
    /// fit one chunk.
    pub chunk_tracks: usize,
    /// The output written and its configs, if any: where a Songs folder's groups are recorded
    /// and the chunks of the groups it no longer has are removed ([`set_groups`]).
    pub output: Option<(&'a Path, &'a ManifestConfigs)>,
}

/// Opens the input; called once, on global worker 0 only.
pub type SourceOpener =
    Box<dyn FnOnce(&OpenContext) -> anyhow::Result<Box<dyn Iterator<Item = SourceEntry> + Send>> + Send>;

/// The opener of the source `uri` names (hub downloads, shard and folder reads start when called).
pub fn source_opener(uri: SourceUri, options: SourceOptions) -> SourceOpener {
    Box::new(move |context| {
        let sets_per_group = (context.chunk_tracks / 2).max(1);
        let opened =
            sources::open_entries(&uri, &options, sets_per_group).map_err(|reject| anyhow::anyhow!("{reject}"))?;
        if let (SourceUri::Songs(root), Some(groups), Some((out, configs))) = (&uri, &opened.set_groups, context.output)
        {
            set_groups::supersede(out, root, groups, configs)?;
        }
        Ok(opened.entries)
    })
}

impl PreprocessOptions {
    fn manifest_configs(&self) -> ManifestConfigs {
        ManifestConfigs {
            feature_config_hash: self.features.hash(),
            feature_config: serde_json::to_value(&self.features).expect("configs serialise"),
            tokenizers: self.tokenizers.iter().map(|t| (t.hash().to_owned(), t.config_json())).collect(),
            split_seed: self.split_seed,
            chunk_tracks: self.chunk_tracks,
            filter: self.filter.clone(),
            source: self.pinned.as_ref().map(|p| p.revision.clone()),
        }
    }

    fn sink(&self) -> ChunkSink {
        let feature_hash = self.features.hash();
        ChunkSink {
            out: self.out.clone(),
            tracks_metadata: vec![
                version_metadata(),
                ("feature_config_hash", feature_hash.clone()),
                ("feature_config", serde_json::to_string(&self.features).expect("configs serialise")),
                ("features_encoding", "f16le rows 0..n_mels: mel dB; last row: onset strength".into()),
            ],
            beatmaps_metadata: vec![version_metadata(), ("feature_config_hash", feature_hash.clone())],
            tokens_metadata: self
                .tokenizers
                .iter()
                .map(|t| (t.hash().to_owned(), tokens_metadata(&feature_hash, t)))
                .collect(),
            gate: self.gate.clone(),
        }
    }
}

fn version_metadata() -> (&'static str, String) {
    ("mapflow_version", env!("CARGO_PKG_VERSION").to_owned())
}

/// Key-value metadata of a `tokens/<hash>/` file: the same whichever command writes it.
pub fn tokens_metadata(feature_hash: &str, tokenizer: &TokenizerStage) -> Vec<(&'static str, String)> {
    vec![
        version_metadata(),
        ("tokenizer_config_hash", tokenizer.hash().to_owned()),
        ("tokenizer_config", tokenizer.config_json().to_string()),
        ("feature_config_hash", feature_hash.to_owned()),
    ]
}

/// Reconciles `options` with an existing output's manifest. The feature config, split seed,
/// chunk size and beatmap filter must be the ones it was made with (else its chunks would mix
/// features, move songs between splits, be cut and named differently, or hold two selections
/// of beatmaps), and a hub source the commit it was read at
/// unless `accept_new_revision` ([`revision`]). The tokenizers are completed from it: a
/// re-run over a grown corpus tokenizes its new chunks with every config the output already
/// has. A config that committed chunks lack is refused (those chunks would stay without its
/// tokens): `mapflow retokenize` adds a config to every chunk.
fn reconcile_with_output(mut options: PreprocessOptions) -> anyhow::Result<PreprocessOptions> {
    let untokenized = options.filter.untokenized_modes();
    if !untokenized.is_empty() {
        anyhow::bail!(
            "--modes {untokenized:?}: the tokenizer maps osu!standard (mode 0) only; beatmaps of other modes are counted as filtered (`modes`) until it maps them"
        );
    }
    if options.out.join("manifest.json").is_file() {
        let manifest = Manifest::read(&options.out)?;
        let (recorded, requested) = (&manifest.configs, options.manifest_configs());
        let settings = [
            ("feature config", recorded.feature_config_hash.clone(), requested.feature_config_hash),
            ("split seed (--split-seed)", recorded.split_seed.to_string(), requested.split_seed.to_string()),
            ("chunk size (--chunk-tracks)", recorded.chunk_tracks.to_string(), requested.chunk_tracks.to_string()),
            (
                "beatmap filter (--status, --years, --stars, --modes)",
                format!("[{}]", recorded.filter),
                format!("[{}]", requested.filter),
            ),
        ];
        for (setting, recorded, requested) in settings {
            if recorded != requested {
                anyhow::bail!(
                    "{}: this output was made with {setting} {recorded}, this run asks for {requested}; use that one, or another --output",
                    options.out.display()
                );
            }
        }
        revision::reconcile(&options.out, recorded, options.pinned.as_ref(), options.accept_new_revision)?;
        for stage in TokenizerStage::all_recorded(&manifest.configs).map_err(anyhow::Error::msg)? {
            if !options.tokenizers.iter().any(|t| t.hash() == stage.hash()) {
                options.tokenizers.push(stage);
            }
        }
    }
    if options.tokenizers.is_empty() {
        options
            .tokenizers
            .push(TokenizerStage::new(operators::tokenizer::TokenizerConfig::default()).map_err(anyhow::Error::msg)?);
    }
    options.tokenizers.sort_by(|a, b| a.hash().cmp(b.hash()));
    let commits = shards::manifest::read_commits(&options.out)?;
    for stage in &options.tokenizers {
        if let Some(chunk) = commits.iter().find(|c| c.tracks.is_some() && !c.tokens.contains_key(stage.hash())) {
            anyhow::bail!(
                "{}: committed chunk {} has no tokens for tokenizer config {}; add a config to every chunk with `mapflow retokenize --output {} --tokenizer CONFIG.toml`",
                options.out.display(),
                chunk.chunk,
                stage.hash(),
                options.out.display()
            );
        }
    }
    Ok(options)
}

/// Runs the dataflow on this process's workers; returns the summary (complete on process 0).
pub fn run(options: PreprocessOptions, open_source: SourceOpener) -> anyhow::Result<Summary> {
    std::fs::create_dir_all(&options.out).with_context(|| format!("creating {}", options.out.display()))?;
    let options = reconcile_with_output(options)?;
    // Half-written files of a run that was killed, by every process (each may have its own
    // output directory); no process writes before all have joined.
    remove_temp_files(&options.out)?;
    let started = Instant::now();
    let cpu_started = cpu_time::ProcessTime::now();
    let timely_config = options.cluster.timely_config()?;
    let stages =
        Stages::new(options.filter.clone(), &options.features, options.tokenizers.clone(), options.split_seed)?;
    let pool = Arc::new(DecodePool::new(options.cluster.workers, Arc::new(stages)));
    let decode_threads = Arc::clone(&pool);
    let sink = Arc::new(options.sink());
    let progress = Arc::new(Progress::new(options.progress && options.cluster.process == 0));
    let opener = Arc::new(Mutex::new(Some(open_source)));
    let configs = options.manifest_configs();
    let feed_configs = configs.clone();
    let (out, chunk_tracks, max_in_flight) = (options.out.clone(), options.chunk_tracks, options.max_in_flight);
    let worker_progress = Arc::clone(&progress);
    let gate = options.gate.clone();
    let read_through = Arc::new(ReadThrough::new(options.pinned.clone()));
    let worker_read_through = Arc::clone(&read_through);
    let start_failed: Arc<Mutex<Option<anyhow::Error>>> = Arc::default();
    let worker_start_failed = Arc::clone(&start_failed);

    let guards = timely::execute(timely_config, move |worker| {
        let index = worker.index();
        let mut input = InputHandleVec::<u64, SourceItem>::new();
        // `flowing` watches tracks leaving the tokenizer (backpressure); `probe` the whole
        // dataflow including the chunk writer (completion).
        let flowing = ProbeHandle::new();
        let probe = ProbeHandle::new();
        let progress = Arc::clone(&worker_progress);
        let out_dir = out.clone();
        let commit_gate = gate.clone();
        let shards_read = Arc::clone(&worker_read_through);
        worker.dataflow::<u64, _, _>(|scope| {
            let items = scope.input_from(&mut input);
            let parts = decode_threads::process_tracks(items, &pool).probe_with(&flowing);
            chunk_writer::write_chunks(parts, Arc::clone(&sink), Arc::clone(&progress))
                .exchange(|_: &CommitRecord| 0)
                .inspect(move |record: &CommitRecord| {
                    // Worker 0 keeps every commit record (from every process) in its output;
                    // with a shared output directory the writer already did.
                    if !CommitRecord::is_committed(&out_dir, &record.chunk)
                        && let Err(e) = record.commit(&out_dir)
                    {
                        progress.chunk_failed(&record.chunk, &e);
                        if let Some(gate) = &commit_gate {
                            gate.fail(format!("chunk {} was not recorded: {e:#}", record.chunk));
                        }
                        return;
                    }
                    progress.chunk_committed(record);
                    if let Some(gate) = &commit_gate {
                        gate.committed(&record.chunk, record.tracks.is_some());
                    }
                    // Marked as soon as complete, so a run killed later need not download the
                    // shard again (a failure here is retried, and reported, at the run's end).
                    if let Err(e) = shards_read.mark_complete(&out_dir) {
                        log::warn!("{e:#}");
                    }
                })
                .probe_with(&probe);
        });

        if index == 0 {
            // A manifest from the start, so readers (`train --follow`) find the configs while
            // chunks are still being committed. Written here, where every process has joined
            // and so has cleared its temp files: with a shared output directory, a process
            // still clearing could remove this write's temp file before its rename.
            if let Err(e) = Manifest::write_merged(&out, &feed_configs) {
                *worker_start_failed.lock().expect("not poisoned") = Some(e);
            } else if let Some(opener) = opener.lock().expect("not poisoned").take() {
                let read_through = Arc::clone(&worker_read_through);
                let source = SourceFeed {
                    opener,
                    out: out.clone(),
                    configs: feed_configs.clone(),
                    chunk_tracks,
                    max_in_flight,
                    gate: gate.clone(),
                    read_through,
                };
                feed_input(worker, &mut input, &flowing, source, &worker_progress);
            }
        }
        input.close();
        while !probe.done() {
            worker.step_or_park(Some(Duration::from_millis(20)));
        }
    })
    .map_err(anyhow::Error::msg)?;
    drop(guards); // joins every worker
    if let Some(e) = start_failed.lock().expect("not poisoned").take() {
        return Err(e);
    }

    let manifest = if options.cluster.process == 0 {
        read_through.mark_complete(&options.out)?;
        Some(Manifest::write_merged(&options.out, &configs)?)
    } else {
        None
    };
    let cpu = CpuTimes { process: cpu_started.elapsed(), decode: decode_threads.cpu() };
    Ok(progress.finish(manifest.as_ref(), started.elapsed(), cpu))
}

/// Removes the temp files of interrupted atomic writes (`*.tmp-<pid>`) under `dir`. Processes
/// sharing `dir` do this at the same time: a file another one removed first is no error.
pub(crate) fn remove_temp_files(dir: &std::path::Path) -> anyhow::Result<()> {
    for path in shards::entries_of(dir)? {
        if path.is_dir() {
            remove_temp_files(&path)?;
        } else if path.file_name().is_some_and(|n| n.to_string_lossy().contains(".tmp-")) {
            log::info!("removing {} (left by an interrupted run)", path.display());
            operators::atomic::remove(&path)?;
        }
    }
    Ok(())
}

/// What the source reader needs: the source, where committed chunks are, and its bounds; and
/// where it leaves the shards it read to their end.
struct SourceFeed {
    opener: SourceOpener,
    out: PathBuf,
    configs: ManifestConfigs,
    chunk_tracks: usize,
    max_in_flight: u64,
    gate: Option<ChunkGate>,
    read_through: Arc<ReadThrough>,
}

/// What the source reader hands the input.
enum Fed {
    /// A track (or what could not be read) at its time.
    Item(SourceItem),
    /// Nothing before this time follows: the input may advance to it, so the chunks before it
    /// complete and commit while the reader waits for a gate credit.
    Frontier(u64),
}

/// Global worker 0: reads the source on a thread and feeds the dataflow, at most
/// `max_in_flight` tracks ahead of the probe (and, with a gate, a credit per chunk).
fn feed_input(
    worker: &mut timely::worker::Worker,
    input: &mut InputHandleVec<u64, SourceItem>,
    probe: &ProbeHandle<u64>,
    source: SourceFeed,
    progress: &Arc<Progress>,
) {
    let (tx, rx) = bounded::<Fed>(2);
    let SourceFeed { opener, out, configs, chunk_tracks, max_in_flight, gate, read_through } = source;
    let reader_progress = Arc::clone(progress);
    let reader = std::thread::Builder::new()
        .name("source-reader".into())
        .spawn(move || -> anyhow::Result<()> {
            let mut plan = ChunkPlan::new(chunk_tracks);
            let mut admitted: Option<String> = None;
            // The loop's `break`s leave the last shard unfinished.
            let mut stopped = false;
            for entry in opener(&OpenContext { chunk_tracks, output: Some((&out, &configs)) })? {
                // Before this entry moves the input on, so the shard is known to be read through
                // by the time its last chunk commits.
                if let Some((shard, chunks)) = plan.current_shard().filter(|(shard, _)| *shard != entry.shard) {
                    read_through.push(shard, chunks);
                }
                let (seq, chunk) = plan.next(&entry.shard);
                if CommitRecord::is_committed(&out, &chunk.name) {
                    reader_progress.track_resumed();
                    continue;
                }
                if let Some(gate) = &gate
                    && admitted.as_deref() != Some(chunk.name.as_str())
                {
                    // The chunks before this one must be able to commit (and be read) while we
                    // wait, so the input moves past them first.
                    if tx.send(Fed::Frontier(seq)).is_err() {
                        stopped = true;
                        break;
                    }
                    // Only before a chunk's first track: stopping here ends the input at a
                    // chunk boundary, so every admitted chunk is completed and committed.
                    if let Err(closed) = gate.admit(&chunk.name) {
                        log::info!("source: {closed}; stopping before chunk {}", chunk.name);
                        stopped = true;
                        break;
                    }
                    admitted = Some(chunk.name.clone());
                }
                reader_progress.track_read(entry.item.as_ref().map_or(0, |t| t.audio.len()));
                if tx.send(Fed::Item(SourceItem { seq, chunk, payload: entry.item })).is_err() {
                    stopped = true;
                    break;
                }
            }
            if let Some((shard, chunks)) = plan.current_shard().filter(|_| !stopped) {
                read_through.push(shard, chunks);
            }
            Ok(())
        })
        .expect("spawning the source reader");
    // Times of the admitted tracks the probe has not yet passed, oldest first.
    let mut in_flight: VecDeque<u64> = VecDeque::new();
    let max_in_flight = usize::try_from(max_in_flight).unwrap_or(usize::MAX).max(1);
    loop {
        match rx.recv_timeout(Duration::from_millis(5)) {
            Ok(Fed::Frontier(seq)) => {
                input.advance_to(seq);
                worker.step();
            }
            Ok(Fed::Item(item)) => {
                let seq = item.seq;
                // Move the input's time first (skipped, already committed chunks leave gaps), then
                // wait until fewer than `max_in_flight` admitted tracks are still on their way.
                // Counted in tracks, not in times: times jump at every chunk boundary, and a
                // bound in times would drain the dataflow there.
                input.advance_to(seq);
                loop {
                    while in_flight.front().is_some_and(|&t| !probe.less_equal(&t)) {
                        in_flight.pop_front();
                    }
                    if in_flight.len() < max_in_flight {
                        break;
                    }
                    worker.step_or_park(Some(Duration::from_millis(20)));
                }
                in_flight.push_back(seq);
                input.send(item);
                // Nothing else comes at `seq`: moving on now sends the track (the handle holds
                // what it is given until its time moves) instead of when the next one is read.
                input.advance_to(seq + 1);
                worker.step();
            }
            Err(RecvTimeoutError::Timeout) => {
                worker.step();
            }
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    match reader.join() {
        Ok(Ok(())) => {}
        Ok(Err(e)) => progress.source_failed(&format!("{e:#}")),
        Err(_) => progress.source_failed("the source reader panicked"),
    }
}
