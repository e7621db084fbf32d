//! `mapflow bench pipeline`: end-to-end preprocess throughput with 1 and 2 workers, and peak
//! memory, on a small synthetic corpus and one 4× larger (each run is a fresh `mapflow
//! preprocess` process, so its peak RSS is its own).
//!
//! Targets (issue 4, 2 cores): 2 workers ≥ 1.8× one worker; ≥ 400× real time per worker; peak
//! RSS independent of corpus size.
//!
//! Baseline, timed in the same rounds as the dataflow: the decode threads' work (decode,
//! features, tokenizing) alone on 1 and 2 plain threads (`preprocess::baseline`) — the scaling
//! this machine gives that work, which the dataflow's 2-worker ratio is compared with — and the
//! decoding alone on one thread: the codec's speed on this machine at the time of the run, the
//! ceiling of any per-worker throughput.

use std::process::Command;

use crate::bench::baseline::{Pass, Tracks};
use anyhow::{Context, bail};
use dataflow::preprocess::{Summary, source_opener};
use dataflow::sources::{SourceOptions, SourceUri};
use synth::corpus::{CorpusSpec, Layout, write_corpus};

/// Arguments of `mapflow bench pipeline`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Songs in the small corpus (the large one has 4×). Not 8: the synth corpus's first eight are
    /// seven one-minute songs and one of 13 s, which no two workers can share better than 1.79×.
    #[arg(long, default_value_t = 16)]
    songs: usize,
    /// Seconds per song.
    #[arg(long, default_value_t = 60.0)]
    seconds: f64,
    /// Runs of each measurement; the best (shortest wall time) is reported: this machine's
    /// timings vary by ±15 % from run to run.
    #[arg(long, default_value_t = 3)]
    repeat: usize,
}

fn preprocess(corpus: &std::path::Path, out: &std::path::Path, workers: usize) -> anyhow::Result<serde_json::Value> {
    let exe = pipeline::cli::sibling_binary(pipeline::cli::MAPFLOW_BINARY)?;
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

/// The baselines, best of the timings so far of each, in seconds.
struct Baseline {
    /// The decode threads' work on every track of the corpus, on 1 thread (the best pass).
    one: Option<Pass>,
    /// The same on 2 threads.
    two: f64,
    /// Only decode every track, on 1 thread.
    decode: f64,
}

impl Baseline {
    fn new() -> Self {
        Self { one: None, two: f64::INFINITY, decode: f64::INFINITY }
    }

    /// Times each baseline once more.
    fn time(&mut self, tracks: &Tracks) {
        let pass = tracks.process_on(1);
        if self.one.as_ref().is_none_or(|best| pass.wall < best.wall) {
            self.one = Some(pass);
        }
        self.two = self.two.min(tracks.process_on(2).wall.as_secs_f64());
        self.decode = self.decode.min(tracks.decode_alone().wall.as_secs_f64());
    }
}

/// The 2 / 1 worker ratio a run's CPU time allows: its decode thread's time `decode` sets the
/// 1-worker wall time (the rest, `other`, runs beside it on the second core), and 2 workers can
/// at best share both evenly over the two cores: `max(d, o) / ((d + o) / 2)`.
fn cpu_bound(decode: f64, other: f64) -> f64 {
    2.0 * decode.max(other) / (decode + other).max(f64::MIN_POSITIVE)
}

/// Runs the benchmark and prints the table.
pub fn run(args: Args) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let repeat = args.repeat.max(1);
    println!(
        "bench pipeline: synth corpora, Opus, {:.0} s songs; each run a fresh process; best of {repeat} rounds (1 and 2 workers, then the baselines)",
        args.seconds
    );
    println!(
        "{:<8} {:>6} {:>8} {:>9} {:>8} {:>11} {:>9} {:>13} {:>14}",
        "corpus", "songs", "workers", "audio s", "wall s", "x realtime", "tracks/s", "peak RSS MiB", "wall s, all"
    );
    for (label, songs) in [("small", args.songs), ("4x", args.songs * 4)] {
        let corpus = dir.path().join(label);
        let spec = CorpusSpec {
            songs,
            songs_per_shard: 8,
            seconds: args.seconds,
            seed: 7,
            layout: Layout::Compressed,
            bad_inputs: false,
            fixtures: Vec::new(),
            tempo_spread: 0.0,
        };
        write_corpus(&corpus, &spec)?;
        let uri = SourceUri::Shards(corpus.clone());
        let tracks = Tracks::read(source_opener(uri, SourceOptions::default()), &Default::default())?;
        // Each round times everything once, so that the dataflow and its baselines see the
        // same hours of this machine.
        let mut runs: [Vec<Summary>; 2] = Default::default();
        let mut baseline = Baseline::new();
        for r in 0..repeat {
            for (workers, summaries) in [1, 2].into_iter().zip(&mut runs) {
                let out = dir.path().join(format!("out-{label}-{workers}-{r}"));
                summaries.push(serde_json::from_value(preprocess(&corpus, &out, workers)?)?);
                std::fs::remove_dir_all(&out)?;
            }
            baseline.time(&tracks);
        }
        let best: Vec<&Summary> = runs
            .iter()
            .map(|summaries| {
                summaries.iter().min_by(|a, b| a.wall_seconds.total_cmp(&b.wall_seconds)).expect("repeat >= 1")
            })
            .collect();
        let mut best_x = Vec::new();
        for ((workers, summaries), best) in [1, 2].into_iter().zip(&runs).zip(&best) {
            let peak = summaries.iter().filter_map(|s| s.peak_rss_mib).fold(f64::NAN, f64::max);
            let walls: Vec<String> = summaries.iter().map(|s| format!("{:.2}", s.wall_seconds)).collect();
            println!(
                "{label:<8} {songs:>6} {workers:>8} {:>9.0} {:>8.2} {:>11.0} {:>9.2} {:>13.0} {:>14}",
                best.audio_seconds,
                best.wall_seconds,
                best.x_realtime,
                best.tracks_per_second,
                peak,
                walls.join(" ")
            );
            best_x.push(best.x_realtime);
        }
        let Baseline { one, two, decode } = baseline;
        let one = one.expect("repeat >= 1");
        let split_bound = one.split_bound(2);
        let one = one.wall.as_secs_f64();
        println!(
            "{label}: the decode threads' work alone (baseline): {one:.2} s on 1 thread, {two:.2} s on 2 = {:.2}x",
            one / two
        );
        println!(
            "{label}: the tracks' own times allow 2 threads taking them in turn at most {split_bound:.2}x (uneven song lengths)"
        );
        let decode_cpu = best[0].decode_cpu_seconds;
        let other_cpu = best[0].cpu_seconds - decode_cpu;
        println!(
            "{label}: CPU of the best 1-worker run: {decode_cpu:.2} s on the decode thread (decoding, features, the tracks rows' Parquet + zstd, tokenizing, stars), {other_cpu:.2} s besides ({:.1} %: reading, the other tables, writing + SHA-256, the dataflow), which runs on the idle core with 1 worker and shares both with 2: at most {:.2}x",
            100.0 * other_cpu / decode_cpu.max(f64::MIN_POSITIVE),
            cpu_bound(decode_cpu, other_cpu)
        );
        println!(
            "{label}: decoding alone, 1 thread: {decode:.2} s = {:.0}x real time (the codec's speed on this machine now: no worker can beat it)",
            runs[0][0].audio_seconds / decode
        );
        let scaling = best_x[1] / best_x[0];
        println!(
            "{label}: 2 workers = {scaling:.2}x one worker (target >= 1.8x), {:.0} % of the plain threads' {:.2}x; {:.0}x real time per worker with 1 (target >= 400x)",
            100.0 * scaling / (one / two),
            one / two,
            best_x[0]
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_bound_is_the_larger_part_over_half_the_whole() {
        assert_eq!(cpu_bound(2.0, 0.0), 2.0);
        assert!((cpu_bound(4.9, 0.3) - 2.0 * 4.9 / 5.2).abs() < 1e-12);
        // The rest outweighs decoding: it sets the 1-worker time.
        assert_eq!(cpu_bound(1.0, 3.0), 1.5);
        assert_eq!(cpu_bound(1.0, 1.0), 1.0);
    }
}
