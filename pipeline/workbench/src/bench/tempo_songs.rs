//! How well `operators::tempo` finds the beat grid of songs whose grid is known: fixture maps
//! rendered as audio, time-stretched to spread their tempos, encoded, then run through the same
//! chain as real songs.
//!
//! ```text
//!  fixture map i, stretch s ─► render (background on the map's first red line, hits on objects)
//!     ─► Opus | MP3 | Vorbis ─► decode + resample ─► features ─► estimate_tempo ─► SongResult
//!  truth: BPM = 60000 / (beat length · s), offset = red line · s (a downbeat: the render's
//!         chords change every 4 beats from it)
//! ```
//! The offset error is taken modulo one beat: any beat line is a valid anchor for an .osu grid.
//! Whether the estimated offset is also a downbeat (modulo 4 beats) is reported on its own.

use std::time::{Duration, Instant};

use operators::audio::{DecodeOptions, load_bytes};
use operators::features::{FeatureConfig, FeatureExtractor};
use operators::tempo::{TempoConfig, TempoEstimate, TempoInput, estimate_tempo};
use serde::Serialize;

use synth::corpus::{FIXTURE_MAPS, RENDER_RATE, render_fixture_song};
use synth::encode::{AudioFormat, encode};

/// Largest BPM error that counts as right (the issue's target).
pub const BPM_TOLERANCE: f64 = 0.5;
/// Largest offset error (ms, modulo a beat) that counts as right (the issue's target).
pub const OFFSET_TOLERANCE_MS: f64 = 10.0;

/// Which songs to make.
#[derive(Debug, Clone, PartialEq)]
pub struct TempoBenchSpec {
    /// Time-stretch factors; each makes one song from every fixture map (another excerpt each).
    pub stretches: Vec<f64>,
    /// Length of each excerpt before stretching (s).
    pub seconds: f64,
    /// Seed of the renders.
    pub seed: u64,
}

impl Default for TempoBenchSpec {
    /// 7 fixture maps × 5 stretches = 35 songs of 60 s, about 96–228 BPM.
    fn default() -> Self {
        Self { stretches: vec![0.8, 0.9, 1.0, 1.12, 1.25], seconds: 60.0, seed: 1 }
    }
}

/// One song's truth, estimate and errors.
#[derive(Debug, Clone, Serialize)]
pub struct SongResult {
    /// Fixture, excerpt variant and stretch.
    pub name: String,
    /// Codec it went through.
    pub codec: &'static str,
    /// Seconds of audio.
    pub seconds: f64,
    /// The true tempo.
    pub true_bpm: f64,
    /// The true first red line (ms), a downbeat.
    pub true_offset_ms: f64,
    /// What the estimator said (`None`: it found no beat).
    pub estimate: Option<TempoEstimate>,
    /// `estimate − truth` (BPM).
    pub bpm_error: f64,
    /// Offset error modulo one beat, in `[−beat/2, beat/2)` (ms).
    pub offset_error_ms: f64,
    /// The estimated offset is a true downbeat (within the offset tolerance, modulo 4 beats).
    pub downbeat_right: bool,
    /// BPM error of the estimate from the features alone (no samples: what `mapflow eval` can
    /// do on stored shards).
    pub features_only_bpm_error: f64,
    /// Decode + resample + features.
    pub features_time: Duration,
    /// `estimate_tempo` alone.
    pub estimate_time: Duration,
}

impl SongResult {
    /// BPM within [`BPM_TOLERANCE`] and offset within [`OFFSET_TOLERANCE_MS`].
    pub fn within_targets(&self) -> bool {
        self.bpm_error.abs() <= BPM_TOLERANCE && self.offset_error_ms.abs() <= OFFSET_TOLERANCE_MS
    }
}

/// The whole run.
#[derive(Debug, Clone, Serialize)]
pub struct TempoAccuracy {
    /// Every song, in the order made.
    pub songs: Vec<SongResult>,
    /// Share of songs with the BPM within tolerance.
    pub bpm_share: f64,
    /// Share of songs with the offset (modulo a beat) within tolerance.
    pub offset_share: f64,
    /// Share with both (the issue's target: ≥ 0.95).
    pub within_targets_share: f64,
    /// Share of the songs within targets whose offset is also a downbeat.
    pub downbeat_share: f64,
    /// Share with the BPM within tolerance when estimated from the features alone.
    pub features_only_bpm_share: f64,
    /// Share flagged `low_confidence`.
    pub low_confidence_share: f64,
    /// `estimate_tempo` time, scaled to a 3-minute song (mean, s).
    pub estimate_seconds_per_3min: f64,
    /// Decode + features time, scaled to a 3-minute song (mean, s).
    pub features_seconds_per_3min: f64,
}

/// Signed distance from `x` to the nearest multiple of `spacing`.
fn wrap(x: f64, spacing: f64) -> f64 {
    let r = x.rem_euclid(spacing);
    if r >= spacing / 2.0 { r - spacing } else { r }
}

/// Renders, encodes and estimates every song of `spec`.
pub fn accuracy(spec: &TempoBenchSpec) -> anyhow::Result<TempoAccuracy> {
    let feature_config = FeatureConfig::default();
    let extractor = FeatureExtractor::new(feature_config.clone()).map_err(anyhow::Error::msg)?;
    let tempo_config = TempoConfig::default();
    let formats = [AudioFormat::Opus, AudioFormat::Mp3, AudioFormat::Vorbis];
    let mut songs = Vec::new();
    for (s, &stretch) in spec.stretches.iter().enumerate() {
        for fixture in 0..FIXTURE_MAPS.len() {
            let index = s * FIXTURE_MAPS.len() + fixture;
            let song = render_fixture_song(index, spec.seconds, spec.seed, stretch)?;
            let name = format!("{}-x{stretch}", song.name);
            let format = formats[index % formats.len()];
            let bytes = encode(format, &name, &song.pcm, RENDER_RATE)?;
            let clock = Instant::now();
            let audio = load_bytes(&name, bytes, feature_config.sample_rate, &DecodeOptions::default())?;
            let features = extractor.extract(&audio.samples);
            let features_time = clock.elapsed();
            let input = TempoInput {
                name: &name,
                features: &features,
                feature_config: &feature_config,
                samples: Some(&audio.samples),
            };
            let clock = Instant::now();
            let estimate = estimate_tempo(&input, &tempo_config).ok();
            let estimate_time = clock.elapsed();
            let beat_ms = song.grid.beat_length_ms;
            let stored = TempoInput { samples: None, ..input };
            let features_only_bpm_error =
                estimate_tempo(&stored, &tempo_config).map_or(f64::INFINITY, |e| e.bpm - 60_000.0 / beat_ms);
            let (bpm_error, offset_error_ms, downbeat_right) = match &estimate {
                Some(e) => {
                    let shift = e.offset_ms - song.grid.offset_ms;
                    (
                        e.bpm - 60_000.0 / beat_ms,
                        wrap(shift, beat_ms),
                        wrap(shift, 4.0 * beat_ms).abs() <= OFFSET_TOLERANCE_MS,
                    )
                }
                None => (f64::INFINITY, f64::INFINITY, false),
            };
            songs.push(SongResult {
                name,
                codec: format.extension(),
                seconds: audio.seconds(),
                true_bpm: 60_000.0 / beat_ms,
                true_offset_ms: song.grid.offset_ms,
                estimate,
                bpm_error,
                offset_error_ms,
                downbeat_right,
                features_only_bpm_error,
                features_time,
                estimate_time,
            });
        }
    }
    anyhow::ensure!(!songs.is_empty(), "no songs: give at least one stretch");
    let share =
        |keep: &dyn Fn(&SongResult) -> bool| songs.iter().filter(|s| keep(s)).count() as f64 / songs.len() as f64;
    let within = songs.iter().filter(|s| s.within_targets()).count();
    let per_3min = |time: &dyn Fn(&SongResult) -> Duration| {
        songs.iter().map(|s| time(s).as_secs_f64() * 180.0 / s.seconds.max(1e-9)).sum::<f64>() / songs.len() as f64
    };
    Ok(TempoAccuracy {
        bpm_share: share(&|s| s.bpm_error.abs() <= BPM_TOLERANCE),
        offset_share: share(&|s| s.offset_error_ms.abs() <= OFFSET_TOLERANCE_MS),
        within_targets_share: within as f64 / songs.len() as f64,
        downbeat_share: songs.iter().filter(|s| s.within_targets() && s.downbeat_right).count() as f64
            / within.max(1) as f64,
        features_only_bpm_share: share(&|s| s.features_only_bpm_error.abs() <= BPM_TOLERANCE),
        low_confidence_share: share(&|s| s.estimate.as_ref().is_none_or(|e| e.low_confidence)),
        estimate_seconds_per_3min: per_3min(&|s| s.estimate_time),
        features_seconds_per_3min: per_3min(&|s| s.features_time),
        songs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_is_signed_and_periodic() {
        assert_eq!(wrap(3.0, 10.0), 3.0);
        assert_eq!(wrap(7.0, 10.0), -3.0);
        assert_eq!(wrap(-13.0, 10.0), -3.0);
        assert_eq!(wrap(25.0, 10.0), -5.0);
    }

    #[test]
    fn a_short_run_meets_the_targets() {
        let spec = TempoBenchSpec { stretches: vec![1.0], seconds: 30.0, seed: 3 };
        let result = accuracy(&spec).unwrap();
        assert_eq!(result.songs.len(), FIXTURE_MAPS.len());
        assert!(result.within_targets_share >= 0.85, "{:#?}", result.songs);
    }
}
