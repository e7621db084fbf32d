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
/// Longest an attack's climb is followed back from its largest rise (s).
const CLIMB_SECONDS: f64 = 0.05;
/// An attack starts at the first block this many dB above the quietest block before it...
const CLIMB_START_DB: f64 = 3.0;
/// ... and at most this many dB under its steepest step: quieter still is the codec's pre-echo
/// (an MP3 spreads an attack over up to a 576-sample granule before it), not the note.
const CLIMB_DEPTH_DB: f64 = 20.0;

/// One onset: when, and how sharp (its rise in dB).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct OnsetEvent {
    /// Seconds from the start of the audio.
    pub time_s: f64,
    /// Rise in dB.
    pub weight: f64,
    /// Amplitude of the block it starts in, relative to the loudest block (0–1).
    pub amplitude: f64,
    /// How long the attack climbs before `time_s` (s): where a listener hears it begin is
    /// `time_s - lead_s` (0 where the climb is not seen: events of the feature row).
    pub lead_s: f64,
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
    let climb = ((CLIMB_SECONDS * rate) as usize / block).max(1);
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
            let lead_s = (k - climb_start(&level, k, climb)) as f64 * block_s;
            events.push(OnsetEvent { time_s: (k as f64 + 0.5) * block_s, weight: r, amplitude, lead_s });
        }
    }
    events
}

/// Where the attack whose largest rise is block `k` begins: the first block, after the quietest
/// one of the `climb` blocks before `k`, that stands [`CLIMB_START_DB`] above it and no more than
/// [`CLIMB_DEPTH_DB`] under block `k`. A click starts
/// in its own block; a kick drum's or a plucked string's level climbs for several ms before its
/// steepest step, and a listener (a mapper) hears the note where the climb begins.
fn climb_start(level: &[f64], k: usize, climb: usize) -> usize {
    let from = k.saturating_sub(climb);
    let quietest = (from..k).rev().min_by(|&a, &b| level[a].total_cmp(&level[b])).unwrap_or(k);
    let threshold = (level[quietest] + CLIMB_START_DB).max(level[k] - CLIMB_DEPTH_DB);
    (quietest + 1..=k).find(|&j| level[j] >= threshold).unwrap_or(k)
}

/// Events within this share of a beat of the grid set the attack lead.
const ON_BEAT_SHARE: f64 = 0.08;

/// How long the attacks on the beats climb before their steepest step (s): the weighted median
/// of the leads of the events within [`ON_BEAT_SHARE`] of a beat of the grid `phase_s + n · beat_s`.
/// The grid is fitted to the steepest steps (sharp and stable for the BPM and the phase); the
/// red line belongs where the beats are heard to start, this much earlier.
pub(super) fn attack_lead(events: &[OnsetEvent], phase_s: f64, beat_s: f64) -> f64 {
    let on_beat: Vec<(f64, f64)> = events
        .iter()
        .filter(|e| residual(e.time_s, phase_s, beat_s).abs() <= ON_BEAT_SHARE * beat_s)
        .map(|e| (e.lead_s, e.weight))
        .collect();
    weighted_median(on_beat).unwrap_or(0.0)
}

use super::grid::{parabola_vertex, residual};
use crate::stats::weighted_median;

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
                lead_s: 0.0,
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

    /// A 440 Hz tone of `amplitude` from `start_s` for `seconds`.
    fn tone(samples: &mut [f32], rate: u32, start_s: f64, seconds: f64, amplitude: f64) {
        let rate = f64::from(rate);
        let from = (start_s * rate) as usize;
        for (i, x) in samples.iter_mut().enumerate().skip(from).take((seconds * rate) as usize) {
            let t = i as f64 / rate;
            *x += (amplitude * (2.0 * std::f64::consts::PI * 440.0 * t).sin()) as f32;
        }
    }

    #[test]
    fn a_note_that_climbs_is_heard_from_where_it_begins_and_a_click_at_once() {
        let rate = 22_050;
        // A bed of quiet noise, as under any real note.
        let mut state = 1u32;
        let mut samples: Vec<f32> = (0..rate * 2)
            .map(|_| {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (f64::from(state >> 8) / f64::from(1u32 << 24) - 0.5) as f32 * 0.004
            })
            .collect();
        // A note that climbs for 15 ms (16 dB under its body) before its loud attack.
        tone(&mut samples, rate, 0.4, 0.015, 0.08);
        tone(&mut samples, rate, 0.415, 0.2, 0.5);
        // A codec's pre-echo: 10 ms at 28 dB under the note, not heard as its start.
        tone(&mut samples, rate, 1.6, 0.01, 0.02);
        tone(&mut samples, rate, 1.61, 0.2, 0.5);
        let start = (1.2 * f64::from(rate)) as usize;
        for i in 0..200 {
            samples[start + i] += 0.5 * (-(i as f32) / 40.0).exp() * if i % 2 == 0 { 1.0 } else { -1.0 };
        }
        let events: Vec<OnsetEvent> = onset_events(&samples, rate).into_iter().filter(|e| e.weight > 10.0).collect();
        assert_eq!(events.len(), 3, "{events:?}");
        let (note, click, echoed) = (events[0], events[1], events[2]);
        assert!((echoed.time_s - echoed.lead_s - 1.61).abs() < 0.0016, "{echoed:?}");
        assert!((note.time_s - 0.415).abs() < 0.0016, "the steepest step is the loud attack: {note:?}");
        let heard = note.time_s - note.lead_s;
        assert!((heard - 0.4).abs() < 0.0031, "the note is heard from 0.4 s, not {heard} ({note:?})");
        assert!(click.lead_s < 0.0016 && (click.time_s - 1.2).abs() < 0.0016, "{click:?}");
    }

    #[test]
    fn the_attack_lead_is_the_weighted_median_of_the_beats_leads() {
        let event = |time_s: f64, weight: f64, lead_s: f64| OnsetEvent { time_s, weight, amplitude: 1.0, lead_s };
        let beat = 0.5;
        let mut events: Vec<OnsetEvent> = (0..8).map(|n| event(0.1 + n as f64 * beat, 10.0, 0.012)).collect();
        // A weak beat with a long lead, and off-beat events with other leads: neither moves it.
        events.push(event(0.1 + 8.0 * beat, 1.0, 0.04));
        events.extend((0..8).map(|n| event(0.35 + n as f64 * beat, 20.0, 0.03)));
        assert!((attack_lead(&events, 0.1, beat) - 0.012).abs() < 1e-12);
        assert_eq!(attack_lead(&[], 0.1, beat), 0.0);
    }

    #[test]
    fn silence_and_empty_audio_have_no_onsets() {
        assert!(onset_events(&[], 22_050).is_empty());
        assert!(onset_events(&[0.0; 10_000], 22_050).is_empty());
        assert!(onset_events(&[0.25; 10_000], 22_050).is_empty());
    }
}
