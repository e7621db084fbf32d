//! Coarse tempo: the lag at which the song's onset envelope best matches itself, weighted by a
//! prior.
//!
//! ```text
//!  onset row (dB flux) ──────────────────────┐ each scaled to unit variance
//!  Σ low bands max(0, ΔS) (linear power flux) ┴─► envelope ─► minus its mean
//!            ─► autocorrelation r[lag] (lags of min_bpm … max_bpm)
//!            ─► salience(bpm) = r(60 fps / bpm) · prior(bpm),   bpm on a 0.1 BPM grid
//!            ─► the 3 highest peaks, each doubled while half its period correlates ≥ 95 % as
//!               well (the beat, not the bar) ─► candidates (~1 %), with their salience
//! ```
//! A pulse at period P correlates as well at 2P, 3P … as at P, and a pulse with accented beats
//! correlates less at P/2 than at P: the prior (log-normal, centred on
//! [`TempoConfig::prior_bpm`](super::TempoConfig)) settles near-ties between multiples. The
//! grid fit chooses among the candidates by how well the onsets line up with each.
//! The dB flux weighs a soft off-beat hi-hat like a kick; the linear power flux of the bass bands
//! keeps loudness, so accented beats (kick, bass notes) outweigh the half beats between them.

use super::TempoConfig;
use crate::features::FeatureMatrix;

/// Step of the BPM grid scanned (BPM).
const BPM_STEP: f64 = 0.1;
/// Salience peaks kept as candidates.
const PEAKS: usize = 3;
/// A candidate is doubled while half its period correlates at least this much (relative).
const DOUBLE_RATIO: f64 = 0.95;

/// A coarse tempo and how salient it is (autocorrelation × prior).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Candidate {
    /// Beats per minute (within ~1 %).
    pub bpm: f64,
    /// Autocorrelation at its period times the prior.
    pub salience: f64,
}

/// Candidate tempos of an envelope sampled every `frame_seconds`: its [`PEAKS`] most salient
/// tempos, each moved up an octave while that is as strong, the most salient first; `None` when
/// the envelope is flat or too short to hold two beats at `min_bpm`.
pub(super) fn candidates(envelope: &[f64], frame_seconds: f64, config: &TempoConfig) -> Option<Vec<Candidate>> {
    let fps = 1.0 / frame_seconds;
    let max_lag = (60.0 * fps / config.min_bpm).ceil() as usize + 2;
    if envelope.len() < 2 * max_lag {
        return None;
    }
    let centred = centred(envelope.iter().copied());
    let r: Vec<f64> = (0..=max_lag)
        .map(|lag| {
            let n = centred.len() - lag;
            centred[..n].iter().zip(&centred[lag..]).map(|(a, b)| a * b).sum::<f64>() / n as f64
        })
        .collect();
    if !super::is_positive(r[0]) {
        return None;
    }
    let at = |lag: f64| {
        let i = lag.floor() as usize;
        let frac = lag - i as f64;
        r[i] * (1.0 - frac) + r[(i + 1).min(max_lag)] * frac
    };
    let steps = ((config.max_bpm - config.min_bpm) / BPM_STEP).floor() as usize;
    let salience = |bpm: f64| at(60.0 * fps / bpm) * prior(bpm, config);
    let scores: Vec<f64> = (0..=steps).map(|i| salience(config.min_bpm + i as f64 * BPM_STEP)).collect();
    let mut peaks: Vec<usize> =
        (1..steps).filter(|&i| scores[i] > scores[i - 1] && scores[i] >= scores[i + 1] && scores[i] > 0.0).collect();
    peaks.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    // Every multiple of the period correlates: go to the fastest pulse that is nearly as strong.
    // A period between two frames spreads its peak over both, so three lags are summed.
    let strength = |bpm: f64| {
        let lag = (60.0 * fps / bpm).round() as usize;
        r[lag.saturating_sub(1)..=(lag + 1).min(max_lag)].iter().map(|x| x.max(0.0)).sum::<f64>()
    };
    let mut candidates: Vec<Candidate> = Vec::new();
    for &i in peaks.iter().take(PEAKS) {
        let mut bpm = config.min_bpm + i as f64 * BPM_STEP;
        while 2.0 * bpm <= config.max_bpm && strength(2.0 * bpm) >= DOUBLE_RATIO * strength(bpm) {
            bpm *= 2.0;
        }
        if !candidates.iter().any(|k| (k.bpm - bpm).abs() < 0.01 * bpm) {
            candidates.push(Candidate { bpm, salience: scores[i] });
        }
    }
    (!candidates.is_empty()).then_some(candidates)
}

/// The envelope the tempo is read from: the `onset` row plus the `bass` flux ([`bass_flux`]),
/// each minus its mean and scaled to unit variance (a flat part adds 0).
pub(super) fn tempo_envelope(onset: &[f64], bass: &[f64]) -> Vec<f64> {
    let onset = unit_variance(centred(onset.iter().copied()));
    let bass = unit_variance(centred(bass.iter().copied()));
    onset.iter().zip(&bass).map(|(a, b)| a + b).collect()
}

/// The linear power flux of the lowest `low_bands` mel bands: Σ max(0, S[b, t] − S[b, t − 1]).
pub(super) fn bass_flux(features: &FeatureMatrix, low_bands: usize) -> Vec<f64> {
    let mut bass = vec![0.0f64; features.frames];
    for band in 0..low_bands.min(features.channels - 1) {
        let row = features.row(band);
        for t in 1..features.frames {
            bass[t] += f64::from(row[t] - row[t - 1]).max(0.0);
        }
    }
    bass
}

/// The values minus their mean.
fn centred(values: impl ExactSizeIterator<Item = f64> + Clone) -> Vec<f64> {
    let n = values.len().max(1) as f64;
    let mean = values.clone().sum::<f64>() / n;
    values.map(|x| x - mean).collect()
}

/// The values divided by their standard deviation (unchanged when it is 0).
fn unit_variance(mut values: Vec<f64>) -> Vec<f64> {
    let std = (values.iter().map(|x| x * x).sum::<f64>() / values.len().max(1) as f64).sqrt();
    if std > 0.0 {
        values.iter_mut().for_each(|x| *x /= std);
    }
    values
}

/// The log-normal tempo prior (1 at `prior_bpm`).
pub(super) fn prior(bpm: f64, config: &TempoConfig) -> f64 {
    let octaves = (bpm / config.prior_bpm).log2() / config.prior_octaves;
    (-0.5 * octaves * octaves).exp()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An envelope with a spike every `period` frames and, when `offbeat` > 0, weaker spikes
    /// half-way between; a spike between two frames is shared by both, as a real envelope's
    /// window would share it.
    fn pulses(period: f64, frames: usize, offbeat: f64) -> Vec<f64> {
        let mut env = vec![0.0f64; frames + 2];
        let mut add = |t: f64, level: f64| {
            let (i, frac) = (t.floor() as usize, t.fract());
            env[i] += level * (1.0 - frac);
            env[i + 1] += level * frac;
        };
        let mut t = 3.0f64;
        while t + period < frames as f64 {
            add(t, 1.0);
            add(t + period / 2.0, offbeat);
            t += period;
        }
        env
    }

    #[test]
    fn the_pulse_is_among_the_candidates() {
        let config = TempoConfig::default();
        // 50 fps: 120 BPM = 25 frames, 174.5 BPM = 17.19 frames, 90 BPM = 33.3 frames.
        for bpm in [120.0, 174.5, 90.0, 240.0] {
            let env = pulses(3000.0 / bpm, 6000, 0.4);
            let found = candidates(&env, 0.02, &config).unwrap();
            assert!((found[0].bpm - bpm).abs() / bpm < 0.02, "{bpm} → {found:?}");
            assert!(found.len() <= 3 && found.iter().all(|c| (60.0..=300.0).contains(&c.bpm)), "{found:?}");
        }
    }

    #[test]
    fn flat_or_short_envelopes_have_no_tempo() {
        let config = TempoConfig::default();
        assert_eq!(candidates(&[1.0; 5000], 0.02, &config), None);
        assert_eq!(candidates(&[0.0; 5000], 0.02, &config), None);
        assert_eq!(candidates(&[0.0, 1.0, 0.0], 0.02, &config), None);
    }
}
