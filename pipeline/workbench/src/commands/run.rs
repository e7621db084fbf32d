//! `mapflow run --source SRC --output OUT --model PRESET.toml --run RUN`: preprocess and train in
//! one process, the trainer reading chunks as they commit (see `training::streaming`).

use std::path::PathBuf;

use dataflow::preprocess::defaults;
use training::streaming::{RunOptions, RunSummary, run};

use super::train::TrainArgs;
use pipeline::commands::preprocess::PreprocessArgs;

/// Arguments of `mapflow run`: those of `preprocess` and `train`, and the gate between them.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    preprocess: PreprocessArgs,
    /// Run directory: checkpoints and metrics.jsonl.
    #[arg(long)]
    run: PathBuf,
    #[command(flatten)]
    train: TrainArgs,
    /// Chunks the preprocess may run ahead of the trainer: admitted and not yet read by its
    /// reader (a chunk is --chunk-tracks songs of one source shard).
    #[arg(long, default_value_t = defaults::MAX_CHUNKS_AHEAD)]
    max_chunks_ahead: usize,
    /// Continue: the preprocess skips committed chunks, the trainer resumes from RUN/last.
    #[arg(long)]
    resume: bool,
    /// Print the final summary as one JSON object.
    #[arg(long)]
    json: bool,
}

/// The summary as text lines.
fn summary_text(summary: &RunSummary, args: &Args) -> String {
    let mut text = format!(
        "preprocess: {}",
        pipeline::commands::preprocess::summary_text(&summary.preprocess, &args.preprocess.output)
    );
    if !summary.preprocess_complete {
        text.push_str(&format!(
            "\npreprocess stopped at a chunk boundary ({}): rerun with --resume to continue",
            summary.gate.stopped.as_deref().unwrap_or("stopped")
        ));
    }
    text.push('\n');
    text.push_str(&super::train::summary_text(&summary.train, &args.run));
    let g = &summary.gate;
    text.push_str(&format!(
        "\ngate ({} chunks ahead at most, {} reached): producer held back {:.1} s in {} waits; trainer waited {:.1} s for its first tracks, then {:.1} s for batches ({:.1}%), its reader {:.1} s for commits; {:.1} s in all",
        g.max_chunks_ahead,
        g.peak_ahead,
        g.producer_held_seconds,
        g.producer_waits,
        summary.train.start_wait_seconds,
        summary.train.data_wait_seconds,
        100.0 * summary.train.data_wait_fraction,
        g.consumer_wait_seconds,
        summary.wall_seconds
    ));
    text
}

/// Runs `mapflow run`.
pub fn run_command(args: Args) -> anyhow::Result<()> {
    // One progress bar (the trainer's): the preprocess logs progress lines with -v.
    let (preprocess, source) = args.preprocess.options(false)?;
    let train = args.train.options(args.preprocess.output.clone(), args.run.clone(), args.resume)?;
    let summary = run(RunOptions { preprocess, train, max_chunks_ahead: args.max_chunks_ahead }, source)?;
    if args.json {
        println!("{}", serde_json::to_string(&summary)?);
    } else {
        println!("{}", summary_text(&summary, &args));
    }
    Ok(())
}
