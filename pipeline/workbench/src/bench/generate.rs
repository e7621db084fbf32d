//! `mapflow bench generate`: wall time of `generate` on a 3-minute song with the tiny and the
//! base network, and the tempo estimator's accuracy on rendered songs.
//!
//! Targets (issue 7, 2-core CPU): tiny < 5 s, base < 30 s per 3-minute song; BPM within 0.5 and
//! offset within 10 ms on ≥ 95 % of the synthetic songs. Untrained networks rarely stop on
//! their own, so every window decodes exactly `--tokens` tokens (a dense 3 s region); a trained
//! `--checkpoint` is also timed as it runs, stopping at its own EOS.

use std::path::{Path, PathBuf};

use crate::bench::tempo_songs::{TempoBenchSpec, accuracy};
use model::checkpoint::{CheckpointPaths, CheckpointRecord};
use model::config::ModelConfig;
use model::generate::SamplingOptions;
use model::network::VocabLayout;
use model::trainer::Trainer;
use operators::features::FeatureConfig;
use operators::tokenizer::{Tokenizer, TokenizerConfig};
use synth::corpus::{RENDER_RATE, render_fixture_song};
use synth::encode::{AudioFormat, encode};
use training::generate::{GenerateError, GenerateOptions, Method, generate_maps};

/// Arguments of `mapflow bench generate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Song length, seconds.
    #[arg(long, default_value_t = 180.0)]
    seconds: f64,
    /// Tokens each window decodes with the untrained networks.
    #[arg(long, default_value_t = 96)]
    tokens: usize,
    /// Also time this trained run (its best checkpoint), decoding until EOS.
    #[arg(long)]
    checkpoint: Option<PathBuf>,
    /// Skip the tempo accuracy part.
    #[arg(long)]
    no_tempo: bool,
}

/// Saves a freshly initialised network of `preset` as the `best` checkpoint of `run`.
fn untrained_run(preset: &str, run: &Path) -> anyhow::Result<()> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/model").join(preset);
    let config = ModelConfig::from_toml_file(&path)?;
    let tokenizer = Tokenizer::new(TokenizerConfig::default()).map_err(anyhow::Error::msg)?;
    let trainer = Trainer::new(config.clone(), &VocabLayout::of(&tokenizer), tch::Device::Cpu)?;
    std::fs::create_dir_all(run)?;
    let record = CheckpointRecord {
        step: 0,
        updates: 0,
        val_loss: None,
        model_hash: config.network_hash(),
        model: config,
        tokenizer: serde_json::to_value(tokenizer.config())?,
        tokenizer_hash: tokenizer.config().hash(),
        feature_config: FeatureConfig::default().hash(),
        vocab: i64::from(tokenizer.vocab().size()),
        files: None,
    };
    CheckpointPaths::new(run, "best").save(&trainer, &record, false)?;
    Ok(())
}

fn time(
    label: &str,
    audio: &Path,
    checkpoint: &Path,
    budget: Option<usize>,
    target: Option<f64>,
) -> anyhow::Result<()> {
    let options = GenerateOptions {
        audio: audio.to_owned(),
        stars: vec![4.0],
        timing: None,
        method: Method::Model {
            checkpoint: checkpoint.to_owned(),
            sampling: SamplingOptions { token_budget: budget, ..SamplingOptions::default() },
            device: tch::Device::Cpu,
        },
    };
    let started = std::time::Instant::now();
    let result = generate_maps(&options);
    let seconds = started.elapsed().as_secs_f64();
    let objects = match result {
        Ok(maps) => maps.iter().map(|g| g.report.objects.to_string()).collect::<Vec<_>>().join(","),
        // An untrained network may place nothing playable; its time still counts.
        Err(e) if budget.is_some() && e.downcast_ref::<GenerateError>().is_some() => "none".into(),
        Err(e) => return Err(e),
    };
    let verdict =
        target.map_or(String::new(), |t| format!("target < {t:.0} s: {}", if seconds < t { "met" } else { "NOT met" }));
    println!("{label:<36} {seconds:>8.2} s  objects {objects:<12} {verdict}");
    Ok(())
}

/// Runs the benchmark.
pub fn run(args: Args) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let song = render_fixture_song(0, args.seconds, 11, 1.0)?;
    let audio = dir.path().join("song.mp3");
    std::fs::write(&audio, encode(AudioFormat::Mp3, "bench song", &song.pcm, RENDER_RATE)?)?;
    let seconds = song.pcm.len() as f64 / f64::from(RENDER_RATE);
    println!(
        "bench generate: {seconds:.0} s MP3, CPU ({} threads), decode + features + tempo + model + .osu + stars",
        tch::get_num_threads()
    );
    for (preset, target) in [("tiny.toml", 5.0), ("base.toml", 30.0)] {
        let run = dir.path().join(preset);
        untrained_run(preset, &run)?;
        time(
            &format!("{preset} untrained, {} tokens/window", args.tokens),
            &audio,
            &run,
            Some(args.tokens),
            Some(target),
        )?;
    }
    if let Some(checkpoint) = &args.checkpoint {
        time(&format!("{} (until EOS)", checkpoint.display()), &audio, checkpoint, None, None)?;
    }
    if !args.no_tempo {
        let tempo = accuracy(&TempoBenchSpec::default())?;
        println!(
            "tempo on {} rendered songs: BPM within 0.5 on {:.1} %, offset within 10 ms on {:.1} %, both {:.1} % (target >= 95 %); {:.3} s per 3-min song",
            tempo.songs.len(),
            100.0 * tempo.bpm_share,
            100.0 * tempo.offset_share,
            100.0 * tempo.within_targets_share,
            tempo.estimate_seconds_per_3min
        );
    }
    Ok(())
}
