//! `mapflow bench pipeline`: end-to-end preprocess throughput with 1 and 2 workers, and peak
//! memory, on a small synthetic corpus and one 4× larger (each run is a fresh `mapflow
//! preprocess` process, so its peak RSS is its own).
//!
//! Targets (issue 4, 2 cores): 2 workers ≥ 1.8× one worker; ≥ 400× real time per worker; peak
//! RSS independent of corpus size.

use std::process::Command;

use anyhow::{Context, bail};
use pipeline::preprocess::Summary;
use pipeline::synth::corpus::{CorpusSpec, Layout, write_corpus};

/// Arguments of `mapflow bench pipeline`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Songs in the small corpus (the large one has 4×).
    #[arg(long, default_value_t = 8)]
    songs: usize,
    /// Seconds per song.
    #[arg(long, default_value_t = 60.0)]
    seconds: f64,
}

fn preprocess(corpus: &std::path::Path, out: &std::path::Path, workers: usize) -> anyhow::Result<serde_json::Value> {
    let exe = std::env::current_exe()?;
    let output = Command::new(exe)
        .args(["preprocess", "--quiet", "--json", "--workers", &workers.to_string(), "--source"])
        .arg(corpus)
        .arg("--output")
        .arg(out)
        .output()
        .context("running mapflow preprocess")?;
    if !output.status.success() {
        bail!("preprocess failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    Ok(serde_json::from_slice(&output.stdout)?)
}

/// Runs the benchmark and prints the table.
pub fn run(args: Args) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    println!("bench pipeline: synth corpora, Opus, {:.0} s songs; each run a fresh process", args.seconds);
    println!("{:<8} {:>6} {:>8} {:>9} {:>8} {:>11} {:>9} {:>13}", "corpus", "songs", "workers", "audio s", "wall s", "x realtime", "tracks/s", "peak RSS MiB");
    for (label, songs) in [("small", args.songs), ("4x", args.songs * 4)] {
        let corpus = dir.path().join(label);
        let spec = CorpusSpec { songs, songs_per_shard: 8, seconds: args.seconds, seed: 7, layout: Layout::Compressed, bad_inputs: false, fixtures: Vec::new(), tempo_spread: 0.0 };
        write_corpus(&corpus, &spec)?;
        let mut per_worker = Vec::new();
        for workers in [1, 2] {
            let out = dir.path().join(format!("out-{label}-{workers}"));
            let summary: Summary = serde_json::from_value(preprocess(&corpus, &out, workers)?)?;
            println!(
                "{label:<8} {songs:>6} {workers:>8} {:>9.0} {:>8.2} {:>11.0} {:>9.2} {:>13.0}",
                summary.audio_seconds,
                summary.wall_seconds,
                summary.x_realtime,
                summary.tracks_per_second,
                summary.peak_rss_mib.unwrap_or(f64::NAN)
            );
            per_worker.push(summary.x_realtime);
        }
        println!("{label}: 2 workers = {:.2}x one worker (target >= 1.8x); {:.0}x real time per worker with 1 (target >= 400x)", per_worker[1] / per_worker[0], per_worker[0]);
    }
    Ok(())
}
