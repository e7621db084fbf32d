//! Tempo and beat grid of a song: BPM, the time of a downbeat (an .osu file's first red line),
//! and how far to trust them.
//!
//! ```text
//!  onset row + bass power flux (50 fps) ─► salience: autocorrelation × log-normal prior
//!                                       ─► candidate BPMs (3 peaks, raised to the beat level)
//!  samples ─► onsets: rises of the high-passed level in 1.5 ms blocks ─► onset events (t, w)
//!  events + candidates ─► grid: most coherent candidate, refined (±4 %, ~0.001 BPM)
//!                              ─► beat phase = mode of the events folded modulo the beat
//!                                 (or the one half a beat away, if the bass is on it)
//!                              ─► octave: BPM / 2 when alternate beats have no bass, × 2 when
//!                                 the half beats carry the accents and bass too (then re-phased)
//!                              ─► confidence (on-grid share) + steadiness (drift per segment)
//!  grid + mel rows ─► bar: which beat of 4 is the downbeat (onset accent + bass/chord change)
//!                  ─► TempoEstimate { bpm, offset_ms (a downbeat), confidence, steady, .. }
//! ```
//!
//! The frame-rate envelope only has to find the tempo's octave and rough value; precision comes
//! from the onset events, timed to a block of 1.5 ms and pooled over the whole song, so the
//! offset is limited by the audio, not by the 20 ms hop. Everything is deterministic: no
//! randomness, no threads.

mod bar;
mod grid;
mod octave;
mod onsets;
mod salience;
mod sections;
#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::beatmap::{RedLine, TimingModel};
use crate::features::{FeatureConfig, FeatureMatrix, hz_to_mel};
use grid::BeatFit;

/// What the estimator reads: one song's features and, where they are at hand, its samples at
/// the feature sample rate.
#[derive(Debug, Clone, Copy)]
pub struct TempoInput<'a> {
    /// The song's name, for errors.
    pub name: &'a str,
    /// Its `[n_mels + 1, T]` feature matrix (mel power rows, then onset strength).
    pub features: &'a FeatureMatrix,
    /// The config that made `features` (frame rate, mel scale).
    pub feature_config: &'a FeatureConfig,
    /// Mono samples at `feature_config.sample_rate`: onsets timed to 1.5 ms. `None` (stored
    /// features only): onsets from the onset row, 20 ms frames interpolated; the BPM is as good,
    /// the offset within a few ms plus the onset function's lag.
    pub samples: Option<&'a [f32]>,
}

/// Knobs of the estimator; the defaults suit osu! songs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TempoConfig {
    /// Slowest tempo considered (BPM). Default 60.
    pub min_bpm: f64,
    /// Fastest tempo considered (BPM). Default 300.
    pub max_bpm: f64,
    /// Centre of the log-normal tempo prior (BPM): breaks octave ties. Default 150, the middle
    /// of osu!'s usual 120–200.
    pub prior_bpm: f64,
    /// Width (standard deviation) of the prior, in octaves. Default 1.
    pub prior_octaves: f64,
    /// Beats per bar assumed when choosing the downbeat. Default 4.
    pub beats_per_bar: u32,
    /// Below this confidence (0–1) the estimate is flagged `low_confidence`. Default 0.5.
    pub min_confidence: f64,
    /// Largest drift (ms) of the beat phase between segments of the song before the tempo is
    /// called unsteady. Default 15.
    pub max_drift_ms: f64,
}

impl Default for TempoConfig {
    fn default() -> Self {
        Self {
            min_bpm: 60.0,
            max_bpm: 300.0,
            prior_bpm: 150.0,
            prior_octaves: 1.0,
            beats_per_bar: 4,
            min_confidence: 0.5,
            max_drift_ms: 15.0,
        }
    }
}

/// One red line of an estimate: the grid from `time_ms` (a beat) on.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TempoSection {
    /// Where the section starts (ms): on one of its beats.
    pub time_ms: f64,
    /// Its beats per minute.
    pub bpm: f64,
}

/// A song's estimated beat grid.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TempoEstimate {
    /// Beats per minute: the main BPM, that of the section lasting longest.
    pub bpm: f64,
    /// Time (ms) of the first downbeat at or after the first onset: the first red line.
    pub offset_ms: f64,
    /// The red lines, the first at `offset_ms`: one for a song of steady tempo, one more where
    /// the tempo changes or the beat shifts.
    pub sections: Vec<TempoSection>,
    /// Share of the onset weight that falls on the grid's 1/4 or 1/3 beat lines, above what
    /// random onsets would give: 0 (no grid) … 1 (every onset on the grid).
    pub confidence: f64,
    /// False when the beat phase drifts between parts of the song by more than
    /// [`TempoConfig::max_drift_ms`] (tempo changes, free tempo, a wrong BPM).
    pub steady: bool,
    /// Largest drift of the beat phase seen between segments (ms).
    pub drift_ms: f64,
    /// How clearly the chosen downbeat beats the other bar positions: 0 (a guess) … 1.
    pub downbeat_confidence: f64,
    /// `confidence < min_confidence` or not `steady`: a human should check this timing.
    pub low_confidence: bool,
}

impl TempoEstimate {
    /// Milliseconds per beat.
    pub fn beat_len_ms(&self) -> f64 {
        60_000.0 / self.bpm
    }

    /// The estimate as an .osu timing: its red lines (4/4), no green lines.
    pub fn timing(&self) -> TimingModel {
        let red = self
            .sections
            .iter()
            .map(|s| RedLine { time_ms: s.time_ms, beat_len_ms: 60_000.0 / s.bpm, meter: 4 })
            .collect();
        TimingModel::new(red, Vec::new())
    }
}

/// Why no tempo could be estimated.
#[derive(Debug, Error, PartialEq)]
pub enum TempoError {
    /// Too few onsets (silence, a drone, a clip shorter than a few beats).
    #[error("{name}: no beat found: {onsets} onsets in {seconds:.1} s of audio")]
    NoBeat {
        /// The song.
        name: String,
        /// Onset events found.
        onsets: usize,
        /// Length of the audio.
        seconds: f64,
    },
    /// The config cannot work (e.g. `min_bpm >= max_bpm`).
    #[error("{name}: bad tempo config: {reason}")]
    Config {
        /// The song.
        name: String,
        /// What is wrong.
        reason: String,
    },
}

/// How far before the first onset the first downbeat may lie (s).
const ONSET_SLACK_SECONDS: f64 = 0.02;

/// Fewest onset events a song needs for an estimate.
const MIN_ONSETS: usize = 8;

/// Estimates the beat grid of one song.
pub fn estimate_tempo(input: &TempoInput<'_>, config: &TempoConfig) -> Result<TempoEstimate, TempoError> {
    let fail_config = |reason: &str| TempoError::Config { name: input.name.to_owned(), reason: reason.to_owned() };
    if !(config.min_bpm > 0.0 && config.min_bpm < config.max_bpm && config.max_bpm.is_finite()) {
        return Err(fail_config("need 0 < min_bpm < max_bpm"));
    }
    if config.beats_per_bar == 0 || !is_positive(config.prior_octaves) || !is_positive(config.prior_bpm) {
        return Err(fail_config("beats_per_bar, prior_bpm and prior_octaves must be positive"));
    }
    let rate = f64::from(input.feature_config.sample_rate);
    let frame_seconds = input.feature_config.frame_seconds();
    let onset: Vec<f64> = input.features.onset().iter().map(|&x| f64::from(x)).collect();
    let (events, seconds) = match input.samples {
        Some(samples) => (onsets::onset_events(samples, input.feature_config.sample_rate), samples.len() as f64 / rate),
        None => (onsets::row_events(&onset, frame_seconds), input.features.frames as f64 * frame_seconds),
    };
    let no_beat = || TempoError::NoBeat { name: input.name.to_owned(), onsets: events.len(), seconds };
    if events.len() < MIN_ONSETS {
        return Err(no_beat());
    }
    let bass = salience::bass_flux(input.features, bands_below(input.feature_config, KICK_BASS_MAX_HZ));
    let envelope = salience::tempo_envelope(&onset, &bass);
    let candidates = salience::candidates(&envelope, frame_seconds, config).ok_or_else(no_beat)?;
    let beat = grid::fit(&events, &candidates, &envelope, frame_seconds, config);
    let bpm = octave::settle(&beat, &onset, &bass, frame_seconds, config);
    let beat = if bpm == beat.bpm { beat } else { grid::place(&events, bpm, &envelope, frame_seconds) };
    let beat = grid::rephase(&events, beat, &envelope, frame_seconds);
    let onsets_of_song = sections::Onsets { events: &events, envelope: &envelope, frame_seconds, config };
    let found = sections::sections(&onsets_of_song, sections::Grid { bpm: beat.bpm, phase_s: beat.phase_s });
    // The first section's own events and grid choose its downbeat: the first red line.
    let first_end = found.get(1).map_or(f64::INFINITY, |s| s.start_s);
    let first_events = &events[..events.partition_point(|e| e.time_s < first_end)];
    let first = BeatFit { bpm: found[0].grid.bpm, phase_s: found[0].grid.phase_s, ..beat };
    let chord_bands = bands_below(input.feature_config, BASS_CHORD_MAX_HZ);
    let downbeat =
        bar::downbeat(first_events, &first, input.features, chord_bands, frame_seconds, config.beats_per_bar);
    let beat_s = 60.0 / first.bpm;
    // Every red line moves back by the attacks' lead: where a listener hears them begin.
    let lead = onsets::attack_lead(&events, beat.phase_s, 60.0 / beat.bpm);
    // The first downbeat at or after the first onset (20 ms of slack), and not before 0.
    let first_onset = (events[0].time_s - ONSET_SLACK_SECONDS).max(0.0);
    let k = ((first_onset - downbeat.time_s) / (beat_s * f64::from(config.beats_per_bar))).ceil();
    let offset_s = downbeat.time_s + k * beat_s * f64::from(config.beats_per_bar) - lead;
    let mut red_lines = vec![TempoSection { time_ms: offset_s * 1000.0, bpm: first.bpm }];
    for s in &found[1..] {
        red_lines.push(TempoSection { time_ms: (s.start_s - lead) * 1000.0, bpm: s.grid.bpm });
    }
    let mut estimate = TempoEstimate {
        bpm: first.bpm,
        offset_ms: offset_s * 1000.0,
        sections: red_lines,
        confidence: beat.confidence,
        steady: beat.drift_ms <= config.max_drift_ms,
        drift_ms: beat.drift_ms,
        downbeat_confidence: downbeat.confidence,
        low_confidence: beat.confidence < config.min_confidence || beat.drift_ms > config.max_drift_ms,
    };
    estimate.bpm = estimate.timing().main_bpm(estimate.offset_ms, seconds * 1000.0);
    Ok(estimate)
}

/// Highest frequency of the bands whose power flux marks beats (kick drum, bass notes): above it,
/// hi-hats and hand claps on the off-beats would weigh as much as the beats.
const KICK_BASS_MAX_HZ: f64 = 250.0;
/// Highest frequency of the bands whose change marks a new bar (bass line and chords).
const BASS_CHORD_MAX_HZ: f64 = 1000.0;

/// `x > 0`, and false for NaN (the negation also rejects NaN, unlike `x <= 0.0`).
fn is_positive(x: f64) -> bool {
    x > 0.0
}

/// Number of mel bands whose centre lies below `hz`.
fn bands_below(config: &FeatureConfig, hz: f64) -> usize {
    let f_max = config.f_max.map_or(f64::from(config.sample_rate) / 2.0, f64::from);
    let (lo, hi) = (hz_to_mel(f64::from(config.f_min), config.mel_scale), hz_to_mel(f_max, config.mel_scale));
    let target = hz_to_mel(hz, config.mel_scale);
    // Band b's centre is the (b + 1)-th of n_mels + 2 equally spaced mel edges.
    let step = (hi - lo) / (config.n_mels + 1) as f64;
    (((target - lo) / step).floor() as usize).clamp(1, config.n_mels)
}
