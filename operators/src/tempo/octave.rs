//! The tempo's octave, settled by where the bass and the accents fall on the fitted grid.
//!
//! ```text
//!  fitted grid (beats at phase + k·P) ─► per beat: peak of the envelope within −20…+40 ms
//!    bass flux: mean on even beats vs odd beats ─► one side has no bass (< 5 % of the other)
//!                                                 ─► the beat is every other one: BPM / 2
//!    onset row: mean on the half beats vs the beats ≥ 1.5, and bass on the half beats too
//!                                                 ─► the half beats are beats: BPM × 2
//! ```
//! Autocorrelation and onset coherence cannot tell a tempo from its double: a map with notes on
//! every half beat is as periodic at both. The bass can: a bass line or kick drum plays on the
//! beat, and a song without bass between two beats is not at the faster tempo. Conversely, when
//! the half beats carry clearly stronger onsets than the beats (a backbeat snare at half the
//! tempo) and the bass plays there too, the fitted beat is a half note.

use super::TempoConfig;
use super::grid::BeatFit;

/// Below this ratio of bass on one parity of beats to the other, the weak side has no bass.
const NO_BASS_RATIO: f64 = 0.05;
/// The strong side's bass must stand this far above the envelope's mean to count as a pulse.
const BASS_PULSE_LEAD: f64 = 2.0;
/// Half beats whose onsets are this much stronger than the beats' are beats themselves.
const HALF_BEAT_LEAD: f64 = 1.5;
/// Frames before and after a beat's frame searched for its peak (−1…+2: flux lags the onset).
const PEAK_FRAMES: (isize, isize) = (1, 2);

/// The BPM the fitted grid should have: `beat.bpm`, half of it or double it (within the
/// config's range).
pub(super) fn settle(beat: &BeatFit, onset: &[f64], bass: &[f64], frame_seconds: f64, config: &TempoConfig) -> f64 {
    let period = 60.0 / beat.bpm;
    let (even, odd) = parity_means(bass, frame_seconds, beat.phase_s, period);
    let bass_mean = bass.iter().sum::<f64>() / bass.len().max(1) as f64;
    let bass_pulse = even.max(odd) >= BASS_PULSE_LEAD * bass_mean && bass_mean > 0.0;
    if bass_pulse && even.min(odd) < NO_BASS_RATIO * even.max(odd) && beat.bpm / 2.0 >= config.min_bpm {
        return beat.bpm / 2.0;
    }
    // Both parities together: the envelope on the grid shifted by `shift` (0: beats, P/2: half beats).
    let on_grid = |env: &[f64], shift: f64| {
        let (even, odd) = parity_means(env, frame_seconds, beat.phase_s + shift, period);
        even + odd
    };
    let accented_half = on_grid(onset, period / 2.0) >= HALF_BEAT_LEAD * on_grid(onset, 0.0);
    let bass_on_half = on_grid(bass, period / 2.0) >= NO_BASS_RATIO * on_grid(bass, 0.0);
    if accented_half && bass_on_half && beat.bpm * 2.0 <= config.max_bpm {
        return beat.bpm * 2.0;
    }
    beat.bpm
}

/// Mean of the envelope's peak at the times `phase + k·period` (k ≥ 0, inside the envelope),
/// over even k and over odd k.
fn parity_means(envelope: &[f64], frame_seconds: f64, phase_s: f64, period: f64) -> (f64, f64) {
    let mut sums = [0.0f64; 2];
    let mut counts = [0usize; 2];
    for k in 0usize.. {
        let centre = ((phase_s + k as f64 * period) / frame_seconds).round() as isize;
        if centre + PEAK_FRAMES.1 >= envelope.len() as isize {
            break;
        }
        let peak = (centre - PEAK_FRAMES.0..=centre + PEAK_FRAMES.1)
            .filter_map(|i| usize::try_from(i).ok())
            .map(|i| envelope[i])
            .fold(0.0f64, f64::max);
        sums[k % 2] += peak;
        counts[k % 2] += 1;
    }
    (sums[0] / counts[0].max(1) as f64, sums[1] / counts[1].max(1) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 50 fps envelope with `level(k)` on the frame of every half beat k of `bpm` from 1 s.
    fn envelope(bpm: f64, frames: usize, level: impl Fn(usize) -> f64) -> Vec<f64> {
        let mut env = vec![0.0; frames];
        let half = 30.0 / bpm;
        for k in 0.. {
            let i = ((1.0 + k as f64 * half) / 0.02).round() as usize;
            if i >= frames {
                break;
            }
            env[i] = level(k);
        }
        env
    }

    fn fit(bpm: f64) -> BeatFit {
        BeatFit { bpm, phase_s: 1.0, confidence: 1.0, drift_ms: 0.0 }
    }

    #[test]
    fn bass_on_every_other_beat_halves_the_tempo() {
        let config = TempoConfig::default();
        // Notes on every half beat of 120 BPM, bass on its beats: fitted at 240, settled at 120.
        let onset = envelope(120.0, 3000, |_| 1.0);
        let bass = envelope(120.0, 3000, |k| if k % 2 == 0 { 1.0 } else { 0.0 });
        assert_eq!(settle(&fit(240.0), &onset, &bass, 0.02, &config), 120.0);
        // Fitted at 120: the bass is on every beat, the half beats are no stronger: kept.
        assert_eq!(settle(&fit(120.0), &onset, &bass, 0.02, &config), 120.0);
        // No bass at all: nothing to settle with.
        assert_eq!(settle(&fit(240.0), &onset, &vec![0.0; 3000], 0.02, &config), 240.0);
    }

    #[test]
    fn a_backbeat_with_bass_doubles_the_tempo() {
        let config = TempoConfig::default();
        // 174 BPM drum & bass fitted at 87: the snare (half beats of 87) outweighs the kick.
        let onset = envelope(87.0, 3000, |k| if k % 2 == 0 { 0.4 } else { 1.0 });
        let bass = envelope(87.0, 3000, |k| if k % 2 == 0 { 1.0 } else { 0.2 });
        assert_eq!(settle(&fit(87.0), &onset, &bass, 0.02, &config), 174.0);
        // The same accents without any bass on the half beats stay at 87.
        let bass = envelope(87.0, 3000, |k| if k % 2 == 0 { 1.0 } else { 0.0 });
        assert_eq!(settle(&fit(87.0), &onset, &bass, 0.02, &config), 87.0);
    }
}
