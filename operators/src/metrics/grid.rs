//! How well an estimated beat grid (red lines) matches a human one, over a song's duration.
//!
//! ```text
//!  human beats b_0 < b_1 < … (a map's red lines, or annotated)   estimated beats (a timing's, or
//!                                                                 a beat tracker's)
//!     each interval [b_i, b_i+1) ─► phase error e_i = |b_i − nearest estimated beat|
//!                                ─► BPM error  |human beat / estimated beat around b_i − 1|
//!  within tolerance = Σ length of the intervals with e_i ≤ tolerance / Σ length
//!  BPM error        = the same length-weighted mean of the relative BPM errors
//! ```
//! An estimate at twice the human tempo puts a beat on every human beat and counts as aligned
//! (osu! maps it the same with 1/2 snaps) but shows in the BPM error; half the tempo misses every
//! other human beat. A grid half a beat off misses every beat.

use crate::beatmap::TimingModel;

/// The beat-phase tolerance of the issue's aim (ms).
pub const GRID_TOLERANCE_MS: f64 = 10.0;

/// An estimated grid scored against human beats.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct GridAgreement {
    /// Share (0–1) of the duration between the first and last human beat whose starting beat
    /// has an estimated beat within the tolerance.
    pub within_tolerance: f64,
    /// Length-weighted mean of |estimated / human BPM − 1| (0.01 = 1 %).
    pub bpm_error: f64,
    /// Median over the human beats of the distance to the nearest estimated beat (ms).
    pub median_phase_error_ms: f64,
    /// Median over the human beats of the signed distance from the human beat to the nearest
    /// estimated beat (ms; positive: the estimate is late).
    pub median_phase_bias_ms: f64,
    /// Human beats scored.
    pub beats: usize,
}

/// The beats of `timing` from `from_ms` to `to_ms` (each red line's grid up to the next line).
pub fn beats_between(timing: &TimingModel, from_ms: f64, to_ms: f64) -> Vec<f64> {
    let mut beats = Vec::new();
    let mut beat = timing.beat_at(from_ms).ceil();
    loop {
        let t = timing.time_at_beat(beat);
        if t.is_nan() || t > to_ms || beats.len() > 1_000_000 {
            return beats;
        }
        beats.push(t);
        beat += 1.0;
    }
}

/// The nearest of the sorted `beats` to `time_ms` (signed: `beat − time`, ms) and the length of
/// the estimated beat around it (ms); `None` with fewer than two beats.
fn nearest(beats: &[f64], time_ms: f64) -> Option<(f64, f64)> {
    if beats.len() < 2 {
        return None;
    }
    let i = beats.partition_point(|&b| b < time_ms).clamp(1, beats.len() - 1);
    let (before, after) = (beats[i - 1], beats[i]);
    let signed = if time_ms - before <= after - time_ms { before - time_ms } else { after - time_ms };
    Some((signed, after - before))
}

/// Scores the estimated beats `estimated` against the human beats `human_beats` (both sorted,
/// ms; an estimated grid's beats from [`beats_between`], a little wider than the human span);
/// `None` with fewer than two of either.
pub fn grid_agreement(human_beats: &[f64], estimated: &[f64], tolerance_ms: f64) -> Option<GridAgreement> {
    if human_beats.len() < 2 {
        return None;
    }
    let (mut total, mut within, mut bpm_error) = (0.0, 0.0, 0.0);
    let mut errors = Vec::with_capacity(human_beats.len());
    let mut biases = Vec::with_capacity(human_beats.len());
    for pair in human_beats.windows(2) {
        let length = pair[1] - pair[0];
        if length.is_nan() || length <= 0.0 {
            continue;
        }
        let (signed, estimated_length) = nearest(estimated, pair[0])?;
        errors.push(signed.abs());
        biases.push(signed);
        total += length;
        if signed.abs() <= tolerance_ms {
            within += length;
        }
        bpm_error += length * (length / estimated_length - 1.0).abs();
    }
    if total <= 0.0 {
        return None;
    }
    errors.sort_by(f64::total_cmp);
    biases.sort_by(f64::total_cmp);
    Some(GridAgreement {
        within_tolerance: within / total,
        bpm_error: bpm_error / total,
        median_phase_error_ms: errors[errors.len() / 2],
        median_phase_bias_ms: biases[biases.len() / 2],
        beats: errors.len(),
    })
}

/// [`grid_agreement`] of an estimated timing: its beats from a second before the first human
/// beat to a second after the last.
pub fn timing_agreement(human_beats: &[f64], estimated: &TimingModel, tolerance_ms: f64) -> Option<GridAgreement> {
    let (first, last) = (human_beats.first()?, human_beats.last()?);
    grid_agreement(human_beats, &beats_between(estimated, first - 1000.0, last + 1000.0), tolerance_ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::beatmap::RedLine;

    fn red(time_ms: f64, bpm: f64) -> RedLine {
        RedLine { time_ms, beat_len_ms: 60_000.0 / bpm, meter: 4 }
    }

    #[test]
    fn the_same_grid_agrees_everywhere_and_a_shifted_one_nowhere() {
        let human = TimingModel::constant(100.0, 120.0);
        let beats = beats_between(&human, 0.0, 60_000.0);
        assert_eq!(beats.len(), 120);
        let same = timing_agreement(&beats, &human, GRID_TOLERANCE_MS).unwrap();
        assert_eq!((same.within_tolerance, same.bpm_error, same.median_phase_error_ms), (1.0, 0.0, 0.0));
        let late = timing_agreement(&beats, &TimingModel::constant(112.0, 120.0), GRID_TOLERANCE_MS).unwrap();
        assert_eq!(late.within_tolerance, 0.0);
        assert!((late.median_phase_error_ms - 12.0).abs() < 1e-9);
        assert!((late.median_phase_bias_ms - 12.0).abs() < 1e-9);
    }

    #[test]
    fn a_tempo_change_missed_costs_the_section_after_it() {
        // 140 BPM for 60 s, then 170 BPM from a bar line: one red line only gets the first part.
        let human = TimingModel::new(vec![red(0.0, 140.0), red(60_000.0, 170.0)], vec![]);
        let beats = beats_between(&human, 0.0, 120_000.0);
        let single = timing_agreement(&beats, &TimingModel::constant(0.0, 140.0), GRID_TOLERANCE_MS).unwrap();
        assert!((0.45..0.55).contains(&single.within_tolerance), "{single:?}");
        assert!((single.bpm_error - 0.5 * (1.0 - 140.0 / 170.0)).abs() < 0.01, "{single:?}");
        let both = timing_agreement(&beats, &human, GRID_TOLERANCE_MS).unwrap();
        assert_eq!(both.within_tolerance, 1.0);
    }

    #[test]
    fn double_tempo_is_aligned_and_half_tempo_misses_every_other_beat() {
        let human = TimingModel::constant(0.0, 100.0);
        let beats = beats_between(&human, 0.0, 30_000.0);
        let double = timing_agreement(&beats, &TimingModel::constant(0.0, 200.0), GRID_TOLERANCE_MS).unwrap();
        assert_eq!(double.within_tolerance, 1.0);
        assert!((double.bpm_error - 1.0).abs() < 1e-9);
        let half = timing_agreement(&beats, &TimingModel::constant(0.0, 50.0), GRID_TOLERANCE_MS).unwrap();
        assert!((half.within_tolerance - 0.5).abs() < 0.02, "{half:?}");
        assert!(timing_agreement(&beats[..1], &human, GRID_TOLERANCE_MS).is_none());
    }
}
