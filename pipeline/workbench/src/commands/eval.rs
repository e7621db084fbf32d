//! `mapflow eval --checkpoint RUN --data OUT --split test`: free-running scores on a split.

use std::path::PathBuf;

use anyhow::Context;

use shards::rows::Split;
use training::evaluate::{EvalOptions, run as evaluate, split_name, table};

use super::train::{parse_device, parse_split};

/// Arguments of `mapflow eval`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A training run directory (its best checkpoint) or a checkpoint file.
    #[arg(long)]
    checkpoint: PathBuf,
    /// The preprocessed data set.
    #[arg(long)]
    data: PathBuf,
    /// Split to score: test (default), val, train, or all.
    #[arg(long, default_value = "test")]
    split: String,
    /// Score at most this many beatmaps.
    #[arg(long)]
    max_maps: Option<usize>,
    /// Where to write the JSON report (default: eval-<split>.json beside the checkpoint).
    #[arg(long)]
    report: Option<PathBuf>,
    /// cpu, cuda, or auto.
    #[arg(long, default_value = "auto", value_parser = parse_device)]
    device: tch::Device,
    /// Print the report as JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// Parses a split name or `all` (`None`).
fn parse_split_or_all(s: &str) -> Result<Option<Split>, String> {
    if s == "all" { Ok(None) } else { parse_split(s).map(Some) }
}

/// Runs `mapflow eval`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let split = parse_split_or_all(&args.split).map_err(anyhow::Error::msg)?;
    let options = EvalOptions {
        checkpoint: args.checkpoint.clone(),
        data: args.data,
        split,
        max_maps: args.max_maps,
        device: args.device,
    };
    let report = evaluate(&options)?;
    let dir = if args.checkpoint.is_dir() {
        args.checkpoint.clone()
    } else {
        args.checkpoint.parent().map(PathBuf::from).unwrap_or_default()
    };
    let path = args.report.unwrap_or_else(|| dir.join(format!("eval-{}.json", split_name(split))));
    let json = serde_json::to_string_pretty(&report)?;
    operators::atomic::write(&path, json.as_bytes()).with_context(|| format!("writing {}", path.display()))?;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print!("{}", table(&report));
        println!("report: {}", path.display());
    }
    Ok(())
}
