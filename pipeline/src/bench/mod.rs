//! `mapflow bench ...`: speed measured against a baseline timed in the same run.

mod features;
mod preprocess;
mod retokenize;

/// Which benchmark to run.
#[derive(Debug, clap::Subcommand)]
pub enum Bench {
    /// Audio → [129, T] features per stage, against librosa on the same file.
    Features(features::Args),
    /// Synthetic corpus → preprocess with 1 and 2 workers: throughput and peak RSS.
    Pipeline(preprocess::Args),
    /// Synthetic corpus → full preprocess vs retokenize with a new config: the ratio.
    Retokenize(retokenize::Args),
}

/// Runs the chosen benchmark.
pub fn run(which: Bench) -> anyhow::Result<()> {
    match which {
        Bench::Features(args) => features::run(args),
        Bench::Pipeline(args) => preprocess::run(args),
        Bench::Retokenize(args) => retokenize::run(args),
    }
}
