//! `mapflow bench run`: the end-to-end backpressure of `mapflow run`.
//!
//! ```text
//! synth corpus ─► preprocess alone                          ─► baseline wall time
//!             ├─► run: preprocess + tiny trainer             ─► how long each side waited
//!             └─► run: the same, trainer slowed 10× (delay)  ─► the producer held back, its
//!                                                              chunks never more than N ahead
//! ```
//! Targets (issue 6): a slow trainer slows the producer (held back, never more than
//! `--max-chunks-ahead` chunks unread); a fast one waits on data only while preprocessing is
//! the bottleneck.

use std::path::Path;
use std::time::Duration;

use dataflow::preprocess::tokenize::TokenizerStage;
use dataflow::preprocess::{ClusterArgs, PreprocessOptions, defaults, source_opener};
use dataflow::sources::{SourceOptions, SourceUri};
use model::config::ModelConfig;
use operators::features::FeatureConfig;
use operators::tokenizer::TokenizerConfig;
use synth::corpus::{CorpusSpec, Layout, write_corpus};
use training::streaming::{RunOptions, RunSummary, run as run_both};
use training::train::TrainOptions;

/// Arguments of `mapflow bench run`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Songs in the corpus.
    #[arg(long, default_value_t = 8)]
    songs: usize,
    /// Seconds per song.
    #[arg(long, default_value_t = 30.0)]
    seconds: f64,
    /// Songs per chunk.
    #[arg(long, default_value_t = 2)]
    chunk_tracks: usize,
    /// Chunks the preprocess may run ahead of the trainer.
    #[arg(long, default_value_t = defaults::MAX_CHUNKS_AHEAD)]
    max_chunks_ahead: usize,
    /// Windows per batch (small, so that a chunk is a few steps).
    #[arg(long, default_value_t = 8)]
    batch_size: usize,
    /// Training steps of the normal run (the slowed one takes half).
    #[arg(long, default_value_t = 40)]
    steps: u64,
}

fn preprocess_options(out: &Path, chunk_tracks: usize) -> anyhow::Result<PreprocessOptions> {
    Ok(PreprocessOptions {
        out: out.to_owned(),
        features: FeatureConfig::default(),
        tokenizers: vec![TokenizerStage::new(TokenizerConfig::default()).map_err(anyhow::Error::msg)?],
        chunk_tracks,
        max_in_flight: defaults::MAX_IN_FLIGHT,
        split_seed: defaults::SPLIT_SEED,
        filter: Default::default(),
        cluster: ClusterArgs::default(),
        progress: false,
        gate: None,
        pinned: None,
        accept_new_revision: false,
    })
}

/// One `mapflow run` into `dir/<name>` and `dir/<name>-run`, the trainer delayed by `delay` per step.
fn run_once(
    dir: &Path,
    name: &str,
    corpus: &Path,
    args: &Args,
    steps: u64,
    delay: Duration,
) -> anyhow::Result<RunSummary> {
    let preset = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/model/tiny.toml");
    let mut model = ModelConfig::from_toml_file(&preset)?;
    model.training.batch_size = args.batch_size;
    model.training.validate_every = u64::MAX; // one validation, at the end
    let mut train = TrainOptions::new(dir.join(name), model, dir.join(format!("{name}-run")));
    train.max_steps = Some(steps);
    train.device = tch::Device::Cpu;
    train.step_delay = delay;
    let options = RunOptions {
        preprocess: preprocess_options(&dir.join(name), args.chunk_tracks)?,
        train,
        max_chunks_ahead: args.max_chunks_ahead,
    };
    run_both(options, source_opener(SourceUri::Shards(corpus.to_owned()), SourceOptions::default()))
}

fn report(label: &str, s: &RunSummary, baseline_seconds: f64) {
    println!(
        "{label}: {:.2} steps/s; preprocess {:.1} s ({:.1}× alone), {} chunks{}; producer held back {:.1} s in {} waits, at most {} of {} chunks ahead; trainer waited {:.1} s for its first tracks, then {:.1} s for batches ({:.1} %)",
        s.train.steps_per_second,
        s.preprocess.wall_seconds,
        s.preprocess.wall_seconds / baseline_seconds.max(1e-9),
        s.preprocess.chunks_committed,
        if s.preprocess_complete { "" } else { " (stopped when training ended)" },
        s.gate.producer_held_seconds,
        s.gate.producer_waits,
        s.gate.peak_ahead,
        s.gate.max_chunks_ahead,
        s.train.start_wait_seconds,
        s.train.data_wait_seconds,
        100.0 * s.train.data_wait_fraction,
    );
}

/// Runs the benchmark.
pub fn run(args: Args) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let spec = CorpusSpec {
        songs: args.songs,
        songs_per_shard: args.songs,
        seconds: args.seconds,
        seed: 4,
        layout: Layout::Compressed,
        bad_inputs: false,
        fixtures: Vec::new(),
        tempo_spread: 0.0,
    };
    let corpus = dir.path().join("corpus");
    write_corpus(&corpus, &spec)?;
    println!(
        "bench run: tiny model (batch {}), CPU ({} threads); {} songs × {:.0} s, {} per chunk, at most {} chunks ahead",
        args.batch_size,
        tch::get_num_threads(),
        args.songs,
        args.seconds,
        args.chunk_tracks,
        args.max_chunks_ahead
    );
    let alone = dataflow::preprocess::run(
        preprocess_options(&dir.path().join("alone"), args.chunk_tracks)?,
        source_opener(SourceUri::Shards(corpus.clone()), SourceOptions::default()),
    )?;
    println!("preprocess alone: {:.1} s, {} chunks", alone.wall_seconds, alone.chunks_committed);
    let normal = run_once(dir.path(), "normal", &corpus, &args, args.steps, Duration::ZERO)?;
    report("run", &normal, alone.wall_seconds);
    let step_seconds = 1.0 / normal.train.steps_per_second.max(1e-9);
    let slowed =
        run_once(dir.path(), "slowed", &corpus, &args, args.steps / 2, Duration::from_secs_f64(9.0 * step_seconds))?;
    report("run, trainer slowed 10×", &slowed, alone.wall_seconds);
    Ok(())
}
