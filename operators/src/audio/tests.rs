//! Decoding real files of every supported codec, and every kind of bad input.

use super::*;
use crate::testdata;

fn decode_fixture(relative: &str) -> DecodedAudio {
    decode_file(&testdata::path(relative), &DecodeOptions::default()).unwrap_or_else(|e| panic!("{e}"))
}

/// Index of the first click (largest sample-to-sample jump in the first 0.5 s).
fn first_click(audio: &MonoAudio) -> f64 {
    let n = (audio.sample_rate / 2) as usize;
    let (mut best, mut at) = (0.0f32, 0);
    for i in 1..n {
        let jump = (audio.samples[i] - audio.samples[i - 1]).abs();
        if jump > best {
            (best, at) = (jump, i);
        }
    }
    at as f64 / f64::from(audio.sample_rate)
}

#[test]
fn every_codec_decodes_gapless_and_aligned() {
    for (file, codec) in [
        ("audio/formats/clicks-s16.wav", "pcm_s16le"),
        ("audio/formats/clicks-f32.wav", "pcm_f32le"),
        ("audio/formats/clicks.flac", "flac"),
        ("audio/formats/clicks.mp3", "mp3"),
        ("audio/formats/clicks-44k.mp3", "mp3"),
        ("audio/formats/clicks.ogg", "vorbis"),
        ("audio/formats/clicks.opus", "opus"),
    ] {
        let decoded = decode_fixture(file);
        assert_eq!(decoded.codec, codec, "{file}");
        let seconds = decoded.audio.seconds();
        assert!((seconds - 2.0).abs() < 0.002, "{file}: {seconds} s, expected 2 s (gapless)");
        // The first click is at 0.25 s in the source; encoder delay must be removed.
        let click = first_click(&decoded.audio);
        assert!((click - 0.25).abs() < 0.0015, "{file}: first click at {click:.5} s, expected 0.25 s");
        assert!(decoded.warnings.is_empty(), "{file}: {:?}", decoded.warnings);
    }
}

#[test]
fn opus_decodes_at_the_lowest_native_rate_at_or_above_the_target() {
    let path = testdata::path("audio/formats/clicks.opus");
    let full = decode_fixture("audio/formats/clicks.opus");
    let low = decode_file(&path, &DecodeOptions::default().resampling_to(22_050)).unwrap();
    assert_eq!((full.audio.sample_rate, low.stream_rate, low.audio.sample_rate), (48_000, 48_000, 24_000));
    assert!((low.audio.seconds() - full.audio.seconds()).abs() < 1e-4, "gapless at both rates");
    assert!((first_click(&low.audio) - 0.25).abs() < 0.0015, "aligned at both rates");
    // At 22,050 Hz both give the same features: libopus band-limits before it decimates.
    let extractor = crate::features::FeatureExtractor::new(Default::default()).unwrap();
    let features = |audio: MonoAudio| extractor.extract(&resample("clicks", audio, 22_050).unwrap().samples);
    let (a, b) = (features(full.audio), features(low.audio));
    assert_eq!(a.frames, b.frames);
    let db = |m: &crate::features::FeatureMatrix| {
        let mut mel = m.mel().to_vec();
        crate::features::power_to_db_in_place(&mut mel, 1e-10, 80.0);
        mel
    };
    let (a_db, b_db) = (db(&a), db(&b));
    let mean_db = a_db.iter().zip(&b_db).map(|(x, y)| (x - y).abs()).sum::<f32>() / a_db.len() as f32;
    assert!(mean_db < 0.2, "mel differs by {mean_db} dB on average");
    let onset_peak = a.onset().iter().copied().fold(0.0f32, f32::max);
    let onset_diff = a.onset().iter().zip(b.onset()).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
    assert!(onset_diff < 0.05 * onset_peak, "onset strength differs by up to {onset_diff} (peak {onset_peak})");
    // Other codecs keep the stream's rate.
    let mp3 = decode_file(&testdata::path("audio/formats/clicks.mp3"), &DecodeOptions::default().resampling_to(22_050))
        .unwrap();
    assert_eq!(mp3.audio.sample_rate, mp3.stream_rate);
}

#[test]
fn stereo_opus_decodes_to_the_mean_of_its_channels() {
    // Left: a 440 Hz tone; right: clicks over a 660 Hz tone (see make_formats.sh).
    let opus = decode_fixture("audio/formats/stereo.opus");
    let flac = decode_fixture("audio/formats/stereo.flac");
    assert_eq!((opus.channels, flac.channels), (2, 2), "the source's channel count is reported");
    assert_eq!(opus.audio.samples.len(), flac.audio.samples.len());
    let rms = |x: &mut dyn Iterator<Item = f32>| {
        let (sum, n) = x.fold((0.0f64, 0usize), |(s, n), v| (s + f64::from(v).powi(2), n + 1));
        (sum / n as f64).sqrt()
    };
    let mean = &flac.audio.samples;
    let error = rms(&mut opus.audio.samples.iter().zip(mean).map(|(a, b)| a - b));
    let signal = rms(&mut mean.iter().copied());
    // One channel alone would miss by as much as the signal: the channels are uncorrelated.
    assert!(error < 0.1 * signal, "Opus mono vs lossless channel mean: error RMS {error:.4}, signal {signal:.4}");
}

#[test]
fn container_is_sniffed_from_bytes_not_the_name() {
    let bytes = std::fs::read(testdata::path("audio/test-sample.ogg")).unwrap();
    let decoded = decode_bytes("000042.mp3", bytes, &DecodeOptions::default()).unwrap();
    assert_eq!(decoded.codec, "vorbis");
    let audio = load_file(&testdata::path("audio/test-sample.mp3"), 22_050, &DecodeOptions::default()).unwrap();
    assert_eq!(audio.sample_rate, 22_050);
    assert!(audio.seconds() > 2.0);
}

fn expect_error(name: &str, bytes: Vec<u8>, opts: &DecodeOptions, kind: &str) {
    let err = decode_bytes(name, bytes, opts).expect_err(name);
    assert_eq!(err.kind(), kind, "{name}: {err}");
    assert!(err.to_string().starts_with(name), "error must name the input: {err}");
}

/// A canonical 44-byte WAV header: `format` tag, `channels`, 48 kHz, 16 bit, `data_len` bytes.
fn wav_header(format: u16, channels: u16, data_len: u32) -> Vec<u8> {
    let rate = 48_000u32;
    let align = channels.max(1) * 2;
    let mut h = Vec::new();
    h.extend_from_slice(b"RIFF");
    h.extend_from_slice(&(36 + data_len).to_le_bytes());
    h.extend_from_slice(b"WAVEfmt ");
    h.extend_from_slice(&16u32.to_le_bytes());
    h.extend_from_slice(&format.to_le_bytes());
    h.extend_from_slice(&channels.to_le_bytes());
    h.extend_from_slice(&rate.to_le_bytes());
    h.extend_from_slice(&(rate * u32::from(align)).to_le_bytes());
    h.extend_from_slice(&align.to_le_bytes());
    h.extend_from_slice(&16u16.to_le_bytes());
    h.extend_from_slice(b"data");
    h.extend_from_slice(&data_len.to_le_bytes());
    h
}

#[test]
fn bad_inputs_give_typed_errors_naming_the_input() {
    let opts = DecodeOptions::default();
    expect_error("empty.mp3", Vec::new(), &opts, "empty");
    // Deterministic pseudo-random bytes.
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let noise: Vec<u8> = (0..65_536)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    expect_error("noise.mp3", noise, &opts, "unknown_format");
    expect_error("text.ogg", b"this is not audio at all\n".repeat(100), &opts, "unknown_format");

    let mut zero_channels = wav_header(1, 0, 4_000);
    zero_channels.extend(vec![0u8; 4_000]);
    let err = decode_bytes("zero-channels.wav", zero_channels, &opts).unwrap_err();
    assert!(err.to_string().starts_with("zero-channels.wav"), "{err}");
    assert!(matches!(err.kind(), "invalid_parameters" | "unknown_format"), "{err}");

    let mut wma = wav_header(0x0161, 2, 4_000);
    wma.extend(vec![0u8; 4_000]);
    let err = decode_bytes("wma-in-wav.wav", wma, &opts).unwrap_err();
    assert!(err.to_string().starts_with("wma-in-wav.wav"), "{err}");
    assert!(matches!(err.kind(), "unsupported_codec" | "unknown_format"), "{err}");

    // A header declaring ~6 hours of audio: refused before decoding anything.
    let mut huge = wav_header(1, 2, 0xFFFF_0000);
    huge.extend(vec![0u8; 4_000]);
    expect_error("six-hours.wav", huge, &opts, "too_long");
    // Real audio beyond a configured limit is caught while decoding.
    let bytes = std::fs::read(testdata::path("audio/formats/clicks.ogg")).unwrap();
    expect_error("clicks.ogg", bytes, &DecodeOptions { max_seconds: 0.5, ..Default::default() }, "too_long");

    let missing = decode_file(std::path::Path::new("/nonexistent/song.mp3"), &opts).unwrap_err();
    assert_eq!(missing.kind(), "io");
    assert!(missing.to_string().contains("/nonexistent/song.mp3"));
}

/// A mono 48 kHz float WAV (format 3, 32 bit) of `samples`.
fn float_wav(samples: &[f32]) -> Vec<u8> {
    let mut wav = wav_header(3, 1, (samples.len() * 4) as u32);
    wav[28..32].copy_from_slice(&(48_000u32 * 4).to_le_bytes());
    wav[32..34].copy_from_slice(&4u16.to_le_bytes());
    wav[34..36].copy_from_slice(&32u16.to_le_bytes());
    wav.extend(samples.iter().flat_map(|s| s.to_le_bytes()));
    wav
}

#[test]
fn corrupt_float_samples_decode_as_silence_with_a_warning() {
    // Found by operators/tests/fuzz.rs: bit flips in a float WAV gave NaN features, and a sample
    // of 1e38 made the resampler's FFT overflow and rubato panic.
    let samples = [0.5f32, f32::NAN, -0.25, f32::INFINITY, f32::NEG_INFINITY, 0.125, 1e30, -3e38, 1.5];
    let decoded = decode_bytes("corrupt.wav", float_wav(&samples), &DecodeOptions::default()).unwrap();
    assert_eq!(decoded.audio.samples, vec![0.5, 0.0, -0.25, 0.0, 0.0, 0.125, 0.0, 0.0, 1.5]);
    assert!(
        decoded.warnings.iter().any(|w| w.starts_with("corrupt.wav:") && w.contains("5 samples were not finite")),
        "{:?}",
        decoded.warnings
    );
    let mut second: Vec<f32> = (0..48_000).map(|i| (i as f32 * 0.05).sin() * 0.5).collect();
    second[1000] = 1e38;
    let resampled = load_bytes("loud.wav", float_wav(&second), 22_050, &DecodeOptions::default()).unwrap();
    assert!(resampled.samples.iter().all(|s| s.abs() <= 2.0), "resampled without overflow");
}

#[test]
fn truncated_mp3_decodes_what_it_can_or_names_the_file() {
    let path = testdata::path("audio/test-sample-cut.mp3");
    match decode_file(&path, &DecodeOptions::default()) {
        Ok(decoded) => {
            assert!(!decoded.audio.samples.is_empty());
            assert!(decoded.audio.seconds() < 0.5, "a 2 KB cut holds well under a second");
        }
        Err(e) => assert!(e.to_string().contains("test-sample-cut.mp3"), "{e}"),
    }
    // A real file cut in half keeps its first half, with a warning.
    let whole = std::fs::read(testdata::path("audio/formats/clicks.flac")).unwrap();
    let half = whole[..whole.len() / 2].to_vec();
    let decoded = decode_bytes("half.flac", half, &DecodeOptions::default()).unwrap();
    assert!(decoded.audio.seconds() > 0.5 && decoded.audio.seconds() < 1.9, "{}", decoded.audio.seconds());
    assert!(
        decoded.warnings.iter().any(|w| w.starts_with("half.flac:") && w.contains("truncated")),
        "the cut is said, naming the file: {:?}",
        decoded.warnings
    );
}
