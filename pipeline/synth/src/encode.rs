//! Encoders for rendered audio, in the formats the data set holds.
//!
//! ```text
//!  mono f32 PCM ─┬─► (resample to 48 kHz) ─► libopus ─► Ogg (OpusHead, OpusTags, granules) = .opus
//!                ├─► LAME (CBR, Xing/LAME tag with delay and padding)              = .mp3
//!                └─► libvorbis (aoTuV) ─► Ogg                                       = .ogg
//! ```
//!
//! All three decode gaplessly with `operators::audio::decode_bytes`: Opus through the pre-skip
//! and the final granule position, MP3 through the LAME tag's delay/padding, Vorbis through its
//! granules. Ogg stream serials are derived from the file name, so output is deterministic.

use std::num::{NonZeroU8, NonZeroU32};

use thiserror::Error;

/// Opus works at 48 kHz; other rates are resampled first.
pub const OPUS_RATE: u32 = 48_000;
/// Opus frame: 20 ms at 48 kHz.
const OPUS_FRAME: usize = 960;
/// Opus packets per Ogg page (one second).
const OPUS_PACKETS_PER_PAGE: usize = 50;
/// The data set's `compressed` config: 64 kbps mono Opus.
pub const OPUS_BITRATE: i32 = 64_000;

/// An output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AudioFormat {
    /// Ogg Opus, 64 kbps (the `compressed` config).
    Opus,
    /// MP3, 128 kbps CBR.
    Mp3,
    /// Ogg Vorbis, quality 0.5.
    Vorbis,
}

impl AudioFormat {
    /// The usual file extension (the `original` config stores every format under `.mp3`).
    pub fn extension(self) -> &'static str {
        match self {
            Self::Opus => "opus",
            Self::Mp3 => "mp3",
            Self::Vorbis => "ogg",
        }
    }
}

/// An encoder failure, naming the file being encoded.
#[derive(Debug, Error)]
#[error("{input}: {format:?} encoding failed: {reason}")]
pub struct EncodeError {
    /// The name of the audio being encoded.
    pub input: String,
    /// The format.
    pub format: AudioFormat,
    /// What the encoder said.
    pub reason: String,
}

/// Encodes mono `samples` at `sample_rate` as `format`; `name` is for errors and the Ogg serial.
pub fn encode(format: AudioFormat, name: &str, samples: &[f32], sample_rate: u32) -> Result<Vec<u8>, EncodeError> {
    let fail = |reason: String| EncodeError { input: name.to_owned(), format, reason };
    if samples.is_empty() || sample_rate == 0 {
        return Err(fail("no audio to encode".into()));
    }
    match format {
        AudioFormat::Opus => encode_opus(name, samples, sample_rate).map_err(fail),
        AudioFormat::Mp3 => encode_mp3(samples, sample_rate).map_err(fail),
        AudioFormat::Vorbis => encode_vorbis(name, samples, sample_rate).map_err(fail),
    }
}

/// A stable Ogg stream serial for `name`.
fn serial_for(name: &str) -> u32 {
    let digest = operators::digest::sha256_hex(name.as_bytes());
    u32::from_str_radix(&digest[..8], 16).unwrap_or(1)
}

/// Owns a libopus encoder and frees it on drop.
struct OpusEncoder(*mut opusic_sys::OpusEncoder);

impl Drop for OpusEncoder {
    fn drop(&mut self) {
        // SAFETY: the pointer came from opus_encoder_create and is freed once.
        unsafe { opusic_sys::opus_encoder_destroy(self.0) }
    }
}

fn opus_error(what: &str, code: i32) -> String {
    // SAFETY: opus_strerror returns a static NUL-terminated string for any code.
    let text = unsafe { std::ffi::CStr::from_ptr(opusic_sys::opus_strerror(code)) };
    format!("{what}: {}", text.to_string_lossy())
}

fn encode_opus(name: &str, samples: &[f32], sample_rate: u32) -> Result<Vec<u8>, String> {
    let pcm: Vec<f32> = if sample_rate == OPUS_RATE {
        samples.to_vec()
    } else {
        let mono = operators::audio::MonoAudio { samples: samples.to_vec(), sample_rate };
        operators::audio::resample(name, mono, OPUS_RATE).map_err(|e| e.to_string())?.samples
    };
    let mut error = 0;
    // SAFETY: plain FFI constructor; the result is checked before use.
    let raw =
        unsafe { opusic_sys::opus_encoder_create(OPUS_RATE as i32, 1, opusic_sys::OPUS_APPLICATION_AUDIO, &mut error) };
    if raw.is_null() || error != opusic_sys::OPUS_OK {
        return Err(opus_error("opus_encoder_create", error));
    }
    let encoder = OpusEncoder(raw);
    let mut lookahead: i32 = 0;
    // SAFETY: valid encoder; the requests take an int and an int pointer as libopus documents.
    unsafe {
        let rc = opusic_sys::opus_encoder_ctl(encoder.0, opusic_sys::OPUS_SET_BITRATE_REQUEST, OPUS_BITRATE);
        if rc != opusic_sys::OPUS_OK {
            return Err(opus_error("set bitrate", rc));
        }
        let rc =
            opusic_sys::opus_encoder_ctl(encoder.0, opusic_sys::OPUS_GET_LOOKAHEAD_REQUEST, &mut lookahead as *mut i32);
        if rc != opusic_sys::OPUS_OK {
            return Err(opus_error("get lookahead", rc));
        }
    }
    let pre_skip = lookahead.max(0) as usize;

    let serial = serial_for(name);
    let mut ogg = ogg::PacketWriter::new(Vec::new());
    let write = |ogg: &mut ogg::PacketWriter<Vec<u8>>, packet: Vec<u8>, end: ogg::PacketWriteEndInfo, granule: u64| {
        ogg.write_packet(packet, serial, end, granule).map_err(|e| format!("ogg: {e}"))
    };
    let mut head = b"OpusHead".to_vec();
    head.push(1); // version
    head.push(1); // channels
    head.extend_from_slice(&(pre_skip as u16).to_le_bytes());
    head.extend_from_slice(&sample_rate.to_le_bytes()); // the input's rate, informational
    head.extend_from_slice(&0i16.to_le_bytes()); // output gain
    head.push(0); // channel mapping family 0: mono/stereo
    write(&mut ogg, head, ogg::PacketWriteEndInfo::EndPage, 0)?;
    let vendor = b"mapflow synth";
    let mut tags = b"OpusTags".to_vec();
    tags.extend_from_slice(&(vendor.len() as u32).to_le_bytes());
    tags.extend_from_slice(vendor);
    tags.extend_from_slice(&0u32.to_le_bytes());
    write(&mut ogg, tags, ogg::PacketWriteEndInfo::EndPage, 0)?;

    // Encode pre_skip samples past the end so the decoder's delay leaves every input sample.
    let total = pcm.len() + pre_skip;
    let frames = total.div_ceil(OPUS_FRAME);
    let mut frame = vec![0.0f32; OPUS_FRAME];
    let mut packet = vec![0u8; 4000];
    for index in 0..frames {
        let start = index * OPUS_FRAME;
        frame.fill(0.0);
        if start < pcm.len() {
            let end = (start + OPUS_FRAME).min(pcm.len());
            frame[..end - start].copy_from_slice(&pcm[start..end]);
        }
        // SAFETY: frame holds OPUS_FRAME samples, packet has the stated capacity.
        let len = unsafe {
            opusic_sys::opus_encode_float(
                encoder.0,
                frame.as_ptr(),
                OPUS_FRAME as i32,
                packet.as_mut_ptr(),
                packet.len() as i32,
            )
        };
        if len < 0 {
            return Err(opus_error("opus_encode_float", len));
        }
        let last = index + 1 == frames;
        // Granule = samples decoded through this packet (pre-skip included); the last one is
        // cut to the real end, which tells the decoder to drop the padding.
        let granule = if last { (pre_skip + pcm.len()) as u64 } else { ((index + 1) * OPUS_FRAME) as u64 };
        let end = if last {
            ogg::PacketWriteEndInfo::EndStream
        } else if (index + 1) % OPUS_PACKETS_PER_PAGE == 0 {
            ogg::PacketWriteEndInfo::EndPage
        } else {
            ogg::PacketWriteEndInfo::NormalPacket
        };
        write(&mut ogg, packet[..len as usize].to_vec(), end, granule)?;
    }
    Ok(ogg.into_inner())
}

fn encode_mp3(samples: &[f32], sample_rate: u32) -> Result<Vec<u8>, String> {
    use mp3lame_encoder::{Bitrate, Builder, FlushGap, MonoPcm, Quality};
    let mut encoder = Builder::new()
        .ok_or("cannot create a LAME encoder")?
        .with_num_channels(1)
        .and_then(|b| b.with_sample_rate(sample_rate))
        .and_then(|b| b.with_brate(Bitrate::Kbps128))
        .and_then(|b| b.with_quality(Quality::Good))
        .and_then(|b| b.with_to_write_vbr_tag(true))
        .and_then(|b| b.build())
        .map_err(|e| format!("LAME setup: {e}"))?;
    let mut out = Vec::with_capacity(mp3lame_encoder::max_required_buffer_size(samples.len()));
    encoder.encode_to_vec(MonoPcm(samples), &mut out).map_err(|e| format!("LAME: {e}"))?;
    out.reserve(7200);
    encoder.flush_to_vec::<FlushGap>(&mut out).map_err(|e| format!("LAME flush: {e}"))?;
    // The first frame is a placeholder for the Xing/LAME tag (encoder delay and padding, which
    // make decoding gapless); fill it in now that the totals are known.
    let mut tag = Vec::with_capacity(encoder.lame_tag_size());
    if encoder.lame_tag_encode_to_vec(&mut tag).is_some() && tag.len() <= out.len() {
        out[..tag.len()].copy_from_slice(&tag);
    }
    Ok(out)
}

fn encode_vorbis(name: &str, samples: &[f32], sample_rate: u32) -> Result<Vec<u8>, String> {
    use vorbis_rs::{VorbisBitrateManagementStrategy, VorbisEncoderBuilder};
    let rate = NonZeroU32::new(sample_rate).ok_or("zero sample rate")?;
    let mut encoder = VorbisEncoderBuilder::new_with_serial(rate, NonZeroU8::MIN, Vec::new(), serial_for(name) as i32)
        .bitrate_management_strategy(VorbisBitrateManagementStrategy::QualityVbr { target_quality: 0.5 })
        .build()
        .map_err(|e| format!("vorbis setup: {e}"))?;
    for block in samples.chunks(4096) {
        encoder.encode_audio_block([block]).map_err(|e| format!("vorbis: {e}"))?;
    }
    encoder.finish().map_err(|e| format!("vorbis finish: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::{AudioEvent, BeatGrid, EventKind, RenderSpec, find_onsets, render_track};

    /// Clicks every 350 ms from 250 ms, with the background and one slider.
    fn clicks(sample_rate: u32) -> (Vec<f32>, Vec<f64>) {
        let mut times: Vec<f64> = (0..12).map(|i| 250.0 + 350.0 * i as f64).collect();
        times.push(4600.0);
        let mut events: Vec<AudioEvent> =
            times.iter().map(|&t| AudioEvent { time_ms: t, kind: EventKind::Hit }).collect();
        events[5].kind = EventKind::SliderStart;
        events[6].kind = EventKind::SliderEnd;
        let spec = RenderSpec {
            sample_rate,
            length_ms: 4_812.5,
            beat_grid: BeatGrid { offset_ms: 80.0, beat_length_ms: 400.0 },
            events,
            seed: 9,
        };
        (render_track(&spec), times)
    }

    /// Encodes, decodes with the pipeline's decoder (resampling to `target` next, if given),
    /// and checks length and onsets.
    fn round_trip(format: AudioFormat, sample_rate: u32, length_slack: usize, target: Option<u32>) {
        let (pcm, times) = clicks(sample_rate);
        let name = format!("clicks-{sample_rate}.{}", format.extension());
        let bytes = encode(format, &name, &pcm, sample_rate).unwrap();
        assert_eq!(bytes, encode(format, &name, &pcm, sample_rate).unwrap(), "{format:?} is not deterministic");
        let options = operators::audio::DecodeOptions { target_rate: target, ..Default::default() };
        let decoded = operators::audio::decode_bytes(&name, bytes, &options).unwrap();
        let rate = decoded.audio.sample_rate;
        let expected_len = (pcm.len() as f64 * rate as f64 / sample_rate as f64).round() as usize;
        let got_len = decoded.audio.samples.len();
        assert!(
            got_len.abs_diff(expected_len) <= length_slack,
            "{format:?} @ {sample_rate}: {got_len} samples decoded, {expected_len} expected"
        );
        let onsets = find_onsets(&decoded.audio.samples, rate, 0.2, 100.0);
        let found_ms: Vec<f64> = onsets.iter().map(|&i| i as f64 * 1000.0 / rate as f64).collect();
        assert_eq!(found_ms.len(), times.len(), "{format:?} @ {sample_rate}: onsets at {found_ms:?}");
        for (found, want) in found_ms.iter().zip(&times) {
            assert!(
                (found - want).abs() <= 2.0,
                "{format:?} @ {sample_rate}: onset at {found:.2} ms, expected {want} ms"
            );
        }
    }

    #[test]
    fn opus_round_trip_is_gapless_with_onsets_in_place() {
        round_trip(AudioFormat::Opus, 48_000, 0, None);
        round_trip(AudioFormat::Opus, 44_100, 0, None);
        // Decoded at 24 kHz (for features at 22,050 Hz): trims halved, within a sample.
        round_trip(AudioFormat::Opus, 48_000, 1, Some(22_050));
        round_trip(AudioFormat::Opus, 44_100, 1, Some(22_050));
    }

    #[test]
    fn mp3_round_trip_keeps_length_and_onsets() {
        // Exact to the sample: symphonia reads the LAME tag's delay and padding. (A decoder
        // that ignores the tag would give up to one frame, 1152 samples, more.)
        round_trip(AudioFormat::Mp3, 44_100, 0, None);
        round_trip(AudioFormat::Mp3, 22_050, 0, None);
    }

    #[test]
    fn vorbis_round_trip_is_gapless_with_onsets_in_place() {
        round_trip(AudioFormat::Vorbis, 44_100, 0, None);
        round_trip(AudioFormat::Vorbis, 22_050, 0, None);
    }

    #[test]
    fn empty_audio_is_an_error_naming_the_input() {
        let err = encode(AudioFormat::Opus, "song-3.opus", &[], 44_100).unwrap_err();
        assert_eq!(err.to_string(), "song-3.opus: Opus encoding failed: no audio to encode");
    }
}
