//! The token decoder: a pre-norm causal Transformer with cross-attention to the audio memory,
//! a token head and a residual head.
//!
//! ```text
//! tokens [B,L] ─► embed + position ─► (self-attn causal ─► cross-attn(memory) ─► FF) × L
//!   ─► LayerNorm ─► h ─┬─► Linear ─► logits of the NEXT token      [B,L,V]
//!                      └─► Linear ─► residuals of THIS token       [B,L,3] (time, x, y)
//! ```
//! A residual refines the bin of the token it belongs to, so it is read at that token's own
//! position, where the decoder already sees the bin (in generation: right after sampling it).

use tch::nn::{self, Module};
use tch::{Kind, Tensor};

use super::attention::{Attention, FeedForward, KvCache};
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
        let x = x + drop(self.self_attention.forward(&h, &h, true, dropout));
        let x = &x + drop(self.cross_attention.forward(&self.norm2.forward(&x), memory, false, dropout));
        &x + drop(self.ff.forward(&self.norm3.forward(&x), dropout))
    }

    fn step(&self, x: &Tensor, self_kv: &mut Option<KvCache>, cross_kv: &KvCache) -> Tensor {
        let x = x + self.self_attention.forward_step(&self.norm1.forward(x), self_kv);
        let x = &x + self.cross_attention.forward_cached(&self.norm2.forward(&x), cross_kv);
        &x + self.ff.forward(&self.norm3.forward(&x), 0.0)
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
    max_tokens: i64,
}

impl TokenDecoder {
    /// A decoder over a vocabulary of `vocab` ids, shaped by `c`, weights under `vs`.
    pub fn new(vs: nn::Path, c: &NetworkConfig, vocab: i64) -> Self {
        let emb = nn::EmbeddingConfig { ws_init: nn::Init::Randn { mean: 0.0, stdev: 0.02 }, ..Default::default() };
        Self {
            embed: nn::embedding(&vs / "embed", vocab, c.d_model, emb),
            position: nn::embedding(&vs / "position", c.max_tokens, c.d_model, emb),
            layers: (0..c.decoder_layers).map(|i| DecoderLayer::new(&vs / "layers" / i, c)).collect(),
            norm: nn::layer_norm(&vs / "norm", vec![c.d_model], Default::default()),
            token_head: nn::linear(&vs / "token_head", c.d_model, vocab, Default::default()),
            residual_head: nn::linear(&vs / "residual_head", c.d_model, RESIDUAL_CHANNELS, Default::default()),
            max_tokens: c.max_tokens,
        }
    }

    /// Longest sequence it can decode.
    pub fn max_tokens(&self) -> i64 {
        self.max_tokens
    }

    fn heads(&self, h: &Tensor) -> (Tensor, Tensor) {
        let h = self.norm.forward(h);
        (self.token_head.forward(&h), self.residual_head.forward(&h))
    }

    /// Teacher-forced pass over `tokens` (`[B, L]`, i64): next-token logits and residuals of
    /// each input token.
    pub fn forward(&self, tokens: &Tensor, memory: &Tensor, dropout: f64) -> (Tensor, Tensor) {
        let (_, len) = tokens.size2().expect("[B, L]");
        let positions = Tensor::arange(len, (Kind::Int64, tokens.device()));
        let mut x = (self.embed.forward(tokens) + self.position.forward(&positions).unsqueeze(0)).dropout(dropout, dropout > 0.0);
        for layer in &self.layers {
            x = layer.forward(&x, memory, dropout);
        }
        self.heads(&x)
    }

    /// Starts step-by-step decoding against `memory` (cross-attention keys computed once).
    pub fn start(&self, memory: &Tensor) -> DecoderCache {
        DecoderCache {
            self_kv: self.layers.iter().map(|_| None).collect(),
            cross_kv: self.layers.iter().map(|l| l.cross_attention.cache_of(memory)).collect(),
            len: 0,
        }
    }

    /// Feeds one token per row (`[B]`, i64): the next-token logits `[B, V]` and this token's
    /// residuals `[B, 3]`.
    pub fn step(&self, tokens: &Tensor, cache: &mut DecoderCache) -> (Tensor, Tensor) {
        let position = Tensor::from_slice(&[cache.len]).to_device(tokens.device());
        let mut x = (self.embed.forward(tokens) + self.position.forward(&position)).unsqueeze(1);
        for (i, layer) in self.layers.iter().enumerate() {
            x = layer.step(&x, &mut cache.self_kv[i], &cache.cross_kv[i]);
        }
        cache.len += 1;
        let (logits, residuals) = self.heads(&x);
        (logits.squeeze_dim(1), residuals.squeeze_dim(1))
    }
}
