//! The 129-channel feature matrix the model reads: 128 mel bands (power, linear) + onset strength.
//!
//! ```text
//! MonoAudio @ sample_rate ─► Stft (periodic Hann, centered, one frame at a time)
//!                          ─► MelFilterbank (sparse)  ─► rows 0..n_mels   (mel power)
//!                          ─► onset_strength (dB flux) ─► row n_mels      (onset)
//! ```
//! Shape `[n_mels + 1, T]`, row-major, `T = 1 + samples / hop`; frame `t` is centered on sample
//! `t · hop`. Defaults follow librosa 0.11 exactly (checked against its outputs in the tests).

mod config;
mod mel;
mod onset;
mod stft;
mod stored;

pub use config::{
    ConfigError, FEATURES_VERSION, FeatureConfig, MAX_N_FFT, MAX_N_MELS, MAX_ONSET_LAG, MAX_SAMPLE_RATE, MAX_TOP_DB,
    MelNorm, MelScale, OnsetConfig, Padding, read_toml,
};
pub use mel::{MelFilterbank, hz_to_mel, mel_edges_hz, mel_to_hz};
pub use onset::{onset_delay_frames, onset_strength, power_to_db_in_place};
pub use stft::{Stft, periodic_hann};
pub use stored::{StoredFeatures, decode_f16};

/// A `[channels, frames]` row-major matrix of features for one song.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureMatrix {
    /// Rows: `n_mels` mel bands, then the onset channel.
    pub channels: usize,
    /// Columns: one per hop.
    pub frames: usize,
    /// `channels × frames` values, row by row.
    pub data: Vec<f32>,
}

impl FeatureMatrix {
    /// One channel's values over time.
    pub fn row(&self, channel: usize) -> &[f32] {
        &self.data[channel * self.frames..(channel + 1) * self.frames]
    }

    /// The mel rows (all but the last), row-major.
    pub fn mel(&self) -> &[f32] {
        &self.data[..(self.channels - 1) * self.frames]
    }

    /// The onset-strength row (the last).
    pub fn onset(&self) -> &[f32] {
        self.row(self.channels - 1)
    }
}

/// Turns mono audio at the config's sample rate into a [`FeatureMatrix`].
#[derive(Debug)]
pub struct FeatureExtractor {
    config: FeatureConfig,
    stft: Stft,
    mel: MelFilterbank,
}

impl FeatureExtractor {
    /// Plans the FFT and builds the filterbank; `config` must be valid.
    pub fn new(config: FeatureConfig) -> Result<Self, String> {
        config.validate()?;
        Ok(Self { stft: Stft::new(&config), mel: MelFilterbank::new(&config), config })
    }

    /// The config this extractor was built from.
    pub fn config(&self) -> &FeatureConfig {
        &self.config
    }

    /// Rows `0..n_mels` filled with the mel power spectrogram; the onset row is left at zero.
    pub fn mel_spectrogram(&self, samples: &[f32]) -> FeatureMatrix {
        let frames = self.config.frames_for(samples.len());
        let channels = self.config.channels();
        let mut data = vec![0.0f32; channels * frames];
        self.stft.for_each_power_frame(samples, |t, power| {
            self.mel.project(power, |band, value| data[band * frames + t] = value);
        });
        FeatureMatrix { channels, frames, data }
    }

    /// Fills the onset row of a matrix made by [`Self::mel_spectrogram`].
    pub fn fill_onset(&self, matrix: &mut FeatureMatrix) {
        let split = (matrix.channels - 1) * matrix.frames;
        let (mel, onset) = matrix.data.split_at_mut(split);
        onset_strength(&self.config, mel, matrix.frames, &mut Vec::new(), onset);
    }

    /// The full `[n_mels + 1, T]` feature matrix of `samples`.
    pub fn extract(&self, samples: &[f32]) -> FeatureMatrix {
        let mut matrix = self.mel_spectrogram(samples);
        self.fill_onset(&mut matrix);
        matrix
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata;

    /// librosa's 30 s case: from its own 22,050 Hz samples to mel power and onset strength.
    #[test]
    fn first_30_seconds_match_librosa() {
        let y = testdata::npy_f32("reference/first30s/y22.npy");
        let mel_ref = testdata::npy_f32("reference/first30s/mel_power.npy");
        let onset_ref = testdata::npy_f32("reference/first30s/onset.npy");
        let features = FeatureExtractor::new(FeatureConfig::default()).unwrap().extract(&y);
        assert_eq!((features.channels, features.frames), (129, 1501));

        // Mel power: ≤ 1e-3 relative error on every bin above −60 dB of its frame's maximum.
        let frames = features.frames;
        let mut worst = 0.0f32;
        for t in 0..frames {
            let frame_max = (0..128).map(|b| mel_ref[b * frames + t]).fold(0.0f32, f32::max);
            for b in 0..128 {
                let (ours, theirs) = (features.data[b * frames + t], mel_ref[b * frames + t]);
                if theirs > frame_max * 1e-6 {
                    worst = worst.max((ours - theirs).abs() / theirs);
                }
            }
        }
        assert!(worst <= 1e-3, "worst mel relative error {worst}");

        // Onset strength: within 1e-3 of its maximum, frame for frame.
        let onset_max = onset_ref.iter().fold(0.0f32, |m, &x| m.max(x));
        let worst_onset = features.onset().iter().zip(&onset_ref).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        assert!(worst_onset <= 1e-3 * onset_max, "worst onset error {worst_onset} (max {onset_max})");
        assert!(features.onset()[..3].iter().all(|&v| v == 0.0), "librosa's leading zero frames");
    }

    #[test]
    fn short_and_empty_signals_give_well_formed_matrices() {
        let extractor = FeatureExtractor::new(FeatureConfig::default()).unwrap();
        for len in [0, 1, 440, 441, 3000] {
            let m = extractor.extract(&vec![0.1; len]);
            assert_eq!(m.frames, 1 + len / 441);
            assert_eq!(m.data.len(), 129 * m.frames);
            assert!(m.data.iter().all(|v| v.is_finite()));
        }
        let reflect = FeatureConfig { padding: Padding::Reflect, ..Default::default() };
        let m = FeatureExtractor::new(reflect).unwrap().extract(&[0.5]);
        assert!(m.data.iter().all(|v| v.is_finite()));
    }
}
