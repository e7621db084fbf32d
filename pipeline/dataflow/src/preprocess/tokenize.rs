//! Beatmaps → token rows: parse once (rosu-map), rate once (rosu-pp), tokenize with every
//! configured tokenizer. Runs per beatmap, after its track's single decode (`preprocess`), or on
//! a beatmap stored in `beatmaps/` with its stars (`retokenize`: parse only, no rating).
//!
//! ```text
//! BeatmapRecord (kept by the filter) ─► parse ─► has objects? ─► stars ─► PreparedBeatmap ─► Tokenizer × N ─► TokenRow*
//!        └────────────── any failure ─► Reject (stage "beatmap") ──┘        ▲
//! beatmaps/ row (text, stars) ─► parse ─────────────────────────────────────┘
//! ```

use operators::beatmap::{Beatmap, BeatmapError, parse_beatmap, star_rating};
use operators::tokenizer::{Tokenizer, TokenizerConfig};

use crate::sources::BeatmapRecord;
use shards::rejects::Reject;
use shards::rows::{EncodedTrack, Split, TokenRow};

/// One tokenizer config, ready to run, with its hash (the name of its `tokens/<hash>/` table).
#[derive(Debug, Clone)]
pub struct TokenizerStage {
    tokenizer: Tokenizer,
    hash: String,
}

impl TokenizerStage {
    /// Validates `config` and builds its tokenizer.
    pub fn new(config: TokenizerConfig) -> Result<Self, String> {
        let hash = config.hash();
        Ok(Self { tokenizer: Tokenizer::new(config)?, hash })
    }

    /// The config a manifest recorded under `hash` (its `configs.tokenizers` entry).
    pub fn from_recorded(hash: &str, config: &serde_json::Value) -> Result<Self, String> {
        let config: TokenizerConfig = serde_json::from_value(config.clone())
            .map_err(|e| format!("tokenizer config {hash} in the manifest: {e}"))?;
        let stage = Self::new(config).map_err(|e| format!("tokenizer config {hash} in the manifest: {e}"))?;
        if stage.hash != hash {
            return Err(format!(
                "tokenizer config {hash} in the manifest now hashes to {} (made by another mapflow version?)",
                stage.hash
            ));
        }
        Ok(stage)
    }

    /// The configs a manifest records, in hash order.
    pub fn all_recorded(configs: &shards::manifest::ManifestConfigs) -> Result<Vec<Self>, String> {
        configs.tokenizers.iter().map(|(hash, config)| Self::from_recorded(hash, config)).collect()
    }

    /// The config hash.
    pub fn hash(&self) -> &str {
        &self.hash
    }

    /// The config as JSON (for the manifest and file metadata).
    pub fn config_json(&self) -> serde_json::Value {
        serde_json::to_value(self.tokenizer.config()).expect("configs serialise")
    }
}

/// The reference system's five difficulty bins (Easy < 2.0 ≤ Normal < 3.0 ≤ Hard < 4.0 ≤
/// Insane < 5.3 ≤ Expert), the conditioning label stored next to the exact stars.
pub fn difficulty_bin(stars: f64) -> u8 {
    match stars {
        s if s < 2.0 => 0,
        s if s < 3.0 => 1,
        s if s < 4.0 => 2,
        s if s < 5.3 => 3,
        _ => 4,
    }
}

fn reject(name: &str, kind: &str, reason: String) -> Reject {
    Reject::new(name.to_owned(), "beatmap", kind, reason)
}

fn beatmap_reject(name: &str, error: &BeatmapError) -> Reject {
    let kind = match error {
        BeatmapError::Parse { .. } => "unparsable_beatmap",
        BeatmapError::UnsupportedMode { .. } => "wrong_mode",
        BeatmapError::Rating { .. } => "unratable_beatmap",
    };
    reject(name, kind, error.to_string())
}

/// A beatmap parsed and rated once: everything any tokenizer config needs from it.
#[derive(Debug)]
pub struct PreparedBeatmap {
    map: Beatmap,
    stars: f64,
}

impl PreparedBeatmap {
    /// Parses, requires hit objects and rates `beatmap` (rosu-pp, NoMod). Beatmaps of other
    /// modes are left out before (`--modes`); one whose `.osu` text turns out to be of another
    /// mode than its metadata said is a `wrong_mode` reject.
    pub fn prepare(beatmap: &BeatmapRecord) -> Result<Self, Reject> {
        let name = beatmap.name.as_str();
        let map = parse_beatmap(name, &beatmap.osu_text).map_err(|e| beatmap_reject(name, &e))?;
        if map.objects.is_empty() {
            return Err(reject(name, "no_objects", format!("{name}: the beatmap has no hit objects")));
        }
        let stars = star_rating(name, &beatmap.osu_text).map_err(|e| beatmap_reject(name, &e))?;
        Ok(Self { map, stars })
    }

    /// A beatmap that [`prepare`](Self::prepare) accepted earlier and that was stored with its
    /// stars (the `beatmaps/` table): parsed again, not rated again.
    pub fn from_stored(name: &str, osu_text: &str, stars: f64) -> Result<Self, Reject> {
        let map = parse_beatmap(name, osu_text).map_err(|e| beatmap_reject(name, &e))?;
        Ok(Self { map, stars })
    }

    /// The star rating.
    pub fn stars(&self) -> f64 {
        self.stars
    }
}

/// What token rows take from the track a beatmap is timed to.
#[derive(Debug, Clone, Copy)]
pub struct TrackFacts<'a> {
    /// Orders rows inside a chunk (the track's logical time, or any order-preserving stand-in).
    pub seq: u64,
    /// The track id.
    pub track_id: &'a str,
    /// The track's split.
    pub split: Split,
    /// Seconds of audio.
    pub duration_s: f64,
}

impl<'a> From<&'a EncodedTrack> for TrackFacts<'a> {
    fn from(row: &'a EncodedTrack) -> Self {
        Self { seq: row.seq, track_id: &row.track_id, split: row.split, duration_s: row.duration_s }
    }
}

/// Tokenizes a prepared beatmap (ids `beatmap_id`, `beatmapset_id`) of `track` with every
/// tokenizer: `(config hash, row)` per window.
pub fn window_rows(
    tokenizers: &[TokenizerStage],
    track: TrackFacts<'_>,
    (beatmap_id, beatmapset_id): (i64, i64),
    beatmap: &PreparedBeatmap,
) -> Vec<(String, TokenRow)> {
    let PreparedBeatmap { map, stars } = beatmap;
    let bpm = map.main_bpm() as f32;
    let song_ms = track.duration_s * 1000.0;
    let mut rows = Vec::new();
    for stage in tokenizers {
        for window in stage.tokenizer.tokenize(map, song_ms) {
            rows.push((
                stage.hash.clone(),
                TokenRow {
                    seq: track.seq,
                    beatmap_id,
                    beatmapset_id,
                    track_id: track.track_id.to_owned(),
                    split: track.split,
                    stars: *stars as f32,
                    difficulty_bin: difficulty_bin(*stars),
                    bpm,
                    window_start_ms: window.window.start_ms,
                    grid_anchor_ms: window.grid.anchor_ms,
                    beat_ms: window.grid.beat_ms,
                    residual_time: window.residuals.iter().map(|r| r.time).collect(),
                    residual_x: window.residuals.iter().map(|r| r.x).collect(),
                    residual_y: window.residuals.iter().map(|r| r.y).collect(),
                    tokens: window.tokens,
                    n_circles: window.counts.circles as u32,
                    n_sliders: window.counts.sliders as u32,
                    n_spinners: window.counts.spinners as u32,
                },
            ));
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn difficulty_bins_follow_the_reference_thresholds() {
        let bins: Vec<u8> =
            [0.5, 1.99, 2.0, 2.99, 3.5, 4.0, 5.29, 5.3, 9.0].iter().map(|&s| difficulty_bin(s)).collect();
        assert_eq!(bins, vec![0, 0, 1, 1, 2, 3, 3, 4, 4]);
    }
}
