//! Triangular mel filterbanks (librosa's `filters.mel`, torchaudio's `melscale_fbanks`), stored
//! sparsely: each filter keeps only its non-zero span, so projecting a 1,025-bin power spectrum
//! onto 128 bands touches ~2 weights per FFT bin instead of 128.

use super::config::{FeatureConfig, MelNorm, MelScale};

/// One filter: weights for FFT bins `first_bin .. first_bin + weights.len()`.
#[derive(Debug, Clone, PartialEq)]
struct MelFilter {
    first_bin: usize,
    weights: Vec<f32>,
}

/// A bank of `n_mels` triangular filters over `n_fft / 2 + 1` FFT bins.
#[derive(Debug, Clone, PartialEq)]
pub struct MelFilterbank {
    filters: Vec<MelFilter>,
    n_bins: usize,
}

const SLANEY_F_SP: f64 = 200.0 / 3.0;
const SLANEY_MIN_LOG_HZ: f64 = 1000.0;
const SLANEY_MIN_LOG_MEL: f64 = SLANEY_MIN_LOG_HZ / SLANEY_F_SP;

fn slaney_log_step() -> f64 {
    6.4f64.ln() / 27.0
}

/// Hertz to mels on the given scale (librosa `hz_to_mel`).
pub fn hz_to_mel(hz: f64, scale: MelScale) -> f64 {
    match scale {
        MelScale::Htk => 2595.0 * (1.0 + hz / 700.0).log10(),
        MelScale::Slaney if hz >= SLANEY_MIN_LOG_HZ => {
            SLANEY_MIN_LOG_MEL + (hz / SLANEY_MIN_LOG_HZ).ln() / slaney_log_step()
        }
        MelScale::Slaney => hz / SLANEY_F_SP,
    }
}

/// Mels to hertz on the given scale (librosa `mel_to_hz`).
pub fn mel_to_hz(mel: f64, scale: MelScale) -> f64 {
    match scale {
        MelScale::Htk => 700.0 * (10f64.powf(mel / 2595.0) - 1.0),
        MelScale::Slaney if mel >= SLANEY_MIN_LOG_MEL => {
            SLANEY_MIN_LOG_HZ * (slaney_log_step() * (mel - SLANEY_MIN_LOG_MEL)).exp()
        }
        MelScale::Slaney => SLANEY_F_SP * mel,
    }
}

/// `n` evenly spaced values from `start` to `stop` inclusive, computed as numpy's `linspace`.
fn linspace(start: f64, stop: f64, n: usize) -> Vec<f64> {
    if n == 1 {
        return vec![start];
    }
    let step = (stop - start) / (n - 1) as f64;
    let mut v: Vec<f64> = (0..n).map(|i| i as f64 * step + start).collect();
    v[n - 1] = stop;
    v
}

/// Centre frequencies of `n_mels + 2` filter edges (librosa `mel_frequencies`).
pub fn mel_edges_hz(n_mels: usize, f_min: f64, f_max: f64, scale: MelScale) -> Vec<f64> {
    linspace(hz_to_mel(f_min, scale), hz_to_mel(f_max, scale), n_mels + 2)
        .into_iter()
        .map(|m| mel_to_hz(m, scale))
        .collect()
}

impl MelFilterbank {
    /// Builds the filterbank of `config` (in f64, stored as f32, like librosa).
    pub fn new(config: &FeatureConfig) -> Self {
        let n_bins = config.n_fft / 2 + 1;
        let sr = f64::from(config.sample_rate);
        let f_max = config.f_max.map_or(sr / 2.0, f64::from);
        let edges = mel_edges_hz(config.n_mels, f64::from(config.f_min), f_max, config.mel_scale);
        let bin_hz = |k: usize| k as f64 * sr / config.n_fft as f64;
        let filters = (0..config.n_mels)
            .map(|m| {
                let (lo, centre, hi) = (edges[m], edges[m + 1], edges[m + 2]);
                let norm = match config.mel_norm {
                    MelNorm::Slaney => 2.0 / (hi - lo),
                    MelNorm::None => 1.0,
                };
                let dense: Vec<f32> = (0..n_bins)
                    .map(|k| {
                        let f = bin_hz(k);
                        let rising = (f - lo) / (centre - lo);
                        let falling = (hi - f) / (hi - centre);
                        (rising.min(falling).max(0.0) * norm) as f32
                    })
                    .collect();
                let first = dense.iter().position(|&w| w > 0.0);
                let last = dense.iter().rposition(|&w| w > 0.0);
                match (first, last) {
                    (Some(a), Some(b)) => MelFilter { first_bin: a, weights: dense[a..=b].to_vec() },
                    // A filter narrower than one FFT bin is all zero (librosa warns about it).
                    _ => MelFilter { first_bin: 0, weights: Vec::new() },
                }
            })
            .collect();
        Self { filters, n_bins }
    }

    /// Number of filters.
    pub fn n_mels(&self) -> usize {
        self.filters.len()
    }

    /// Projects one power spectrum (`n_fft / 2 + 1` bins) onto the bands, calling `emit(band, value)`.
    #[inline]
    pub fn project(&self, power: &[f32], mut emit: impl FnMut(usize, f32)) {
        debug_assert_eq!(power.len(), self.n_bins);
        for (band, filter) in self.filters.iter().enumerate() {
            let span = &power[filter.first_bin..filter.first_bin + filter.weights.len()];
            let value = span.iter().zip(&filter.weights).map(|(p, w)| p * w).sum();
            emit(band, value);
        }
    }

    /// The dense `[n_mels, n_bins]` matrix (for tests and inspection).
    pub fn dense(&self) -> Vec<Vec<f32>> {
        self.filters
            .iter()
            .map(|f| {
                let mut row = vec![0.0; self.n_bins];
                row[f.first_bin..f.first_bin + f.weights.len()].copy_from_slice(&f.weights);
                row
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata;

    #[test]
    fn slaney_edges_match_librosa() {
        let expected = testdata::npy_f64("reference/mel_center_freqs_hz_130.npy");
        let ours = mel_edges_hz(128, 0.0, 11_025.0, MelScale::Slaney);
        assert_eq!(ours.len(), expected.len(), "zip below would stop at the shorter");
        for (a, b) in ours.iter().zip(&expected) {
            assert!((a - b).abs() <= 1e-9 * b.abs().max(1.0), "{a} vs {b}");
        }
    }

    #[test]
    fn slaney_filterbank_matches_librosa() {
        let expected = testdata::npy_f32("reference/mel_filterbank_128x1025.npy");
        let dense = MelFilterbank::new(&FeatureConfig::default()).dense();
        let max = expected.iter().fold(0.0f32, |m, &x| m.max(x));
        for (m, row) in dense.iter().enumerate() {
            for (k, &w) in row.iter().enumerate() {
                let e = expected[m * 1025 + k];
                assert!((w - e).abs() <= 1e-6 * max, "band {m} bin {k}: {w} vs {e}");
            }
        }
    }

    #[test]
    fn htk_scale_round_trips_and_matches_the_formula() {
        assert!((hz_to_mel(700.0, MelScale::Htk) - 2595.0 * 2f64.log10()).abs() < 1e-9);
        for hz in [0.0, 100.0, 999.0, 1000.0, 4000.0, 11_025.0] {
            for scale in [MelScale::Htk, MelScale::Slaney] {
                assert!((mel_to_hz(hz_to_mel(hz, scale), scale) - hz).abs() < 1e-6);
            }
        }
    }

    #[test]
    fn unnormalised_filters_peak_near_one() {
        let config = FeatureConfig { mel_norm: MelNorm::None, mel_scale: MelScale::Htk, ..Default::default() };
        let bank = MelFilterbank::new(&config);
        for row in bank.dense().iter().skip(8) {
            let peak = row.iter().fold(0.0f32, |m, &x| m.max(x));
            assert!(peak > 0.5 && peak <= 1.0, "peak {peak}");
        }
    }
}
