//! Container probing and decoding with symphonia (plus libopus for Ogg Opus), downmixed to mono.

use std::fs::File;
use std::io::Cursor;
use std::path::Path;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};

use symphonia::core::audio::layouts::CHANNEL_LAYOUT_MONO;
use symphonia::core::codecs::audio::well_known::CODEC_ID_OPUS;
use symphonia::core::codecs::audio::{AudioCodecId, AudioDecoderOptions};
use symphonia::core::codecs::registry::CodecRegistry;
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, TrackType};
use symphonia::core::io::{MediaSource, MediaSourceStream};
use symphonia::core::meta::MetadataOptions;
use symphonia::core::units::Duration;

use super::{AudioError, MonoAudio};

/// Every decoder we can use: symphonia's enabled codecs plus libopus.
static CODECS: LazyLock<CodecRegistry> = LazyLock::new(|| {
    let mut registry = CodecRegistry::new();
    symphonia::default::register_enabled_codecs(&mut registry);
    registry.register_audio_decoder::<symphonia_adapter_libopus::OpusDecoder>();
    registry
});

/// Limits and hints applied while decoding.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodeOptions {
    /// Longest accepted audio, in seconds. Longer inputs fail with [`AudioError::TooLong`]
    /// (checked against the declared length first, then while decoding).
    pub max_seconds: f64,
    /// The rate the caller resamples to next, if known. A codec that decodes natively at
    /// several rates (Opus: 8, 12, 16, 24 or 48 kHz) then decodes at the lowest one at or above
    /// it: libopus band-limits in its MDCT domain before decimating, so the signal below the
    /// target's Nyquist frequency is the same, and the resampler has less to do (Opus at
    /// 24 kHz instead of 48 for features at 22,050 Hz). `None`: the stream's own rate.
    pub target_rate: Option<u32>,
}

/// The default limit: one hour, far above any osu! song.
pub const DEFAULT_MAX_SECONDS: f64 = 3600.0;

impl Default for DecodeOptions {
    fn default() -> Self {
        Self { max_seconds: DEFAULT_MAX_SECONDS, target_rate: None }
    }
}

impl DecodeOptions {
    /// These options, for a caller that resamples to `rate` next.
    pub fn resampling_to(self, rate: u32) -> Self {
        Self { target_rate: Some(rate), ..self }
    }
}

/// The rates libopus decodes at natively.
const OPUS_RATES: [u32; 5] = [8_000, 12_000, 16_000, 24_000, 48_000];

/// The rate to decode a stream of `codec` at `stream_rate` at, for a caller resampling to
/// `target` next (see [`DecodeOptions::target_rate`]): a rate that divides the stream's, so
/// packet trims scale exactly.
fn decode_rate(codec: AudioCodecId, stream_rate: u32, target: Option<u32>) -> u32 {
    match target {
        Some(target) if codec == CODEC_ID_OPUS => {
            OPUS_RATES.into_iter().find(|&r| r >= target && stream_rate.is_multiple_of(r)).unwrap_or(stream_rate)
        }
        _ => stream_rate,
    }
}

/// Decoded mono audio with what went wrong on the way.
#[derive(Debug, Clone)]
pub struct DecodedAudio {
    /// The input's name (path or member name), for messages.
    pub name: String,
    /// The stream's own sample rate.
    pub stream_rate: u32,
    /// Mono samples at the stream's rate, or at a lower native decode rate of its codec
    /// ([`DecodeOptions::target_rate`]).
    pub audio: MonoAudio,
    /// Channels of the source before the downmix.
    pub channels: usize,
    /// The codec's short name (`mp3`, `vorbis`, `opus`, ...).
    pub codec: String,
    /// Problems that were survived: skipped corrupt packets, a truncated tail.
    pub warnings: Vec<String>,
}

/// Decodes the file at `path`.
pub fn decode_file(path: &Path, opts: &DecodeOptions) -> Result<DecodedAudio, AudioError> {
    let name = path.display().to_string();
    let file = File::open(path).map_err(|source| AudioError::Io { input: name.clone(), source })?;
    let len = file.metadata().map_err(|source| AudioError::Io { input: name.clone(), source })?.len();
    if len == 0 {
        return Err(AudioError::Empty { input: name });
    }
    decode_source(name, Box::new(file), opts)
}

/// Decodes in-memory `bytes`; `name` identifies them in errors (e.g. `shard.tar:000042.opus`).
pub fn decode_bytes(name: &str, bytes: Vec<u8>, opts: &DecodeOptions) -> Result<DecodedAudio, AudioError> {
    if bytes.is_empty() {
        return Err(AudioError::Empty { input: name.to_owned() });
    }
    decode_source(name.to_owned(), Box::new(Cursor::new(bytes)), opts)
}

/// Decodes started by this process (see [`decode_count`]).
static DECODES: AtomicU64 = AtomicU64::new(0);

/// How many decodes ([`decode_bytes`], [`decode_file`]) this process has started: lets a run
/// prove that it decoded no audio, or only the new tracks.
pub fn decode_count() -> u64 {
    DECODES.load(Ordering::Relaxed)
}

fn decode_source(name: String, source: Box<dyn MediaSource>, opts: &DecodeOptions) -> Result<DecodedAudio, AudioError> {
    DECODES.fetch_add(1, Ordering::Relaxed);
    let stream = MediaSourceStream::new(source, Default::default());
    // No extension hint: the container is recognised from its bytes alone.
    let mut format = symphonia::default::get_probe()
        .probe(&Hint::new(), stream, FormatOptions::default(), MetadataOptions::default())
        .map_err(|e| AudioError::UnknownFormat { input: name.clone(), reason: e.to_string() })?;

    let track =
        format.default_track(TrackType::Audio).ok_or_else(|| AudioError::NoAudioTrack { input: name.clone() })?;
    let track_id = track.id;
    let params = track
        .codec_params
        .as_ref()
        .and_then(|p| p.audio())
        .ok_or_else(|| AudioError::NoAudioTrack { input: name.clone() })?
        .clone();
    let invalid = |reason: &str| AudioError::InvalidParameters { input: name.clone(), reason: reason.into() };
    let sample_rate = params.sample_rate.filter(|&r| r > 0).ok_or_else(|| invalid("no sample rate"))?;
    if let Some(channels) = &params.channels
        && channels.count() == 0
    {
        return Err(invalid("zero channels"));
    }
    let too_long = |frames: u64, rate: u32| AudioError::TooLong {
        input: name.clone(),
        seconds: frames as f64 / f64::from(rate),
        limit_seconds: opts.max_seconds,
    };
    if let Some(declared) = track.num_frames
        && declared > (opts.max_seconds * f64::from(sample_rate)) as u64
    {
        return Err(too_long(declared, sample_rate));
    }

    // Packet timestamps and trims stay in the stream's time base; the decoder's output is at
    // `rate`, `step` times fewer frames.
    let rate = decode_rate(params.codec, sample_rate, opts.target_rate);
    let step = u64::from(sample_rate / rate);
    let max_frames = (opts.max_seconds * f64::from(rate)) as u64;
    let mut decoder_params = params.clone();
    decoder_params.sample_rate = Some(rate);
    let source_channels = params.channels.as_ref().map_or(0, |c| c.count());
    if params.codec == CODEC_ID_OPUS && source_channels == 2 {
        // libopus downmixes a stereo stream itself, to the mean of the channels: in the MDCT
        // domain, so one inverse transform runs instead of two. (Multichannel Opus is not
        // plain Opus packets: the adapter refuses it, as before.)
        decoder_params.channels = Some(CHANNEL_LAYOUT_MONO);
    }
    let mut decoder = CODECS
        .make_audio_decoder(&decoder_params, &AudioDecoderOptions::default().gapless(true))
        .map_err(|e| match e {
            SymphoniaError::Unsupported(_) => {
                AudioError::UnsupportedCodec { input: name.clone(), codec: params.codec.to_string() }
            }
            other => invalid(&other.to_string()),
        })?;
    let codec = decoder.codec_info().short_name.to_string();

    let mut mono = Vec::with_capacity(track.num_frames.unwrap_or(0).min(max_frames) as usize);
    let mut interleaved: Vec<f32> = Vec::new();
    let mut warnings = Vec::new();
    let mut channels = source_channels;
    let mut first_error: Option<String> = None;
    let mut corrupt = 0usize;
    loop {
        let mut packet = match format.next_packet() {
            Ok(Some(packet)) => packet,
            Ok(None) => break,
            Err(SymphoniaError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                warnings.push(format!("{name}: stream ends early (truncated file); kept what decoded"));
                break;
            }
            Err(e) => {
                warnings.push(format!("{name}: demuxing stopped: {e}; kept what decoded"));
                first_error.get_or_insert_with(|| e.to_string());
                break;
            }
        };
        if packet.track_id != track_id {
            continue;
        }
        if step > 1 {
            packet.trim_start = Duration::new(packet.trim_start.get() / step);
            packet.trim_end = Duration::new(packet.trim_end.get() / step);
        }
        let buffer = match decoder.decode(&packet) {
            Ok(buffer) => buffer,
            Err(SymphoniaError::DecodeError(e)) => {
                // A corrupt packet: skip it, as players do.
                warnings.push(format!("{name}: skipped a corrupt packet: {e}"));
                first_error.get_or_insert_with(|| e.to_string());
                continue;
            }
            Err(e) => {
                warnings.push(format!("{name}: decoding stopped: {e}; kept what decoded"));
                first_error.get_or_insert_with(|| e.to_string());
                break;
            }
        };
        let ch = buffer.spec().channels().count();
        if ch == 0 {
            return Err(invalid("zero channels"));
        }
        if source_channels == 0 {
            channels = ch;
        }
        interleaved.resize(buffer.samples_interleaved(), 0.0);
        buffer.copy_to_slice_interleaved(&mut interleaved[..]);
        let start = mono.len();
        downmix_into(&interleaved, ch, &mut mono);
        corrupt += silence_corrupt(&mut mono[start..]);
        if mono.len() as u64 > max_frames {
            return Err(too_long(mono.len() as u64, rate));
        }
    }
    if mono.is_empty() {
        return Err(AudioError::NoAudio {
            input: name,
            reason: first_error.unwrap_or_else(|| "the stream holds no samples".into()),
        });
    }
    if corrupt > 0 {
        warnings.push(format!(
            "{name}: {corrupt} samples were not finite or beyond ±{MAX_SAMPLE_MAGNITUDE} (corrupt float PCM); made silent"
        ));
    }
    if warnings.len() > 8 {
        let more = warnings.len() - 8;
        warnings.truncate(8);
        warnings.push(format!("{name}: ... and {more} more problems"));
    }
    for w in &warnings {
        log::warn!("{w}");
    }
    Ok(DecodedAudio {
        name,
        stream_rate: sample_rate,
        audio: MonoAudio { samples: mono, sample_rate: rate },
        channels,
        codec,
        warnings,
    })
}

/// Largest sample magnitude kept (+36 dBFS): far above what any codec's overshoot reaches, far
/// below what overflows the resampler's FFT (a float WAV sample of 1e38 made rubato panic) or
/// the mel power.
pub const MAX_SAMPLE_MAGNITUDE: f32 = 64.0;

/// Sets the samples of `samples` that are NaN, infinite or beyond [`MAX_SAMPLE_MAGNITUDE`] to
/// silence (float PCM holds any bit pattern), so no later stage sees them; returns how many.
fn silence_corrupt(samples: &mut [f32]) -> usize {
    let mut count = 0;
    for s in samples.iter_mut().filter(|s| s.is_nan() || s.abs() > MAX_SAMPLE_MAGNITUDE) {
        *s = 0.0;
        count += 1;
    }
    count
}

/// Appends the mean of each interleaved frame's `channels` samples to `out`.
fn downmix_into(interleaved: &[f32], channels: usize, out: &mut Vec<f32>) {
    match channels {
        1 => out.extend_from_slice(interleaved),
        2 => out.extend(interleaved.chunks_exact(2).map(|f| (f[0] + f[1]) * 0.5)),
        n => {
            let scale = 1.0 / n as f32;
            out.extend(interleaved.chunks_exact(n).map(|f| f.iter().sum::<f32>() * scale));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opus_decodes_at_the_lowest_native_rate_that_keeps_the_target_band() {
        let opus = |stream, target| decode_rate(CODEC_ID_OPUS, stream, target);
        assert_eq!(opus(48_000, Some(22_050)), 24_000);
        assert_eq!(opus(48_000, Some(16_000)), 16_000);
        assert_eq!(opus(48_000, Some(44_100)), 48_000);
        assert_eq!(opus(48_000, Some(96_000)), 48_000, "never above the stream");
        assert_eq!(opus(48_000, None), 48_000);
        assert_eq!(opus(44_100, Some(22_050)), 44_100, "only rates that divide the stream's");
        assert_eq!(
            decode_rate(symphonia::core::codecs::audio::well_known::CODEC_ID_VORBIS, 44_100, Some(22_050)),
            44_100
        );
    }

    #[test]
    fn downmix_is_the_channel_mean() {
        let mut out = Vec::new();
        downmix_into(&[1.0, 0.0, 0.5, 0.5], 2, &mut out);
        downmix_into(&[0.3, 0.6, 0.9], 3, &mut out);
        assert_eq!(out, vec![0.5, 0.5, 0.6]);
    }
}
