//! End-to-end checks of [`estimate_tempo`] on synthetic click tracks: samples → features → grid.

use super::*;
use crate::features::FeatureExtractor;

/// A click track at 22,050 Hz: a noise burst on every beat from `offset_s` (louder on every
/// fourth, starting with the one at `offset_s`), softer ones half-way between, and a low tone
/// that changes pitch each bar.
fn click_track(bpm: f64, offset_s: f64, seconds: f64) -> Vec<f32> {
    let rate = 22_050.0;
    let mut out = vec![0.0f32; (seconds * rate) as usize];
    let mut noise = 0x2545_f491_4f6c_dd1du64;
    let mut burst = |out: &mut [f32], at_s: f64, level: f32| {
        let at = (at_s * rate).round() as usize;
        for i in 0..(0.05 * rate) as usize {
            let Some(s) = out.get_mut(at + i) else { return };
            noise ^= noise << 13;
            noise ^= noise >> 7;
            noise ^= noise << 17;
            let white = (noise >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0;
            *s += level * (-(i as f32) / (0.01 * rate as f32)).exp() * white;
        }
    };
    let period = 60.0 / bpm;
    let first = (-offset_s / period).ceil() as i64;
    for n in first.. {
        let t = offset_s + n as f64 * period;
        if t >= seconds {
            break;
        }
        let downbeat = n.rem_euclid(4) == 0;
        burst(&mut out, t, if downbeat { 0.6 } else { 0.35 });
        burst(&mut out, t + period / 2.0, 0.15);
        let pitch = [110.0, 146.8, 130.8, 164.8][(n.div_euclid(4)).rem_euclid(4) as usize];
        let start = (t * rate).round() as usize;
        for i in 0..(period * rate) as usize {
            if let Some(s) = out.get_mut(start + i) {
                *s += 0.05 * (std::f64::consts::TAU * pitch * i as f64 / rate).sin() as f32;
            }
        }
    }
    out
}

fn estimate(samples: &[f32]) -> Result<TempoEstimate, TempoError> {
    estimate_from(samples, true)
}

/// The estimate from the features, and from the samples too when `with_samples`.
fn estimate_from(samples: &[f32], with_samples: bool) -> Result<TempoEstimate, TempoError> {
    let feature_config = FeatureConfig::default();
    let features = FeatureExtractor::new(feature_config.clone()).unwrap().extract(samples);
    let input = TempoInput {
        name: "clicks",
        features: &features,
        feature_config: &feature_config,
        samples: with_samples.then_some(samples),
    };
    estimate_tempo(&input, &TempoConfig::default())
}

/// Signed distance (ms) from `ms` to the nearest multiple of `spacing_ms` after `anchor_ms`.
fn off_grid_ms(ms: f64, anchor_ms: f64, spacing_ms: f64) -> f64 {
    let r = (ms - anchor_ms).rem_euclid(spacing_ms);
    if r > spacing_ms / 2.0 { r - spacing_ms } else { r }
}

#[test]
fn click_tracks_give_bpm_offset_and_downbeat() {
    // Offsets are not multiples of the 20 ms hop; 174.5 and 93.33 are not integer BPMs.
    for (bpm, offset_s) in [(120.0, 0.5), (174.5, 1.2345), (93.33, 0.0771), (222.0, 2.011), (140.0, 0.9)] {
        let est = estimate(&click_track(bpm, offset_s, 60.0)).unwrap();
        let beat_ms = 60_000.0 / bpm;
        assert!((est.bpm - bpm).abs() < 0.05, "{bpm}: {est:?}");
        let beat_error = off_grid_ms(est.offset_ms, offset_s * 1000.0, beat_ms);
        assert!(beat_error.abs() < 5.0, "{bpm} @ {offset_s}: offset off the beat by {beat_error} ms: {est:?}");
        let bar_error = off_grid_ms(est.offset_ms, offset_s * 1000.0, 4.0 * beat_ms);
        assert!(bar_error.abs() < 5.0, "{bpm} @ {offset_s}: not the downbeat ({bar_error} ms): {est:?}");
        assert!(est.steady && !est.low_confidence && est.confidence > 0.8, "{bpm}: {est:?}");
        assert!(est.offset_ms >= 0.0 && est.offset_ms < offset_s * 1000.0 + 4.0 * beat_ms, "{est:?}");
        assert_eq!(est.sections.len(), 1, "a steady song is one red line: {est:?}");
    }
}

#[test]
fn stored_features_alone_give_the_bpm_and_the_beat() {
    for (bpm, offset_s) in [(120.0, 0.5), (174.5, 1.2345), (93.33, 0.0771)] {
        let est = estimate_from(&click_track(bpm, offset_s, 60.0), false).unwrap();
        assert!((est.bpm - bpm).abs() < 0.05, "{bpm}: {est:?}");
        let beat_error = off_grid_ms(est.offset_ms, offset_s * 1000.0, 60_000.0 / bpm);
        assert!(beat_error.abs() < 15.0, "{bpm} @ {offset_s}: offset off the beat by {beat_error} ms: {est:?}");
    }
    assert!(matches!(estimate_from(&vec![0.0; 22_050 * 5], false), Err(TempoError::NoBeat { onsets: 0, .. })));
}

#[test]
fn a_tempo_change_is_flagged_and_gets_a_red_line_of_its_own() {
    let mut samples = click_track(150.0, 0.3, 30.0);
    samples.extend(click_track(165.0, 0.1, 30.0));
    let est = estimate(&samples).unwrap();
    assert!(est.low_confidence && !est.steady, "{est:?}");
    assert_eq!(est.sections.len(), 2, "{est:?}");
    let (first, second) = (est.sections[0], est.sections[1]);
    assert!((first.bpm - 150.0).abs() < 0.05 && (second.bpm - 165.0).abs() < 0.05, "{est:?}");
    assert!(off_grid_ms(first.time_ms, 300.0, 400.0).abs() < 5.0, "{est:?}");
    assert!(off_grid_ms(second.time_ms, 30_100.0, 60_000.0 / 165.0).abs() < 5.0, "{est:?}");
    assert!((second.time_ms - 30_100.0).abs() < 400.0, "the change is found where it is: {est:?}");
    // Every click of the second part lies on the estimated timing.
    let timing = est.timing();
    for n in 0..80 {
        let t = 30_100.0 + n as f64 * 60_000.0 / 165.0;
        let error = crate::metrics::grid::timing_agreement(&[t, t + 1.0], &timing, 5.0).unwrap();
        assert_eq!(error.within_tolerance, 1.0, "click {n} at {t} ms: {error:?}");
    }
}

#[test]
fn silence_and_bad_configs_are_errors() {
    let err = estimate(&vec![0.0; 22_050 * 5]).unwrap_err();
    assert!(matches!(&err, TempoError::NoBeat { name, onsets: 0, .. } if name == "clicks"), "{err}");
    assert!(err.to_string().starts_with("clicks: no beat found"));
    let samples = click_track(120.0, 0.5, 10.0);
    let feature_config = FeatureConfig::default();
    let features = FeatureExtractor::new(feature_config.clone()).unwrap().extract(&samples);
    let input =
        TempoInput { name: "clicks", features: &features, feature_config: &feature_config, samples: Some(&samples) };
    let bad = TempoConfig { min_bpm: 200.0, max_bpm: 100.0, ..Default::default() };
    assert!(matches!(estimate_tempo(&input, &bad), Err(TempoError::Config { .. })));
}

#[test]
fn estimates_are_deterministic() {
    let samples = click_track(174.5, 1.2345, 20.0);
    assert_eq!(estimate(&samples).unwrap(), estimate(&samples).unwrap());
}

/// The bundled drum & bass song (tests/data/reference: 174 BPM, beats from 0 s, kick on 1 and
/// 3½, snare on 2 and 4) through the MP3 decoder: the backbeat makes 87 BPM as periodic as 174,
/// and the kick alone pulses at 87; mappers and the song's maker say 174.
#[test]
fn the_bundled_drum_and_bass_song_is_at_174_bpm() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/reference/song.mp3");
    let feature_config = FeatureConfig::default();
    let audio = crate::audio::load_file(&path, feature_config.sample_rate, &Default::default()).unwrap();
    let features = FeatureExtractor::new(feature_config.clone()).unwrap().extract(&audio.samples);
    let input = TempoInput {
        name: "song.mp3",
        features: &features,
        feature_config: &feature_config,
        samples: Some(&audio.samples),
    };
    let est = estimate_tempo(&input, &TempoConfig::default()).unwrap();
    assert!((est.bpm - 174.0).abs() < 0.05, "{est:?}");
    let beat_error = off_grid_ms(est.offset_ms, 0.0, 60_000.0 / 174.0);
    assert!(beat_error.abs() < 5.0, "offset off the beat by {beat_error} ms: {est:?}");
    assert!(est.steady && !est.low_confidence, "{est:?}");
    assert_eq!(est.sections.len(), 1, "{est:?}");
}
