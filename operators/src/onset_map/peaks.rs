//! Onset peaks of the onset-strength row (librosa's `onset_detect` rule), and the song's level
//! per frame, which tells a held note from a struck one.
//!
//! ```text
//!  onset row ─► normalised to [0, 1] ─► peak: largest within ±2 frames
//!                                            and ≥ mean of ±100 ms + δ ─► Peak { time, strength }
//!  mel rows  ─► Σ bands ─► dB per frame ─► Loudness::sustained(from, to): no fall of > 9 dB
//! ```

use crate::features::FeatureMatrix;

/// A peak is the largest value within this many seconds either side (librosa: `pre_max`).
const PEAK_RADIUS_S: f64 = 0.03;
/// The adaptive threshold is the mean over this many seconds either side (`pre_avg`, `post_avg`).
const MEAN_RADIUS_S: f64 = 0.1;
/// How far above that mean a peak must stand, on the row normalised to [0, 1] (`delta`).
const DELTA: f64 = 0.07;
/// Floor of the level (dB) against silence.
const FLOOR_DB: f64 = -100.0;
/// A note this far (dB) below the song's loudest frame is too quiet to hold.
const QUIET_DB: f64 = 40.0;

/// One onset peak.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Peak {
    /// When (ms from the start of the audio): the peak's frame time.
    pub time_ms: f64,
    /// Height on the normalised onset row (0–1].
    pub strength: f64,
}

/// The onset row of `features` scaled to [0, 1]; all zeros when it is flat (silence) or not
/// finite.
pub(super) fn normalised_onset(features: &FeatureMatrix) -> Vec<f64> {
    let row: Vec<f64> = features.onset().iter().map(|&x| f64::from(x)).collect();
    let (lo, hi) = row.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| (lo.min(x), hi.max(x)));
    if !(hi > lo && hi.is_finite() && lo.is_finite()) {
        return vec![0.0; row.len()];
    }
    row.iter().map(|x| (x - lo) / (hi - lo)).collect()
}

/// The peaks of a normalised onset row (see [`normalised_onset`]), frames `frame_ms` apart, in
/// time order.
pub(super) fn onset_peaks(norm: &[f64], frame_ms: f64) -> Vec<Peak> {
    let frames_of = |seconds: f64| ((seconds * 1000.0 / frame_ms).ceil() as usize).max(1);
    let (peak_radius, mean_radius) = (frames_of(PEAK_RADIUS_S), frames_of(MEAN_RADIUS_S));
    // Prefix sums for the running mean.
    let mut prefix = Vec::with_capacity(norm.len() + 1);
    prefix.push(0.0);
    for x in norm {
        prefix.push(prefix.last().copied().unwrap_or(0.0) + x);
    }
    let n = norm.len();
    let mut peaks = Vec::new();
    for (t, &v) in norm.iter().enumerate() {
        if v <= 0.0 {
            continue;
        }
        let (from, to) = (t.saturating_sub(peak_radius), (t + peak_radius + 1).min(n));
        // The largest nearby; ties go to the earliest frame.
        let is_max = norm[from..t].iter().all(|&x| x < v) && norm[t + 1..to].iter().all(|&x| x <= v);
        let (from, to) = (t.saturating_sub(mean_radius), (t + mean_radius + 1).min(n));
        let mean = (prefix[to] - prefix[from]) / (to - from) as f64;
        if is_max && v >= mean + DELTA {
            peaks.push(Peak { time_ms: t as f64 * frame_ms, strength: v });
        }
    }
    peaks
}

/// The song's broadband level (dB) per frame, from the mel rows.
#[derive(Debug, Clone)]
pub(super) struct Loudness {
    level_db: Vec<f64>,
    frame_ms: f64,
    loudest_db: f64,
}

/// Fall of the level (dB) below the attack that still counts as the note being held.
const HELD_DROP_DB: f64 = 9.0;
/// Frames after the attack before the hold is judged: the STFT window still straddles it.
const ATTACK_FRAMES: usize = 2;

impl Loudness {
    /// The level of every frame of `features`.
    pub(super) fn new(features: &FeatureMatrix, frame_ms: f64) -> Self {
        let bands = features.channels.saturating_sub(1);
        let mel = features.mel();
        let level_db = (0..features.frames)
            .map(|t| {
                let power: f64 = (0..bands).map(|b| f64::from(mel[b * features.frames + t])).sum();
                if power > 0.0 { (10.0 * power.log10()).max(FLOOR_DB) } else { FLOOR_DB }
            })
            .collect::<Vec<f64>>();
        let loudest_db = level_db.iter().copied().fold(FLOOR_DB, f64::max);
        Self { level_db, frame_ms, loudest_db }
    }

    /// Whether the sound that starts at `from_ms` goes on until `to_ms` without falling more
    /// than 9 dB below its level just after the attack (and is not near silence).
    pub(super) fn sustained(&self, from_ms: f64, to_ms: f64) -> bool {
        let frame = |ms: f64| ((ms / self.frame_ms).round().max(0.0) as usize).min(self.level_db.len());
        let start = frame(from_ms) + ATTACK_FRAMES;
        let end = frame(to_ms);
        if start >= end {
            return false;
        }
        let attack = self.level_db[start - 1];
        attack > self.loudest_db - QUIET_DB && self.level_db[start..end].iter().all(|&l| l >= attack - HELD_DROP_DB)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matrix(mel: &[f32], onset: &[f32]) -> FeatureMatrix {
        assert_eq!(mel.len(), onset.len());
        FeatureMatrix { channels: 2, frames: onset.len(), data: [mel, onset].concat() }
    }

    #[test]
    fn peaks_stand_above_their_neighbourhood() {
        let mut onset = vec![0.1f32; 100];
        onset[20] = 1.0;
        onset[21] = 0.9; // the shoulder of the same peak
        onset[50] = 0.5;
        onset[52] = 0.6; // within ±2 frames of 50: only 52 counts
        onset[80] = 0.14; // too little above the local mean
        let peaks = onset_peaks(&normalised_onset(&matrix(&vec![1.0; 100], &onset)), 20.0);
        let times: Vec<f64> = peaks.iter().map(|p| p.time_ms).collect();
        assert_eq!(times, vec![400.0, 1040.0]);
        assert_eq!(peaks[0].strength, 1.0);
    }

    #[test]
    fn a_flat_or_broken_row_has_no_peaks() {
        for onset in [[0.0f32; 50], [f32::NAN; 50]] {
            let norm = normalised_onset(&matrix(&[0.0; 50], &onset));
            assert_eq!(norm, vec![0.0; 50]);
            assert!(onset_peaks(&norm, 20.0).is_empty());
        }
        assert!(onset_peaks(&normalised_onset(&matrix(&[], &[])), 20.0).is_empty());
    }

    #[test]
    fn a_held_note_keeps_its_level_a_struck_one_decays() {
        // Frames of 20 ms: a held tone from frame 10, a hit at frame 60 that decays 3 dB a frame.
        let mut mel = vec![1e-6f32; 120];
        for level in &mut mel[10..50] {
            *level = 1.0;
        }
        for (i, level) in mel[60..90].iter_mut().enumerate() {
            *level = 10f32.powf(-0.3 * i as f32);
        }
        let loudness = Loudness::new(&matrix(&mel, &[0.0; 120]), 20.0);
        assert!(loudness.sustained(200.0, 900.0));
        assert!(!loudness.sustained(200.0, 1100.0), "the tone ends at frame 50");
        assert!(!loudness.sustained(1200.0, 1500.0));
        assert!(!loudness.sustained(2000.0, 2600.0), "silence, up to beyond the song");
    }
}
