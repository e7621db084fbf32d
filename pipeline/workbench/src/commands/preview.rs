//! `mapflow preview MAP.osu [--audio AUDIO] -o preview.png`: a picture of a map to judge it by
//! (see `preview` for what is drawn).

use std::path::PathBuf;

use anyhow::Context;
use operators::audio::DecodeOptions;
use operators::features::FeatureExtractor;
use operators::featurize::{AudioInput, featurize};
use preview::{OnsetTrack, render_png};

use pipeline::commands::inspect::read_beatmap;

/// Arguments of `mapflow preview`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The `.osu` file (osu!standard).
    map: PathBuf,
    /// The song: its onset strength is drawn under the timeline (otherwise, object density).
    #[arg(long)]
    audio: Option<PathBuf>,
    /// Where to write the PNG.
    #[arg(short, long)]
    output: PathBuf,
}

/// Runs `mapflow preview`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let (map, _) = read_beatmap(&args.map)?;
    let config = pipeline::commands::load_feature_config(None)?;
    let frame_seconds = config.frame_seconds();
    let song = match &args.audio {
        Some(path) => {
            let extractor = FeatureExtractor::new(config).map_err(anyhow::Error::msg)?;
            Some(featurize(AudioInput::File(path), &extractor, &DecodeOptions::default())?)
        }
        None => None,
    };
    let onsets = song.as_ref().map(|s| OnsetTrack { values: s.features.onset(), frame_seconds });
    let png = render_png(&map, onsets)?;
    operators::atomic::write(&args.output, &png).with_context(|| format!("writing {}", args.output.display()))?;
    println!("{}: {} objects → {} ({} KiB)", map.name, map.objects.len(), args.output.display(), png.len() / 1024);
    Ok(())
}
