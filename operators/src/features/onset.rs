//! Onset strength: librosa's spectral flux on the mel spectrogram in dB.
//!
//! ```text
//! mel power ─► dB = 10·log10(max(amin, S)), clipped to (song max − top_db)
//!           ─► flux[t] = mean_b max(0, dB[b, t] − dB[b, t − lag])
//!           ─► centered: shifted right by lag + n_fft / (2·hop) frames, leading frames 0
//! ```
//! Matches `librosa.onset.onset_strength(S=power_to_db(mel), lag, max_size=1, center=True)`.

use super::config::FeatureConfig;

/// Converts power to dB in place (librosa `power_to_db` with `ref = 1`), clipping everything to
/// at most `top_db` below the maximum of the whole slice.
pub fn power_to_db_in_place(values: &mut [f32], amin: f32, top_db: f32) {
    let mut max = f32::NEG_INFINITY;
    for v in values.iter_mut() {
        *v = 10.0 * v.max(amin).log10();
        max = max.max(*v);
    }
    let floor = max - top_db;
    for v in values.iter_mut() {
        *v = v.max(floor);
    }
}

/// Frames of leading zeros in the centered onset envelope.
pub fn onset_delay_frames(config: &FeatureConfig) -> usize {
    config.onset.lag + config.n_fft / (2 * config.hop_length)
}

/// Onset strength of a `[n_mels, frames]` row-major mel **power** spectrogram, written to `out`
/// (`frames` long). `scratch` receives the dB spectrogram (reused between calls).
pub fn onset_strength(
    config: &FeatureConfig,
    mel_power: &[f32],
    frames: usize,
    scratch: &mut Vec<f32>,
    out: &mut [f32],
) {
    let n_mels = config.n_mels;
    debug_assert_eq!(mel_power.len(), n_mels * frames);
    debug_assert_eq!(out.len(), frames);
    scratch.clear();
    scratch.extend_from_slice(mel_power);
    power_to_db_in_place(scratch, config.onset.amin, config.onset.top_db);

    let lag = config.onset.lag;
    let delay = onset_delay_frames(config);
    out.fill(0.0);
    if frames <= delay {
        return;
    }
    // out[t] = mean_b max(0, db[b, j + lag] − db[b, j]) with j = t − delay.
    let valid = &mut out[delay..];
    for band in scratch.chunks_exact(frames) {
        for (j, acc) in valid.iter_mut().enumerate() {
            let rise = band[j + lag] - band[j];
            if rise > 0.0 {
                *acc += rise;
            }
        }
    }
    let scale = 1.0 / n_mels as f32;
    for v in valid.iter_mut() {
        *v *= scale;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn db_clips_relative_to_the_global_max() {
        let mut v = vec![1.0, 1e-12, 100.0, 1e-9];
        power_to_db_in_place(&mut v, 1e-10, 80.0);
        assert_eq!(v, vec![0.0, -60.0, 20.0, -60.0]);
    }

    #[test]
    fn a_single_step_gives_one_delayed_spike() {
        let config = FeatureConfig { n_mels: 2, ..Default::default() };
        let frames = 10;
        // Both bands jump from 1 to 10 (0 dB → 10 dB) at frame 4.
        let band: Vec<f32> = (0..frames).map(|t| if t >= 4 { 10.0 } else { 1.0 }).collect();
        let mel = [band.clone(), band].concat();
        let mut out = vec![0.0; frames];
        onset_strength(&config, &mel, frames, &mut Vec::new(), &mut out);
        // Flux at j = 3 (frames 3 → 4), shown at t = j + delay = 3 + 3.
        let mut expected = vec![0.0; frames];
        expected[6] = 10.0;
        assert_eq!(out, expected);
    }
}
