//! The one error type of audio loading. Every variant names the input it came from.

/// Why an audio input could not be turned into samples.
#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    /// The input could not be read from disk.
    #[error("{input}: cannot read file: {source}")]
    Io {
        /// The input (path or member name).
        input: String,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The input holds no bytes at all.
    #[error("{input}: empty file (0 bytes)")]
    Empty {
        /// The input (path or member name).
        input: String,
    },
    /// No known container matched the bytes (random data, text, an unknown format).
    #[error("{input}: not a recognised audio container ({reason})")]
    UnknownFormat {
        /// The input (path or member name).
        input: String,
        /// What the container probe said.
        reason: String,
    },
    /// The container holds no audio track.
    #[error("{input}: the container holds no audio track")]
    NoAudioTrack {
        /// The input (path or member name).
        input: String,
    },
    /// The audio track uses a codec we cannot decode.
    #[error("{input}: unsupported codec {codec}")]
    UnsupportedCodec {
        /// The input (path or member name).
        input: String,
        /// The codec as the container names it.
        codec: String,
    },
    /// The stream declares no channels, or no sample rate.
    #[error("{input}: invalid stream parameters: {reason}")]
    InvalidParameters {
        /// The input (path or member name).
        input: String,
        /// Which parameter is missing or invalid.
        reason: String,
    },
    /// The audio is longer than the configured maximum (a corrupt header or a runaway file).
    #[error("{input}: audio too long: {seconds:.0} s exceeds the limit of {limit_seconds:.0} s")]
    TooLong {
        /// The input (path or member name).
        input: String,
        /// The (declared or decoded-so-far) length in seconds.
        seconds: f64,
        /// The configured limit.
        limit_seconds: f64,
    },
    /// The stream was recognised but not a single sample could be decoded.
    #[error("{input}: no decodable audio ({reason})")]
    NoAudio {
        /// The input (path or member name).
        input: String,
        /// The first decoding problem met.
        reason: String,
    },
    /// The resampler rejected the input.
    #[error("{input}: cannot resample from {from} Hz to {to} Hz: {reason}")]
    Resample {
        /// The input (path or member name).
        input: String,
        /// Source rate.
        from: u32,
        /// Target rate.
        to: u32,
        /// The resampler's message.
        reason: String,
    },
}

impl AudioError {
    /// A short, stable category name (for reject logs and counters).
    pub fn kind(&self) -> &'static str {
        match self {
            AudioError::Io { .. } => "io",
            AudioError::Empty { .. } => "empty",
            AudioError::UnknownFormat { .. } => "unknown_format",
            AudioError::NoAudioTrack { .. } => "no_audio_track",
            AudioError::UnsupportedCodec { .. } => "unsupported_codec",
            AudioError::InvalidParameters { .. } => "invalid_parameters",
            AudioError::TooLong { .. } => "too_long",
            AudioError::NoAudio { .. } => "no_audio",
            AudioError::Resample { .. } => "resample",
        }
    }
}
