//! `mapflow bench train`: the training operator's speed and its backpressure.
//!
//! ```text
//! synth corpus ─► preprocess ─► train tiny (normal)      ─► steps/s, tokens/s, data-wait share
//!                            └► train tiny (10× slower)  ─► resident memory sampled over the run
//! ```
//! Targets (issue 6): the trainer waits for data < 5 % of the time; with a trainer slowed 10×
//! the producer (the shard reader) stays bounded by its channel, so memory stays flat.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use dataflow::preprocess::{peak_rss_mib, rss_mib};
use model::config::ModelConfig;
use synth::corpus::{CorpusSpec, Layout};
use training::train::{TrainOptions, TrainSummary, run as train};

use super::synth_shards;

/// Arguments of `mapflow bench train`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Songs in the corpus.
    #[arg(long, default_value_t = 8)]
    songs: usize,
    /// Seconds per song.
    #[arg(long, default_value_t = 40.0)]
    seconds: f64,
    /// Training steps per run.
    #[arg(long, default_value_t = 40)]
    steps: u64,
}

/// Trains while a thread samples the resident memory every 200 ms.
fn sampled(options: TrainOptions) -> anyhow::Result<(TrainSummary, Vec<f64>)> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    let sampler = std::thread::spawn(move || {
        let mut samples = Vec::new();
        while !flag.load(Ordering::Relaxed) {
            samples.extend(rss_mib());
            std::thread::sleep(Duration::from_millis(200));
        }
        samples
    });
    let summary = train(options);
    stop.store(true, Ordering::Relaxed);
    let samples = sampler.join().expect("sampler thread");
    Ok((summary?, samples))
}

fn options(data: &Path, run: &Path, steps: u64) -> anyhow::Result<TrainOptions> {
    let preset = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/model/tiny.toml");
    let mut model = ModelConfig::from_toml_file(&preset)?;
    model.training.validate_every = u64::MAX; // one validation, at the end
    let mut options = TrainOptions::new(data.to_owned(), model, run.to_owned());
    options.max_steps = Some(steps);
    options.device = tch::Device::Cpu;
    Ok(options)
}

/// Runs the benchmark.
pub fn run(args: Args) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let spec = CorpusSpec {
        songs: args.songs,
        songs_per_shard: 8,
        seconds: args.seconds,
        seed: 3,
        layout: Layout::Compressed,
        bad_inputs: false,
        fixtures: Vec::new(),
        tempo_spread: 0.0,
    };
    let data = synth_shards(dir.path(), "data", &spec)?;
    println!(
        "bench train: tiny model, CPU ({} threads), {} songs × {:.0} s, {} steps per run",
        tch::get_num_threads(),
        args.songs,
        args.seconds,
        args.steps
    );

    let (normal, _) = sampled(options(&data, &dir.path().join("normal"), args.steps)?)?;
    let step_seconds = 1.0 / normal.steps_per_second.max(1e-9);
    println!(
        "normal:     {:.2} steps/s, {:.0} tokens/s, trainer waits for data {:.2} % of the time (target < 5 %: {})",
        normal.steps_per_second,
        normal.tokens_per_second,
        100.0 * normal.data_wait_fraction,
        if normal.data_wait_fraction < 0.05 { "met" } else { "NOT met" }
    );

    let mut slow = options(&data, &dir.path().join("slow"), args.steps / 2)?;
    slow.step_delay = Duration::from_secs_f64(9.0 * step_seconds);
    let (slowed, samples) = sampled(slow)?;
    let half = samples.len() / 2;
    let max = |s: &[f64]| s.iter().copied().fold(f64::NAN, f64::max);
    println!(
        "slowed 10×: {:.3} steps/s, data wait {:.2} %; resident memory: first half max {:.0} MiB, second half max {:.0} MiB ({} samples), peak {:.0} MiB",
        slowed.steps_per_second,
        100.0 * slowed.data_wait_fraction,
        max(&samples[..half]),
        max(&samples[half..]),
        samples.len(),
        peak_rss_mib().unwrap_or(f64::NAN)
    );
    println!(
        "the reader holds at most {} batches ahead: a slow trainer blocks it instead of filling memory",
        training::train::batches::DEFAULT_CAPACITY
    );
    Ok(())
}
