//! The bar phase: which beat of the fitted grid starts a bar.
//!
//! ```text
//!  beat n at phase + n·P ─► accent a_n = amplitude of the onsets within P/8 of the beat
//!                        ─► change c_n = 1 − cos(mean bass/chord mel power over beat n − 1,
//!                                                 the same over beat n)  (a new chord or bass note)
//!  bar position r (0…beats_per_bar−1) ─► score_r = mean over n ≡ r of a_n/ā + c_n/c̄ ─► argmax
//! ```
//! Music accents the first beat of a bar and changes harmony there; mappers start combos and
//! place their strongest notes on it. Both cues are normalised by their song-wide means, so
//! neither dominates by scale.

use super::grid::{BeatFit, residual};
use super::onsets::OnsetEvent;
use crate::features::FeatureMatrix;

/// A chosen downbeat.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Downbeat {
    /// Time (s) of one downbeat.
    pub time_s: f64,
    /// `(best − second best) / best` of the bar-position scores, 0–1.
    pub confidence: f64,
}

/// `1 − cos` of the angle between two power spectra (0 when either is silent).
fn cosine_distance(a: &[f64], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let norms = a.iter().map(|x| x * x).sum::<f64>().sqrt() * b.iter().map(|x| x * x).sum::<f64>().sqrt();
    if norms > 0.0 { 1.0 - dot / norms } else { 0.0 }
}

/// Picks the downbeat among the grid's beats.
pub(super) fn downbeat(
    events: &[OnsetEvent],
    beat: &BeatFit,
    features: &FeatureMatrix,
    low_bands: usize,
    frame_seconds: f64,
    beats_per_bar: u32,
) -> Downbeat {
    let period = 60.0 / beat.bpm;
    let bar = beats_per_bar as usize;
    if bar <= 1 || events.is_empty() {
        return Downbeat { time_s: beat.phase_s, confidence: 0.0 };
    }
    let song_s = features.frames as f64 * frame_seconds;
    let beats = (song_s / period).floor() as usize + 1;
    // Onset accent per beat (beat n at phase + n·P, n ≥ 0; phase < P).
    let mut accent = vec![0.0f64; beats];
    for e in events {
        if residual(e.time_s, beat.phase_s, period).abs() <= period / 8.0 {
            let n = ((e.time_s - beat.phase_s) / period).round();
            if n >= 0.0 && (n as usize) < beats {
                accent[n as usize] += e.weight;
            }
        }
    }
    // Mean power spectrum of the low bands over each beat's span.
    let frame_of = |t: f64| ((t / frame_seconds).round().max(0.0) as usize).min(features.frames);
    let low = low_bands.min(features.channels - 1);
    let spectra: Vec<Vec<f64>> = (0..beats)
        .map(|n| {
            let from = frame_of(beat.phase_s + n as f64 * period);
            let to = frame_of(beat.phase_s + (n + 1) as f64 * period).max(from + 1).min(features.frames);
            (0..low)
                .map(|b| {
                    let row = &features.row(b)[from.min(to)..to];
                    row.iter().map(|&p| f64::from(p)).sum::<f64>() / row.len().max(1) as f64
                })
                .collect()
        })
        .collect();
    let change: Vec<f64> = (0..beats)
        .map(|n| {
            if n == 0 {
                return 0.0;
            }
            cosine_distance(&spectra[n], &spectra[n - 1])
        })
        .collect();
    let mean = |v: &[f64]| (v.iter().sum::<f64>() / v.len() as f64).max(1e-12);
    let (accent_mean, change_mean) = (mean(&accent), mean(&change));
    let scores: Vec<f64> = (0..bar)
        .map(|r| {
            let members: Vec<usize> = (r..beats).step_by(bar).collect();
            let total: f64 = members.iter().map(|&n| accent[n] / accent_mean + change[n] / change_mean).sum();
            total / members.len().max(1) as f64
        })
        .collect();
    let best = (0..bar).fold(0, |b, r| if scores[r] > scores[b] { r } else { b });
    let second = (0..bar).filter(|&r| r != best).map(|r| scores[r]).fold(0.0f64, f64::max);
    let confidence = if scores[best] > 0.0 { ((scores[best] - second) / scores[best]).clamp(0.0, 1.0) } else { 0.0 };
    Downbeat { time_s: beat.phase_s + best as f64 * period, confidence }
}
