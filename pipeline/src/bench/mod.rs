//! `mapflow bench ...`: speed measured against a baseline timed in the same run.

mod features;
#[cfg(feature = "model")]
mod generate;
#[cfg(feature = "model")]
mod learn;
mod preprocess;
mod tempo;
#[cfg(feature = "model")]
mod train;

/// Which benchmark to run.
#[derive(Debug, clap::Subcommand)]
pub enum Bench {
    /// Audio → [129, T] features per stage, against librosa on the same file.
    Features(features::Args),
    /// Synthetic corpus → preprocess with 1 and 2 workers: throughput and peak RSS.
    Pipeline(preprocess::Args),
    /// BPM + offset estimation on rendered songs of known timing: accuracy and time.
    Tempo(tempo::Args),
    /// Training speed, data-wait share, and memory with a trainer slowed 10×.
    #[cfg(feature = "model")]
    Train(train::Args),
    /// Generation time for a 3-minute song (tiny, base) and tempo accuracy.
    #[cfg(feature = "model")]
    Generate(generate::Args),
    /// Learnability: held-out rhythm F1 of the tiny model along 15 minutes of training.
    #[cfg(feature = "model")]
    Learn(learn::Args),
}

/// Runs the chosen benchmark.
pub fn run(which: Bench) -> anyhow::Result<()> {
    match which {
        Bench::Features(args) => features::run(args),
        Bench::Pipeline(args) => preprocess::run(args),
        Bench::Tempo(args) => tempo::run(args),
        #[cfg(feature = "model")]
        Bench::Train(args) => train::run(args),
        #[cfg(feature = "model")]
        Bench::Generate(args) => generate::run(args),
        #[cfg(feature = "model")]
        Bench::Learn(args) => learn::run(args),
    }
}
