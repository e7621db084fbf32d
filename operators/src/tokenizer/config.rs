//! `TokenizerConfig`: the token layout and the windowing, with every default in one place.
//!
//! Presets live in `configs/tokenizer/`: `default.toml` (= [`TokenizerConfig::default`], ours)
//! and `reference.toml` (the reference system's 1,166-token layout, losses included).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::digest::stable_hash;
use crate::features::{ConfigError, read_toml};

/// Which object encoding the tokenizer uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// The reference system, flaws kept: cumulative beat deltas from the previous object at the
    /// first red line's beat length, clamped at the last bin (no long gaps); residuals clamped to
    /// half a bin; at most `max_control_points` raw curve points (red anchors doubled) and
    /// `SLIDER_END POS`; no repeats, length or slide duration (decoded as 100 px, one slide);
    /// spinner length clamped like a gap; no new-combo token; decoded positions clamped.
    Reference,
    /// Ours: every object time relative to the window's beat grid in its own section's beat
    /// length; `LONG_GAP` tokens instead of clamping; all control points with a curve token at
    /// each segment start (red anchors included); repeats, length and slide duration; spinners
    /// of any length; a `NEW_COMBO` flag; unclamped residuals, so decoding is exact.
    Mapflow,
}

/// How a song is cut into windows (all times in ms).
///
/// Window `k` sees audio `[start, start + window_ms)` and predicts the objects that start in its
/// middle `stride_ms`: `[start + (window_ms − stride_ms)/2, … + stride_ms)`. Consecutive predict
/// regions touch, so every object belongs to exactly one window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WindowConfig {
    /// Audio context per window (default 6000).
    pub window_ms: f64,
    /// Distance between windows = length of each predict region (default 3000).
    pub stride_ms: f64,
    /// `true`: the first predict region starts at 0 ms (its window at −(window − stride)/2, the
    /// audio before 0 being silence) and windows go on until the song and every object are
    /// covered. `false` (reference): windows start at 0 ms and only whole windows that fit in the
    /// song are kept, so the first (window − stride)/2 ms and the tail are never predicted.
    pub tile_whole_song: bool,
    /// Keep windows whose predict region has no objects (the model must learn silence).
    pub keep_empty: bool,
}

impl Default for WindowConfig {
    fn default() -> Self {
        Self { window_ms: 6000.0, stride_ms: 3000.0, tile_whole_song: true, keep_empty: true }
    }
}

/// Everything that determines a tokenized window: layout, bins, ranges and windowing. Its hash
/// names the token shards it produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TokenizerConfig {
    /// Object encoding (default `mapflow`).
    pub layout: Layout,
    /// Position bins across the 512 px playfield (default 32 → 16 px).
    pub grid_x: u32,
    /// Position bins down the 384 px playfield (default 24 → 16 px).
    pub grid_y: u32,
    /// Time bins per beat (default 48: exact for 1/2, 1/3, 1/4, 1/6, 1/8, 1/12, 1/16 snaps).
    pub beat_divisor: u32,
    /// Time bins (default 768 = 16 beats); longer spans use `LONG_GAP` (mapflow) or are clamped
    /// (reference).
    pub beat_bins: u32,
    /// Reference layout only: curve points kept per slider (the reference keeps 8).
    pub max_control_points: u32,
    /// Mapflow layout only: repeat-count bins (default 16); more use `REPEAT_MORE` tokens.
    pub repeat_bins: u32,
    /// Mapflow layout only: slider-length bin width in osu!px (default 8).
    pub length_step_px: f32,
    /// Mapflow layout only: slider-length bins (default 64 → 512 px); longer use `LENGTH_MORE`.
    pub length_bins: u32,
    /// How the song is cut into windows.
    pub windows: WindowConfig,
}

impl Default for TokenizerConfig {
    fn default() -> Self {
        Self {
            layout: Layout::Mapflow,
            grid_x: 32,
            grid_y: 24,
            beat_divisor: 48,
            beat_bins: 768,
            max_control_points: 8,
            repeat_bins: 16,
            length_step_px: 8.0,
            length_bins: 64,
            windows: WindowConfig::default(),
        }
    }
}

impl TokenizerConfig {
    /// Loads and validates a preset such as `configs/tokenizer/default.toml`.
    pub fn from_toml_file(path: &Path) -> Result<Self, ConfigError> {
        let config: Self = read_toml(path)?;
        config.validate().map_err(|message| ConfigError::Invalid { path: path.display().to_string(), message })?;
        Ok(config)
    }

    /// Checks that the values are usable together.
    pub fn validate(&self) -> Result<(), String> {
        if self.grid_x == 0 || self.grid_y == 0 || self.grid_x > 512 || self.grid_y > 384 {
            return Err(format!("grid {}x{} must be within 1..=512 x 1..=384", self.grid_x, self.grid_y));
        }
        if self.beat_divisor == 0 || self.beat_bins == 0 {
            return Err("beat_divisor and beat_bins must be positive".into());
        }
        if self.repeat_bins == 0
            || self.length_bins == 0
            || self.length_step_px.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater)
        {
            return Err("repeat_bins, length_bins and length_step_px must be positive".into());
        }
        let w = &self.windows;
        if !(w.window_ms > 0.0 && w.stride_ms > 0.0 && w.stride_ms <= w.window_ms) {
            return Err(format!("need 0 < stride_ms ({}) <= window_ms ({})", w.stride_ms, w.window_ms));
        }
        Ok(())
    }

    /// The config's stable hash (covers the windowing too).
    pub fn hash(&self) -> String {
        stable_hash(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata;

    fn preset(name: &str) -> std::path::PathBuf {
        testdata::path("../../configs/tokenizer").join(name)
    }

    #[test]
    fn default_preset_is_the_default_config() {
        assert_eq!(TokenizerConfig::from_toml_file(&preset("default.toml")).unwrap(), TokenizerConfig::default());
    }

    #[test]
    fn presets_hash_differently_and_windows_count() {
        let reference = TokenizerConfig::from_toml_file(&preset("reference.toml")).unwrap();
        assert_eq!(reference.layout, Layout::Reference);
        assert_ne!(reference.hash(), TokenizerConfig::default().hash());
        let mut wider = TokenizerConfig::default();
        wider.windows.window_ms = 8000.0;
        assert_ne!(wider.hash(), TokenizerConfig::default().hash());
    }

    #[test]
    fn typos_and_bad_values_are_rejected_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let typo = dir.path().join("typo.toml");
        std::fs::write(&typo, "beat_divsor = 4\n").unwrap();
        let err = TokenizerConfig::from_toml_file(&typo).unwrap_err().to_string();
        assert!(err.contains("typo.toml") && err.contains("beat_divsor"), "{err}");
        let bad = dir.path().join("bad.toml");
        std::fs::write(&bad, "[windows]\nstride_ms = 9000.0\n").unwrap();
        let err = TokenizerConfig::from_toml_file(&bad).unwrap_err().to_string();
        assert!(err.contains("bad.toml") && err.contains("stride_ms"), "{err}");
    }
}
