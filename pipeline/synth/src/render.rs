//! Renders a song from a beatmap's timing: what the model should hear where the mapper clicked.
//!
//! ```text
//!  events (time, hit | slider start/end | spinner) ──► percussive hits at each onset
//!                                                     + sustained tone from slider start to end
//!  beat grid (offset, beat length) ──────────────────► quiet bass notes on every beat
//!                                                     ──► mono f32 PCM at the chosen rate
//! ```
//!
//! A hit starts at full level on its exact sample (an onset detector finds it to the sample);
//! the background fades in over 30 ms so it never looks like an onset. The noise in the hits
//! and the background's chord choices come from [`SplitMix64`] seeded with `seed`, so a render
//! is the same on every run.

use std::f32::consts::TAU;

use super::SplitMix64;

/// Peak level of a hit.
pub const HIT_LEVEL: f32 = 0.5;
/// Level of the sustained slider tone.
pub const SLIDER_LEVEL: f32 = 0.08;
/// Peak level of a background note.
pub const BACKGROUND_LEVEL: f32 = 0.05;

/// The map's main beat: where beats fall.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BeatGrid {
    /// Time of a beat (the first uninherited timing point), in ms.
    pub offset_ms: f64,
    /// Milliseconds per beat (60000 / BPM).
    pub beat_length_ms: f64,
}

/// What happens at an event's time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// A hit circle.
    Hit,
    /// A slider's head: a hit, and the start of a sustained tone.
    SliderStart,
    /// A slider's tail: a softer hit, and the end of the tone.
    SliderEnd,
    /// A spinner's start: a lower, longer hit.
    Spinner,
}

/// One timed event of a map.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AudioEvent {
    /// When, in ms from the start of the audio.
    pub time_ms: f64,
    /// What.
    pub kind: EventKind,
}

/// Everything a render depends on.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderSpec {
    /// Samples per second (the data set's audio is 44,100 or 22,050 Hz before encoding).
    pub sample_rate: u32,
    /// Song length in ms.
    pub length_ms: f64,
    /// The background's beat grid; no background when its beat length is not positive.
    pub beat_grid: BeatGrid,
    /// The map's events, in any order; those outside the song are ignored.
    pub events: Vec<AudioEvent>,
    /// Seed of the noise and the chord choices.
    pub seed: u64,
}

/// Renders `spec` as mono samples in `[-1, 1]`. Non-finite or negative times and lengths give
/// nothing rather than a panic.
pub fn render_track(spec: &RenderSpec) -> Vec<f32> {
    let rate = spec.sample_rate as f64;
    if rate <= 0.0 || !spec.length_ms.is_finite() || spec.length_ms <= 0.0 {
        return Vec::new();
    }
    let len = (spec.length_ms * rate / 1000.0).round() as usize;
    let mut out = vec![0.0f32; len];
    let mut rng = SplitMix64::new(spec.seed);
    let to_sample = |ms: f64| -> Option<usize> {
        let s = (ms * rate / 1000.0).round();
        (ms.is_finite() && s >= 0.0 && (s as usize) < len).then_some(s as usize)
    };

    render_background(&mut out, spec, &mut rng);

    let mut events = spec.events.clone();
    events.sort_by(|a, b| a.time_ms.total_cmp(&b.time_ms));
    let mut slider_from: Option<usize> = None;
    for event in &events {
        let Some(at) = to_sample(event.time_ms) else { continue };
        match event.kind {
            EventKind::Hit => add_hit(&mut out, at, rate, 1800.0, 0.012, HIT_LEVEL, &mut rng),
            EventKind::SliderStart => {
                add_hit(&mut out, at, rate, 1800.0, 0.012, HIT_LEVEL, &mut rng);
                slider_from = Some(at);
            }
            EventKind::SliderEnd => {
                add_hit(&mut out, at, rate, 2400.0, 0.008, HIT_LEVEL * 0.8, &mut rng);
                if let Some(from) = slider_from.take() {
                    add_tone(&mut out, from, at, rate);
                }
            }
            EventKind::Spinner => add_hit(&mut out, at, rate, 600.0, 0.030, HIT_LEVEL, &mut rng),
        }
    }
    for s in &mut out {
        *s = s.clamp(-1.0, 1.0);
    }
    out
}

/// A burst of noise plus a pitched ping, at full level on sample `at`, decaying with `decay_s`.
fn add_hit(out: &mut [f32], at: usize, rate: f64, pitch: f32, decay_s: f64, level: f32, rng: &mut SplitMix64) {
    let n = ((decay_s * 6.0) * rate) as usize;
    let step = TAU * pitch / rate as f32;
    for i in 0..n.min(out.len() - at) {
        let env = (-(i as f64) / (decay_s * rate)).exp() as f32;
        let ping = (step * i as f32 + TAU / 4.0).sin(); // cosine phase: full level on the first sample
        out[at + i] += level * env * (0.75 * ping + 0.25 * rng.next_signed());
    }
}

/// A sustained tone from `from` to `to` with 5 ms fades.
fn add_tone(out: &mut [f32], from: usize, to: usize, rate: f64) {
    let fade = (0.005 * rate) as usize;
    let step = TAU * 660.0 / rate as f32;
    let len = to.saturating_sub(from);
    for i in 0..len {
        let edge = i.min(len - i).min(fade) as f32 / fade.max(1) as f32;
        out[from + i] += SLIDER_LEVEL * edge * (step * i as f32).sin();
    }
}

/// Bass notes on each beat with a 30 ms fade-in, a new chord root each bar of four beats.
fn render_background(out: &mut [f32], spec: &RenderSpec, rng: &mut SplitMix64) {
    const ROOTS_HZ: [f32; 5] = [110.0, 123.47, 130.81, 146.83, 164.81];
    let grid = spec.beat_grid;
    // Offsets beyond 10^9 ms (11 days) or beats under 50 ms are not music: no background.
    if !(grid.beat_length_ms.is_finite() && grid.beat_length_ms >= 50.0 && grid.offset_ms.abs() < 1e9) {
        return;
    }
    let rate = spec.sample_rate as f64;
    let first = (-grid.offset_ms / grid.beat_length_ms).ceil() as i64;
    let beat_samples = (grid.beat_length_ms * rate / 1000.0) as usize;
    let attack = (0.030 * rate) as usize;
    let mut root = ROOTS_HZ[0];
    for beat in first.. {
        let start_ms = grid.offset_ms + beat as f64 * grid.beat_length_ms;
        let at = (start_ms * rate / 1000.0).round() as usize;
        if at >= out.len() {
            break;
        }
        if beat.rem_euclid(4) == 0 {
            root = ROOTS_HZ[(rng.next_u64() % ROOTS_HZ.len() as u64) as usize];
        }
        for (k, &ratio) in [1.0f32, 1.5].iter().enumerate() {
            let step = TAU * root * ratio / rate as f32;
            let level = BACKGROUND_LEVEL * if k == 0 { 0.7 } else { 0.3 };
            for i in 0..beat_samples.min(out.len() - at) {
                let rise = (i as f32 / attack as f32).min(1.0);
                let fall = (-(i as f64) / (beat_samples as f64 * 0.4)).exp() as f32;
                out[at + i] += level * rise * fall * (step * i as f32).sin();
            }
        }
    }
}

/// Sample indices where a hit starts in `samples`: the first sample above `threshold` after at
/// least `quiet_ms` below it. The test helper that checks onsets survive encoding.
#[cfg(test)]
pub(crate) fn find_onsets(samples: &[f32], rate: u32, threshold: f32, quiet_ms: f64) -> Vec<usize> {
    let quiet = (quiet_ms * rate as f64 / 1000.0) as usize;
    let mut onsets = Vec::new();
    let mut last_loud: Option<usize> = None;
    for (i, s) in samples.iter().enumerate() {
        if s.abs() > threshold {
            if last_loud.is_none_or(|l| i - l > quiet) {
                onsets.push(i);
            }
            last_loud = Some(i);
        }
    }
    onsets
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(events: Vec<AudioEvent>) -> RenderSpec {
        RenderSpec {
            sample_rate: 22_050,
            length_ms: 3000.0,
            beat_grid: BeatGrid { offset_ms: 120.0, beat_length_ms: 500.0 },
            events,
            seed: 42,
        }
    }

    fn at(time_ms: f64, kind: EventKind) -> AudioEvent {
        AudioEvent { time_ms, kind }
    }

    #[test]
    fn hits_start_on_their_sample_and_the_background_stays_quiet() {
        let events = vec![
            at(400.0, EventKind::Hit),
            at(900.0, EventKind::SliderStart),
            at(1500.0, EventKind::SliderEnd),
            at(2200.0, EventKind::Spinner),
            at(5000.0, EventKind::Hit),   // past the end: ignored
            at(f64::NAN, EventKind::Hit), // ignored, no panic
        ];
        let out = render_track(&spec(events));
        assert_eq!(out.len(), 66_150);
        let onsets = find_onsets(&out, 22_050, 0.2, 100.0);
        let expected: Vec<usize> =
            [400.0, 900.0, 1500.0, 2200.0].iter().map(|ms| (ms * 22.05f64).round() as usize).collect();
        assert_eq!(onsets, expected);
        // Background only: never above its level, and not silent.
        let quiet = &out[(3.0 * 2205.0) as usize..(3.9 * 2205.0) as usize];
        let peak = quiet.iter().fold(0.0f32, |m, s| m.max(s.abs()));
        assert!(peak > 0.005 && peak <= BACKGROUND_LEVEL, "background peak {peak}");
        // The slider tone sounds between its ends, long after the head's hit has died out.
        let mid = &out[(1.2 * 22_050.0) as usize..(1.3 * 22_050.0) as usize];
        let tone_peak = mid.iter().fold(0.0f32, |m, s| m.max(s.abs()));
        assert!(tone_peak > SLIDER_LEVEL * 0.8 && tone_peak < 0.2, "tone peak {tone_peak}");
    }

    #[test]
    fn renders_are_seeded_and_deterministic() {
        let events = vec![at(100.0, EventKind::Hit), at(700.0, EventKind::Hit)];
        let a = render_track(&spec(events.clone()));
        assert_eq!(a, render_track(&spec(events.clone())));
        let mut other_seed = spec(events);
        other_seed.seed = 43;
        assert_ne!(a, render_track(&other_seed));
    }

    #[test]
    fn bad_lengths_give_empty_audio() {
        for length_ms in [f64::NAN, -5.0, 0.0, f64::INFINITY] {
            let mut s = spec(vec![at(10.0, EventKind::Hit)]);
            s.length_ms = length_ms;
            assert!(render_track(&s).is_empty());
        }
        for grid in [(0.0, 0.0), (-1e300, 500.0), (1e300, 500.0), (f64::NAN, 500.0), (0.0, f64::INFINITY)] {
            let mut s = spec(vec![]);
            s.beat_grid = BeatGrid { offset_ms: grid.0, beat_length_ms: grid.1 };
            assert!(render_track(&s).iter().all(|x| *x == 0.0), "{grid:?}");
        }
    }
}
