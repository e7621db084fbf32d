//! The whole chain on the 3-minute reference MP3 — our decode + resample + features — against
//! librosa's (libsndfile/mpg123 decode, soxr_hq resample, mel, onset) on the same file.

use std::path::{Path, PathBuf};

use operators::audio::{DecodeOptions, load_file};
use operators::features::{FeatureConfig, FeatureExtractor, mel_edges_hz, power_to_db_in_place};

fn data(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data").join(relative)
}

fn npy(relative: &str) -> (Vec<u64>, Vec<f32>) {
    operators::npy::read::<f32>(&data(relative)).unwrap()
}

fn pearson(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let (mut cov, mut va, mut vb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        cov += (x - ma) * (y - mb);
        va += (x - ma).powi(2);
        vb += (y - mb).powi(2);
    }
    cov / (va * vb).sqrt()
}

#[test]
fn mp3_to_features_matches_librosa_end_to_end() {
    let config = FeatureConfig::default();
    let audio = load_file(&data("reference/song.mp3"), config.sample_rate, &DecodeOptions::default()).unwrap();
    let ours = FeatureExtractor::new(config.clone()).unwrap().extract(&audio.samples);
    let (shape, mel_ref) = npy("reference/full_song/mel_power.npy");
    let (_, onset_ref) = npy("reference/full_song/onset.npy");
    assert_eq!(ours.frames as u64, shape[1], "frame counts must be equal");

    // Mel in dB (power_to_db, top_db 80) over the bands whose centre is below 10 kHz.
    let edges = mel_edges_hz(config.n_mels, 0.0, 11_025.0, config.mel_scale);
    let bands = (0..config.n_mels).filter(|&b| edges[b + 1] < 10_000.0).count();
    let frames = ours.frames;
    let mut a = ours.mel()[..bands * frames].to_vec();
    let mut b = mel_ref[..bands * frames].to_vec();
    power_to_db_in_place(&mut a, 1e-10, 80.0);
    power_to_db_in_place(&mut b, 1e-10, 80.0);
    let to64 = |v: &[f32]| v.iter().map(|&x| f64::from(x)).collect::<Vec<_>>();
    let r_mel = pearson(&to64(&a), &to64(&b));
    assert!(r_mel >= 0.999, "mel dB correlation {r_mel} over {bands} bands");

    let r_onset = pearson(&to64(ours.onset()), &to64(&onset_ref));
    assert!(r_onset >= 0.99, "onset correlation {r_onset}");
    eprintln!("mel dB r = {r_mel:.6} ({bands} bands < 10 kHz), onset r = {r_onset:.6}");
}
