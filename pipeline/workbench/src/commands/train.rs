//! `mapflow train --data OUT --model PRESET.toml --output RUN`: trains the model on shards.

use std::path::{Path, PathBuf};

use anyhow::Context;
use model::config::ModelConfig;
use shards::rows::Split;
use training::train::{Follow, TrainOptions, TrainSummary, run};

/// What to train and for how long: shared by `mapflow train` and `mapflow run`.
#[derive(Debug, clap::Args)]
pub struct TrainArgs {
    /// Model preset (configs/model/tiny.toml, base.toml).
    #[arg(long)]
    model: PathBuf,
    /// Stop at this step.
    #[arg(long)]
    max_steps: Option<u64>,
    /// Stop after this many minutes of training in this run.
    #[arg(long)]
    max_minutes: Option<f64>,
    /// Seed of initialisation, data order and dropout (default: the preset's training.seed).
    #[arg(long)]
    seed: Option<u64>,
    /// Token table to train on (default: the data set's only one).
    #[arg(long)]
    tokenizer_hash: Option<String>,
    /// Split(s) trained on (repeat the flag for several; default train).
    #[arg(long = "train-split", default_value = "train", value_parser = parse_split)]
    train_splits: Vec<Split>,
    /// Split validation reads: val (default), test, or train (e.g. to check overfitting).
    #[arg(long, default_value = "val", value_parser = parse_split)]
    val_split: Split,
    /// cpu, cuda, or auto (CUDA when available).
    #[arg(long, default_value = "auto", value_parser = parse_device)]
    device: tch::Device,
}

impl TrainArgs {
    /// The options for training on `data` into the run directory `run`.
    pub fn options(&self, data: PathBuf, run: PathBuf, resume: bool) -> anyhow::Result<TrainOptions> {
        let mut model = ModelConfig::from_toml_file(&self.model).context("loading the model preset")?;
        if let Some(seed) = self.seed {
            model.training.seed = seed;
        }
        let mut options = TrainOptions::new(data, model, run);
        options.max_steps = self.max_steps;
        options.max_minutes = self.max_minutes;
        options.resume = resume;
        options.tokenizer_hash = self.tokenizer_hash.clone();
        options.train_splits = self.train_splits.clone();
        options.val_split = self.val_split;
        options.device = self.device;
        Ok(options)
    }
}

/// Arguments of `mapflow train`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The preprocessed data set (a `mapflow preprocess` output directory).
    #[arg(long)]
    data: PathBuf,
    /// Run directory: checkpoints and metrics.jsonl.
    #[arg(short, long)]
    output: PathBuf,
    #[command(flatten)]
    train: TrainArgs,
    /// Keep reading chunks as a running `preprocess` commits them (continuous training).
    #[arg(long)]
    follow: bool,
    /// Continue the run in --output from its last checkpoint.
    #[arg(long)]
    resume: bool,
    /// Print the final summary as one JSON object.
    #[arg(long)]
    json: bool,
}

/// Parses `train`, `val` or `test`.
pub fn parse_split(s: &str) -> Result<Split, String> {
    Split::from_stored(s).ok_or_else(|| format!("unknown split {s:?}: train, val or test"))
}

/// Parses `cpu`, `cuda`, `cuda:N` or `auto`.
pub fn parse_device(s: &str) -> Result<tch::Device, String> {
    match s {
        "auto" => Ok(model::runtime::best_device()),
        "cpu" => Ok(tch::Device::Cpu),
        "cuda" => Ok(tch::Device::Cuda(0)),
        _ => s
            .strip_prefix("cuda:")
            .and_then(|n| n.parse().ok())
            .map(tch::Device::Cuda)
            .ok_or_else(|| format!("unknown device {s:?}: cpu, cuda, cuda:N or auto")),
    }
}

/// The summary as text lines (`run`: the run directory).
pub fn summary_text(summary: &TrainSummary, run: &Path) -> String {
    let v = summary.last_validation;
    format!(
        "trained to step {} ({} this run, {:.2} steps/s, {:.0} tokens/s, data wait {:.1}%){}\ncheckpoints: {}/best.safetensors (metrics: {}/metrics.jsonl)",
        summary.step,
        summary.steps_this_run,
        summary.steps_per_second,
        summary.tokens_per_second,
        100.0 * summary.data_wait_fraction,
        v.map_or(String::new(), |v| format!(
            "\nvalidation: loss {:.4}, rhythm F1 ±50 ms {:.3}, ±10 ms {:.3}, hit F1 {:.3} on {} windows",
            v.val_loss, v.rhythm_f1_50ms, v.rhythm_f1_10ms, v.hit_f1, v.windows
        )),
        run.display(),
        run.display()
    )
}

/// Runs `mapflow train`.
pub fn run_command(args: Args) -> anyhow::Result<()> {
    let mut options = args.train.options(args.data, args.output.clone(), args.resume)?;
    if args.follow {
        options.follow = Follow::Polling;
    }
    let summary = run(options)?;
    if args.json {
        println!("{}", serde_json::to_string(&summary)?);
    } else {
        println!("{}", summary_text(&summary, &args.output));
    }
    Ok(())
}
