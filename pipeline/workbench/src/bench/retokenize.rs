//! `mapflow bench retokenize`: what a new tokenizer config costs with `retokenize` against a
//! full `preprocess` of the same synthetic corpus (each a fresh `mapflow` process, timed from
//! outside, startup included).
//!
//! Target (issue 5): full preprocess ≥ 20× the retokenize of one new config.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail};
use synth::corpus::{CorpusSpec, Layout, write_corpus};

/// Arguments of `mapflow bench retokenize`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Songs in the corpus.
    #[arg(long, default_value_t = 16)]
    songs: usize,
    /// Seconds per song.
    #[arg(long, default_value_t = 60.0)]
    seconds: f64,
    /// Worker threads of both commands.
    #[arg(long, default_value_t = 1)]
    workers: usize,
}

/// The new config: the default with another stride (another hash, as many windows to compute).
const NEW_CONFIG: &str = "[windows]\nstride_ms = 2000.0\n";

/// Runs `mapflow <args>`; returns its JSON summary and wall seconds.
fn timed(args: &[&str], paths: &[&Path]) -> anyhow::Result<(serde_json::Value, f64)> {
    let mut command = Command::new(pipeline::cli::sibling_binary(pipeline::cli::MAPFLOW_BINARY)?);
    command.args(args).args(paths);
    let started = Instant::now();
    let output = command.output().with_context(|| format!("running mapflow {}", args[0]))?;
    let wall = started.elapsed().as_secs_f64();
    if !output.status.success() {
        bail!("mapflow {} failed: {}", args[0], String::from_utf8_lossy(&output.stderr));
    }
    Ok((serde_json::from_slice(&output.stdout)?, wall))
}

/// Runs the benchmark and prints the ratio.
pub fn run(args: Args) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let corpus = dir.path().join("corpus");
    let spec = CorpusSpec {
        songs: args.songs,
        songs_per_shard: 8,
        seconds: args.seconds,
        seed: 7,
        layout: Layout::Compressed,
        bad_inputs: false,
        fixtures: Vec::new(),
        tempo_spread: 0.0,
    };
    write_corpus(&corpus, &spec)?;
    let config = dir.path().join("new.toml");
    std::fs::write(&config, NEW_CONFIG)?;
    let out = dir.path().join("out");
    let workers = args.workers.to_string();
    let (pre, pre_wall) = timed(
        &["preprocess", "--quiet", "--json", "--workers", &workers, "--source"],
        &[&corpus, Path::new("--output"), &out],
    )?;
    let (re, re_wall) = timed(
        &["retokenize", "--json", "--workers", &workers, "--tokenizer"],
        &[&config, Path::new("--output"), &out],
    )?;
    println!(
        "bench retokenize: {} songs × {:.0} s (synth, Opus), {} worker(s); each command a fresh process",
        args.songs, args.seconds, args.workers
    );
    println!("{:<28} {:>8} {:>8} {:>10} {:>14}", "command", "wall s", "tracks", "beatmaps", "audio decodes");
    let count = |summary: &serde_json::Value, key: &str| summary[key].as_u64().unwrap_or(0);
    println!(
        "{:<28} {:>8.2} {:>8} {:>10} {:>14}",
        "preprocess (full)",
        pre_wall,
        count(&pre, "tracks"),
        count(&pre, "beatmaps"),
        count(&pre, "audio_decodes")
    );
    println!(
        "{:<28} {:>8.2} {:>8} {:>10} {:>14}",
        "retokenize (1 new config)",
        re_wall,
        "-",
        count(&re, "beatmaps"),
        count(&re, "audio_decodes")
    );
    println!("preprocess / retokenize = {:.1}x (target >= 20x)", pre_wall / re_wall.max(1e-9));
    Ok(())
}
