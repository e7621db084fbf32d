//! `mapflow tokenize MAP.osu --tokenizer PRESET.toml [--roundtrip]`: a map as token windows.

use std::path::PathBuf;

use anyhow::Context;
use operators::beatmap::HitObject;
use operators::tokenizer::roundtrip::round_trip;
use operators::tokenizer::{Tokenizer, TokenizerConfig};

use super::inspect::read_beatmap;

/// Arguments of `mapflow tokenize`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The `.osu` file (osu!standard).
    map: PathBuf,
    /// Tokenizer preset (TOML), e.g. configs/tokenizer/reference.toml. Default: default.toml's.
    #[arg(long)]
    tokenizer: Option<PathBuf>,
    /// Song length in ms (default: the end of the last object).
    #[arg(long)]
    song_ms: Option<f64>,
    /// Also detokenize every window, merge the predict regions and compare with the map.
    #[arg(long)]
    roundtrip: bool,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// Runs `mapflow tokenize`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let config = match &args.tokenizer {
        Some(path) => TokenizerConfig::from_toml_file(path).context("loading the tokenizer config")?,
        None => TokenizerConfig::default(),
    };
    let tokenizer = Tokenizer::new(config).map_err(anyhow::Error::msg)?;
    let (map, _) = read_beatmap(&args.map)?;
    let song_ms = args.song_ms.unwrap_or_else(|| map.objects.iter().map(HitObject::end_time_ms).fold(0.0, f64::max));
    let mut summary = if args.roundtrip {
        serde_json::to_value(round_trip(&tokenizer, &map, song_ms).0)?
    } else {
        let windows = tokenizer.tokenize(&map, song_ms);
        serde_json::json!({
            "windows": windows.len(),
            "tokens": windows.iter().map(|w| w.tokens.len()).sum::<usize>(),
            "vocab_size": tokenizer.vocab().size(),
            "tokenizer_hash": tokenizer.config().hash(),
            "objects_in": map.objects.len(),
            "objects_tokenized": windows.iter().map(|w| w.counts.total()).sum::<usize>(),
        })
    };
    summary["name"] = map.name.clone().into();
    summary["song_ms"] = song_ms.into();
    if args.json {
        println!("{summary}");
    } else {
        let fields = summary.as_object().map(|o| o.iter().map(|(k, v)| format!("{k}: {v}")).collect::<Vec<_>>());
        println!("{}", fields.unwrap_or_default().join("\n"));
    }
    Ok(())
}
