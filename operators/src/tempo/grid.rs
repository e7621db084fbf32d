//! The beat grid fitted to the onset events: exact BPM, beat phase, confidence and drift.
//!
//! ```text
//!  coarse BPM ─► coherence(bpm) = Σ_h |Σ_i w_i·exp(2πi·h·t_i·bpm/60)|, h ∈ {1, 2, 4}
//!                  scanned over ±4 % (a quarter of the narrowest lobe a step), then a fine scan
//!                  around the best step and a parabola through the top three
//!  period P ─► fold: histogram of t_i mod P (0.5 ms bins, Gaussian σ = 2 ms) ─► mode = phase
//!          ─► share of weight within 10 ms of a 1/4 or 1/3 beat line ─► confidence
//!          ─► fold mode of each 16-beat segment vs the song's phase ─► drift (largest)
//! ```
//! The harmonics 2 and 4 keep the coherence high when half or quarter beats carry as much weight
//! as beats (a 1/2 stream), where the first harmonic alone would cancel out. The phase is the
//! fold's mode, not the coherence's angle, which off-beat onsets on one side would pull.

use std::f64::consts::TAU;

use super::TempoConfig;
use super::onsets::OnsetEvent;

/// Half-width of the BPM refinement around the coarse tempo (relative).
const SEARCH_SPAN: f64 = 0.04;
/// Harmonics of the beat frequency summed in the coherence.
const HARMONICS: [f64; 3] = [1.0, 2.0, 4.0];
/// Bin width of the phase histogram (s).
const FOLD_BIN_SECONDS: f64 = 0.0005;
/// Smoothing of the phase histogram (s).
const FOLD_SIGMA_SECONDS: f64 = 0.002;
/// An onset within this of a 1/4 or 1/3 beat line is on the grid (s).
const ON_GRID_SECONDS: f64 = 0.010;
/// Beats per segment when measuring drift.
const DRIFT_SEGMENT_BEATS: f64 = 16.0;
/// Fewest events a segment needs to count toward the drift.
const DRIFT_MIN_EVENTS: usize = 8;

/// A fitted beat grid: beats at `phase_s + n · 60 / bpm`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct BeatFit {
    /// Beats per minute.
    pub bpm: f64,
    /// Time of one beat (s), in `[0, 60 / bpm)`.
    pub phase_s: f64,
    /// See [`super::TempoEstimate::confidence`].
    pub confidence: f64,
    /// See [`super::TempoEstimate::drift_ms`].
    pub drift_ms: f64,
}

/// Fits the grid to `events` (at least one), starting from `coarse_bpm`.
pub(super) fn fit(events: &[OnsetEvent], coarse_bpm: f64, config: &TempoConfig) -> BeatFit {
    let bpm = refine_bpm(events, coarse_bpm).clamp(config.min_bpm, config.max_bpm);
    let period = 60.0 / bpm;
    let phase_s = fold_mode(events, period);
    BeatFit { bpm, phase_s, confidence: on_grid_confidence(events, period, phase_s), drift_ms: drift_ms(events, period, phase_s) }
}

/// Scores `count` tempos `from, from + step, …` by coherence; rotating each event's phasor by a
/// fixed angle per step keeps this to one complex multiply per event, harmonic and step.
fn coherence_scan(events: &[OnsetEvent], from: f64, step: f64, count: usize) -> Vec<f64> {
    let mut scores = vec![0.0; count];
    for h in HARMONICS {
        let mut phasors: Vec<(f64, f64, f64, f64)> = events
            .iter()
            .map(|e| {
                let (s, c) = (TAU * h * e.time_s * from / 60.0).sin_cos();
                let (rs, rc) = (TAU * h * e.time_s * step / 60.0).sin_cos();
                (e.weight * c, e.weight * s, rc, rs)
            })
            .collect();
        for score in &mut scores {
            let (mut re, mut im) = (0.0, 0.0);
            for (x, y, rc, rs) in &mut phasors {
                re += *x;
                im += *y;
                (*x, *y) = (*x * *rc - *y * *rs, *x * *rs + *y * *rc);
            }
            *score += re.hypot(im);
        }
    }
    scores
}

/// Index of the largest score and the parabola-refined position of its peak (in steps).
fn peak(scores: &[f64]) -> (usize, f64) {
    let best = (0..scores.len()).fold(0, |b, i| if scores[i] > scores[b] { i } else { b });
    if best == 0 || best + 1 == scores.len() {
        return (best, best as f64);
    }
    (best, best as f64 + parabola_vertex(scores[best - 1], scores[best], scores[best + 1]))
}

/// Where (−0.5…0.5, relative to the middle) the parabola through three equally spaced values
/// peaks; 0 when the middle is no peak.
fn parabola_vertex(a: f64, b: f64, c: f64) -> f64 {
    let denom = a - 2.0 * b + c;
    if denom < 0.0 { (0.5 * (a - c) / denom).clamp(-0.5, 0.5) } else { 0.0 }
}

/// The tempo within ±[`SEARCH_SPAN`] of `coarse_bpm` where the events are most coherent.
fn refine_bpm(events: &[OnsetEvent], coarse_bpm: f64) -> f64 {
    let span_s = (events[events.len() - 1].time_s - events[0].time_s).max(1.0);
    // The narrowest lobe (harmonic 4) is 60 / (4 · span) BPM wide; four steps per lobe.
    let step = 60.0 / (4.0 * HARMONICS[HARMONICS.len() - 1] * span_s);
    let from = coarse_bpm * (1.0 - SEARCH_SPAN);
    let count = ((2.0 * SEARCH_SPAN * coarse_bpm) / step).ceil() as usize + 1;
    let (best, _) = peak(&coherence_scan(events, from, step, count));
    // Fine scan over the best step's neighbours at 1/20 of a step.
    let fine_step = step / 20.0;
    let fine_from = from + (best as f64 - 1.0) * step;
    let (_, at) = peak(&coherence_scan(events, fine_from, fine_step, 41));
    fine_from + at * fine_step
}

/// The phase (s, in `[0, period)`) where most onset weight falls, folding all events by `period`.
fn fold_mode(events: &[OnsetEvent], period: f64) -> f64 {
    let bins = ((period / FOLD_BIN_SECONDS).round() as usize).max(8);
    let bin_s = period / bins as f64;
    let mut hist = vec![0.0f64; bins];
    for e in events {
        let b = ((e.time_s.rem_euclid(period) / bin_s) as usize).min(bins - 1);
        hist[b] += e.weight;
    }
    let sigma = FOLD_SIGMA_SECONDS / bin_s;
    let reach = (3.0 * sigma).ceil() as isize;
    let kernel: Vec<f64> = (-reach..=reach).map(|d| (-0.5 * (d as f64 / sigma).powi(2)).exp()).collect();
    let smooth: Vec<f64> = (0..bins as isize)
        .map(|i| {
            (-reach..=reach)
                .map(|d| hist[(i + d).rem_euclid(bins as isize) as usize] * kernel[(d + reach) as usize])
                .sum()
        })
        .collect();
    let best = (0..bins).fold(0, |b, i| if smooth[i] > smooth[b] { i } else { b });
    let shift = parabola_vertex(smooth[(best + bins - 1) % bins], smooth[best], smooth[(best + 1) % bins]);
    ((best as f64 + 0.5 + shift) * bin_s).rem_euclid(period)
}

/// Signed distance (s) from `time_s` to the nearest point `phase + k · spacing`.
pub(super) fn residual(time_s: f64, phase_s: f64, spacing: f64) -> f64 {
    let r = (time_s - phase_s).rem_euclid(spacing);
    if r > spacing / 2.0 { r - spacing } else { r }
}

/// How much more of the onset weight lies on the 1/4 and 1/3 beat lines than chance would put
/// there, scaled to 0–1.
fn on_grid_confidence(events: &[OnsetEvent], period: f64, phase_s: f64) -> f64 {
    let total: f64 = events.iter().map(|e| e.weight).sum();
    let on_grid: f64 = events
        .iter()
        .filter(|e| {
            let quarter = residual(e.time_s, phase_s, period / 4.0).abs();
            let third = residual(e.time_s, phase_s, period / 3.0).abs();
            quarter.min(third) <= ON_GRID_SECONDS
        })
        .map(|e| e.weight)
        .sum();
    // Distinct 1/4 and 1/3 lines per beat: 0, 1/4, 1/3, 1/2, 2/3, 3/4.
    let chance = (6.0 * 2.0 * ON_GRID_SECONDS / period).min(0.99);
    ((on_grid / total - chance) / (1.0 - chance)).clamp(0.0, 1.0)
}

/// Largest distance (ms) from the song's beat phase to the phase of any 16-beat segment (each
/// segment's own fold mode), taken modulo half a beat so that a segment of off-beat notes is no
/// drift.
fn drift_ms(events: &[OnsetEvent], period: f64, phase_s: f64) -> f64 {
    let segment_s = DRIFT_SEGMENT_BEATS * period;
    events
        .chunk_by(|a, b| (a.time_s / segment_s).floor() == (b.time_s / segment_s).floor())
        .filter(|segment| segment.len() >= DRIFT_MIN_EVENTS)
        .map(|segment| residual(fold_mode(segment, period), phase_s, period / 2.0).abs() * 1000.0)
        .fold(0.0, f64::max)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn train(bpm: f64, phase_s: f64, beats: usize, offbeat: f64) -> Vec<OnsetEvent> {
        let p = 60.0 / bpm;
        let mut events = Vec::new();
        for n in 0..beats {
            let t = phase_s + n as f64 * p;
            events.push(OnsetEvent { time_s: t, weight: 10.0, amplitude: 1.0 });
            if offbeat > 0.0 {
                events.push(OnsetEvent { time_s: t + p / 2.0, weight: offbeat, amplitude: 0.5 });
            }
        }
        events
    }

    #[test]
    fn refines_a_rough_tempo_and_finds_the_phase() {
        let config = TempoConfig::default();
        for (bpm, phase, offbeat) in [(174.5, 0.1234, 0.0), (128.0, 0.4, 9.0), (200.37, 0.01, 5.0)] {
            let events = train(bpm, phase, 400, offbeat);
            let fit = fit(&events, bpm * 1.02, &config);
            assert!((fit.bpm - bpm).abs() < 0.005, "{bpm} → {}", fit.bpm);
            assert!(residual(fit.phase_s, phase, 60.0 / bpm).abs() < 0.001, "{phase} → {}", fit.phase_s);
            assert!(fit.confidence > 0.95 && fit.drift_ms < 1.0, "{fit:?}");
        }
    }

    #[test]
    fn a_tempo_change_is_drift() {
        let config = TempoConfig::default();
        let mut events = train(150.0, 0.0, 200, 0.0);
        let end = events.last().unwrap().time_s;
        events.extend(train(153.0, end + 0.4, 200, 0.0));
        let fit = fit(&events, 150.0, &config);
        assert!(fit.drift_ms > 30.0, "{fit:?}");
    }
}
