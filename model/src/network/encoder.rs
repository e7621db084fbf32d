//! The audio encoder: normalised `[129, T]` features → one vector per (pooled) frame, its
//! sequence axis real time.
//!
//! ```text
//! features [B,129,T] ─► (x − mean)/std ─► conv k ─► GELU ─► conv k, stride s ─► [B,T/s,d]
//!   + sinusoid(frame time) + Linear(beat-grid code of each frame)
//!   ─► pre-norm Transformer encoder × L ─► LayerNorm ─► memory [B,T/s,d]
//! ```
//! The beat-grid code tells every frame where it lies in the window's beat grid (beats from the
//! grid anchor, at several periods), the same coordinate the TIME tokens count in.

use tch::nn::{self, Module};
use tch::{Device, Kind, Tensor};

use super::attention::{Attention, FeedForward};
use crate::config::NetworkConfig;

/// Feature channels: 128 mel bands + onset strength.
pub const FEATURE_CHANNELS: i64 = 129;

/// Periods (in beats) of the beat-grid code: sub-beat, beat, bar and phrase phase.
const GRID_PERIODS: [f64; 6] = [0.25, 0.5, 1.0, 2.0, 4.0, 16.0];

/// Width of the beat-grid code: sin and cos per period, plus the coordinate itself / 16.
const GRID_CODE: i64 = 2 * GRID_PERIODS.len() as i64 + 1;

/// One pre-norm encoder layer.
#[derive(Debug)]
struct EncoderLayer {
    norm1: nn::LayerNorm,
    attention: Attention,
    norm2: nn::LayerNorm,
    ff: FeedForward,
}

impl EncoderLayer {
    fn new(vs: nn::Path, c: &NetworkConfig) -> Self {
        Self {
            norm1: nn::layer_norm(&vs / "norm1", vec![c.d_model], Default::default()),
            attention: Attention::new(&vs / "attention", c.d_model, c.heads),
            norm2: nn::layer_norm(&vs / "norm2", vec![c.d_model], Default::default()),
            ff: FeedForward::new(&vs / "ff", c.d_model, c.ff_dim),
        }
    }

    fn forward(&self, x: &Tensor, dropout: f64) -> Tensor {
        let h = self.norm1.forward(x);
        let x = x + self.attention.forward(&h, &h, false).dropout(dropout, dropout > 0.0);
        let h = self.norm2.forward(&x);
        &x + self.ff.forward(&h).dropout(dropout, dropout > 0.0)
    }
}

/// Sinusoidal positions `[len, d]` (Vaswani et al.), `positions` in arbitrary units.
pub fn sinusoid(positions: &Tensor, d: i64) -> Tensor {
    let device = positions.device();
    let half = d / 2;
    let freqs = (Tensor::arange(half, (Kind::Float, device)) * (-(10_000f64.ln()) / half as f64)).exp();
    let angles = positions.to_kind(Kind::Float).unsqueeze(-1) * freqs;
    Tensor::cat(&[angles.sin(), angles.cos()], -1)
}

/// The audio encoder.
#[derive(Debug)]
pub struct AudioEncoder {
    mean: Tensor,
    std: Tensor,
    conv1: nn::Conv1D,
    conv2: nn::Conv1D,
    grid: nn::Linear,
    layers: Vec<EncoderLayer>,
    norm: nn::LayerNorm,
    d: i64,
    stride: i64,
}

impl AudioEncoder {
    /// An encoder shaped by `c`, weights under `vs`; normalisation statistics start at
    /// mean 0, std 1 and are set once from the training data ([`AudioEncoder::set_statistics`]).
    pub fn new(vs: nn::Path, c: &NetworkConfig) -> Self {
        let pad = c.conv_kernel / 2;
        let conv = |stride| nn::ConvConfig { padding: pad, stride, ..Default::default() };
        Self {
            mean: vs.zeros_no_train("feature_mean", &[FEATURE_CHANNELS]),
            std: vs.ones_no_train("feature_std", &[FEATURE_CHANNELS]),
            conv1: nn::conv1d(&vs / "conv1", FEATURE_CHANNELS, c.d_model, c.conv_kernel, conv(1)),
            conv2: nn::conv1d(&vs / "conv2", c.d_model, c.d_model, c.conv_kernel, conv(c.frontend_stride)),
            grid: nn::linear(&vs / "grid", GRID_CODE, c.d_model, Default::default()),
            layers: (0..c.encoder_layers).map(|i| EncoderLayer::new(&vs / "layers" / i, c)).collect(),
            norm: nn::layer_norm(&vs / "norm", vec![c.d_model], Default::default()),
            d: c.d_model,
            stride: c.frontend_stride,
        }
    }

    /// Feature frames per encoder frame.
    pub fn stride(&self) -> i64 {
        self.stride
    }

    /// Sets the fixed per-channel feature statistics used in training and generation alike.
    pub fn set_statistics(&mut self, mean: &[f32], std: &[f32]) {
        tch::no_grad(|| {
            self.mean.copy_(&Tensor::from_slice(mean).to_device(self.mean.device()));
            self.std.copy_(&Tensor::from_slice(std).to_device(self.std.device()));
        });
    }

    /// The beat-grid code `[B, T', GRID_CODE]` of the pooled frames: frame `j` lies at
    /// `grid_start[b] + j·stride·beats_per_frame[b]` beats from the anchor.
    fn grid_code(&self, frames: i64, grid_start: &Tensor, beats_per_frame: &Tensor, device: Device) -> Tensor {
        let j = Tensor::arange(frames, (Kind::Float, device)) * self.stride as f64;
        let beats = grid_start.unsqueeze(1) + beats_per_frame.unsqueeze(1) * j.unsqueeze(0);
        let mut parts = Vec::with_capacity(GRID_CODE as usize);
        for period in GRID_PERIODS {
            let angle = &beats * (std::f64::consts::TAU / period);
            parts.push(angle.sin());
            parts.push(angle.cos());
        }
        parts.push(&beats / 16.0);
        Tensor::stack(&parts, -1)
    }

    /// Encodes `features` (`[B, 129, T]`: mel dB + onset, as stored) to `[B, ceil(T/s), d]`.
    pub fn forward(&self, features: &Tensor, grid_start: &Tensor, beats_per_frame: &Tensor, dropout: f64) -> Tensor {
        let x = (features - self.mean.view([1, -1, 1])) / self.std.view([1, -1, 1]);
        let x = self.conv2.forward(&self.conv1.forward(&x).gelu("none")).gelu("none").transpose(1, 2);
        let (_, frames, _) = x.size3().expect("[B, T', d]");
        let device = x.device();
        let positions = Tensor::arange(frames, (Kind::Float, device)) * self.stride as f64;
        let mut x = x
            + sinusoid(&positions, self.d).unsqueeze(0)
            + self.grid.forward(&self.grid_code(frames, grid_start, beats_per_frame, device));
        x = x.dropout(dropout, dropout > 0.0);
        for layer in &self.layers {
            x = layer.forward(&x, dropout);
        }
        self.norm.forward(&x)
    }
}
