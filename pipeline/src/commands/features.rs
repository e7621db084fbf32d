//! `mapflow features AUDIO --output OUT.npy`: the feature matrix of one file.

use std::path::PathBuf;

use anyhow::Context;
use operators::features::FeatureExtractor;

use operators::audio::DecodeOptions;
use operators::featurize::{AudioInput, featurize};

/// Arguments of `mapflow features`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Audio file (MP3, Ogg Vorbis/Opus, WAV, FLAC; the format is read from the bytes).
    audio: PathBuf,
    /// Where to write the little-endian float32 .npy of shape [129, T].
    #[arg(short, long)]
    output: PathBuf,
    /// Feature preset (TOML), e.g. configs/features/reference.toml. Default: librosa conventions.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// Runs `mapflow features`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let config = super::load_feature_config(args.config.as_deref())?;
    let hash = config.hash();
    let extractor = FeatureExtractor::new(config).map_err(anyhow::Error::msg)?;
    let song = featurize(AudioInput::File(&args.audio), &extractor, &DecodeOptions::default())?;
    let m = &song.features;
    operators::npy::write_f32(&args.output, &[m.channels as u64, m.frames as u64], &m.data)
        .with_context(|| format!("writing {}", args.output.display()))?;
    let t = song.times;
    if args.json {
        let summary = serde_json::json!({
            "output": args.output,
            "shape": [m.channels, m.frames],
            "seconds": song.seconds(),
            "codec": song.codec,
            "source_sample_rate": song.source_rate,
            "feature_config_hash": hash,
            "timings_s": {
                "decode": t.decode.as_secs_f64(), "resample": t.resample.as_secs_f64(),
                "stft_mel": t.mel.as_secs_f64(), "onset": t.onset.as_secs_f64(),
                "total": t.total().as_secs_f64(),
            },
        });
        println!("{summary}");
    } else {
        println!(
            "{}: {:.1} s of {} at {} Hz ({} ch) -> {} shape [{}, {}] float32 (config {hash})",
            args.audio.display(),
            song.seconds(),
            song.codec,
            song.source_rate,
            song.channels,
            args.output.display(),
            m.channels,
            m.frames
        );
        println!("timings: {}", t.describe(song.seconds()));
    }
    Ok(())
}
