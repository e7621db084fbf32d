//! The whole network: audio encoder, conditioning token, token decoder.
//!
//! ```text
//! features ─► AudioEncoder ─────────────────────┬──────────────────► TimePointer readings ─┐
//! stars, log-BPM ─► MLP ─► conditioning token ──┴─► memory = [cond ; audio] ─► TokenDecoder ◄┘
//!                              audio memory ─► Linear ─► onset logit per frame (training)
//! ```

pub mod attention;
pub mod decoder;
pub mod encoder;
pub mod time_pointer;

use tch::nn::{self, Module};
use tch::{Device, Kind, Tensor};

use operators::tokenizer::Tokenizer;

use crate::config::NetworkConfig;
pub use decoder::{DecoderCache, RESIDUAL_CHANNELS, TokenDecoder};
pub use encoder::{AudioEncoder, FEATURE_CHANNELS};
pub use time_pointer::{PointerMemory, TimeBins, TimePointer};

/// What the network needs to know of a tokenizer's vocabulary: its size and its TIME block.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VocabLayout {
    /// Number of token ids.
    pub size: i64,
    /// The TIME tokens, where they count beats from the window's grid anchor (the mapflow
    /// layout); `None` where they are deltas from the previous object (the reference layout),
    /// which leaves them no fixed place in the audio for the time pointer to read.
    pub time: Option<TimeBins>,
}

impl VocabLayout {
    /// The layout of `tokenizer`'s vocabulary.
    pub fn of(tokenizer: &Tokenizer) -> Self {
        let vocab = tokenizer.vocab();
        let config = tokenizer.config();
        let anchored = config.layout == operators::tokenizer::Layout::Mapflow;
        Self {
            size: i64::from(vocab.size()),
            time: anchored.then(|| TimeBins {
                offset: i64::from(vocab.time_offset()),
                count: i64::from(config.beat_bins),
                per_beat: f64::from(config.beat_divisor),
            }),
        }
    }
}

/// What the decoder reads: the memory it cross-attends to and, with the time pointer, the
/// audio read at every TIME bin.
#[derive(Debug)]
pub struct Memory {
    /// `[B, 1 + T', d]`: the conditioning token, then the audio frames.
    pub states: Tensor,
    /// The time pointer's readings (`None` without a pointer).
    pub pointer: Option<PointerMemory>,
}

/// What the network is conditioned on, per window (`[B]` f32 tensors each).
#[derive(Debug)]
pub struct Conditioning {
    /// Star rating (rosu-pp).
    pub stars: Tensor,
    /// The song's main BPM.
    pub bpm: Tensor,
}

/// The audio side of a batch of windows, on the network's device.
#[derive(Debug)]
pub struct AudioInputs {
    /// `[B, 129, T]` features as stored (mel dB rows, onset row).
    pub features: Tensor,
    /// `[B]` beats from the grid anchor to the window's first frame.
    pub grid_start: Tensor,
    /// `[B]` beats per 20 ms frame.
    pub beats_per_frame: Tensor,
}

/// Encoder + conditioning + decoder.
#[derive(Debug)]
pub struct Mapper {
    /// The audio encoder.
    pub encoder: AudioEncoder,
    conditioning: nn::Sequential,
    /// Onset logit of each encoder frame (trained by the onset loss).
    onset_head: nn::Linear,
    /// The token decoder.
    pub decoder: TokenDecoder,
}

impl Mapper {
    /// A network shaped by `config` for the vocabulary `vocab`, weights under `vs`.
    pub fn new(vs: &nn::Path, config: &NetworkConfig, vocab: &VocabLayout) -> Self {
        let d = config.d_model;
        let cond = vs / "conditioning";
        Self {
            encoder: AudioEncoder::new(vs / "encoder", config),
            conditioning: nn::seq()
                .add(nn::linear(&cond / "in", 2, d, Default::default()))
                .add_fn(|x| x.gelu("none"))
                .add(nn::linear(&cond / "out", d, d, Default::default())),
            onset_head: nn::linear(vs / "onset_head", d, 1, Default::default()),
            decoder: TokenDecoder::new(vs / "decoder", config, vocab),
        }
    }

    /// The memory the decoder reads.
    pub fn memory(&self, audio: &AudioInputs, conditioning: &Conditioning, dropout: f64) -> Memory {
        let encoded = self.encoder.forward(&audio.features, &audio.grid_start, &audio.beats_per_frame, dropout);
        let pointer = self
            .decoder
            .pointer()
            .map(|p| p.read(&encoded, &audio.grid_start, &(&audio.beats_per_frame * self.encoder.stride() as f64)));
        // Stars around the middle of the usual 0–10 range; BPM as octaves from 160.
        let code = Tensor::stack(&[&conditioning.stars / 5.0 - 1.0, (&conditioning.bpm / 160.0).log2()], -1);
        let cond = self.conditioning.forward(&code.to_kind(Kind::Float)).unsqueeze(1);
        Memory { states: Tensor::cat(&[cond, encoded], 1), pointer }
    }

    /// Teacher-forced logits `[B, L, V]` and residuals `[B, L, 3]` for `tokens` `[B, L]`.
    pub fn forward(
        &self,
        audio: &AudioInputs,
        conditioning: &Conditioning,
        tokens: &Tensor,
        dropout: f64,
    ) -> (Tensor, Tensor) {
        self.decoder.forward(tokens, &self.memory(audio, conditioning, dropout), dropout)
    }

    /// The onset logit of each encoder frame of `memory` `[B, T']` (only the onset loss reads it).
    pub fn onset_logits(&self, memory: &Memory) -> Tensor {
        let frames = memory.states.size()[1] - 1;
        self.onset_head.forward(&memory.states.narrow(1, 1, frames)).squeeze_dim(-1)
    }
}

/// A float tensor from `values` on `device`, shaped `shape`.
pub fn tensor_f32(values: &[f32], shape: &[i64], device: Device) -> Tensor {
    Tensor::from_slice(values).view(shape).to_device(device)
}

#[cfg(test)]
mod tests {
    use operators::tokenizer::{Layout, Tokenizer, TokenizerConfig};

    use super::VocabLayout;

    #[test]
    fn only_anchored_time_tokens_get_a_place_for_the_pointer() {
        let mapflow = VocabLayout::of(&Tokenizer::new(TokenizerConfig::default()).unwrap());
        let bins = mapflow.time.expect("the mapflow layout counts beats from the anchor");
        assert_eq!((bins.count, bins.per_beat), (768, 48.0));
        let reference_config = TokenizerConfig { layout: Layout::Reference, ..TokenizerConfig::default() };
        let reference = VocabLayout::of(&Tokenizer::new(reference_config).unwrap());
        assert_eq!(reference.time, None, "reference TIME tokens are deltas");
    }
}
