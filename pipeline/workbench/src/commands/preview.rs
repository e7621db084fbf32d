//! `mapflow preview MAP.osu|SET.osz [--audio AUDIO] -o preview.png`: a picture of a map to judge
//! it by, or of every difficulty of an `.osz` on one time scale (see `preview` for what is drawn).

use std::path::PathBuf;

use anyhow::Context;
use operators::audio::DecodeOptions;
use operators::beatmap::{Beatmap, parse_beatmap, star_rating};
use operators::features::FeatureExtractor;
use operators::featurize::{AudioInput, featurize};
use preview::{OnsetTrack, render_png, render_spread_png};

use pipeline::commands::inspect::read_beatmap;

/// Arguments of `mapflow preview`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The `.osu` file (osu!standard), or an `.osz`: all its osu!standard difficulties, easiest
    /// first, one timeline each.
    map: PathBuf,
    /// The song: its onset strength is drawn under the timeline (for an `.osz`, its own audio
    /// by default; otherwise, object density).
    #[arg(long)]
    audio: Option<PathBuf>,
    /// Where to write the PNG.
    #[arg(short, long)]
    output: PathBuf,
}

/// Runs `mapflow preview`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let is_osz = args.map.extension().is_some_and(|e| e.eq_ignore_ascii_case("osz"));
    let (maps, packed_audio) = if is_osz { read_osz(&args.map)? } else { (vec![read_beatmap(&args.map)?.0], None) };
    let config = pipeline::commands::load_feature_config(None)?;
    let frame_seconds = config.frame_seconds();
    let input = match (&args.audio, packed_audio) {
        (Some(path), _) => Some(AudioInput::File(path)),
        (None, Some((name, bytes))) => Some(AudioInput::Bytes(name, bytes)),
        (None, None) => None,
    };
    let song = match input {
        Some(input) => {
            let extractor = FeatureExtractor::new(config).map_err(anyhow::Error::msg)?;
            Some(featurize(input, &extractor, &DecodeOptions::default())?)
        }
        None => None,
    };
    let onsets = song.as_ref().map(|s| OnsetTrack { values: s.features.onset(), frame_seconds });
    let png = if is_osz { render_spread_png(&maps, onsets)? } else { render_png(&maps[0], onsets)? };
    operators::atomic::write(&args.output, &png).with_context(|| format!("writing {}", args.output.display()))?;
    let objects: Vec<String> = maps.iter().map(|m| m.objects.len().to_string()).collect();
    println!(
        "{}: {} difficult{} ({} objects) → {} ({} KiB)",
        args.map.display(),
        maps.len(),
        if maps.len() == 1 { "y" } else { "ies" },
        objects.join(" / "),
        args.output.display(),
        png.len() / 1024
    );
    Ok(())
}

/// An audio file read from an archive: a name for messages, and its bytes.
type PackedAudio = (&'static str, Vec<u8>);

/// The osu!standard difficulties of an `.osz`, easiest first (rosu-pp), and its audio file (the
/// one the first difficulty names) when the archive holds it.
fn read_osz(path: &std::path::Path) -> anyhow::Result<(Vec<Beatmap>, Option<PackedAudio>)> {
    use std::io::Read;
    let file = std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    let mut zip = zip::ZipArchive::new(file).with_context(|| format!("{}: not a zip archive", path.display()))?;
    let mut rated = Vec::new();
    let names: Vec<String> = zip
        .file_names()
        .map(|n| n.map(|n| n.into_owned()))
        .collect::<Result<_, _>>()
        .with_context(|| format!("{}: unreadable entry names", path.display()))?;
    for name in names.iter().filter(|n| n.to_ascii_lowercase().ends_with(".osu")) {
        let mut text = String::new();
        zip.by_name(name)?.read_to_string(&mut text).with_context(|| format!("{}: reading {name}", path.display()))?;
        match parse_beatmap(name, &text).and_then(|map| Ok((star_rating(name, &text)?, map))) {
            Ok(pair) => rated.push(pair),
            Err(e) => log::warn!("{}: skipping {name}: {e}", path.display()),
        }
    }
    if rated.is_empty() {
        anyhow::bail!("{}: no osu!standard difficulty in the archive", path.display());
    }
    rated.sort_by(|a, b| a.0.total_cmp(&b.0));
    let maps: Vec<Beatmap> = rated.into_iter().map(|(_, map)| map).collect();
    let wanted = maps[0].metadata.audio_file.to_ascii_lowercase();
    let audio = match names.iter().find(|n| n.to_ascii_lowercase() == wanted) {
        Some(name) => {
            let mut bytes = Vec::new();
            zip.by_name(name)?.read_to_end(&mut bytes)?;
            Some(("audio in the .osz", bytes))
        }
        None => None,
    };
    Ok((maps, audio))
}
