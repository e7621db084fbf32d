//! The beat grid fitted to the onset events: exact BPM, beat phase, confidence and drift.
//!
//! ```text
//!  coarse BPMs ─► coherence(bpm) = Σ_h |Σ_i w_i·exp(2πi·h·t_i·bpm/60)|, h ∈ {1, 2, 4}
//!                  scanned over ±4 % of each candidate; of those ≥ 60 % as coherent as the
//!                  best, the most salient (autocorrelation × prior: the octave) wins
//!              ─► two finer scans around it (1/16, then 1/320 of a lobe), parabola at the top
//!  period P ─► fold: histogram of t_i mod P (0.5 ms bins, Gaussian σ = 2 ms) ─► its mode, or
//!              the mode half a beat away if the tempo envelope (bass) is stronger there
//!          ─► share of weight within 10 ms of a 1/4 or 1/3 beat line ─► confidence
//!          ─► lag of each 16-beat segment's fold against the song's fold ─► drift (largest)
//! ```
//! The harmonics 2 and 4 keep the coherence high when half or quarter beats carry as much weight
//! as beats (a 1/2 stream), where the first harmonic alone would cancel out. The phase is the
//! fold's mode, not the coherence's angle, which off-beat onsets on one side would pull.

use std::f64::consts::TAU;

use super::TempoConfig;
use super::onsets::OnsetEvent;
use super::salience::Candidate;

/// Half-width of the BPM refinement around the coarse tempo (relative).
const SEARCH_SPAN: f64 = 0.04;
/// Candidates less coherent than this share of the most coherent one are dropped. Coherence
/// cannot pick the octave (double tempo is always as coherent as the tempo: its harmonics are
/// the same lattice), but it rules out tempos off the onsets' lattice (2/3 of the beat, …).
const MIN_RELATIVE_COHERENCE: f64 = 0.6;
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
/// Share of the median segment's onset weight a segment needs to count toward the drift: a
/// break with a few soft notes (slow attacks, timed late) says little about the grid.
const DRIFT_MIN_WEIGHT_SHARE: f64 = 0.5;

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

/// Fits the grid to `events` (at least one): of the `candidates` whose coherence is at least
/// [`MIN_RELATIVE_COHERENCE`] of the best one's, the most salient, refined, then [`place`]d on
/// the tempo `envelope` (one value per `frame_seconds`).
pub(super) fn fit(
    events: &[OnsetEvent],
    candidates: &[Candidate],
    envelope: &[f64],
    frame_seconds: f64,
    config: &TempoConfig,
) -> BeatFit {
    let lobe = lobe_bpm(events);
    let scanned: Vec<(f64, f64, f64)> = candidates
        .iter()
        .map(|c| {
            let (bpm, coherence) = best_tempo(events, c.bpm, SEARCH_SPAN * c.bpm, lobe / 4.0);
            (bpm, coherence, c.salience)
        })
        .collect();
    let most_coherent = scanned.iter().map(|s| s.1).fold(0.0, f64::max);
    let (rough, _, _) = scanned
        .into_iter()
        .filter(|s| s.1 >= MIN_RELATIVE_COHERENCE * most_coherent)
        .fold((candidates[0].bpm, 0.0, f64::NEG_INFINITY), |best, x| if x.2 > best.2 { x } else { best });
    let bpm = refine(events, rough, lobe);
    place(events, bpm.clamp(config.min_bpm, config.max_bpm), envelope, frame_seconds)
}

/// The grid at `bpm`: beat phase (the fold's mode or the mode half a beat away, whichever the
/// tempo `envelope` is stronger on), confidence and drift.
pub(super) fn place(events: &[OnsetEvent], bpm: f64, envelope: &[f64], frame_seconds: f64) -> BeatFit {
    let period = 60.0 / bpm;
    let (on_beat, off_beat) = phase_pair(events, period);
    let comb = |phase: f64| {
        let mut sum = 0.0;
        let mut t = phase;
        while let Some(i) = Some(t / frame_seconds).filter(|&i| i + 1.0 < envelope.len() as f64) {
            let (k, frac) = (i.floor() as usize, i.fract());
            sum += envelope[k] * (1.0 - frac) + envelope[k + 1] * frac;
            t += period;
        }
        sum
    };
    let phase_s = if comb(off_beat) > comb(on_beat) { off_beat } else { on_beat };
    BeatFit {
        bpm,
        phase_s,
        confidence: on_grid_confidence(events, period, phase_s),
        drift_ms: drift_ms(events, period),
    }
}

/// The fold's mode and the mode half a beat (±1/8) from it: the two phases a grid can take.
fn phase_pair(events: &[OnsetEvent], period: f64) -> (f64, f64) {
    let fold = Fold::new(events, period);
    let on_beat = fold.mode_near(0.0, period);
    (on_beat, fold.mode_near(on_beat + period / 2.0, period / 8.0))
}

/// `beat` on whichever of its two phases [`accented_phase`] picks over the whole song. Used once
/// the octave is settled ([`super::octave::settle`] reads the grid [`place`] gives).
pub(super) fn rephase(events: &[OnsetEvent], beat: BeatFit, envelope: &[f64], frame_seconds: f64) -> BeatFit {
    let period = 60.0 / beat.bpm;
    let phase_s = accented_phase(events, period, envelope, frame_seconds, 0.0..f64::INFINITY);
    BeatFit { phase_s, confidence: on_grid_confidence(events, period, phase_s), ..beat }
}

/// Of the two phases a grid of `period` can take on `events` ([`phase_pair`]), the one whose
/// beats within `span` (s) have the stronger tempo `envelope` peaks: the largest value within
/// [`PEAK_WINDOW_SECONDS`] of each beat, summed. The envelope's flux peaks some 20–40 ms after
/// an attack, so the peak, not the value at the onset, says where the accents are. With no
/// envelope there, the fold's mode.
pub(super) fn accented_phase(
    events: &[OnsetEvent],
    period: f64,
    envelope: &[f64],
    frame_seconds: f64,
    span: std::ops::Range<f64>,
) -> f64 {
    let (on_beat, off_beat) = phase_pair(events, period);
    let peaks = |phase: f64| {
        let mut sum = 0.0;
        let mut t = phase + ((span.start - phase) / period).ceil().max(0.0) * period;
        while t < span.end {
            let from = ((t + PEAK_WINDOW_SECONDS.0) / frame_seconds).floor().max(0.0) as usize;
            let to = ((t + PEAK_WINDOW_SECONDS.1) / frame_seconds).ceil() as usize;
            if to >= envelope.len() {
                break;
            }
            sum += envelope[from..=to].iter().copied().fold(f64::NEG_INFINITY, f64::max);
            t += period;
        }
        sum
    };
    if peaks(off_beat) > peaks(on_beat) { off_beat } else { on_beat }
}

/// Where around a beat its envelope peak is looked for (s, from the beat).
const PEAK_WINDOW_SECONDS: (f64, f64) = (-0.010, 0.060);

/// Width (BPM) of a coherence lobe over the span of `events` (at least one; spans under a
/// second count as one): coarse scans step a quarter of it.
pub(super) fn lobe_bpm(events: &[OnsetEvent]) -> f64 {
    60.0 / (events[events.len() - 1].time_s - events[0].time_s).max(1.0)
}

/// `rough` refined by two finer scans: the fourth harmonic's lobes are 4× narrower than `lobe`,
/// so a quarter of one per step, then 1/80.
pub(super) fn refine(events: &[OnsetEvent], rough: f64, lobe: f64) -> f64 {
    let (mid, _) = best_tempo(events, rough, lobe / 4.0, lobe / 16.0);
    best_tempo(events, mid, lobe / 16.0, lobe / 320.0).0
}

/// The most coherent tempo within `center ± half_width` on a grid of `step` BPM (refined by a
/// parabola), and its coherence.
pub(super) fn best_tempo(events: &[OnsetEvent], center: f64, half_width: f64, step: f64) -> (f64, f64) {
    let from = center - half_width;
    let count = (2.0 * half_width / step).ceil() as usize + 1;
    let scores = coherence_scan(events, from, step, count);
    let (best, at) = peak(&scores);
    (from + at * step, scores[best])
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
pub(super) fn parabola_vertex(a: f64, b: f64, c: f64) -> f64 {
    let denom = a - 2.0 * b + c;
    if denom < 0.0 { (0.5 * (a - c) / denom).clamp(-0.5, 0.5) } else { 0.0 }
}

/// Onset weight folded modulo one beat: a smoothed histogram of `t mod period`.
struct Fold {
    smooth: Vec<f64>,
    bin_s: f64,
}

impl Fold {
    fn new(events: &[OnsetEvent], period: f64) -> Self {
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
        let smooth = (0..bins as isize)
            .map(|i| {
                (-reach..=reach)
                    .map(|d| hist[(i + d).rem_euclid(bins as isize) as usize] * kernel[(d + reach) as usize])
                    .sum()
            })
            .collect();
        Self { smooth, bin_s }
    }

    /// The phase (s, in `[0, period)`) of the largest fold value within `radius` of `center`
    /// (circularly), refined by a parabola.
    fn mode_near(&self, center: f64, radius: f64) -> f64 {
        let bins = self.smooth.len();
        let period = bins as f64 * self.bin_s;
        let reach = ((radius / self.bin_s) as isize).min(bins as isize / 2);
        let c = (center.rem_euclid(period) / self.bin_s) as isize;
        let at = |i: isize| self.smooth[i.rem_euclid(bins as isize) as usize];
        let best = (c - reach..c + reach).fold(c - reach, |b, i| if at(i) > at(b) { i } else { b });
        let shift = parabola_vertex(at(best - 1), at(best), at(best + 1));
        ((best as f64 + 0.5 + shift) * self.bin_s).rem_euclid(period)
    }

    /// The lag (s, within ±`max_s`, refined by a parabola) at which this fold best matches
    /// `other`, a fold of the same period: `other` shifted by it looks most like `self`.
    fn shift_against(&self, other: &Fold, max_s: f64) -> f64 {
        let bins = self.smooth.len() as isize;
        let reach = ((max_s / self.bin_s) as isize).min(bins / 2);
        let score = |lag: isize| -> f64 {
            (0..bins).map(|i| self.smooth[i as usize] * other.smooth[(i - lag).rem_euclid(bins) as usize]).sum()
        };
        let scores: Vec<f64> = (-reach..=reach).map(score).collect();
        let (_, at) = peak(&scores);
        (at - reach as f64) * self.bin_s
    }
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

/// Largest shift (ms) between the fold of any 16-beat segment (with enough onsets) and the fold
/// of the whole song:
/// the lag, within ±1/8 beat, at which the segment's onset pattern best matches the song's. A
/// segment of off-beat or 1/4-beat notes matches the song's pattern where it is, so only a
/// moving grid (a tempo change, free tempo, a wrong BPM) shows as drift.
fn drift_ms(events: &[OnsetEvent], period: f64) -> f64 {
    let segments = Blocks {
        beats: DRIFT_SEGMENT_BEATS,
        origin_s: 0.0,
        min_events: DRIFT_MIN_EVENTS,
        min_weight_share: DRIFT_MIN_WEIGHT_SHARE,
    };
    block_lags(events, period, &segments, period / 8.0).into_iter().map(|lag| lag.abs() * 1000.0).fold(0.0, f64::max)
}

/// Blocks of a song compared with the whole of it: `beats` beats long from `origin_s`, each kept
/// with at least `min_events` onsets and `min_weight_share` of the median kept block's weight (a
/// break with a few soft notes says little about the grid).
pub(super) struct Blocks {
    /// Beats per block.
    pub beats: f64,
    /// Where a block starts (s).
    pub origin_s: f64,
    /// Fewest onsets in a block.
    pub min_events: usize,
    /// Least weight of a block, as a share of the median block's.
    pub min_weight_share: f64,
}

/// The lag (s, within ±`reach_s`) of each block's fold against the fold of all `events` at
/// `period` ([`Fold::shift_against`]), in time order.
pub(super) fn block_lags(events: &[OnsetEvent], period: f64, blocks: &Blocks, reach_s: f64) -> Vec<f64> {
    let all = Fold::new(events, period);
    let block_s = blocks.beats * period;
    let index = |e: &OnsetEvent| ((e.time_s - blocks.origin_s) / block_s).floor();
    let kept: Vec<&[OnsetEvent]> =
        events.chunk_by(|a, b| index(a) == index(b)).filter(|block| block.len() >= blocks.min_events).collect();
    let weight = |block: &[OnsetEvent]| block.iter().map(|e| e.weight).sum::<f64>();
    let mut weights: Vec<f64> = kept.iter().map(|b| weight(b)).collect();
    weights.sort_by(f64::total_cmp);
    let typical = weights.get(weights.len() / 2).copied().unwrap_or(0.0);
    kept.into_iter()
        .filter(|block| weight(block) >= blocks.min_weight_share * typical)
        .map(|block| Fold::new(block, period).shift_against(&all, reach_s))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn train(bpm: f64, phase_s: f64, beats: usize, offbeat: f64) -> Vec<OnsetEvent> {
        let p = 60.0 / bpm;
        let mut events = Vec::new();
        for n in 0..beats {
            let t = phase_s + n as f64 * p;
            events.push(OnsetEvent { time_s: t, weight: 10.0, amplitude: 1.0, lead_s: 0.0 });
            if offbeat > 0.0 {
                events.push(OnsetEvent { time_s: t + p / 2.0, weight: offbeat, amplitude: 0.5, lead_s: 0.0 });
            }
        }
        events
    }

    #[test]
    fn refines_a_rough_tempo_and_finds_the_phase() {
        let config = TempoConfig::default();
        for (bpm, phase, offbeat) in [(174.5, 0.1234, 0.0), (128.0, 0.4, 9.0), (200.37, 0.01, 5.0)] {
            let events = train(bpm, phase, 400, offbeat);
            let candidates =
                [Candidate { bpm: bpm * 0.67, salience: 2.0 }, Candidate { bpm: bpm * 1.02, salience: 1.0 }];
            let fit = fit(&events, &candidates, &[], 0.02, &config);
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
        let fit = fit(&events, &[Candidate { bpm: 150.0, salience: 1.0 }], &[], 0.02, &config);
        assert!(fit.drift_ms > 30.0, "{fit:?}");
    }
}
