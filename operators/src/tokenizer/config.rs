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

/// Most time bins per beat ([`TokenizerConfig::beat_divisor`]).
pub const MAX_BEAT_DIVISOR: u32 = 1_024;
/// Most time bins ([`TokenizerConfig::beat_bins`]).
pub const MAX_BEAT_BINS: u32 = 16_384;
/// Most curve points kept per slider ([`TokenizerConfig::max_control_points`]).
pub const MAX_CONTROL_POINTS: u32 = 1_024;
/// Most repeat-count bins ([`TokenizerConfig::repeat_bins`]).
pub const MAX_REPEAT_BINS: u32 = 1_024;
/// Most slider-length bins ([`TokenizerConfig::length_bins`]).
pub const MAX_LENGTH_BINS: u32 = 4_096;
/// Widest slider-length bin ([`TokenizerConfig::length_step_px`], osu!px): the playfield's width.
pub const MAX_LENGTH_STEP_PX: f32 = 512.0;
/// Narrowest slider-length bin (osu!px): one pixel. Narrower bins only add `LENGTH_MORE` tokens
/// (at 1e-9 px one slider took billions of them).
pub const MIN_LENGTH_STEP_PX: f32 = 1.0;
/// Longest window ([`WindowConfig::window_ms`]): two minutes of audio context.
pub const MAX_WINDOW_MS: f64 = 120_000.0;
/// Shortest predict region ([`WindowConfig::stride_ms`]): five 20 ms feature frames. Shorter
/// strides only multiply the windows (at 1e-9 ms a two-minute song had billions, without end).
pub const MIN_STRIDE_MS: f64 = 100.0;

/// How a song is cut into windows (all times in ms).
///
/// Window `k` sees audio `[start, start + window_ms)` and predicts the objects that start in its
/// middle `stride_ms`: `[start + (window_ms − stride_ms)/2, … + stride_ms)`. Consecutive predict
/// regions touch, so every object belongs to exactly one window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WindowConfig {
    /// Audio context per window (default 6000): in (0, [`MAX_WINDOW_MS`]].
    pub window_ms: f64,
    /// Distance between windows = length of each predict region (default 3000): in
    /// [[`MIN_STRIDE_MS`], `window_ms`].
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
    /// Position bins across the 512 px playfield (default 32 → 16 px): 1..=512.
    pub grid_x: u32,
    /// Position bins down the 384 px playfield (default 24 → 16 px): 1..=384.
    pub grid_y: u32,
    /// Time bins per beat (default 48: exact for 1/2, 1/3, 1/4, 1/6, 1/8, 1/12, 1/16 snaps):
    /// 1..=[`MAX_BEAT_DIVISOR`].
    pub beat_divisor: u32,
    /// Time bins (default 768 = 16 beats); longer spans use `LONG_GAP` (mapflow) or are clamped
    /// (reference): `beat_divisor`..=[`MAX_BEAT_BINS`] (at least one beat, so a `LONG_GAP`
    /// stands for a beat or more).
    pub beat_bins: u32,
    /// Reference layout only: curve points kept per slider (the reference keeps 8):
    /// 0..=[`MAX_CONTROL_POINTS`].
    pub max_control_points: u32,
    /// Mapflow layout only: repeat-count bins (default 16); more use `REPEAT_MORE` tokens:
    /// 1..=[`MAX_REPEAT_BINS`].
    pub repeat_bins: u32,
    /// Mapflow layout only: slider-length bin width in osu!px (default 8): in
    /// [[`MIN_LENGTH_STEP_PX`], [`MAX_LENGTH_STEP_PX`]].
    pub length_step_px: f32,
    /// Mapflow layout only: slider-length bins (default 64 → 512 px); longer use `LENGTH_MORE`:
    /// 1..=[`MAX_LENGTH_BINS`].
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

    /// Checks that the values are usable together and within the bounds documented on each
    /// field (the error names the field). With every count bounded, the vocabulary stays far
    /// below `u32::MAX` (under 220,000 ids).
    pub fn validate(&self) -> Result<(), String> {
        let count = |name: &str, value: u32, low: u32, high: u32| {
            if (low..=high).contains(&value) {
                Ok(())
            } else {
                Err(format!("{name} {value} must be in {low}..={high}"))
            }
        };
        count("grid_x", self.grid_x, 1, 512)?;
        count("grid_y", self.grid_y, 1, 384)?;
        count("beat_divisor", self.beat_divisor, 1, MAX_BEAT_DIVISOR)?;
        count("beat_bins", self.beat_bins, self.beat_divisor, MAX_BEAT_BINS)?;
        count("max_control_points", self.max_control_points, 0, MAX_CONTROL_POINTS)?;
        count("repeat_bins", self.repeat_bins, 1, MAX_REPEAT_BINS)?;
        count("length_bins", self.length_bins, 1, MAX_LENGTH_BINS)?;
        if !(MIN_LENGTH_STEP_PX..=MAX_LENGTH_STEP_PX).contains(&self.length_step_px) {
            return Err(format!(
                "length_step_px {} must be in [{MIN_LENGTH_STEP_PX}, {MAX_LENGTH_STEP_PX}]",
                self.length_step_px
            ));
        }
        let w = &self.windows;
        if !(w.window_ms > 0.0 && w.window_ms <= MAX_WINDOW_MS) {
            return Err(format!("windows.window_ms {} must be in (0, {MAX_WINDOW_MS}]", w.window_ms));
        }
        if !(w.stride_ms >= MIN_STRIDE_MS && w.stride_ms <= w.window_ms) {
            return Err(format!("need {MIN_STRIDE_MS} <= stride_ms ({}) <= window_ms ({})", w.stride_ms, w.window_ms));
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

    /// A field's name and a change that takes it out of bounds.
    type Case = (&'static str, fn(&mut TokenizerConfig));

    #[test]
    fn every_numeric_field_is_bounded_and_the_refusal_names_it() {
        let cases: [Case; 20] = [
            ("grid_x", |c| c.grid_x = 513),
            ("grid_y", |c| c.grid_y = 0),
            ("beat_divisor", |c| c.beat_divisor = MAX_BEAT_DIVISOR + 1),
            // These three overflowed the u32 vocabulary arithmetic.
            ("beat_bins", |c| c.beat_bins = u32::MAX),
            ("beat_bins", |c| c.beat_bins = MAX_BEAT_BINS + 1),
            ("repeat_bins", |c| c.repeat_bins = u32::MAX),
            ("repeat_bins", |c| c.repeat_bins = 0),
            ("length_bins", |c| c.length_bins = u32::MAX),
            ("length_bins", |c| c.length_bins = MAX_LENGTH_BINS + 1),
            ("max_control_points", |c| c.max_control_points = u32::MAX),
            ("length_step_px", |c| c.length_step_px = f32::INFINITY),
            ("length_step_px", |c| c.length_step_px = f32::NAN),
            ("window_ms", |c| c.windows.window_ms = f64::INFINITY),
            ("window_ms", |c| c.windows.window_ms = MAX_WINDOW_MS * 2.0),
            ("stride_ms", |c| c.windows.stride_ms = f64::NAN),
            ("stride_ms", |c| c.windows.stride_ms = 0.0),
            // These three made windows or tokens without bound (found by operators/tests/fuzz.rs):
            // a two-minute song in billions of windows, one slider or gap in billions of tokens.
            ("stride_ms", |c| c.windows.stride_ms = 1e-9),
            ("stride_ms", |c| c.windows.stride_ms = MIN_STRIDE_MS / 2.0),
            ("length_step_px", |c| c.length_step_px = 1e-9),
            ("beat_bins", |c| (c.beat_divisor, c.beat_bins) = (1024, 1)),
        ];
        for (field, change) in cases {
            let mut config = TokenizerConfig::default();
            change(&mut config);
            let message = config.validate().expect_err(field);
            assert!(message.contains(field), "{field}: {message}");
            assert!(crate::tokenizer::Tokenizer::new(config).is_err(), "{field}");
        }
        // At every bound at once the vocabulary is built without overflow.
        let top = TokenizerConfig {
            grid_x: 512,
            grid_y: 384,
            beat_divisor: MAX_BEAT_DIVISOR,
            beat_bins: MAX_BEAT_BINS,
            max_control_points: MAX_CONTROL_POINTS,
            repeat_bins: MAX_REPEAT_BINS,
            length_step_px: MAX_LENGTH_STEP_PX,
            length_bins: MAX_LENGTH_BINS,
            windows: WindowConfig { window_ms: MAX_WINDOW_MS, stride_ms: MAX_WINDOW_MS, ..Default::default() },
            ..Default::default()
        };
        let tokenizer = crate::tokenizer::Tokenizer::new(top).unwrap();
        assert!(tokenizer.vocab().size() < 220_000, "{}", tokenizer.vocab().size());
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
