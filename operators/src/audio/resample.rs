//! Sample-rate conversion with rubato's synchronous FFT resampler.

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler};

use super::{AudioError, MonoAudio};

/// Input frames per FFT chunk. Larger chunks amortise the FFT better; 1024 keeps the
/// filter's delay (trimmed by rubato) small.
const CHUNK_FRAMES: usize = 1024;

/// Resamples `audio` to `target_rate`; returns it unchanged when the rates already match.
///
/// The output holds `ceil(len × target / source)` samples, aligned with the input (the
/// resampler's delay is removed), like librosa's `resample(..., fix=True)`.
pub fn resample(name: &str, audio: MonoAudio, target_rate: u32) -> Result<MonoAudio, AudioError> {
    if audio.sample_rate == target_rate {
        return Ok(audio);
    }
    let err = |reason: String| AudioError::Resample {
        input: name.to_owned(),
        from: audio.sample_rate,
        to: target_rate,
        reason,
    };
    let mut resampler =
        Fft::<f32>::new(audio.sample_rate as usize, target_rate as usize, CHUNK_FRAMES, 1, FixedSync::Input)
            .map_err(|e| err(e.to_string()))?;
    let input = InterleavedSlice::new(&audio.samples, 1, audio.samples.len()).map_err(|e| err(e.to_string()))?;
    let output = resampler.process_all(&input, audio.samples.len(), None).map_err(|e| err(e.to_string()))?;
    Ok(MonoAudio { samples: output.take_data(), sample_rate: target_rate })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(freq: f32, rate: u32, seconds: f32) -> Vec<f32> {
        let n = (rate as f32 * seconds) as usize;
        (0..n).map(|i| (std::f32::consts::TAU * freq * i as f32 / rate as f32).sin()).collect()
    }

    #[test]
    fn any_common_rate_reaches_22050_with_the_right_length_and_phase() {
        for rate in [8_000, 11_025, 16_000, 22_050, 32_000, 44_100, 48_000, 88_200, 96_000, 192_000] {
            let audio = MonoAudio { samples: sine(441.0, rate, 1.0), sample_rate: rate };
            let n_in = audio.samples.len();
            let out = resample("sine", audio, 22_050).unwrap();
            let expected_len = (n_in as f64 * 22_050.0 / f64::from(rate)).ceil() as usize;
            assert_eq!(out.samples.len(), expected_len, "rate {rate}");
            // Same sine at the new rate, aligned to within half an output sample (23 µs): at
            // 441 Hz a half-sample shift alone gives an error of sin(π·441/22050) ≈ 0.063.
            let reference = sine(441.0, 22_050, 1.0);
            let max_err = (2_000..20_000).map(|i| (out.samples[i] - reference[i]).abs()).fold(0.0f32, f32::max);
            assert!(max_err < 0.07, "rate {rate}: max error {max_err}");
        }
    }
}
