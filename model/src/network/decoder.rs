//! The token decoder: a pre-norm causal Transformer with cross-attention to the audio memory,
//! a token head and a residual head.
//!
//! ```text
//! tokens [B,L] ─► embed + position (+ time pointer value of a TIME token)
//!   ─► (self-attn causal ─► cross-attn(memory) ─► FF) × L
//!   ─► LayerNorm ─► h ─┬─► Linear (+ time pointer scores) ─► logits of the NEXT token [B,L,V]
//!                      └─► Linear ─► residuals of THIS token       [B,L,3] (time, x, y)
//! ```
//! A residual refines the bin of the token it belongs to, so it is read at that token's own
//! position, where the decoder already sees the bin (in generation: right after sampling it).

use tch::nn::{self, Module};
use tch::{Kind, Tensor};

use super::attention::{Attention, FeedForward, KvCache};
use super::time_pointer::{PointerMemory, TimePointer};
use super::{Memory, VocabLayout};
use crate::config::NetworkConfig;

/// Residual channels: time, x, y.
pub const RESIDUAL_CHANNELS: i64 = 3;

#[derive(Debug)]
struct DecoderLayer {
    norm1: nn::LayerNorm,
    self_attention: Attention,
    norm2: nn::LayerNorm,
    cross_attention: Attention,
    norm3: nn::LayerNorm,
    ff: FeedForward,
}

/// Per-layer caches of one batch being decoded step by step.
#[derive(Debug)]
pub struct DecoderCache {
    self_kv: Vec<Option<KvCache>>,
    cross_kv: Vec<KvCache>,
    pointer: Option<PointerMemory>,
    /// Positions decoded so far.
    pub len: i64,
}

impl DecoderCache {
    /// Keeps only the batch rows in `rows` (an i64 index tensor).
    pub fn select_rows(&mut self, rows: &Tensor) {
        for kv in self.self_kv.iter_mut().flatten() {
            kv.select_rows(rows);
        }
        for kv in &mut self.cross_kv {
            kv.select_rows(rows);
        }
        if let Some(pointer) = &mut self.pointer {
            pointer.select_rows(rows);
        }
    }
}

impl DecoderLayer {
    fn new(vs: nn::Path, c: &NetworkConfig) -> Self {
        let norm = |name: &str| nn::layer_norm(&vs / name, vec![c.d_model], Default::default());
        Self {
            norm1: norm("norm1"),
            self_attention: Attention::new(&vs / "self_attention", c.d_model, c.heads),
            norm2: norm("norm2"),
            cross_attention: Attention::new(&vs / "cross_attention", c.d_model, c.heads),
            norm3: norm("norm3"),
            ff: FeedForward::new(&vs / "ff", c.d_model, c.ff_dim),
        }
    }

    fn forward(&self, x: &Tensor, memory: &Tensor, dropout: f64) -> Tensor {
        let drop = |t: Tensor| t.dropout(dropout, dropout > 0.0);
        let h = self.norm1.forward(x);
        let x = x + drop(self.self_attention.forward(&h, &h, true));
        let x = &x + drop(self.cross_attention.forward(&self.norm2.forward(&x), memory, false));
        &x + drop(self.ff.forward(&self.norm3.forward(&x)))
    }

    fn step(&self, x: &Tensor, self_kv: &mut Option<KvCache>, cross_kv: &KvCache) -> Tensor {
        let x = x + self.self_attention.forward_step(&self.norm1.forward(x), self_kv);
        let x = &x + self.cross_attention.forward_cached(&self.norm2.forward(&x), cross_kv);
        &x + self.ff.forward(&self.norm3.forward(&x))
    }
}

/// The decoder.
#[derive(Debug)]
pub struct TokenDecoder {
    embed: nn::Embedding,
    position: nn::Embedding,
    layers: Vec<DecoderLayer>,
    norm: nn::LayerNorm,
    token_head: nn::Linear,
    residual_head: nn::Linear,
    pointer: Option<TimePointer>,
    max_tokens: i64,
}

impl TokenDecoder {
    /// A decoder over the vocabulary `vocab`, shaped by `c`, weights under `vs`.
    pub fn new(vs: nn::Path, c: &NetworkConfig, vocab: &VocabLayout) -> Self {
        let emb = nn::EmbeddingConfig { ws_init: nn::Init::Randn { mean: 0.0, stdev: 0.02 }, ..Default::default() };
        let size = vocab.size;
        Self {
            embed: nn::embedding(&vs / "embed", size, c.d_model, emb),
            position: nn::embedding(&vs / "position", c.max_tokens, c.d_model, emb),
            layers: (0..c.decoder_layers).map(|i| DecoderLayer::new(&vs / "layers" / i, c)).collect(),
            norm: nn::layer_norm(&vs / "norm", vec![c.d_model], Default::default()),
            token_head: nn::linear(&vs / "token_head", c.d_model, size, Default::default()),
            residual_head: nn::linear(&vs / "residual_head", c.d_model, RESIDUAL_CHANNELS, Default::default()),
            pointer: vocab
                .time
                .filter(|_| c.time_pointer)
                .map(|bins| TimePointer::new(&vs / "time_pointer", c.d_model, bins)),
            max_tokens: c.max_tokens,
        }
    }

    /// Longest sequence it can decode.
    pub fn max_tokens(&self) -> i64 {
        self.max_tokens
    }

    /// The time pointer, if the network has one.
    pub fn pointer(&self) -> Option<&TimePointer> {
        self.pointer.as_ref()
    }

    /// Embeddings of `tokens` (`[B, L]`) at positions `first..first + L`.
    fn embed(&self, tokens: &Tensor, first: i64, pointer: Option<&PointerMemory>) -> Tensor {
        let len = tokens.size()[1];
        let positions = Tensor::arange_start(first, first + len, (Kind::Int64, tokens.device()));
        let x = self.embed.forward(tokens) + self.position.forward(&positions).unsqueeze(0);
        match (&self.pointer, pointer) {
            (Some(p), Some(memory)) => x + p.embed(tokens, memory),
            _ => x,
        }
    }

    fn heads(&self, h: &Tensor, pointer: Option<&PointerMemory>) -> (Tensor, Tensor) {
        let h = self.norm.forward(h);
        let logits = self.token_head.forward(&h);
        let logits = match (&self.pointer, pointer) {
            (Some(p), Some(memory)) => p.point(&h, &logits, memory),
            _ => logits,
        };
        (logits, self.residual_head.forward(&h))
    }

    /// Teacher-forced pass over `tokens` (`[B, L]`, i64): next-token logits and residuals of
    /// each input token.
    pub fn forward(&self, tokens: &Tensor, memory: &Memory, dropout: f64) -> (Tensor, Tensor) {
        let pointer = memory.pointer.as_ref();
        let mut x = self.embed(tokens, 0, pointer).dropout(dropout, dropout > 0.0);
        for layer in &self.layers {
            x = layer.forward(&x, &memory.states, dropout);
        }
        self.heads(&x, pointer)
    }

    /// Starts step-by-step decoding against `memory` (cross-attention keys computed once).
    pub fn start(&self, memory: Memory) -> DecoderCache {
        DecoderCache {
            self_kv: self.layers.iter().map(|_| None).collect(),
            cross_kv: self.layers.iter().map(|l| l.cross_attention.cache_of(&memory.states)).collect(),
            pointer: memory.pointer,
            len: 0,
        }
    }

    /// Feeds one token per row (`[B]`, i64): the next-token logits `[B, V]` and this token's
    /// residuals `[B, 3]`.
    pub fn step(&self, tokens: &Tensor, cache: &mut DecoderCache) -> (Tensor, Tensor) {
        let mut x = self.embed(&tokens.unsqueeze(1), cache.len, cache.pointer.as_ref());
        for (i, layer) in self.layers.iter().enumerate() {
            x = layer.step(&x, &mut cache.self_kv[i], &cache.cross_kv[i]);
        }
        cache.len += 1;
        let (logits, residuals) = self.heads(&x, cache.pointer.as_ref());
        (logits.squeeze_dim(1), residuals.squeeze_dim(1))
    }
}

#[cfg(test)]
mod tests {
    use tch::Device;

    use super::*;
    use crate::network::TimeBins;

    #[test]
    fn step_by_step_decoding_equals_the_teacher_forced_pass_with_the_time_pointer() {
        tch::manual_seed(5);
        let vs = nn::VarStore::new(Device::Cpu);
        let mut c = NetworkConfig::default();
        (c.d_model, c.heads, c.decoder_layers, c.ff_dim, c.max_tokens) = (16, 2, 2, 32, 8);
        let vocab = VocabLayout { size: 30, time: Some(TimeBins { offset: 10, count: 12, per_beat: 4.0 }) };
        let decoder = TokenDecoder::new(vs.root(), &c, &vocab);
        let pointer = decoder.pointer().expect("on by default");
        let audio = Tensor::randn([2, 6, 16], (Kind::Float, Device::Cpu));
        let memory = || Memory {
            states: Tensor::cat(&[Tensor::ones([2, 1, 16], (Kind::Float, Device::Cpu)), audio.shallow_clone()], 1),
            pointer: Some(pointer.read(
                &audio,
                &Tensor::from_slice(&[-0.5f32, -1.0]),
                &Tensor::from_slice(&[0.5f32, 0.4]),
            )),
        };
        // BOS, TIME 3, CIRCLE, TIME 7, POS: TIME tokens take the pointer's path.
        let tokens = Tensor::from_slice(&[1i64, 13, 4, 17, 25, 1, 11, 5, 21, 26]).view([2, 5]);
        let (full, _) = tch::no_grad(|| decoder.forward(&tokens, &memory(), 0.0));
        let mut cache = decoder.start(memory());
        let stepped: Vec<Tensor> =
            (0..5).map(|i| tch::no_grad(|| decoder.step(&tokens.select(1, i), &mut cache).0)).collect();
        let stepped = Tensor::stack(&stepped, 1);
        assert!(f64::try_from((full - stepped).abs().max()).unwrap() < 1e-4);
    }
}
