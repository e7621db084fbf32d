//! `mapflow bench features`: our audio → features chain per stage, on one core, next to
//! librosa 0.11's chain on the same file in the same run.
//!
//! Targets (issue 2): whole chain ≥ 1.6× librosa; STFT + mel + onset ≥ 2.5× librosa's
//! `melspectrogram` + `power_to_db` + `onset_strength`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use operators::features::{FeatureConfig, FeatureExtractor};

use operators::audio::DecodeOptions;
use operators::featurize::{AudioInput, StageTimes, featurize};

/// The baseline script, written to a temp file at run time.
const LIBROSA_CHAIN: &str = include_str!("librosa_chain.py");

/// Arguments of `mapflow bench features`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Audio file to measure. Default: the bundled 3-minute reference song.
    #[arg(long)]
    audio: Option<PathBuf>,
    /// Python interpreter with librosa 0.11 installed (scripts/bench-features.sh makes one).
    /// Without it, only our chain is measured.
    #[arg(long)]
    python: Option<PathBuf>,
    /// Runs per side; the best time of each stage is reported.
    #[arg(long, default_value_t = 5)]
    repeat: usize,
}

/// librosa's best-of-N stage times, in seconds.
#[derive(Debug, serde::Deserialize)]
struct LibrosaTimes {
    load: f64,
    resample: f64,
    melspectrogram: f64,
    onset: f64,
    librosa: String,
}

fn default_song() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/reference/song.mp3")
}

fn librosa_times(python: &Path, audio: &Path, repeat: usize) -> anyhow::Result<LibrosaTimes> {
    let dir = tempfile::tempdir()?;
    let script = dir.path().join("librosa_chain.py");
    std::fs::write(&script, LIBROSA_CHAIN)?;
    let output = Command::new(python)
        .arg(&script)
        .arg(audio)
        .arg(repeat.to_string())
        // One core, like our side.
        .envs(["OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"].map(|k| (k, "1")))
        .output()
        .with_context(|| format!("running {}", python.display()))?;
    if !output.status.success() {
        bail!("librosa baseline failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    serde_json::from_slice(&output.stdout).context("parsing the librosa baseline's output")
}

/// Runs the benchmark and prints the table.
pub fn run(args: Args) -> anyhow::Result<()> {
    let audio = args.audio.unwrap_or_else(default_song);
    let bytes = std::fs::read(&audio).with_context(|| format!("reading {}", audio.display()))?;
    let extractor = FeatureExtractor::new(FeatureConfig::default()).map_err(anyhow::Error::msg)?;
    let name = audio.display().to_string();
    let mut best: Option<StageTimes> = None;
    let mut seconds = 0.0;
    for _ in 0..args.repeat.max(1) {
        let song = featurize(AudioInput::Bytes(&name, bytes.clone()), &extractor, &DecodeOptions::default())?;
        seconds = song.seconds();
        best = Some(best.map_or(song.times, |b| b.min(song.times)));
    }
    let ours = best.expect("at least one run");
    let librosa = args.python.as_deref().map(|py| librosa_times(py, &audio, args.repeat.max(1))).transpose()?;

    println!("bench features: {} ({seconds:.1} s of audio), best of {}, one core", audio.display(), args.repeat);
    println!(
        "{:<22} {:>10} {:>10} {:>12} {:>10} {:>8}",
        "stage", "mapflow s", "x realtime", "librosa s", "librosa x", "ratio"
    );
    let row = |stage: &str, ours: f64, theirs: Option<f64>| {
        let (t, x, r) = match theirs {
            Some(t) => (format!("{t:.4}"), format!("{:.0}", seconds / t), format!("{:.2}x", t / ours)),
            None => ("-".into(), "-".into(), "-".into()),
        };
        println!("{stage:<22} {ours:>10.4} {:>10.0} {t:>12} {x:>10} {r:>8}", seconds / ours);
    };
    let s = |d: std::time::Duration| d.as_secs_f64();
    row("decode (load)", s(ours.decode), librosa.as_ref().map(|l| l.load));
    row("resample", s(ours.resample), librosa.as_ref().map(|l| l.resample));
    row("stft + mel", s(ours.mel), librosa.as_ref().map(|l| l.melspectrogram));
    row("dB + onset", s(ours.onset), librosa.as_ref().map(|l| l.onset));
    row("stft + mel + onset", s(ours.mel + ours.onset), librosa.as_ref().map(|l| l.melspectrogram + l.onset));
    row("total", s(ours.total()), librosa.as_ref().map(|l| l.load + l.resample + l.melspectrogram + l.onset));
    match &librosa {
        Some(l) => {
            let total = (l.load + l.resample + l.melspectrogram + l.onset) / s(ours.total());
            let features = (l.melspectrogram + l.onset) / s(ours.mel + ours.onset);
            println!(
                "librosa {}: whole chain {total:.2}x librosa (target >= 1.6x), stft+mel+onset {features:.2}x (target >= 2.5x)",
                l.librosa
            );
        }
        None => println!("(no --python with librosa given: scripts/bench-features.sh measures the baseline too)"),
    }
    Ok(())
}
