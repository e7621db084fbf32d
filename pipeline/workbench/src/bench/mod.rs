//! `mapflow bench ...`: speed measured against a baseline timed in the same run.

mod baseline;
mod beats;
mod features;
mod generate;
mod learn;
mod preprocess;
mod real;
mod retokenize;
mod run;
mod tempo;
mod tempo_songs;
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
    Train(train::Args),
    /// `mapflow run`: how the gate holds the preprocess back behind a normal and a slowed trainer.
    Run(run::Args),
    /// Generation time for a 3-minute song (tiny, base) and tempo accuracy.
    Generate(generate::Args),
    /// Learnability: held-out rhythm F1 of the tiny model along 15 minutes of training.
    Learn(learn::Args),
    /// Synthetic corpus → full preprocess vs retokenize with a new config: the ratio.
    Retokenize(retokenize::Args),
    /// Real songs with human maps: the model and the onset baseline scored against the human
    /// maps (rhythm and hit F1, stars, objects) and the tempo estimate against the red lines.
    Real(real::Args),
    /// Real recordings with annotated beats: the estimated red lines against them, beside
    /// librosa's and madmom's beats (duration within 10 ms, BPM and beat-phase error).
    Beats(beats::Args),
}

/// Writes the synthetic corpus `spec` under `dir/<name>-corpus` and preprocesses it (a fresh
/// `mapflow preprocess` process) into `dir/<name>`, which it returns.
fn synth_shards(
    dir: &std::path::Path,
    name: &str,
    spec: &synth::corpus::CorpusSpec,
) -> anyhow::Result<std::path::PathBuf> {
    let corpus = dir.join(format!("{name}-corpus"));
    synth::corpus::write_corpus(&corpus, spec)?;
    let shards = dir.join(name);
    let status = std::process::Command::new(pipeline::cli::sibling_binary(pipeline::cli::MAPFLOW_BINARY)?)
        .args(["preprocess", "--quiet", "--source"])
        .arg(corpus.join("compressed"))
        .arg("-o")
        .arg(&shards)
        .status()?;
    anyhow::ensure!(status.success(), "preprocess of the {name} corpus failed");
    Ok(shards)
}

/// Runs the chosen benchmark.
pub fn run(which: Bench) -> anyhow::Result<()> {
    match which {
        Bench::Features(args) => features::run(args),
        Bench::Pipeline(args) => preprocess::run(args),
        Bench::Tempo(args) => tempo::run(args),
        Bench::Real(args) => real::run(args),
        Bench::Beats(args) => beats::run(args),
        Bench::Train(args) => train::run(args),
        Bench::Run(args) => run::run(args),
        Bench::Generate(args) => generate::run(args),
        Bench::Learn(args) => learn::run(args),
        Bench::Retokenize(args) => retokenize::run(args),
    }
}
