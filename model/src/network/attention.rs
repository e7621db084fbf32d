//! Multi-head attention (libtorch's fused scaled-dot-product kernel), with a key/value cache
//! for step-by-step decoding.
//!
//! ```text
//! x_q ─► Wq ─┐
//! x_kv ─► Wk ─┼─► softmax(q·kᵀ/√d [causal]) · v ─► Wo
//! x_kv ─► Wv ─┘         ▲ cached k, v grow by one step per decoded token
//! ```

use tch::Tensor;
use tch::nn::{self, Module};

/// Keys and values of earlier positions (`[batch, heads, len, head_dim]` each).
#[derive(Debug)]
pub struct KvCache {
    keys: Tensor,
    values: Tensor,
}

impl KvCache {
    /// Keeps only the batch rows in `rows` (finished sequences are dropped while decoding).
    pub fn select_rows(&mut self, rows: &Tensor) {
        self.keys = self.keys.index_select(0, rows);
        self.values = self.values.index_select(0, rows);
    }
}

/// One multi-head attention block.
#[derive(Debug)]
pub struct Attention {
    query: nn::Linear,
    key: nn::Linear,
    value: nn::Linear,
    out: nn::Linear,
    heads: i64,
}

impl Attention {
    /// A block of width `d` with `heads` heads, its weights under `vs`.
    pub fn new(vs: nn::Path, d: i64, heads: i64) -> Self {
        let c = nn::LinearConfig::default();
        Self {
            query: nn::linear(&vs / "query", d, d, c),
            key: nn::linear(&vs / "key", d, d, c),
            value: nn::linear(&vs / "value", d, d, c),
            out: nn::linear(&vs / "out", d, d, c),
            heads,
        }
    }

    /// `[batch, len, d]` → `[batch, heads, len, d / heads]`.
    fn split_heads(&self, x: &Tensor) -> Tensor {
        let (b, l, d) = x.size3().expect("[batch, len, d]");
        x.view([b, l, self.heads, d / self.heads]).transpose(1, 2)
    }

    /// No dropout on the attention weights: on a CPU it takes libtorch's unfused path and a
    /// serially drawn mask per head and query — most of a tiny-model step — while the dropout on
    /// the blocks' outputs (the callers') regularises as well.
    fn attend(&self, q: &Tensor, k: &Tensor, v: &Tensor, causal: bool) -> Tensor {
        let (b, _, l, _) = q.size4().expect("[batch, heads, len, head_dim]");
        let mixed = Tensor::scaled_dot_product_attention(q, k, v, None::<Tensor>, 0.0, causal, None, false);
        self.out.forward(&mixed.transpose(1, 2).contiguous().view([b, l, -1]))
    }

    /// Attention of `x_q` over `x_kv` (self-attention when they are the same tensor).
    pub fn forward(&self, x_q: &Tensor, x_kv: &Tensor, causal: bool) -> Tensor {
        let q = self.split_heads(&self.query.forward(x_q));
        let k = self.split_heads(&self.key.forward(x_kv));
        let v = self.split_heads(&self.value.forward(x_kv));
        self.attend(&q, &k, &v, causal)
    }

    /// The cache of `memory`'s keys and values, computed once per decode (cross-attention).
    pub fn cache_of(&self, memory: &Tensor) -> KvCache {
        KvCache {
            keys: self.split_heads(&self.key.forward(memory)),
            values: self.split_heads(&self.value.forward(memory)),
        }
    }

    /// Cross-attention of one new position `x` (`[batch, 1, d]`) over a cached memory.
    pub fn forward_cached(&self, x: &Tensor, cache: &KvCache) -> Tensor {
        let q = self.split_heads(&self.query.forward(x));
        self.attend(&q, &cache.keys, &cache.values, false)
    }

    /// Self-attention of one new position `x` (`[batch, 1, d]`): appends its key and value to
    /// `cache` (created on the first step) and attends over every position so far.
    pub fn forward_step(&self, x: &Tensor, cache: &mut Option<KvCache>) -> Tensor {
        let q = self.split_heads(&self.query.forward(x));
        let k = self.split_heads(&self.key.forward(x));
        let v = self.split_heads(&self.value.forward(x));
        let grown = match cache.take() {
            Some(c) => KvCache { keys: Tensor::cat(&[c.keys, k], 2), values: Tensor::cat(&[c.values, v], 2) },
            None => KvCache { keys: k, values: v },
        };
        let out = self.attend(&q, &grown.keys, &grown.values, false);
        *cache = Some(grown);
        out
    }
}

/// The position-wise feed-forward block: Linear → GELU → Linear.
#[derive(Debug)]
pub struct FeedForward {
    up: nn::Linear,
    down: nn::Linear,
}

impl FeedForward {
    /// `d → hidden → d`, weights under `vs`.
    pub fn new(vs: nn::Path, d: i64, hidden: i64) -> Self {
        let c = nn::LinearConfig::default();
        Self { up: nn::linear(&vs / "up", d, hidden, c), down: nn::linear(&vs / "down", hidden, d, c) }
    }

    /// Applies the block (no dropout inside; the callers drop its output while training, as
    /// in Vaswani et al.).
    pub fn forward(&self, x: &Tensor) -> Tensor {
        self.down.forward(&self.up.forward(x).gelu("none"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    #[test]
    fn cached_steps_equal_causal_self_attention() {
        tch::manual_seed(1);
        let vs = nn::VarStore::new(Device::Cpu);
        let attn = Attention::new(vs.root(), 16, 4);
        let x = Tensor::randn([2, 5, 16], (Kind::Float, Device::Cpu));
        let full = attn.forward(&x, &x, true);
        let mut cache = None;
        let steps: Vec<Tensor> = (0..5).map(|i| attn.forward_step(&x.narrow(1, i, 1), &mut cache)).collect();
        let stepped = Tensor::cat(&steps, 1);
        assert!(f64::try_from((full - stepped).abs().max()).unwrap() < 1e-5);
    }
}
