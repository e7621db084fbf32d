//! Audio → feature matrix with per-stage timings: the chain shared by `features`, `demo` and
//! `bench features`.
//!
//! ```text
//! bytes | path ─► decode ─► resample ─► STFT + mel ─► onset ─► FeatureMatrix
//! ```

use std::path::Path;
use std::time::{Duration, Instant};

use operators::audio::{self, AudioError, DecodeOptions, DecodedAudio, MonoAudio};
use operators::features::{FeatureExtractor, FeatureMatrix};

/// Wall time of each stage of one song.
#[derive(Debug, Clone, Copy, Default)]
pub struct StageTimes {
    /// Container parsing, decoding and downmix.
    pub decode: Duration,
    /// Sample-rate conversion.
    pub resample: Duration,
    /// STFT and mel projection.
    pub mel: Duration,
    /// dB conversion and onset strength.
    pub onset: Duration,
}

impl StageTimes {
    /// The whole chain.
    pub fn total(&self) -> Duration {
        self.decode + self.resample + self.mel + self.onset
    }

    /// Stage-wise minimum of two runs (best-of-N timing).
    pub fn min(self, other: Self) -> Self {
        Self {
            decode: self.decode.min(other.decode),
            resample: self.resample.min(other.resample),
            mel: self.mel.min(other.mel),
            onset: self.onset.min(other.onset),
        }
    }
}

/// A featurized song.
#[derive(Debug)]
pub struct Featurized {
    /// The decoded source (before resampling).
    pub source_rate: u32,
    /// Source channels before the downmix.
    pub channels: usize,
    /// Codec name.
    pub codec: String,
    /// Seconds of audio.
    pub seconds: f64,
    /// The `[129, T]` matrix.
    pub features: FeatureMatrix,
    /// Per-stage timings.
    pub times: StageTimes,
}

/// Where the audio comes from.
pub enum AudioInput<'a> {
    /// A file on disk.
    File(&'a Path),
    /// In-memory bytes with a name for messages.
    Bytes(&'a str, Vec<u8>),
}

/// Runs the whole chain on one input.
pub fn featurize(input: AudioInput<'_>, extractor: &FeatureExtractor) -> Result<Featurized, AudioError> {
    let opts = DecodeOptions::default().resampling_to(extractor.config().sample_rate);
    let clock = Instant::now();
    let decoded: DecodedAudio = match input {
        AudioInput::File(path) => audio::decode_file(path, &opts)?,
        AudioInput::Bytes(name, bytes) => audio::decode_bytes(name, bytes, &opts)?,
    };
    let decode = clock.elapsed();
    let (source_rate, channels, codec) = (decoded.stream_rate, decoded.channels, decoded.codec.clone());
    let clock = Instant::now();
    let mono: MonoAudio = audio::resample(&decoded.name, decoded.audio, extractor.config().sample_rate)?;
    let resample = clock.elapsed();
    let clock = Instant::now();
    let mut features = extractor.mel_spectrogram(&mono.samples);
    let mel = clock.elapsed();
    let clock = Instant::now();
    extractor.fill_onset(&mut features);
    let onset = clock.elapsed();
    Ok(Featurized {
        source_rate,
        channels,
        codec,
        seconds: mono.seconds(),
        features,
        times: StageTimes { decode, resample, mel, onset },
    })
}
