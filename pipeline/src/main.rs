//! `mapflow`: songs in, osu! beatmaps out — and the data engine that feeds the model.
#![forbid(missing_docs)]

use std::ffi::OsString;
use std::process::ExitCode;

use clap::{Arg, ArgAction, CommandFactory, FromArgMatches, Parser, Subcommand};
use pipeline::cli::{self, WORKBENCH_COMMANDS};
use pipeline::commands;

/// Turns songs into playable osu!standard beatmaps.
#[derive(Debug, Parser)]
#[command(name = "mapflow", version, about, propagate_version = true)]
struct Cli {
    /// More log output (-v info, -vv debug). `RUST_LOG` overrides it.
    #[arg(short, long, action = ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

/// The commands this binary runs itself; [`WORKBENCH_COMMANDS`] are added beside them.
#[derive(Debug, Subcommand)]
// Parsed once per process: boxing the larger argument sets would buy nothing.
#[allow(clippy::large_enum_variant)]
enum Command {
    /// Streams songs through the dataflow into Parquet shards.
    Preprocess(commands::preprocess::Args),
    /// Adds (or drops) tokenizer configs of a preprocessed output, decoding no audio.
    Retokenize(commands::retokenize::Args),
    /// Writes the [129, T] feature matrix of an audio file as .npy.
    Features(commands::features::Args),
    /// Shows what a beatmap holds: objects, stars, BPM, timing points.
    Inspect(commands::inspect::Args),
    /// Tokenizes a beatmap into windows (and with --roundtrip, checks what decoding keeps).
    Tokenize(commands::tokenize::Args),
}

/// The command line with the workbench's commands as pass-through subcommands: everything after
/// their name goes to `mapflow-workbench` untouched (`--help` included).
fn command_line() -> clap::Command {
    WORKBENCH_COMMANDS.iter().fold(Cli::command(), |cli, (name, about)| {
        cli.subcommand(
            clap::Command::new(*name).about(*about).disable_help_flag(true).arg(
                Arg::new("args")
                    .num_args(0..)
                    .trailing_var_arg(true)
                    .allow_hyphen_values(true)
                    .value_parser(clap::value_parser!(OsString)),
            ),
        )
    })
}

fn main() -> ExitCode {
    let matches = command_line().get_matches();
    let verbose = matches.get_count("verbose");
    if let Some((name, sub)) = matches.subcommand()
        && WORKBENCH_COMMANDS.iter().any(|(n, _)| *n == name)
    {
        let mut args: Vec<OsString> = (0..verbose).map(|_| OsString::from("-v")).collect();
        args.push(name.into());
        args.extend(sub.get_many::<OsString>("args").into_iter().flatten().cloned());
        return cli::hand_over(args).unwrap_or_else(|e| cli::exit_code(Err(e)));
    }
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    cli::init_logging(cli.verbose);
    cli::exit_code(match cli.command {
        Command::Preprocess(args) => commands::preprocess::run_command(args),
        Command::Retokenize(args) => commands::retokenize::run_command(args),
        Command::Features(args) => commands::features::run(args),
        Command::Inspect(args) => commands::inspect::run(args),
        Command::Tokenize(args) => commands::tokenize::run(args),
    })
}
