//! `mapflow-workbench`: the model-side commands of `mapflow` (which runs this binary for them).
#![forbid(missing_docs)]

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use pipeline::cli;
use workbench::{bench, commands};

/// The commands of `mapflow` that need the model (libtorch) or the test tools.
#[derive(Debug, Parser)]
#[command(name = "mapflow", bin_name = "mapflow", version, about, propagate_version = true)]
struct Cli {
    /// More log output (-v info, -vv debug). `RUST_LOG` overrides it.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
// Parsed once per process: boxing the larger argument sets would buy nothing.
#[allow(clippy::large_enum_variant)]
enum Command {
    /// Runs the embedded demo: no network, no data needed.
    Demo(commands::demo::Args),
    /// Writes a small offline corpus in the hub's WebDataset layout.
    Synth(commands::synth::Args),
    /// Draws a map as a PNG: timeline over the song's onsets, playfield with the cursor path.
    Preview(commands::preview::Args),
    /// Trains the model on preprocessed shards (libtorch).
    Train(commands::train::Args),
    /// Preprocesses and trains in one process: the trainer reads chunks as they commit, and a
    /// slow trainer holds the preprocess back.
    Run(commands::run::Args),
    /// Generates a beatmap (.osz or .osu) for a song.
    Generate(commands::generate::Args),
    /// Scores free-running generation on a split of a data set.
    Eval(commands::eval::Args),
    /// Shows the libtorch runtime: devices and threads.
    Info(commands::info::Args),
    /// Benchmarks against a baseline measured in the same run.
    #[command(subcommand)]
    Bench(bench::Bench),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    cli::init_logging(cli.verbose);
    cli::exit_code(match cli.command {
        Command::Demo(args) => commands::demo::run(args),
        Command::Synth(args) => commands::synth::run(args),
        Command::Preview(args) => commands::preview::run(args),
        Command::Train(args) => commands::train::run_command(args),
        Command::Run(args) => commands::run::run_command(args),
        Command::Generate(args) => commands::generate::run(args),
        Command::Eval(args) => commands::eval::run(args),
        Command::Info(args) => commands::info::run(args),
        Command::Bench(which) => bench::run(which),
    })
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    /// `mapflow --help` lists these commands from `pipeline::cli::WORKBENCH_COMMANDS`: the same
    /// names, and each one-line help the first sentence of the workbench's own.
    #[test]
    fn mapflow_lists_exactly_these_commands() {
        let command = Cli::command();
        let ours: Vec<(String, String)> = command
            .get_subcommands()
            .map(|c| (c.get_name().to_owned(), c.get_about().map(|a| a.to_string()).unwrap_or_default()))
            .collect();
        let listed: Vec<(&str, &str)> = cli::WORKBENCH_COMMANDS.to_vec();
        assert_eq!(ours.len(), listed.len(), "{ours:?} vs {listed:?}");
        for ((name, about), (listed_name, listed_about)) in ours.iter().zip(&listed) {
            assert_eq!(name, listed_name);
            assert!(about.starts_with(listed_about), "{name}: `{about}` does not start with `{listed_about}`");
        }
    }
}
