//! `mapflow train`: the libtorch training operator fed by the shard reader.
//!
//! ```text
//! OUT shards ─► batch reader thread ─► bounded channel ─► trainer thread (this one)
//!   (following a producer: new chunks                     ├─ feature statistics (fresh run)
//!    read as they commit)                                 ├─ step: loss, AdamW, schedule
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
use model::checkpoint::{CheckpointPaths, CheckpointRecord, prune, restore_latest};
use model::config::ModelConfig;
use model::network::VocabLayout;
use model::trainer::Trainer;
use tch::Device;

pub use self::batches::Follow;
use self::batches::{BatchStream, DEFAULT_CAPACITY, ReaderPlan};
use self::dataset::DataSet;
use self::metrics_log::{MetricsLog, StepWindow, TrainProgress};
use self::validation::{ValidationScores, ValidationWindow, load_windows, validate};
use shards::rows::Split;

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
    /// Keep reading newly committed chunks (continuous training), and from where.
    pub follow: Follow,
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
            follow: Follow::No,
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
    /// Seconds the trainer waited for batches.
    pub data_wait_seconds: f64,
    /// Seconds a fresh run waited for its first training tracks (following a producer).
    pub start_wait_seconds: f64,
    /// Batches skipped by the non-finite guard.
    pub skipped_batches: u64,
    /// The last validation.
    pub last_validation: Option<ValidationScores>,
    /// The best validation loss so far.
    pub best_val_loss: f64,
    /// Wall time.
    pub wall_seconds: f64,
}

/// Per-channel feature mean and std, and how many training tracks they were taken from.
struct FeatureStatistics {
    mean: Vec<f32>,
    std: Vec<f32>,
    tracks: usize,
}

/// Per-channel mean and std of the features of up to [`STATISTICS_TRACKS`] training tracks.
fn feature_statistics(data: &DataSet, splits: &[Split]) -> anyhow::Result<FeatureStatistics> {
    let (mut sum, mut sq, mut n) = (Vec::<f64>::new(), Vec::<f64>::new(), 0f64);
    let mut seen = 0;
    'chunks: for chunk in data.chunks()? {
        for track in data.read_tracks(&chunk)?.into_iter().filter(|t| splits.contains(&t.split)) {
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
    let n = n.max(1.0);
    let mean: Vec<f32> = sum.iter().map(|s| (s / n) as f32).collect();
    let std = sq.iter().zip(&sum).map(|(q, s)| ((q / n - (s / n).powi(2)).max(0.0).sqrt().max(1e-3)) as f32).collect();
    Ok(FeatureStatistics { mean, std, tracks: seen })
}

/// The feature statistics of a fresh run. Following a producer, they wait for training tracks:
/// until [`STATISTICS_TRACKS`] are committed, the producer has finished, or (with a gate) it
/// waits for the reader, which shows that no more will come before training starts.
fn statistics_for_a_fresh_run(options: &TrainOptions, data: &DataSet) -> anyhow::Result<(Vec<f32>, Vec<f32>)> {
    let follow = &options.follow;
    let mut watch = follow.watch();
    loop {
        let following = follow.active();
        let stats = feature_statistics(data, &options.train_splits)?;
        let enough = match follow {
            Follow::Gate(gate) => stats.tracks >= STATISTICS_TRACKS || (stats.tracks > 0 && gate.producer_waiting()),
            _ => stats.tracks > 0,
        };
        if enough || !following {
            if stats.tracks == 0 {
                bail!("{}: no training tracks to take feature statistics from", data.root().display());
            }
            if stats.tracks < STATISTICS_TRACKS {
                log::info!("feature statistics from {} training tracks", stats.tracks);
            }
            return Ok((stats.mean, stats.std));
        }
        if let Some(failure) = follow.failure() {
            bail!("the preprocess failed before training could start: {failure}");
        }
        watch = follow.wait(watch);
    }
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
        files: None,
    }
}

/// Checks what can be checked before any data exists: a limit is given, the device can be
/// computed on (`--device cuda` on a build without CUDA is refused here, not met as a panic in
/// libtorch), and the run directory holds a run exactly when resuming.
pub fn check_run_directory(options: &TrainOptions) -> anyhow::Result<()> {
    if options.max_steps.is_none() && options.max_minutes.is_none() {
        bail!("give --max-steps or --max-minutes");
    }
    model::runtime::usable_device(options.device)?;
    let last = CheckpointPaths::new(&options.run, "last");
    if options.resume {
        last.record().context("--resume: no checkpoint to resume")?;
    } else if last.record.exists() {
        bail!(
            "{} already holds a run: pass --resume to continue it, or choose another run directory",
            options.run.display()
        );
    }
    Ok(())
}

/// Sets up a trainer: fresh (the caller sets its feature statistics) or resumed from `RUN/last`.
fn start_trainer(options: &TrainOptions, data: &DataSet) -> anyhow::Result<(Trainer, f64)> {
    let last = CheckpointPaths::new(&options.run, "last");
    let mut trainer = Trainer::new(options.model.clone(), &VocabLayout::of(data.tokenizer()), options.device)
        .context("training.autocast_bf16 = true")?;
    if !options.resume {
        return Ok((trainer, f64::INFINITY));
    }
    let saved = last.record().context("--resume: no checkpoint to resume")?;
    if saved.tokenizer_hash != data.tokenizer_hash()
        || saved.model_hash != options.model.network_hash()
        || saved.feature_config != data.feature_config_hash()
    {
        bail!(
            "{}: made with tokenizer {}, network {} and features {}, not {}, {} and {}",
            last.record.display(),
            saved.tokenizer_hash,
            saved.model_hash,
            saved.feature_config,
            data.tokenizer_hash(),
            options.model.network_hash(),
            data.feature_config_hash()
        );
    }
    let restored = restore_latest(&options.run, &mut trainer)?;
    if restored.step != saved.step {
        log::warn!("{}: torn by a kill while it was saved; resumed from step {}", last.record.display(), restored.step);
    }
    // No `best` yet: the next validation makes one. An unreadable one is refused, not replaced by
    // whatever the next validation scores.
    let best = CheckpointPaths::new(&options.run, "best");
    let best_loss = if best.record.exists() {
        let record = best.record().with_context(|| {
            format!(
                "--resume: {} is unreadable, so the best validation loss so far is unknown; restore it, or \
                 remove it to let the next validation replace `best`",
                best.record.display()
            )
        })?;
        record.val_loss.unwrap_or(f64::INFINITY)
    } else {
        f64::INFINITY
    };
    Ok((trainer, best_loss))
}

/// Trains until `max_steps` or `max_minutes` (or, following a producer, until it fails).
pub fn run(options: TrainOptions) -> anyhow::Result<TrainSummary> {
    check_run_directory(&options)?;
    std::fs::create_dir_all(&options.run).with_context(|| format!("creating {}", options.run.display()))?;
    let data = DataSet::open(&options.data, options.tokenizer_hash.as_deref())?;
    let (mut trainer, mut best_val) = start_trainer(&options, &data)?;
    let training = options.model.training.clone();
    let scales = ResidualScales::new(data.tokenizer());
    let max_tokens = options.model.network.max_tokens as usize;
    let mut stream = BatchStream::spawn(
        data.clone(),
        ReaderPlan {
            training: training.clone(),
            start_batch: trainer.step,
            follow: options.follow.clone(),
            capacity: options.reader_capacity,
            splits: options.train_splits.clone(),
        },
    );
    // The reader runs meanwhile: following a producer, its reads return the credits that let
    // training tracks be committed.
    let start_wait = Instant::now();
    if !options.resume {
        let (mean, std) = statistics_for_a_fresh_run(&options, &data)?;
        trainer.net.encoder.set_statistics(&mean, &std);
    }
    let start_wait = start_wait.elapsed();
    // Following, the validation set grows with the data until it holds `validate_windows`
    // (settled: loaded when no more data could come).
    let mut val_settled = !options.follow.active();
    let mut val_windows = load_windows(&data, options.val_split, training.validate_windows)?;
    if val_windows.is_empty() && val_settled {
        log::warn!(
            "{}: no {} windows: validation is skipped, and `best` is the latest checkpoint",
            data.root().display(),
            options.val_split.as_str()
        );
    }
    let metrics_path = options.run.join("metrics.jsonl");
    let mut metrics = if options.resume {
        MetricsLog::open_resumed(&metrics_path, trainer.step)?
    } else {
        MetricsLog::open(&metrics_path)?
    };
    let progress = TrainProgress::new(options.max_steps);
    let started = Instant::now();
    let first_step = trainer.step;
    let deadline = options.max_minutes.map(|m| started + Duration::from_secs_f64(m * 60.0));
    let (mut window, mut total) = (StepWindow::default(), StepWindow::default());
    let mut last_validation = None;
    // A failed producer ends training at the next step (with a checkpoint): the caller reports it.
    let finished = |step: u64| {
        options.max_steps.is_some_and(|m| step >= m)
            || deadline.is_some_and(|d| Instant::now() >= d)
            || options.follow.failure().is_some()
    };
    let mut last = finished(trainer.step);
    while !last {
        let waited = Instant::now();
        let batch = stream.next_batch()?;
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
                if !val_settled && val_windows.len() < training.validate_windows {
                    val_settled = !options.follow.active();
                    val_windows = load_windows(&data, options.val_split, training.validate_windows)?;
                }
                line.validation = validate_and_checkpoint(&options, &mut trainer, &data, &val_windows, &mut best_val)?;
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
        data_wait_seconds: total.wait_seconds(),
        start_wait_seconds: start_wait.as_secs_f64(),
        skipped_batches: total.skipped,
        last_validation,
        best_val_loss: best_val,
        wall_seconds: wall,
    })
}

/// Validates (when there are windows; with the averaged weights when the recipe keeps an
/// average) and writes `step-N`, `last`, and `best` when the validation loss beats `best` (or
/// on the first checkpoint; without validation windows, every time: the latest weights are
/// then the best guess); prunes to the best 3.
fn validate_and_checkpoint(
    options: &TrainOptions,
    trainer: &mut Trainer,
    data: &DataSet,
    windows: &[ValidationWindow],
    best: &mut f64,
) -> anyhow::Result<Option<ValidationScores>> {
    let scores = (!windows.is_empty())
        .then(|| trainer.with_averaged_weights(|t| validate(t, data.tokenizer(), windows, options.device)));
    let trainer = &*trainer;
    let rec = record(trainer, data, scores.map(|s| s.val_loss));
    let val_loss = scores.map_or(f64::NAN, |s| s.val_loss);
    let run = &options.run;
    CheckpointPaths::new(run, &format!("step-{:06}", trainer.step)).save(trainer, &rec, true)?;
    CheckpointPaths::new(run, "last").save(trainer, &rec, true)?;
    let best_paths = CheckpointPaths::new(run, "best");
    if scores.is_none() || val_loss < *best || !best_paths.record.exists() {
        best_paths.save(trainer, &rec, false)?;
        if val_loss < *best {
            *best = val_loss;
        }
    }
    prune(run)?;
    Ok(scores)
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::runtime::DeviceError;

    #[test]
    fn a_cuda_device_that_is_not_there_is_refused_before_training_starts() {
        let dir = tempfile::tempdir().unwrap();
        let mut options = TrainOptions::new(dir.path().join("data"), ModelConfig::default(), dir.path().join("run"));
        options.max_steps = Some(1);
        check_run_directory(&options).unwrap();
        // One past the last CUDA device (cuda:0 on a machine without one): tch would panic.
        options.device = Device::Cuda(tch::Cuda::device_count() as usize);
        let error = check_run_directory(&options).unwrap_err();
        assert!(error.downcast_ref::<DeviceError>().is_some(), "{error}");
        assert!(error.to_string().contains("CUDA"), "{error}");
    }
}
