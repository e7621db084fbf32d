//! `mapflow inspect MAP.osu`: what a beatmap holds, as mapflow reads it.

use std::path::{Path, PathBuf};

use anyhow::Context;
use operators::beatmap::{Beatmap, parse_beatmap, star_rating};

/// Arguments of `mapflow inspect`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The `.osu` file (osu!standard; other modes are reported and refused).
    map: PathBuf,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// Reads and parses a `.osu` file; returns the map, its text and its name (the file name).
pub fn read_beatmap(path: &Path) -> anyhow::Result<(Beatmap, String)> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let name = path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
    Ok((parse_beatmap(&name, &text)?, text))
}

/// Runs `mapflow inspect`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let (map, text) = read_beatmap(&args.map)?;
    let stars = star_rating(&map.name, &text)?;
    let counts = map.counts();
    let (red, green) = (map.timing.red_lines().len(), map.timing.green_lines().len());
    if args.json {
        let summary = serde_json::json!({
            "name": map.name,
            "mode": 0,
            "objects": counts.total(),
            "circles": counts.circles,
            "sliders": counts.sliders,
            "spinners": counts.spinners,
            "stars": stars,
            "bpm": map.main_bpm(),
            "timing_points": red + green,
            "red_lines": red,
            "green_lines": green,
            "title": map.metadata.title,
            "artist": map.metadata.artist,
            "version": map.metadata.version,
        });
        println!("{summary}");
    } else {
        println!(
            "{}: osu!standard, {} objects ({} circles, {} sliders, {} spinners), {stars:.2}★, {:.1} BPM, {red} red + {green} green lines",
            map.name,
            counts.total(),
            counts.circles,
            counts.sliders,
            counts.spinners,
            map.main_bpm()
        );
    }
    Ok(())
}
