//! `mapflow bench tempo`: BPM and offset estimation on rendered fixture songs of known timing
//! (see `crate::bench::tempo_songs`), one row per song, then the shares within the targets.
//!
//! Targets: BPM within 0.5 and offset within 10 ms (modulo a beat) on ≥ 95 % of the songs;
//! estimation well under 100 ms per 3-minute song beyond the features.

use crate::bench::tempo_songs::{BPM_TOLERANCE, OFFSET_TOLERANCE_MS, TempoBenchSpec, accuracy};

/// Arguments of `mapflow bench tempo`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Time-stretch factors (comma-separated); each makes one song per fixture map.
    #[arg(long, value_delimiter = ',', default_values_t = TempoBenchSpec::default().stretches)]
    stretch: Vec<f64>,
    /// Seconds per song before stretching.
    #[arg(long, default_value_t = TempoBenchSpec::default().seconds)]
    seconds: f64,
    /// Seed of the renders.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Print the result as JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// Runs the benchmark and prints the table.
pub fn run(args: Args) -> anyhow::Result<()> {
    let result = accuracy(&TempoBenchSpec { stretches: args.stretch, seconds: args.seconds, seed: args.seed })?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&result)?);
        return Ok(());
    }
    println!(
        "{:<24} {:>6} {:>8} {:>8} {:>7} {:>9} {:>9} {:>7} {:>5} {:>5} {:>4}",
        "song", "codec", "BPM", "est", "err", "offset", "est", "err ms", "bar", "conf", "ok"
    );
    for s in &result.songs {
        let (bpm, offset, conf) = s.estimate.as_ref().map_or(("-".into(), "-".into(), "-".into()), |e| {
            (
                format!("{:.3}", e.bpm),
                format!("{:.1}", e.offset_ms),
                format!("{:.2}{}", e.confidence, if e.low_confidence { "!" } else { "" }),
            )
        });
        println!(
            "{:<24} {:>6} {:>8.3} {bpm:>8} {:>+7.3} {:>9.1} {offset:>9} {:>+7.1} {:>5} {conf:>5} {:>4}",
            s.name,
            s.codec,
            s.true_bpm,
            s.bpm_error,
            s.true_offset_ms,
            s.offset_error_ms,
            if s.downbeat_right { "yes" } else { "no" },
            if s.within_targets() { "yes" } else { "NO" },
        );
    }
    let pct = |x: f64| 100.0 * x;
    println!(
        "{} songs: BPM within {BPM_TOLERANCE} {:.1} %, offset within {OFFSET_TOLERANCE_MS} ms (mod beat) {:.1} %, both {:.1} % (target >= 95 %)",
        result.songs.len(),
        pct(result.bpm_share),
        pct(result.offset_share),
        pct(result.within_targets_share)
    );
    println!(
        "downbeat right on {:.1} % of those; low-confidence flag on {:.1} %; from the features alone (as `mapflow eval` on shards): BPM within {BPM_TOLERANCE} {:.1} %",
        pct(result.downbeat_share),
        pct(result.low_confidence_share),
        pct(result.features_only_bpm_share)
    );
    println!(
        "per 3-minute song: estimate {:.1} ms, decode + features {:.1} ms ({} build)",
        result.estimate_seconds_per_3min * 1000.0,
        result.features_seconds_per_3min * 1000.0,
        if cfg!(debug_assertions) { "debug" } else { "release" }
    );
    Ok(())
}
