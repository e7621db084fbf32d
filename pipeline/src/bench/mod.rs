//! `mapflow bench ...`: speed measured against a baseline timed in the same run.

mod features;

/// Which benchmark to run.
#[derive(Debug, clap::Subcommand)]
pub enum Bench {
    /// Audio → [129, T] features per stage, against librosa on the same file.
    Features(features::Args),
}

/// Runs the chosen benchmark.
pub fn run(which: Bench) -> anyhow::Result<()> {
    match which {
        Bench::Features(args) => features::run(args),
    }
}
