//! Audio → features: the one chain every command runs (`preprocess`, `generate`, `features`, the
//! benches), so what generation feeds the model is bit for bit what training read.
//!
//! ```text
//! bytes | path ─► decode ─► resample ─► STFT + mel ─► onset ─► FeatureMatrix (mel power, onset)
//!                                                          └─► StoredFeatures (dB, f16): the shards'
//!                                                              `tracks.features`, the model's input
//! ```

use std::path::Path;
use std::time::{Duration, Instant};

use crate::audio::{self, AudioError, DecodeOptions, MonoAudio};
use crate::features::{FeatureExtractor, FeatureMatrix, StoredFeatures};

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
    /// The stored form: mel dB and f16 rounding.
    pub store: Duration,
}

impl StageTimes {
    /// The whole chain.
    pub fn total(&self) -> Duration {
        self.decode + self.resample + self.mel + self.onset + self.store
    }

    /// One line of the stage times, as `mapflow features` and the demo print them, with the
    /// speed against `audio_seconds` of audio.
    pub fn describe(&self, audio_seconds: f64) -> String {
        format!(
            "decode {:.3} s, resample {:.3} s, stft+mel {:.3} s, onset {:.3} s, total {:.3} s ({:.0}x real time)",
            self.decode.as_secs_f64(),
            self.resample.as_secs_f64(),
            self.mel.as_secs_f64(),
            self.onset.as_secs_f64(),
            self.total().as_secs_f64(),
            audio_seconds / self.total().as_secs_f64()
        )
    }

    /// Stage-wise minimum of two runs (best-of-N timing).
    pub fn min(self, other: Self) -> Self {
        Self {
            decode: self.decode.min(other.decode),
            resample: self.resample.min(other.resample),
            mel: self.mel.min(other.mel),
            onset: self.onset.min(other.onset),
            store: self.store.min(other.store),
        }
    }
}

/// A featurized song.
#[derive(Debug)]
pub struct Featurized {
    /// The sample rate of the decoded stream (before resampling).
    pub source_rate: u32,
    /// Source channels before the downmix.
    pub channels: usize,
    /// Codec name.
    pub codec: String,
    /// The mono samples at the feature sample rate (the tempo estimator times onsets on them).
    pub audio: MonoAudio,
    /// The `[n_mels + 1, T]` matrix: mel power (linear) and onset strength.
    pub features: FeatureMatrix,
    /// The same matrix as the shards store it and the model reads it.
    pub stored: StoredFeatures,
    /// Per-stage timings.
    pub times: StageTimes,
}

impl Featurized {
    /// Seconds of audio.
    pub fn seconds(&self) -> f64 {
        self.audio.seconds()
    }
}

/// Where the audio comes from.
#[derive(Debug)]
pub enum AudioInput<'a> {
    /// A file on disk.
    File(&'a Path),
    /// In-memory bytes (a tar member, an archive entry) with a name for messages.
    Bytes(&'a str, Vec<u8>),
}

/// Runs the whole chain on one input. `decode` sets the decoder's limits; its target rate is
/// the extractor's sample rate whatever it says.
pub fn featurize(
    input: AudioInput<'_>,
    extractor: &FeatureExtractor,
    decode: &DecodeOptions,
) -> Result<Featurized, AudioError> {
    let sample_rate = extractor.config().sample_rate;
    let opts = decode.clone().resampling_to(sample_rate);
    let clock = Instant::now();
    let decoded = match input {
        AudioInput::File(path) => audio::decode_file(path, &opts)?,
        AudioInput::Bytes(name, bytes) => audio::decode_bytes(name, bytes, &opts)?,
    };
    let decode = clock.elapsed();
    let (source_rate, channels, codec) = (decoded.stream_rate, decoded.channels, decoded.codec.clone());
    let clock = Instant::now();
    let mono = audio::resample(&decoded.name, decoded.audio, sample_rate)?;
    let resample = clock.elapsed();
    let clock = Instant::now();
    let mut features = extractor.mel_spectrogram(&mono.samples);
    let mel = clock.elapsed();
    let clock = Instant::now();
    extractor.fill_onset(&mut features);
    let onset = clock.elapsed();
    let clock = Instant::now();
    let stored = StoredFeatures::encode(&features);
    let store = clock.elapsed();
    Ok(Featurized {
        source_rate,
        channels,
        codec,
        audio: mono,
        features,
        stored,
        times: StageTimes { decode, resample, mel, onset, store },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::FeatureConfig;

    #[test]
    fn file_and_bytes_give_the_same_features() {
        let path = crate::testdata::path("audio/formats/clicks.ogg");
        let extractor = FeatureExtractor::new(FeatureConfig::default()).unwrap();
        let opts = DecodeOptions::default();
        let from_file = featurize(AudioInput::File(&path), &extractor, &opts).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let from_bytes = featurize(AudioInput::Bytes("clicks.ogg", bytes), &extractor, &opts).unwrap();
        assert_eq!(from_file.stored, from_bytes.stored);
        assert_eq!(from_file.features, from_bytes.features);
        assert_eq!(from_file.stored, StoredFeatures::encode(&from_file.features));
        assert_eq!(from_file.audio.sample_rate, 22_050);
        assert_eq!(from_file.features.frames, 1 + from_file.audio.samples.len() / 441);
    }

    #[test]
    fn errors_name_the_input() {
        let extractor = FeatureExtractor::new(FeatureConfig::default()).unwrap();
        let error =
            featurize(AudioInput::Bytes("noise.bin", vec![7; 64]), &extractor, &DecodeOptions::default()).unwrap_err();
        assert!(error.to_string().starts_with("noise.bin: "), "{error}");
    }
}
