//! Onset events timed to ~1.5 ms: where the high-passed level of the samples jumps.
//!
//! ```text
//!  samples ─► first difference (tilts toward attacks) ─► energy per 1.5 ms block
//!          ─► level dB (+ a floor 50 dB under the loudest block: quiet noise is no onset)
//!          ─► rise = level − loudest of the previous 3 blocks ─► peaks (largest in ±25 ms)
//!          ─► OnsetEvent { time (block centre), weight (rise dB), amplitude (vs loudest block) }
//! ```
//! The rise is taken against the loudest recent block, so only the block where an attack starts
//! stands out: the event is timed to that block's centre.

/// Length of one analysis block (s).
const BLOCK_SECONDS: f64 = 0.0015;
/// Blocks a rise is measured against.
const RISE_BLOCKS: usize = 3;
/// Energy floor relative to the loudest block (−50 dB).
const FLOOR: f64 = 1e-5;
/// Smallest rise that counts as an onset (dB).
const MIN_RISE_DB: f64 = 3.0;
/// An onset is the largest rise within this many seconds either side.
const PEAK_RADIUS_SECONDS: f64 = 0.025;

/// One onset: when, and how sharp (its rise in dB).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct OnsetEvent {
    /// Seconds from the start of the audio.
    pub time_s: f64,
    /// Rise in dB.
    pub weight: f64,
    /// Amplitude of the block it starts in, relative to the loudest block (0–1).
    pub amplitude: f64,
}

/// The onset events of `samples` at `sample_rate`, in time order.
pub(super) fn onset_events(samples: &[f32], sample_rate: u32) -> Vec<OnsetEvent> {
    let rate = f64::from(sample_rate);
    let block = ((rate * BLOCK_SECONDS).round() as usize).max(1);
    let mut previous = samples.first().copied().unwrap_or(0.0);
    let energy: Vec<f64> = samples
        .chunks_exact(block)
        .map(|chunk| {
            chunk.iter().fold(0.0f64, |acc, &x| {
                let d = f64::from(x - previous);
                previous = x;
                acc + d * d
            })
        })
        .collect();
    let loudest = energy.iter().copied().fold(0.0f64, f64::max);
    if !(loudest > 0.0 && loudest.is_finite()) {
        return Vec::new();
    }
    let floor = loudest * FLOOR;
    let level: Vec<f64> = energy.iter().map(|e| 10.0 * (e + floor).log10()).collect();
    let rise: Vec<f64> = (0..level.len())
        .map(|k| {
            let before = level[k.saturating_sub(RISE_BLOCKS)..k].iter().copied().fold(f64::NEG_INFINITY, f64::max);
            if before.is_finite() { (level[k] - before).max(0.0) } else { 0.0 }
        })
        .collect();
    let radius = ((PEAK_RADIUS_SECONDS * rate) as usize / block).max(1);
    let block_s = block as f64 / rate;
    let mut events = Vec::new();
    for (k, &r) in rise.iter().enumerate() {
        if r < MIN_RISE_DB {
            continue;
        }
        let (from, to) = (k.saturating_sub(radius), (k + radius + 1).min(rise.len()));
        // Largest in the neighbourhood; ties go to the earliest block.
        let is_peak = rise[from..k].iter().all(|&x| x < r) && rise[k + 1..to].iter().all(|&x| x <= r);
        if is_peak {
            let amplitude = (energy[k] / loudest).sqrt();
            events.push(OnsetEvent { time_s: (k as f64 + 0.5) * block_s, weight: r, amplitude });
        }
    }
    events
}

use super::grid::parabola_vertex;

/// Fewest frames between two onsets of the feature row (±40 ms at 50 fps).
const ROW_PEAK_RADIUS: usize = 2;
/// A peak of the onset row counts when it stands this many standard deviations above its mean.
const ROW_MIN_Z: f64 = 0.5;

/// Onset events from a feature matrix's onset row alone (frames `frame_seconds` apart), for
/// songs whose samples are gone (stored shards): the peaks of the row that stand out, timed by a
/// parabola through the peak and its neighbours, weighted by their height above the mean. The
/// BPM fits as well as from samples (it pools the whole song); the phase is good to a few ms, with
/// the onset function's own lag.
pub(super) fn row_events(onset: &[f64], frame_seconds: f64) -> Vec<OnsetEvent> {
    let n = onset.len();
    if n < 3 {
        return Vec::new();
    }
    let mean = onset.iter().sum::<f64>() / n as f64;
    let std = (onset.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64).sqrt();
    let top = onset.iter().copied().fold(0.0f64, f64::max);
    if !(std > 0.0 && top > mean) {
        return Vec::new();
    }
    let mut events = Vec::new();
    for k in 1..n - 1 {
        let v = onset[k];
        let (from, to) = (k.saturating_sub(ROW_PEAK_RADIUS), (k + ROW_PEAK_RADIUS + 1).min(n));
        let is_peak = onset[from..k].iter().all(|&x| x < v) && onset[k + 1..to].iter().all(|&x| x <= v);
        if is_peak && v >= mean + ROW_MIN_Z * std {
            let shift = parabola_vertex(onset[k - 1], v, onset[k + 1]);
            events.push(OnsetEvent {
                time_s: (k as f64 + shift) * frame_seconds,
                weight: v - mean,
                amplitude: v / top,
            });
        }
    }
    events
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clicks_are_found_within_a_block() {
        let rate = 22_050;
        let mut samples = vec![0.0f32; rate as usize * 2];
        let at = [0.3117, 0.8, 1.2503];
        for &t in &at {
            let start = (t * f64::from(rate)) as usize;
            for i in 0..200 {
                samples[start + i] += 0.5 * (-(i as f32) / 40.0).exp() * if i % 2 == 0 { 1.0 } else { -1.0 };
            }
        }
        let events = onset_events(&samples, rate);
        assert_eq!(events.len(), 3, "{events:?}");
        for (e, t) in events.iter().zip(at) {
            assert!((e.time_s - t).abs() < 0.0016, "{} vs {t}", e.time_s);
        }
    }

    #[test]
    fn silence_and_empty_audio_have_no_onsets() {
        assert!(onset_events(&[], 22_050).is_empty());
        assert!(onset_events(&[0.0; 10_000], 22_050).is_empty());
        assert!(onset_events(&[0.25; 10_000], 22_050).is_empty());
    }
}
