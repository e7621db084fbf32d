//! `mapflow bench learn`: does the tiny model learn rhythm that carries over to songs it never
//! saw? Trains on songs rendered from 5 fixture maps and scores free-running generation on songs
//! rendered from the other 2, after each segment of training: the learning curve.
//!
//! ```text
//! fixtures 0–4 ─► train corpus ─► preprocess ─┐
//! fixtures 5–6 ─► held-out corpus ─► preprocess ─┼─► [train segment (--resume) ─► eval held-out] × k
//! ```
//! Target (issue 6): rhythm F1 (±50 ms) ≥ 0.8 on the held-out songs within 15 minutes of training
//! on a 2-core CPU.

use std::path::Path;

use model::config::ModelConfig;
use shards::rows::Split;
use synth::corpus::{CorpusSpec, Layout};
use training::evaluate::{EvalOptions, run as evaluate};

use super::synth_shards;
use training::train::{TrainOptions, run as train};

/// Arguments of `mapflow bench learn`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Total training time, minutes.
    #[arg(long, default_value_t = 15.0)]
    minutes: f64,
    /// Evaluations along the way (the points of the curve).
    #[arg(long, default_value_t = 5)]
    points: u32,
    /// Training songs (from fixtures 0–4): excerpts of the 5 maps at other offsets, mirrored
    /// or not, at other tempos. With 60 the model memorises them and reaches 0.79–0.80 held-out
    /// F1 in 15 minutes; with 180, 0.90.
    #[arg(long, default_value_t = 180)]
    songs: usize,
    /// Held-out songs (from fixtures 5–6); 24 (~940 objects) put the standard error of the F1
    /// near 0.013.
    #[arg(long, default_value_t = 24)]
    held_out: usize,
    /// Seconds per song.
    #[arg(long, default_value_t = 30.0)]
    seconds: f64,
    /// Tempo spread of the training songs (see `mapflow synth --tempo-spread`); the held-out
    /// songs keep their maps' own tempos.
    #[arg(long, default_value_t = 0.25)]
    tempo_spread: f64,
    /// Peak learning rate (default: the tiny preset's `training.learning_rate`).
    #[arg(long)]
    learning_rate: Option<f64>,
}

/// Runs the benchmark.
pub fn run(args: Args) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let spec = |songs, fixtures, tempo_spread| CorpusSpec {
        songs,
        songs_per_shard: 8,
        seconds: args.seconds,
        seed: 5,
        layout: Layout::Compressed,
        bad_inputs: false,
        fixtures,
        tempo_spread,
    };
    let train_data = synth_shards(dir.path(), "train", &spec(args.songs, vec![0, 1, 2, 3, 4], args.tempo_spread))?;
    let held_out = synth_shards(dir.path(), "held-out", &spec(args.held_out, vec![5, 6], 0.0))?;
    let preset = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/model/tiny.toml");
    let mut model = ModelConfig::from_toml_file(&preset)?;
    // The curve is the held-out evaluation below; validation inside a segment would only take
    // training time (each segment still validates once, at its end).
    model.training.validate_every = u64::MAX;
    if let Some(lr) = args.learning_rate {
        model.training.learning_rate = lr;
    }
    let run_dir = dir.path().join("run");
    println!(
        "bench learn: tiny model (lr {}), CPU ({} threads); train: {} songs from fixtures 0-4 (tempo spread {}); held out: {} songs from fixtures 5-6; {:.0} s each",
        model.training.learning_rate,
        tch::get_num_threads(),
        args.songs,
        args.tempo_spread,
        args.held_out,
        args.seconds
    );
    println!(
        "{:>8} {:>6} {:>11} {:>14} {:>14} {:>10} {:>16}",
        "minutes", "step", "train loss", "held-out F1±50", "held-out F1±10", "hit F1", "objects pred/true"
    );
    let mut best = 0.0f64;
    for point in 1..=args.points {
        let mut options = TrainOptions::new(train_data.clone(), model.clone(), run_dir.clone());
        options.max_minutes = Some(args.minutes / f64::from(args.points));
        options.resume = point > 1;
        options.train_splits = vec![Split::Train, Split::Val, Split::Test];
        options.device = tch::Device::Cpu;
        let summary = train(options)?;
        let last_line = std::fs::read_to_string(run_dir.join("metrics.jsonl"))?
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .rfind(|v| v["train_loss"].as_f64().is_some_and(|x| x > 0.0));
        let loss = last_line.and_then(|v| v["train_loss"].as_f64()).unwrap_or(f64::NAN);
        let report = evaluate(&EvalOptions {
            checkpoint: run_dir.join("last.json"),
            data: held_out.clone(),
            split: None,
            max_maps: None,
            device: tch::Device::Cpu,
        })?;
        let f = &report.free_running;
        best = best.max(f.rhythm_f1_50ms.f1);
        println!(
            "{:>8.1} {:>6} {:>11.4} {:>14.3} {:>14.3} {:>10.3} {:>16}",
            args.minutes * f64::from(point) / f64::from(args.points),
            summary.step,
            loss,
            f.rhythm_f1_50ms.f1,
            f.rhythm_f1_10ms.f1,
            f.hit_f1.f1,
            format!("{}/{}", f.rhythm_f1_50ms.predicted, f.rhythm_f1_50ms.truth)
        );
    }
    println!(
        "held-out rhythm F1 ±50 ms: best {best:.3} within {:.0} min (target >= 0.8: {})",
        args.minutes,
        if best >= 0.8 { "met" } else { "NOT met" }
    );
    Ok(())
}
