//! What both binaries share at their edge: logging, exit codes, and the hand-over of the
//! model-side commands from `mapflow` to `mapflow-workbench`.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

/// The binary that runs the data commands (preprocess, retokenize, features, inspect, tokenize).
pub const MAPFLOW_BINARY: &str = "mapflow";

/// The binary that runs the commands of [`WORKBENCH_COMMANDS`].
pub const WORKBENCH_BINARY: &str = "mapflow-workbench";

/// The commands `mapflow` hands to [`WORKBENCH_BINARY`], with the one-line help `mapflow --help`
/// shows for each (the workbench's own `--help` has the full text; a test keeps them in step).
pub const WORKBENCH_COMMANDS: [(&str, &str); 9] = [
    ("demo", "Runs the embedded demo: no network, no data needed"),
    ("synth", "Writes a small offline corpus in the hub's WebDataset layout"),
    ("preview", "Draws a map as a PNG: timeline over the song's onsets, playfield with the cursor path"),
    ("train", "Trains the model on preprocessed shards (libtorch)"),
    ("run", "Preprocesses and trains in one process: the trainer reads chunks as they commit"),
    ("generate", "Generates a beatmap (.osz or .osu) for a song"),
    ("eval", "Scores free-running generation on a split of a data set"),
    ("info", "Shows the libtorch runtime: devices and threads"),
    ("bench", "Benchmarks against a baseline measured in the same run"),
];

/// Sets up logging: `verbose` 0 warnings, 1 info, 2+ debug; `RUST_LOG` overrides it.
pub fn init_logging(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    // symphonia logs every failed container probe as an error; ours already names the input.
    let filter = format!("{level},symphonia_core=off,symphonia_bundle_mp3=off");
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(filter)).format_timestamp(None).init();
}

/// The exit code of a command's result, its error chain printed on stderr.
pub fn exit_code(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The path of `binary` beside the running executable (both are built into one folder).
pub fn sibling_binary(binary: &str) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let dir = exe.parent().ok_or_else(|| anyhow::anyhow!("{} has no folder", exe.display()))?;
    Ok(dir.join(format!("{binary}{}", std::env::consts::EXE_SUFFIX)))
}

/// Runs `mapflow-workbench` with `args` in place of this process (on Unix; elsewhere as a child
/// whose exit code this process takes).
pub fn hand_over(args: Vec<OsString>) -> anyhow::Result<ExitCode> {
    let binary = sibling_binary(WORKBENCH_BINARY)?;
    if !binary.exists() {
        anyhow::bail!(
            "{} is not installed beside mapflow: this command needs it (it links libtorch); \
             build it with `cargo build --release -p workbench` (`./dev demo` builds both)",
            binary.display()
        );
    }
    let mut command = std::process::Command::new(&binary);
    command.args(args);
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        let error = command.exec();
        Err(anyhow::anyhow!("cannot run {}: {error}", binary.display()))
    }
    #[cfg(not(unix))]
    {
        let status = command.status().map_err(|e| anyhow::anyhow!("cannot run {}: {e}", binary.display()))?;
        Ok(status.code().map_or(ExitCode::FAILURE, |code| ExitCode::from(code as u8)))
    }
}
