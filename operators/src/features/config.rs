//! `FeatureConfig`: every knob of the feature extractor, with its defaults in one place.
//!
//! Presets live in `configs/features/`: `default.toml` (librosa conventions) and
//! `reference.toml` (the reference system's torchaudio mel).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::digest::stable_hash;

/// How frequencies map to the mel scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MelScale {
    /// Slaney's scale (linear below 1 kHz, logarithmic above): librosa's default.
    Slaney,
    /// The HTK formula `2595 log10(1 + f/700)`: torchaudio's default.
    Htk,
}

/// How each triangular mel filter is scaled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MelNorm {
    /// Divide each filter by its bandwidth (constant energy per band): librosa's default.
    Slaney,
    /// Peak 1 for every filter: torchaudio's default.
    None,
}

/// How the signal is padded on both sides for centered frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Padding {
    /// Zeros (librosa ≥ 0.10).
    Constant,
    /// Mirror without repeating the edge sample (torchaudio, older librosa).
    Reflect,
}

/// Highest [`FeatureConfig::sample_rate`] (Hz): the highest rate audio is distributed at.
pub const MAX_SAMPLE_RATE: u32 = 384_000;
/// Largest [`FeatureConfig::n_fft`] (samples): 2^16, 0.17 s at 384 kHz, 3 s at 22,050 Hz.
pub const MAX_N_FFT: usize = 65_536;
/// Most [`FeatureConfig::n_mels`]: far more bands than any mel front end uses, and the feature
/// rows (`n_mels + 1`) stay well inside the `u16` the shards store them in.
pub const MAX_N_MELS: usize = 4_096;
/// Largest [`OnsetConfig::lag`] (frames).
pub const MAX_ONSET_LAG: usize = 64;
/// Largest [`OnsetConfig::top_db`] (dB): more than the whole range of an f32 power.
pub const MAX_TOP_DB: f32 = 1_000.0;

/// Onset-strength parameters (librosa's `onset_strength` on the mel in dB).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OnsetConfig {
    /// Frames between the compared spectra (librosa `lag`): 1..=[`MAX_ONSET_LAG`].
    pub lag: usize,
    /// Floor of the power before taking dB (librosa `amin`): in (0, 1].
    pub amin: f32,
    /// dB values are clipped to `max - top_db`, the max taken over the whole song: in
    /// (0, [`MAX_TOP_DB`]].
    pub top_db: f32,
}

impl Default for OnsetConfig {
    fn default() -> Self {
        Self { lag: 1, amin: 1e-10, top_db: 80.0 }
    }
}

/// Version of the audio → features computation besides its config (decoding, resampling, mel,
/// onset): bump it when the same config starts giving other features, so that shards and
/// checkpoints made before are told apart by [`FeatureConfig::hash`] (a rerun over such an
/// output, or generation with such a checkpoint, is then refused rather than mixing the two).
/// 2: stereo Opus downmixed inside libopus (2026-12).
pub const FEATURES_VERSION: u32 = 2;

/// Everything that determines the `[n_mels + 1, T]` feature matrix of a song (with
/// [`FEATURES_VERSION`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FeatureConfig {
    /// Rate the audio is resampled to before analysis (Hz): 1,000..=[`MAX_SAMPLE_RATE`].
    pub sample_rate: u32,
    /// FFT size and window length (samples): even, 16..=[`MAX_N_FFT`].
    pub n_fft: usize,
    /// Samples between frames (441 at 22,050 Hz = 20 ms): 1..=`n_fft`.
    pub hop_length: usize,
    /// Mel bands: 1..=`n_fft / 2`, and at most [`MAX_N_MELS`].
    pub n_mels: usize,
    /// Lowest filter edge (Hz): 0 ≤ `f_min` < `f_max`.
    pub f_min: f32,
    /// Highest filter edge (Hz); `None` = Nyquist. At most Nyquist (`sample_rate / 2`).
    pub f_max: Option<f32>,
    /// Mel scale formula.
    pub mel_scale: MelScale,
    /// Filter normalisation.
    pub mel_norm: MelNorm,
    /// Edge padding of centered frames.
    pub padding: Padding,
    /// Divide the STFT by the window's L2 norm (torchaudio `normalized=True`).
    pub window_normalized: bool,
    /// Onset-strength channel.
    pub onset: OnsetConfig,
}

impl Default for FeatureConfig {
    fn default() -> Self {
        Self {
            sample_rate: 22_050,
            n_fft: 2048,
            hop_length: 441,
            n_mels: 128,
            f_min: 0.0,
            f_max: None,
            mel_scale: MelScale::Slaney,
            mel_norm: MelNorm::Slaney,
            padding: Padding::Constant,
            window_normalized: false,
            onset: OnsetConfig::default(),
        }
    }
}

/// A config file that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: cannot read config: {source}")]
    Io {
        /// The config file.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The TOML is malformed or has unknown or mistyped fields.
    #[error("{path}: invalid config: {message}")]
    Parse {
        /// The config file.
        path: String,
        /// The parser's message (names the offending field).
        message: String,
    },
    /// Values that parse but make no sense together.
    #[error("{path}: invalid config: {message}")]
    Invalid {
        /// The config file.
        path: String,
        /// What is wrong.
        message: String,
    },
}

/// Reads and parses a TOML config of type `T` from `path` (unknown fields are rejected by `T`).
pub fn read_toml<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, ConfigError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io { path: name.clone(), source })?;
    toml::from_str(&text).map_err(|e| ConfigError::Parse { path: name, message: e.to_string() })
}

impl FeatureConfig {
    /// Loads and validates a preset such as `configs/features/default.toml`.
    pub fn from_toml_file(path: &Path) -> Result<Self, ConfigError> {
        let config: Self = read_toml(path)?;
        config.validate().map_err(|message| ConfigError::Invalid { path: path.display().to_string(), message })?;
        Ok(config)
    }

    /// Checks that the values are usable together and within the bounds documented on each
    /// field (the error names the field).
    pub fn validate(&self) -> Result<(), String> {
        let nyquist = self.sample_rate as f32 / 2.0;
        if !(1000..=MAX_SAMPLE_RATE).contains(&self.sample_rate) {
            return Err(format!("sample_rate {} must be in 1000..={MAX_SAMPLE_RATE} Hz", self.sample_rate));
        }
        if !(16..=MAX_N_FFT).contains(&self.n_fft) || !self.n_fft.is_multiple_of(2) {
            return Err(format!("n_fft {} must be even and in 16..={MAX_N_FFT}", self.n_fft));
        }
        if self.hop_length == 0 || self.hop_length > self.n_fft {
            return Err(format!("hop_length {} must be in 1..=n_fft", self.hop_length));
        }
        if self.n_mels == 0 || self.n_mels > self.n_fft / 2 || self.n_mels > MAX_N_MELS {
            return Err(format!("n_mels {} must be in 1..=n_fft/2 and at most {MAX_N_MELS}", self.n_mels));
        }
        let f_max = self.f_max.unwrap_or(nyquist);
        if !(0.0 <= self.f_min && self.f_min < f_max && f_max <= nyquist) {
            return Err(format!("need 0 <= f_min ({}) < f_max ({f_max}) <= Nyquist ({nyquist})", self.f_min));
        }
        if !(1..=MAX_ONSET_LAG).contains(&self.onset.lag) {
            return Err(format!("onset.lag {} must be in 1..={MAX_ONSET_LAG}", self.onset.lag));
        }
        if !(self.onset.amin > 0.0 && self.onset.amin <= 1.0) {
            return Err(format!("onset.amin {} must be in (0, 1]", self.onset.amin));
        }
        if !(self.onset.top_db > 0.0 && self.onset.top_db <= MAX_TOP_DB) {
            return Err(format!("onset.top_db {} must be in (0, {MAX_TOP_DB}]", self.onset.top_db));
        }
        Ok(())
    }

    /// The stable hash of the config and of [`FEATURES_VERSION`]: the features it stands for
    /// (recorded with the `tracks/` shards and the checkpoints made from them).
    pub fn hash(&self) -> String {
        stable_hash(&(FEATURES_VERSION, self))
    }

    /// Rows of the feature matrix: the mel bands plus the onset channel.
    pub fn channels(&self) -> usize {
        self.n_mels + 1
    }

    /// Frames of a signal of `samples` samples (centered framing: `1 + samples / hop`).
    pub fn frames_for(&self, samples: usize) -> usize {
        1 + samples / self.hop_length
    }

    /// Seconds between frames.
    pub fn frame_seconds(&self) -> f64 {
        self.hop_length as f64 / f64::from(self.sample_rate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn preset(name: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/features").join(name)
    }

    #[test]
    fn default_preset_is_the_default() {
        assert_eq!(FeatureConfig::from_toml_file(&preset("default.toml")).unwrap(), FeatureConfig::default());
    }

    #[test]
    fn reference_preset_is_torchaudio_style() {
        let c = FeatureConfig::from_toml_file(&preset("reference.toml")).unwrap();
        assert_eq!(
            (c.mel_scale, c.mel_norm, c.padding, c.window_normalized),
            (MelScale::Htk, MelNorm::None, Padding::Reflect, true)
        );
        assert_ne!(c.hash(), FeatureConfig::default().hash());
    }

    #[test]
    fn unknown_fields_and_bad_values_are_rejected_with_the_file_name() {
        let dir = tempfile::tempdir().unwrap();
        let typo = dir.path().join("typo.toml");
        std::fs::write(&typo, "n_mel = 64\n").unwrap();
        let msg = FeatureConfig::from_toml_file(&typo).unwrap_err().to_string();
        assert!(msg.contains("typo.toml") && msg.contains("n_mel"), "{msg}");
        let bad = dir.path().join("bad.toml");
        std::fs::write(&bad, "hop_length = 0\n").unwrap();
        let msg = FeatureConfig::from_toml_file(&bad).unwrap_err().to_string();
        assert!(msg.contains("bad.toml") && msg.contains("hop_length"), "{msg}");
    }

    /// A field's name and a change that takes it out of bounds.
    type Case = (&'static str, fn(&mut FeatureConfig));

    #[test]
    fn every_numeric_field_is_bounded_and_the_refusal_names_it() {
        let with = |change: fn(&mut FeatureConfig)| {
            let mut c = FeatureConfig::default();
            change(&mut c);
            c.validate()
        };
        let cases: [Case; 16] = [
            ("sample_rate", |c| c.sample_rate = 999),
            ("sample_rate", |c| c.sample_rate = MAX_SAMPLE_RATE + 1),
            ("sample_rate", |c| c.sample_rate = u32::MAX),
            ("n_fft", |c| c.n_fft = 15),
            ("n_fft", |c| c.n_fft = MAX_N_FFT + 2),
            ("n_fft", |c| c.n_fft = usize::MAX - 1),
            ("hop_length", |c| c.hop_length = usize::MAX),
            // n_mels > 65,535 would wrap in the shards' u16 rows; the FFT is large enough for it.
            ("n_mels", |c| (c.n_fft, c.n_mels) = (MAX_N_FFT, 65_536)),
            ("n_mels", |c| (c.n_fft, c.n_mels) = (MAX_N_FFT, MAX_N_MELS + 1)),
            ("n_mels", |c| c.n_mels = 0),
            ("f_min", |c| c.f_min = f32::NAN),
            ("f_max", |c| c.f_max = Some(f32::INFINITY)),
            ("onset.lag", |c| c.onset.lag = MAX_ONSET_LAG + 1),
            ("onset.amin", |c| c.onset.amin = 2.0),
            ("onset.top_db", |c| c.onset.top_db = f32::INFINITY),
            ("onset.top_db", |c| c.onset.top_db = f32::NAN),
        ];
        for (field, change) in cases {
            let message = with(change).expect_err(field);
            assert!(message.contains(field), "{field}: {message}");
        }
        // The bounds themselves are usable.
        let mut top =
            FeatureConfig { sample_rate: MAX_SAMPLE_RATE, n_fft: MAX_N_FFT, n_mels: MAX_N_MELS, ..Default::default() };
        top.onset = OnsetConfig { lag: MAX_ONSET_LAG, amin: 1.0, top_db: MAX_TOP_DB };
        assert_eq!(top.validate(), Ok(()));
    }

    #[test]
    fn frame_count_matches_librosa() {
        // params.json: 30 s at 22,050 Hz → 1501 frames; the 3-minute song → 9001.
        let c = FeatureConfig::default();
        assert_eq!(c.frames_for(661_500), 1501);
        assert_eq!(c.frames_for(3_969_000), 9001);
    }
}
