//! `mapflow bench beats`: the estimated red lines of real recordings against their composers'
//! annotated beats, beside two peer beat trackers (librosa, madmom) scored the same way.
//!
//! ```text
//!  DIR/<id>.ogg ─► read_song (decode, features, estimate_tempo) ─► red lines ─► their beats
//!  DIR/annotations/<id>.beats (time ⇥ beat in bar)              ─► human beats
//!  DIR/estimates/<id>.{librosa,madmom}.beats                    ─► peer beats
//!        each against the human beats ─► operators::metrics::grid (duration within 10 ms,
//!                                        time-weighted BPM error, beat-phase error)
//! ```
//! The folder is `../shared/real/music` (free recordings, see its `ATTRIBUTION.md`); one of its
//! files is two songs spliced at a bar line with a tempo change (140 → 170 BPM at 60 s).

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use operators::metrics::grid::{GRID_TOLERANCE_MS, GridAgreement, grid_agreement, timing_agreement};
use serde::Serialize;
use training::generate::read_song;

/// Arguments of `mapflow bench beats`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Folder of recordings (`<id>.ogg|.mp3|.flac|.wav`) with `annotations/<id>.beats`, and
    /// optionally `estimates/<id>.<tracker>.beats`.
    #[arg(long, default_value = "../shared/real/music")]
    music: PathBuf,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    json: bool,
}

/// Peer beat trackers whose beats are read from `estimates/`.
const PEERS: [&str; 2] = ["librosa", "madmom"];

/// One recording's scores.
#[derive(Debug, Serialize)]
struct Recording {
    id: String,
    human_beats: usize,
    /// Red lines mapflow wrote, as (ms, BPM).
    red_lines: Vec<(f64, f64)>,
    mapflow: Option<GridAgreement>,
    /// mapflow with its median beat-phase bias removed: the grid's shape (tempo, sections)
    /// apart from the timing convention (osu! red lines sit at the attack's start; annotated
    /// beats at the perceived beat, some 20–30 ms later).
    mapflow_debiased: Option<GridAgreement>,
    /// Error of mapflow's estimate, when there was none.
    error: Option<String>,
    /// `(tracker, its score)` for each peer whose beats are there.
    peers: Vec<(&'static str, GridAgreement)>,
}

/// Beat times (ms) of a `.beats` file: the first column, seconds.
fn read_beats(path: &Path) -> anyhow::Result<Vec<f64>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut beats = Vec::new();
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let first = line.split_whitespace().next().unwrap_or_default();
        let seconds: f64 =
            first.parse().with_context(|| format!("{}:{}: not a time in seconds: {first:?}", path.display(), n + 1))?;
        beats.push(seconds * 1000.0);
    }
    beats.sort_by(f64::total_cmp);
    Ok(beats)
}

/// The recordings of `dir` that have annotated beats, as (id, audio).
fn recordings(dir: &Path) -> anyhow::Result<Vec<(String, PathBuf)>> {
    let entries = std::fs::read_dir(dir).with_context(|| {
        format!("{}: no such folder (the annotated recordings live in ../shared/real/music)", dir.display())
    })?;
    let mut found = Vec::new();
    for entry in entries {
        let path = entry?.path();
        let is_audio = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| ["ogg", "mp3", "flac", "wav", "opus"].contains(&e.to_ascii_lowercase().as_str()));
        let Some(id) = path.file_stem().and_then(|s| s.to_str()) else { continue };
        if is_audio && dir.join("annotations").join(format!("{id}.beats")).is_file() {
            found.push((id.to_owned(), path.clone()));
        }
    }
    found.sort();
    Ok(found)
}

/// Runs the benchmark.
pub fn run(args: Args) -> anyhow::Result<()> {
    let found = recordings(&args.music)?;
    if found.is_empty() {
        bail!("{}: no recording with annotations/<id>.beats", args.music.display());
    }
    let mut rows = Vec::new();
    for (id, audio) in found {
        let human = read_beats(&args.music.join("annotations").join(format!("{id}.beats")))?;
        let mut peers = Vec::new();
        for peer in PEERS {
            let path = args.music.join("estimates").join(format!("{id}.{peer}.beats"));
            if path.is_file()
                && let Some(score) = grid_agreement(&human, &read_beats(&path)?, GRID_TOLERANCE_MS)
            {
                peers.push((peer, score));
            }
        }
        let estimate = read_song(&audio, true).map(|song| song.tempo);
        let (red_lines, mapflow, mapflow_debiased, error) = match estimate {
            Ok(Some(tempo)) => {
                let timing = tempo.timing();
                let red = timing.red_lines().iter().map(|r| (r.time_ms, 60_000.0 / r.beat_len_ms)).collect();
                let score = timing_agreement(&human, &timing, GRID_TOLERANCE_MS);
                let debiased = score.and_then(|g| {
                    let shifted: Vec<f64> = human.iter().map(|b| b + g.median_phase_bias_ms).collect();
                    timing_agreement(&shifted, &timing, GRID_TOLERANCE_MS)
                });
                (red, score, debiased, None)
            }
            Ok(None) => (Vec::new(), None, None, Some("no tempo estimated".to_owned())),
            Err(e) => (Vec::new(), None, None, Some(format!("{e:#}"))),
        };
        rows.push(Recording { id, human_beats: human.len(), red_lines, mapflow, mapflow_debiased, error, peers });
    }
    if args.json {
        println!("{}", serde_json::to_string(&rows)?);
        return Ok(());
    }
    println!(
        "bench beats: {} (real recordings, composer-annotated beats; duration within {GRID_TOLERANCE_MS} ms · time-weighted BPM error · median beat-phase error)",
        args.music.display()
    );
    let cell = |g: Option<&GridAgreement>| {
        g.map_or(format!("{:>24}", "-"), |g| {
            format!(
                "{:>5.1} % {:>6.2} % {:>5.1} ms",
                100.0 * g.within_tolerance,
                100.0 * g.bpm_error,
                g.median_phase_error_ms
            )
        })
    };
    println!(
        "{:<40} {:>24} | {:>24} | {:>24} | {:>24}  red lines",
        "recording", "mapflow", "mapflow, bias removed", PEERS[0], PEERS[1]
    );
    let mut means = [(0.0, 0usize); 4];
    for r in &rows {
        let peer = |name: &str| r.peers.iter().find(|(p, _)| *p == name).map(|(_, g)| g);
        let scores = [r.mapflow.as_ref(), r.mapflow_debiased.as_ref(), peer(PEERS[0]), peer(PEERS[1])];
        for (mean, g) in means.iter_mut().zip(scores) {
            if let Some(g) = g {
                *mean = (mean.0 + g.within_tolerance, mean.1 + 1);
            }
        }
        let red: Vec<String> = r.red_lines.iter().map(|(t, bpm)| format!("{bpm:.2}@{:.1}s", t / 1000.0)).collect();
        println!(
            "{:<40} {} | {} | {} | {}  {}{}",
            r.id.chars().take(40).collect::<String>(),
            cell(scores[0]),
            cell(scores[1]),
            cell(scores[2]),
            cell(scores[3]),
            red.join(" "),
            r.error.as_ref().map_or(String::new(), |e| format!("  ERROR {e}"))
        );
    }
    let mean =
        |(sum, n): (f64, usize)| if n == 0 { "-".to_owned() } else { format!("{:.1} %", 100.0 * sum / n as f64) };
    println!(
        "mean duration within {GRID_TOLERANCE_MS} ms: mapflow {} (bias removed {}), {} {}, {} {}",
        mean(means[0]),
        mean(means[1]),
        PEERS[0],
        mean(means[2]),
        PEERS[1],
        mean(means[3])
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beats_files_are_read_in_ms_and_bad_lines_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.beats");
        std::fs::write(&path, "0.5\t1\n0.25\t4\n\n1.0\t2\n").unwrap();
        assert_eq!(read_beats(&path).unwrap(), vec![250.0, 500.0, 1000.0]);
        std::fs::write(&path, "0.5\t1\nabc\t2\n").unwrap();
        let error = format!("{:#}", read_beats(&path).unwrap_err());
        assert!(error.contains("a.beats:2") && error.contains("abc"), "{error}");
    }
}
