//! Beatmaps → token rows: parse once (rosu-map), rate once (rosu-pp), tokenize with every
//! configured tokenizer. Runs per beatmap, after its track's single decode.
//!
//! ```text
//! BeatmapRecord ─► mode 0? ─► parse ─► has objects? ─► stars ─► Tokenizer × N ─► TokenRow*
//!        └────────────── any failure ─► Reject (stage "beatmap") ──────────────────┘
//! ```

use operators::beatmap::{BeatmapError, parse_beatmap, star_rating};
use operators::tokenizer::{Tokenizer, TokenizerConfig};

use crate::rejects::Reject;
use crate::shards::rows::{TokenRow, TrackRow};
use crate::sources::BeatmapRecord;

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

fn reject(beatmap: &BeatmapRecord, kind: &str, reason: String) -> Reject {
    Reject::new(beatmap.name.clone(), "beatmap", kind, reason)
}

fn beatmap_reject(beatmap: &BeatmapRecord, error: &BeatmapError) -> Reject {
    let kind = match error {
        BeatmapError::Parse { .. } => "unparsable_beatmap",
        BeatmapError::UnsupportedMode { .. } => "wrong_mode",
        BeatmapError::Rating { .. } => "unratable_beatmap",
    };
    reject(beatmap, kind, error.to_string())
}

/// Tokenizes `beatmap` (of `track`) with every tokenizer: `(config hash, row)` per window.
pub fn tokenize_beatmap(
    tokenizers: &[TokenizerStage],
    track: &TrackRow,
    beatmap: &BeatmapRecord,
) -> Result<Vec<(String, TokenRow)>, Reject> {
    if let Some(mode) = beatmap.mode.filter(|&m| m != 0) {
        return Err(reject(beatmap, "wrong_mode", format!("{}: skipped: mode {mode} is not osu!standard (mode 0)", beatmap.name)));
    }
    let map = parse_beatmap(&beatmap.name, &beatmap.osu_text).map_err(|e| beatmap_reject(beatmap, &e))?;
    if map.objects.is_empty() {
        return Err(reject(beatmap, "no_objects", format!("{}: the beatmap has no hit objects", beatmap.name)));
    }
    let stars = star_rating(&beatmap.name, &beatmap.osu_text).map_err(|e| beatmap_reject(beatmap, &e))?;
    let bpm = map.main_bpm() as f32;
    let song_ms = track.duration_s * 1000.0;
    let mut rows = Vec::new();
    for stage in tokenizers {
        for window in stage.tokenizer.tokenize(&map, song_ms) {
            rows.push((
                stage.hash.clone(),
                TokenRow {
                    seq: track.seq,
                    beatmap_id: beatmap.beatmap_id,
                    beatmapset_id: beatmap.beatmapset_id,
                    track_id: track.track_id.clone(),
                    split: track.split,
                    stars: stars as f32,
                    difficulty_bin: difficulty_bin(stars),
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
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn difficulty_bins_follow_the_reference_thresholds() {
        let bins: Vec<u8> = [0.5, 1.99, 2.0, 2.99, 3.5, 4.0, 5.29, 5.3, 9.0].iter().map(|&s| difficulty_bin(s)).collect();
        assert_eq!(bins, vec![0, 0, 1, 1, 2, 3, 3, 4, 4]);
    }
}
