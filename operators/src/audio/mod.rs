//! Audio in: any container/codec the data set uses → mono `f32` PCM at the feature sample rate.
//!
//! ```text
//!  bytes | path ──► decode (symphonia, gapless, container sniffed from the bytes; Opus at
//!                     │    the lowest native rate ≥ the target rate)
//!                     └─► downmix (mean of channels) ──► resample (rubato FFT) ──► MonoAudio
//! ```
//!
//! Supported: MP3, Ogg Vorbis, Ogg Opus (libopus), WAV (integer and float PCM), FLAC, AAC/M4A.
//! The file extension is never trusted: the data set stores Ogg and WAV under `.mp3`.
//! Every failure is an [`AudioError`] naming the input; nothing here panics on bad bytes.

mod decode;
mod error;
mod resample;
mod tags;
#[cfg(test)]
mod tests;

pub use decode::{DecodeOptions, DecodedAudio, MAX_SAMPLE_MAGNITUDE, decode_bytes, decode_count, decode_file};
pub use error::AudioError;
pub use resample::resample;
pub use tags::{SongTags, read_tags};

use std::path::Path;

/// Mono PCM samples at a known sample rate: what the feature extractor reads.
#[derive(Debug, Clone, PartialEq)]
pub struct MonoAudio {
    /// Samples in `[-1, 1]`, one channel.
    pub samples: Vec<f32>,
    /// Samples per second.
    pub sample_rate: u32,
}

impl MonoAudio {
    /// Length in seconds.
    pub fn seconds(&self) -> f64 {
        self.samples.len() as f64 / f64::from(self.sample_rate)
    }
}

/// Decodes a file and resamples it to `sample_rate` (the whole chain before features).
pub fn load_file(path: &Path, sample_rate: u32, opts: &DecodeOptions) -> Result<MonoAudio, AudioError> {
    let decoded = decode_file(path, &opts.clone().resampling_to(sample_rate))?;
    resample(&decoded.name, decoded.audio, sample_rate)
}

/// Decodes in-memory bytes (e.g. a tar member) named `name` and resamples to `sample_rate`.
pub fn load_bytes(name: &str, bytes: Vec<u8>, sample_rate: u32, opts: &DecodeOptions) -> Result<MonoAudio, AudioError> {
    let decoded = decode_bytes(name, bytes, &opts.clone().resampling_to(sample_rate))?;
    resample(&decoded.name, decoded.audio, sample_rate)
}
