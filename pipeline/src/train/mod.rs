//! `mapflow train`: the libtorch training operator fed by the shard reader.
//!
//! ```text
//! OUT shards ─► batch reader thread ─► bounded channel ─► trainer thread (this one)
//!                                                        ├─ step: loss, AdamW, schedule
//!                                                        ├─ every N: validation (loss + free-running F1)
//!                                                        │           ─► checkpoints (best 3, best, last)
//!                                                        └─ metrics.jsonl + progress bar
//! ```

pub mod batches;
pub mod dataset;
mod metrics_log;
pub mod validation;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use model::batch::{ResidualScales, collate};
use model::checkpoint::{CheckpointPaths, CheckpointRecord, prune};
use model::config::ModelConfig;
use model::trainer::Trainer;
use tch::Device;

use self::batches::{BatchStream, DEFAULT_CAPACITY, ReaderPlan};
use self::dataset::DataSet;
use self::metrics_log::{MetricsLog, StepWindow, TrainProgress};
use self::validation::{ValidationScores, ValidationWindow, load_windows, validate};
use crate::shards::training_rows::read_track_features;
use crate::shards::rows::Split;

/// Tracks read to fix the feature statistics.
const STATISTICS_TRACKS: usize = 64;

/// Steps between metric lines (and progress updates).
pub const LOG_EVERY: u64 = 10;

/// What `mapflow train` was asked to do.
#[derive(Debug, Clone)]
pub struct TrainOptions {
    /// The preprocessed data set.
    pub data: PathBuf,
    /// Network and recipe.
    pub model: ModelConfig,
    /// The run directory (checkpoints, metrics.jsonl).
    pub run: PathBuf,
    /// Stop after this many steps in total.
    pub max_steps: Option<u64>,
    /// Stop after this much training time in this run.
    pub max_minutes: Option<f64>,
    /// Keep reading newly committed chunks (continuous training).
    pub follow: bool,
    /// Continue from `RUN/last`.
    pub resume: bool,
    /// The token table to train on (default: the only one).
    pub tokenizer_hash: Option<String>,
    /// Splits trained on (normally just `train`).
    pub train_splits: Vec<Split>,
    /// Which split validation reads.
    pub val_split: Split,
    /// Where to train.
    pub device: Device,
    /// Batches the reader may buffer.
    pub reader_capacity: usize,
    /// Artificial delay per step (benchmarks: a slowed trainer).
    pub step_delay: Duration,
}

impl TrainOptions {
    /// Defaults for everything but the data, the model and the run directory.
    pub fn new(data: PathBuf, model: ModelConfig, run: PathBuf) -> Self {
        Self {
            data,
            model,
            run,
            max_steps: None,
            max_minutes: None,
            follow: false,
            resume: false,
            tokenizer_hash: None,
            train_splits: vec![Split::Train],
            val_split: Split::Val,
            device: model::runtime::best_device(),
            reader_capacity: DEFAULT_CAPACITY,
            step_delay: Duration::ZERO,
        }
    }
}

/// What a training run did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TrainSummary {
    /// Step reached.
    pub step: u64,
    /// Steps taken in this run.
    pub steps_this_run: u64,
    /// Steps per second.
    pub steps_per_second: f64,
    /// Target tokens per second.
    pub tokens_per_second: f64,
    /// Fraction of the wall time spent waiting for data.
    pub data_wait_fraction: f64,
    /// Batches skipped by the non-finite guard.
    pub skipped_batches: u64,
    /// The last validation.
    pub last_validation: Option<ValidationScores>,
    /// The best validation loss so far.
    pub best_val_loss: f64,
    /// Wall time.
    pub wall_seconds: f64,
}

/// Per-channel mean and std of the features of up to [`STATISTICS_TRACKS`] training tracks.
fn feature_statistics(data: &DataSet, splits: &[Split]) -> anyhow::Result<(Vec<f32>, Vec<f32>)> {
    let (mut sum, mut sq, mut n) = (Vec::<f64>::new(), Vec::<f64>::new(), 0f64);
    let mut seen = 0;
    'chunks: for chunk in data.chunks()? {
        for track in read_track_features(&chunk.tracks)?.into_iter().filter(|t| splits.contains(&t.split)) {
            if seen == STATISTICS_TRACKS {
                break 'chunks;
            }
            seen += 1;
            sum.resize(track.channels, 0.0);
            sq.resize(track.channels, 0.0);
            for c in 0..track.channels {
                for j in 0..track.frames {
                    let v = f64::from(track.value(c, j));
                    sum[c] += v;
                    sq[c] += v * v;
                }
            }
            n += track.frames as f64;
        }
    }
    if n == 0.0 {
        bail!("{}: no training tracks to take feature statistics from", data.root().display());
    }
    let mean: Vec<f32> = sum.iter().map(|s| (s / n) as f32).collect();
    let std = sq.iter().zip(&sum).map(|(q, s)| ((q / n - (s / n).powi(2)).max(0.0).sqrt().max(1e-3)) as f32).collect();
    Ok((mean, std))
}

/// The record of the trainer's state now.
fn record(trainer: &Trainer, data: &DataSet, val_loss: Option<f64>) -> CheckpointRecord {
    CheckpointRecord {
        step: trainer.step,
        updates: trainer.optimizer.updates,
        val_loss,
        model: trainer.config.clone(),
        model_hash: trainer.config.network_hash(),
        tokenizer: serde_json::to_value(data.tokenizer().config()).expect("configs serialise"),
        tokenizer_hash: data.tokenizer_hash().to_owned(),
        feature_config: data.feature_config_hash().to_owned(),
        vocab: i64::from(data.tokenizer().vocab().size()),
    }
}

/// Sets up a trainer: fresh (feature statistics from the data) or resumed from `RUN/last`.
fn start_trainer(options: &TrainOptions, data: &DataSet) -> anyhow::Result<(Trainer, f64)> {
    let vocab = i64::from(data.tokenizer().vocab().size());
    let last = CheckpointPaths::new(&options.run, "last");
    let mut trainer = Trainer::new(options.model.clone(), vocab, options.device);
    if !options.resume {
        if last.record.exists() {
            bail!("{} already holds a run: pass --resume to continue it, or choose another --output", options.run.display());
        }
        let (mean, std) = feature_statistics(data, &options.train_splits)?;
        trainer.net.encoder.set_statistics(&mean, &std);
        return Ok((trainer, f64::INFINITY));
    }
    let saved = last.record().context("--resume: no checkpoint to resume")?;
    if saved.tokenizer_hash != data.tokenizer_hash() || saved.model_hash != options.model.network_hash() {
        bail!(
            "{}: made with tokenizer {} and network {}, not {} and {}",
            last.record.display(),
            saved.tokenizer_hash,
            saved.model_hash,
            data.tokenizer_hash(),
            options.model.network_hash()
        );
    }
    last.restore(&mut trainer)?;
    let best = CheckpointPaths::new(&options.run, "best").record().ok().and_then(|r| r.val_loss).unwrap_or(f64::INFINITY);
    Ok((trainer, best))
}

/// Trains until `max_steps`, `max_minutes` or the end of the data (`--follow`: never).
pub fn run(options: TrainOptions) -> anyhow::Result<TrainSummary> {
    if options.max_steps.is_none() && options.max_minutes.is_none() {
        bail!("give --max-steps or --max-minutes");
    }
    std::fs::create_dir_all(&options.run).with_context(|| format!("creating {}", options.run.display()))?;
    let data = DataSet::open(&options.data, options.tokenizer_hash.as_deref())?;
    let (mut trainer, mut best_val) = start_trainer(&options, &data)?;
    let training = options.model.training.clone();
    let val_windows = load_windows(&data, options.val_split, training.validate_windows)?;
    if val_windows.is_empty() {
        log::warn!("{}: no {} windows: validation is skipped", data.root().display(), options.val_split.as_str());
    }
    let scales = ResidualScales::new(data.tokenizer());
    let max_tokens = options.model.network.max_tokens as usize;
    let mut stream = BatchStream::spawn(
        data.clone(),
        ReaderPlan {
            training: training.clone(),
            start_batch: trainer.step,
            follow: options.follow,
            capacity: options.reader_capacity,
            splits: options.train_splits.clone(),
        },
    );
    let mut metrics = MetricsLog::open(&options.run.join("metrics.jsonl"))?;
    let progress = TrainProgress::new(options.max_steps);
    let started = Instant::now();
    let first_step = trainer.step;
    let deadline = options.max_minutes.map(|m| started + Duration::from_secs_f64(m * 60.0));
    let (mut window, mut total) = (StepWindow::default(), StepWindow::default());
    let mut last_validation = None;
    let finished = |step: u64| options.max_steps.is_some_and(|m| step >= m) || deadline.is_some_and(|d| Instant::now() >= d);
    let mut last = finished(trainer.step);
    while !last {
        let waited = Instant::now();
        let batch = stream.next()?;
        debug_assert_eq!(batch.number, trainer.step);
        let wait = waited.elapsed();
        let device_batch = collate(&batch.examples, &scales, max_tokens, options.device);
        let outcome = trainer.train_step(&device_batch);
        std::thread::sleep(options.step_delay);
        if let Some(reason) = &outcome.skipped {
            log::warn!("step {}: batch skipped: {reason}", trainer.step);
        }
        let elapsed = waited.elapsed();
        window.add(&outcome, wait, elapsed);
        total.add(&outcome, wait, elapsed);
        last = finished(trainer.step);
        let validating = trainer.step % training.validate_every == 0 || last;
        if trainer.step % LOG_EVERY == 0 || validating {
            let mut line = window.line(trainer.step, &training);
            if validating {
                line.validation = validate_and_checkpoint(&options, &trainer, &data, &val_windows, &mut best_val)?;
                last_validation = line.validation.or(last_validation);
            }
            metrics.append(&line)?;
            progress.update(&line);
            window = StepWindow::default();
        }
    }
    drop(stream);
    progress.finish();
    let wall = started.elapsed().as_secs_f64();
    Ok(TrainSummary {
        step: trainer.step,
        steps_this_run: trainer.step - first_step,
        steps_per_second: (trainer.step - first_step) as f64 / wall.max(1e-9),
        tokens_per_second: total.tokens as f64 / total.busy.as_secs_f64().max(1e-9),
        data_wait_fraction: total.wait_fraction(),
        skipped_batches: total.skipped,
        last_validation,
        best_val_loss: best_val,
        wall_seconds: wall,
    })
}

/// Validates (when there are windows) and writes `step-N`, `last`, and `best` when the
/// validation loss beats `best` (or on the first checkpoint); prunes to the best 3.
fn validate_and_checkpoint(
    options: &TrainOptions,
    trainer: &Trainer,
    data: &DataSet,
    windows: &[ValidationWindow],
    best: &mut f64,
) -> anyhow::Result<Option<ValidationScores>> {
    let scores = (!windows.is_empty()).then(|| validate(trainer, data.tokenizer(), windows, options.device));
    let rec = record(trainer, data, scores.map(|s| s.val_loss));
    let val_loss = scores.map_or(f64::NAN, |s| s.val_loss);
    let run = &options.run;
    CheckpointPaths::new(run, &format!("step-{:06}", trainer.step)).save(trainer, &rec, true)?;
    CheckpointPaths::new(run, "last").save(trainer, &rec, true)?;
    let best_paths = CheckpointPaths::new(run, "best");
    if val_loss < *best || !best_paths.record.exists() {
        best_paths.save(trainer, &rec, false)?;
        if val_loss < *best {
            *best = val_loss;
        }
    }
    prune(run)?;
    Ok(scores)
}
