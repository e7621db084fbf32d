//! Windows as the network sees them: a CPU-side example per window, collated into padded
//! device tensors.
//!
//! ```text
//! song features [129, T] ─► window_features (silence-padded slice) ─┐
//! token row (tokens, residuals, stars, bpm, grid, onset labels) ─────┴─► WindowExample
//! [WindowExample] ─► Batch::collate ─► DeviceBatch (tokens [B,L], targets, masks, audio)
//! ```

use operators::tokenizer::{Residual, Token, Tokenizer};
use tch::{Device, Kind, Tensor};

use crate::network::{AudioInputs, Conditioning, FEATURE_CHANNELS, tensor_f32};

/// Feature frames per second (20 ms hop).
pub const FRAMES_PER_SECOND: f64 = 50.0;

/// The feature frame nearest to `ms` (negative before the song starts).
pub fn frame_at(ms: f64) -> i64 {
    (ms / 1000.0 * FRAMES_PER_SECOND).round() as i64
}

/// The stored value of a silent mel bin (dB of the power floor, 1e-10).
pub const SILENT_MEL_DB: f32 = -100.0;

/// Token id of padding.
pub const PAD: i64 = 0;

/// `frames` feature columns from `start` (may be negative or run past the song: silence) of a
/// song with `channels × song_frames` features, read through `value(channel, frame)`, as a
/// row-major `[channels, frames]` window.
pub fn window_features(
    channels: usize,
    song_frames: usize,
    start: i64,
    frames: usize,
    value: impl Fn(usize, usize) -> f32,
) -> Vec<f32> {
    let mut out = Vec::with_capacity(channels * frames);
    for c in 0..channels {
        let silent = if c + 1 == channels { 0.0 } else { SILENT_MEL_DB };
        out.extend((0..frames as i64).map(|i| match usize::try_from(start + i) {
            Ok(j) if j < song_frames => value(c, j),
            _ => silent,
        }));
    }
    out
}

/// One training or generation window.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowExample {
    /// `[129, frames]` features (mel dB rows, onset row).
    pub features: Vec<f32>,
    /// Beats from the grid anchor to the window's first frame.
    pub grid_start: f32,
    /// Beats per 20 ms frame.
    pub beats_per_frame: f32,
    /// Conditioning: star rating.
    pub stars: f32,
    /// Conditioning: main BPM.
    pub bpm: f32,
    /// Token ids `BOS … EOS` (empty in generation).
    pub tokens: Vec<u32>,
    /// One residual per token.
    pub residuals: Vec<Residual>,
    /// Per feature frame: 1 where an object starts, 0 elsewhere in the predict region, −1
    /// outside it (no label). Empty in generation.
    pub onsets: Vec<f32>,
}

impl WindowExample {
    /// The audio part of a window starting at `window_start_ms` whose beat grid is anchored at
    /// `anchor_ms` with beats of `beat_ms`.
    pub fn grid(window_start_ms: f64, anchor_ms: f64, beat_ms: f64) -> (f32, f32) {
        (((window_start_ms - anchor_ms) / beat_ms) as f32, (1000.0 / FRAMES_PER_SECOND / beat_ms) as f32)
    }
}

/// How each residual channel of each token id is scaled into "bins" (0 = not trained there):
/// time in beat-grid bins on TIME tokens, x/y in position bins on POS tokens, slider length in
/// length steps on LENGTH tokens.
#[derive(Debug, Clone)]
pub struct ResidualScales {
    scales: Vec<[f32; 3]>,
}

impl ResidualScales {
    /// The scales of `tokenizer`'s vocabulary.
    pub fn new(tokenizer: &Tokenizer) -> Self {
        let c = tokenizer.config();
        let (bin_w, bin_h) = (512.0 / c.grid_x as f32, 384.0 / c.grid_y as f32);
        let time = c.beat_divisor as f32;
        let scales = (0..tokenizer.vocab().size())
            .map(|id| match tokenizer.vocab().token(id) {
                Some(Token::Time(_)) => [time, 0.0, 0.0],
                Some(Token::Position { .. }) => [0.0, 1.0 / bin_w, 1.0 / bin_h],
                Some(Token::Length(_)) => [0.0, 1.0 / c.length_step_px, 0.0],
                _ => [0.0; 3],
            })
            .collect();
        Self { scales }
    }

    /// The scales of token `id` (zeros for an unknown id).
    pub fn of(&self, id: u32) -> [f32; 3] {
        self.scales.get(id as usize).copied().unwrap_or([0.0; 3])
    }

    /// A predicted residual (in bins) of token `id` back in the tokenizer's units.
    pub fn unscale(&self, id: u32, predicted: [f32; 3]) -> Residual {
        let s = self.of(id);
        let back = |v: f32, s: f32| if s == 0.0 { 0.0 } else { v / s };
        Residual { time: back(predicted[0], s[0]), x: back(predicted[1], s[1]), y: back(predicted[2], s[2]) }
    }
}

/// A collated batch on a device.
#[derive(Debug)]
pub struct DeviceBatch {
    /// Audio inputs.
    pub audio: AudioInputs,
    /// Conditioning.
    pub conditioning: Conditioning,
    /// Decoder input `[B, L−1]` (tokens without the last).
    pub inputs: Tensor,
    /// Next-token targets `[B, L−1]` (PAD ignored).
    pub targets: Tensor,
    /// Residual targets of the input tokens, scaled to bins, `[B, L−1, 3]`.
    pub residuals: Tensor,
    /// 1 where a residual target counts, `[B, L−1, 3]`.
    pub residual_mask: Tensor,
    /// Non-PAD target tokens.
    pub target_tokens: i64,
    /// Onset labels per feature frame `[B, frames]` (see [`WindowExample::onsets`]); `None`
    /// unless every example has them.
    pub onsets: Option<Tensor>,
}

/// Pads and stacks `examples` (all with the same frame count) onto `device`; sequences longer
/// than `max_tokens` are cut.
pub fn collate(examples: &[WindowExample], scales: &ResidualScales, max_tokens: usize, device: Device) -> DeviceBatch {
    let b = examples.len();
    let frames = examples[0].features.len() / FEATURE_CHANNELS as usize;
    let len = examples.iter().map(|e| e.tokens.len().min(max_tokens)).max().unwrap_or(2).max(2);
    let mut tokens = vec![PAD; b * len];
    let mut residuals = vec![0f32; b * len * 3];
    let mut mask = vec![0f32; b * len * 3];
    for (row, e) in examples.iter().enumerate() {
        for (i, (&id, r)) in e.tokens.iter().zip(&e.residuals).take(len).enumerate() {
            tokens[row * len + i] = i64::from(id);
            let s = scales.of(id);
            for (k, v) in [r.time, r.x, r.y].into_iter().enumerate() {
                let at = (row * len + i) * 3 + k;
                residuals[at] = v * s[k];
                mask[at] = if s[k] != 0.0 { 1.0 } else { 0.0 };
            }
        }
    }
    let tokens = Tensor::from_slice(&tokens).view([b as i64, len as i64]).to_device(device);
    let inputs = tokens.narrow(1, 0, len as i64 - 1);
    let targets = tokens.narrow(1, 1, len as i64 - 1);
    let per_token = |v: &[f32]| tensor_f32(v, &[b as i64, len as i64, 3], device).narrow(1, 0, len as i64 - 1);
    let features: Vec<f32> = examples.iter().flat_map(|e| e.features.iter().copied()).collect();
    let column =
        |f: fn(&WindowExample) -> f32| tensor_f32(&examples.iter().map(f).collect::<Vec<_>>(), &[b as i64], device);
    DeviceBatch {
        audio: AudioInputs {
            features: tensor_f32(&features, &[b as i64, FEATURE_CHANNELS, frames as i64], device),
            grid_start: column(|e| e.grid_start),
            beats_per_frame: column(|e| e.beats_per_frame),
        },
        conditioning: Conditioning { stars: column(|e| e.stars), bpm: column(|e| e.bpm) },
        target_tokens: targets.ne(PAD).sum(Kind::Int64).int64_value(&[]),
        onsets: examples.iter().all(|e| e.onsets.len() == frames).then(|| {
            let labels: Vec<f32> = examples.iter().flat_map(|e| e.onsets.iter().copied()).collect();
            tensor_f32(&labels, &[b as i64, frames as i64], device)
        }),
        inputs,
        targets,
        residuals: per_token(&residuals),
        residual_mask: per_token(&mask),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_slices_pad_with_silence() {
        // 2 channels (1 mel + onset) × 3 frames.
        let song = [1.0, 2.0, 3.0, 0.1, 0.2, 0.3];
        let value = |c: usize, j: usize| song[c * 3 + j];
        assert_eq!(window_features(2, 3, -1, 3, value), vec![SILENT_MEL_DB, 1.0, 2.0, 0.0, 0.1, 0.2]);
        assert_eq!(window_features(2, 3, 2, 2, value), vec![3.0, SILENT_MEL_DB, 0.3, 0.0]);
    }

    #[test]
    fn residual_scales_round_trip() {
        let tokenizer = Tokenizer::new(Default::default()).unwrap();
        let scales = ResidualScales::new(&tokenizer);
        let time_id = tokenizer.vocab().time_offset() + 5;
        assert_eq!(scales.of(time_id), [48.0, 0.0, 0.0]);
        let r = scales.unscale(time_id, [0.48, 9.0, 9.0]);
        assert!((r.time - 0.01).abs() < 1e-6 && r.x == 0.0 && r.y == 0.0);
    }
}
