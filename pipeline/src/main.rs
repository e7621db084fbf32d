//! `mapflow`: songs in, osu! beatmaps out — and the data engine that feeds the model.
#![forbid(missing_docs)]

mod bench;
mod commands;

use clap::{Parser, Subcommand};

/// Turns songs into playable osu!standard beatmaps.
#[derive(Debug, Parser)]
#[command(name = "mapflow", version, about, propagate_version = true)]
struct Cli {
    /// More log output (-v info, -vv debug). `RUST_LOG` overrides it.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs the embedded demo: no network, no data needed.
    Demo(commands::demo::Args),
    /// Writes a small offline corpus in the hub's WebDataset layout.
    Synth(commands::synth::Args),
    /// Streams songs through the dataflow into Parquet shards.
    Preprocess(commands::preprocess::Args),
    /// Adds (or drops) tokenizer configs of a preprocessed output, decoding no audio.
    Retokenize(commands::retokenize::Args),
    /// Writes the [129, T] feature matrix of an audio file as .npy.
    Features(commands::features::Args),
    /// Shows what a beatmap holds: objects, stars, BPM, timing points.
    Inspect(commands::inspect::Args),
    /// Draws a map as a PNG: timeline over the song's onsets, playfield with the cursor path.
    Preview(commands::preview::Args),
    /// Tokenizes a beatmap into windows (and with --roundtrip, checks what decoding keeps).
    Tokenize(commands::tokenize::Args),
    /// Benchmarks against a baseline measured in the same run.
    #[command(subcommand)]
    Bench(bench::Bench),
    /// Shows the libtorch runtime: devices and threads.
    #[cfg(feature = "model")]
    Info(commands::info::Args),
    /// Generates a beatmap (.osz or .osu) for a song with a trained model.
    #[cfg(feature = "model")]
    Generate(commands::generate::Args),
    /// Scores free-running generation on a split of a data set.
    #[cfg(feature = "model")]
    Eval(commands::eval::Args),
    /// Trains the model on preprocessed shards (libtorch).
    #[cfg(feature = "model")]
    Train(commands::train::Args),
    /// Preprocesses and trains in one process: the trainer reads chunks as they commit, and a
    /// slow trainer holds the preprocess back.
    #[cfg(feature = "model")]
    Run(commands::run::Args),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let level = match cli.verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    // symphonia logs every failed container probe as an error; ours already names the input.
    let filter = format!("{level},symphonia_core=off,symphonia_bundle_mp3=off");
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(filter)).format_timestamp(None).init();
    let result = match cli.command {
        Command::Demo(args) => commands::demo::run(args),
        Command::Features(args) => commands::features::run(args),
        Command::Synth(args) => commands::synth::run(args),
        Command::Preprocess(args) => commands::preprocess::run_command(args),
        Command::Retokenize(args) => commands::retokenize::run_command(args),
        Command::Inspect(args) => commands::inspect::run(args),
        Command::Tokenize(args) => commands::tokenize::run(args),
        Command::Preview(args) => commands::preview::run(args),
        Command::Bench(which) => bench::run(which),
        #[cfg(feature = "model")]
        Command::Info(args) => commands::info::run(args),
        #[cfg(feature = "model")]
        Command::Train(args) => commands::train::run_command(args),
        #[cfg(feature = "model")]
        Command::Run(args) => commands::run::run_command(args),
        #[cfg(feature = "model")]
        Command::Generate(args) => commands::generate::run(args),
        #[cfg(feature = "model")]
        Command::Eval(args) => commands::eval::run(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
