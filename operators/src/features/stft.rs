//! Centered short-time power spectra, one frame at a time (bounded memory: a 10-minute song
//! never holds more than one frame's spectrum).

use std::sync::Arc;

use realfft::num_complex::Complex;
use realfft::{RealFftPlanner, RealToComplex};

use super::config::{FeatureConfig, Padding};

/// A planned real FFT with its periodic Hann window.
pub struct Stft {
    fft: Arc<dyn RealToComplex<f32>>,
    window: Vec<f32>,
    hop: usize,
    padding: Padding,
    /// Applied to every power value (1 / Σw² for a window-normalised STFT, else 1).
    power_scale: f32,
}

impl std::fmt::Debug for Stft {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stft").field("n_fft", &self.window.len()).field("hop", &self.hop).finish()
    }
}

/// The periodic ("fftbins") Hann window of length `n`, computed in f64 like scipy.
pub fn periodic_hann(n: usize) -> Vec<f64> {
    (0..n).map(|i| 0.5 - 0.5 * (std::f64::consts::TAU * i as f64 / n as f64).cos()).collect()
}

/// Index into a signal of length `n` mirrored at both ends without repeating the edge (numpy
/// `reflect`), for any offset.
fn reflect_index(i: isize, n: usize) -> usize {
    if n == 1 {
        return 0;
    }
    let period = 2 * (n as isize - 1);
    let m = i.rem_euclid(period);
    (if m < n as isize { m } else { period - m }) as usize
}

impl Stft {
    /// Plans the FFT for `config`.
    pub fn new(config: &FeatureConfig) -> Self {
        let window64 = periodic_hann(config.n_fft);
        let power_scale =
            if config.window_normalized { (1.0 / window64.iter().map(|w| w * w).sum::<f64>()) as f32 } else { 1.0 };
        Self {
            fft: RealFftPlanner::<f32>::new().plan_fft_forward(config.n_fft),
            window: window64.into_iter().map(|w| w as f32).collect(),
            hop: config.hop_length,
            padding: config.padding,
            power_scale,
        }
    }

    /// Number of power bins per frame (`n_fft / 2 + 1`).
    pub fn bins(&self) -> usize {
        self.window.len() / 2 + 1
    }

    /// Calls `visit(frame_index, power_spectrum)` for the `1 + len / hop` centered frames of
    /// `samples`, in order.
    pub fn for_each_power_frame(&self, samples: &[f32], mut visit: impl FnMut(usize, &[f32])) {
        let n_fft = self.window.len();
        let half = (n_fft / 2) as isize;
        let n_frames = 1 + samples.len() / self.hop;
        let mut frame = self.fft.make_input_vec();
        let mut spectrum: Vec<Complex<f32>> = self.fft.make_output_vec();
        let mut scratch = self.fft.make_scratch_vec();
        let mut power = vec![0.0f32; self.bins()];
        for t in 0..n_frames {
            let start = (t * self.hop) as isize - half;
            let end = start + n_fft as isize;
            if start >= 0 && end <= samples.len() as isize {
                let src = &samples[start as usize..end as usize];
                for ((dst, &x), &w) in frame.iter_mut().zip(src).zip(&self.window) {
                    *dst = x * w;
                }
            } else {
                for (j, (dst, &w)) in frame.iter_mut().zip(&self.window).enumerate() {
                    let i = start + j as isize;
                    let x = if (0..samples.len() as isize).contains(&i) {
                        samples[i as usize]
                    } else {
                        match self.padding {
                            Padding::Constant => 0.0,
                            Padding::Reflect if samples.is_empty() => 0.0,
                            Padding::Reflect => samples[reflect_index(i, samples.len())],
                        }
                    };
                    *dst = x * w;
                }
            }
            self.fft
                .process_with_scratch(&mut frame, &mut spectrum, &mut scratch)
                .expect("buffers come from the planner and have the planned sizes");
            for (p, c) in power.iter_mut().zip(&spectrum) {
                *p = (c.re * c.re + c.im * c.im) * self.power_scale;
            }
            visit(t, &power);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata;

    #[test]
    fn window_matches_scipy() {
        let expected = testdata::npy_f64("reference/hann_periodic_2048_f64.npy");
        let ours = periodic_hann(2048);
        assert_eq!(ours.len(), expected.len(), "zip below would stop at the shorter");
        for (a, b) in ours.iter().zip(&expected) {
            assert!((a - b).abs() < 1e-15);
        }
    }

    #[test]
    fn reflect_matches_numpy() {
        // np.pad([0,1,2,3], 5, mode="reflect") = [1 2 3 2 1 | 0 1 2 3 | 2 1 0 1 2]
        let got: Vec<usize> = (-5..9).map(|i| reflect_index(i, 4)).collect();
        assert_eq!(got, vec![1, 2, 3, 2, 1, 0, 1, 2, 3, 2, 1, 0, 1, 2]);
    }

    #[test]
    fn power_frames_match_librosa_stft() {
        let y = testdata::npy_f32("reference/first30s/y22.npy");
        let expected = testdata::npy_f32("reference/first30s/stft_power_frames0-99.npy"); // [1025, 100]
        let stft = Stft::new(&FeatureConfig::default());
        let mut worst = 0.0f32;
        stft.for_each_power_frame(&y[..99 * 441 + 2048], |t, power| {
            if t >= 100 {
                return;
            }
            let frame_max = (0..1025).map(|k| expected[k * 100 + t]).fold(0.0f32, f32::max);
            for (k, &p) in power.iter().enumerate() {
                let e = expected[k * 100 + t];
                if e > frame_max * 1e-6 {
                    worst = worst.max((p - e).abs() / e);
                }
            }
        });
        assert!(worst < 1e-3, "worst relative error {worst}");
    }
}
