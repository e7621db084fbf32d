//! The time pointer: ties each TIME token to the audio frames it names.
//!
//! TIME bin `k` lies `k / bins_per_beat` beats after the window's grid anchor, so it has a known
//! place among the encoder's frames. The pointer reads the audio memory there (linear
//! interpolation between the two nearest frames) and uses the reading twice:
//!
//! ```text
//! audio memory [B,T',d] ─┬─► Wk ─► read at every bin's time ─► keys   [B,K,d]
//!                        └─► Wv ─► read at every bin's time ─► values [B,K,d]
//! next-token logits of TIME k  +=  Wq(h) · keys[k] / √d     (point at the frame of the next object)
//! embedding of a fed TIME k    +=  values[k]                (the audio it has placed an object on)
//! ```
//! Without it every one of the (default 768) TIME rows of the token head and the embedding is
//! learnt on its own, from the few windows that use it; with it, choosing a time is choosing a
//! frame by what is heard there, the same at every bin. Bins outside the window read nothing
//! (zero keys and values).
//!
//! Limit: a slider's or spinner's TIME (before `SLIDER_END` / `SPINNER_END`) is its length in
//! beats, not a place after the anchor, yet it is read at its bin like an object start: the
//! audio it gets is not where the body ends (and one after `LONG_GAP`, 16 beats further, reads
//! its bin all the same). Only the mapflow layout has the pointer: the reference layout's TIME
//! tokens are deltas from the previous object ([`super::VocabLayout::time`]).

use tch::nn::{self, Module};
use tch::{Kind, Tensor};

/// Where the TIME tokens sit in a vocabulary, and their length.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimeBins {
    /// Id of `TIME 0`.
    pub offset: i64,
    /// Number of TIME ids.
    pub count: i64,
    /// Bins per beat.
    pub per_beat: f64,
}

/// The projected readings of one batch of windows: `[B, K, d]` keys and values, one per bin.
#[derive(Debug)]
pub struct PointerMemory {
    keys: Tensor,
    values: Tensor,
}

impl PointerMemory {
    /// Keeps only the batch rows in `rows` (finished windows leave the batch while decoding).
    pub fn select_rows(&mut self, rows: &Tensor) {
        self.keys = self.keys.index_select(0, rows);
        self.values = self.values.index_select(0, rows);
    }
}

/// The pointer's weights and the TIME block it serves.
#[derive(Debug)]
pub struct TimePointer {
    query: nn::Linear,
    key: nn::Linear,
    value: nn::Linear,
    bins: TimeBins,
    scale: f64,
}

impl TimePointer {
    /// A pointer of width `d` over `bins`, weights under `vs`.
    pub fn new(vs: nn::Path, d: i64, bins: TimeBins) -> Self {
        let c = nn::LinearConfig::default();
        Self {
            query: nn::linear(&vs / "query", d, d, c),
            key: nn::linear(&vs / "key", d, d, c),
            value: nn::linear(&vs / "value", d, d, c),
            bins,
            scale: 1.0 / (d as f64).sqrt(),
        }
    }

    /// Reads `audio` (`[B, T', d]`, frame `j` at `grid_start + j · beats_per_frame` beats from
    /// the anchor; both `[B]`) at every bin, projected. The frames are projected first and the
    /// projections interpolated: the same result (interpolation weights sum to 1), at `T'`
    /// rows instead of `K`.
    pub fn read(&self, audio: &Tensor, grid_start: &Tensor, beats_per_frame: &Tensor) -> PointerMemory {
        let (b, frames, d) = audio.size3().expect("[B, T', d]");
        let device = audio.device();
        let beats = Tensor::arange(self.bins.count, (Kind::Float, device)) / self.bins.per_beat;
        let position = (beats.unsqueeze(0) - grid_start.unsqueeze(1)) / beats_per_frame.unsqueeze(1);
        let inside = position.ge(0.0).logical_and(&position.le((frames - 1) as f64)).to_kind(Kind::Float).unsqueeze(-1);
        let position = position.clamp(0.0, (frames - 1) as f64);
        let below = position.floor();
        let above_weight = (&position - &below).unsqueeze(-1);
        let below_weight: Tensor = 1.0 - &above_weight;
        let below = below.to_kind(Kind::Int64).unsqueeze(-1).expand([b, self.bins.count, d], false);
        let above = (&below + 1).clamp_max(frames - 1);
        let at_bins = |frames: Tensor| {
            let kind = frames.kind();
            let mixed =
                frames.gather(1, &below, false) * &below_weight + frames.gather(1, &above, false) * &above_weight;
            (mixed * &inside).to_kind(kind)
        };
        PointerMemory { keys: at_bins(self.key.forward(audio)), values: at_bins(self.value.forward(audio)) }
    }

    /// What fed tokens `[B, L]` add to their embeddings: the value of their bin for TIME
    /// tokens, zero for the others.
    pub fn embed(&self, tokens: &Tensor, memory: &PointerMemory) -> Tensor {
        let (b, len) = tokens.size2().expect("[B, L]");
        let d = memory.values.size()[2];
        let bin = tokens - self.bins.offset;
        let is_time = bin.ge(0).logical_and(&bin.lt(self.bins.count)).to_kind(Kind::Float).unsqueeze(-1);
        let index = bin.clamp(0, self.bins.count - 1).unsqueeze(-1).expand([b, len, d], false);
        memory.values.gather(1, &index, false) * is_time
    }

    /// `logits` (`[B, L, V]`) with each TIME bin's pointer score added, from the decoder's
    /// final states `h` (`[B, L, d]`).
    pub fn point(&self, h: &Tensor, logits: &Tensor, memory: &PointerMemory) -> Tensor {
        let scores = self.query.forward(h).matmul(&memory.keys.transpose(1, 2)) * self.scale;
        let vocab = logits.size()[2];
        let (offset, count) = (self.bins.offset, self.bins.count);
        Tensor::cat(
            &[
                logits.narrow(2, 0, offset),
                logits.narrow(2, offset, count) + scores.to_kind(logits.kind()),
                logits.narrow(2, offset + count, vocab - offset - count),
            ],
            2,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    #[test]
    fn bins_read_the_frames_at_their_time_and_nothing_outside_the_window() {
        tch::manual_seed(3);
        let vs = nn::VarStore::new(Device::Cpu);
        // 4 bins per beat; frames every half beat from beat −1: frame j at beat j/2 − 1.
        let pointer = TimePointer::new(vs.root(), 2, TimeBins { offset: 10, count: 16, per_beat: 4.0 });
        let audio = Tensor::from_slice(&[0f32, 0.0, 1.0, 10.0, 2.0, 20.0, 3.0, 30.0]).view([1, 4, 2]);
        let memory = pointer.read(&audio, &Tensor::from_slice(&[-1f32]), &Tensor::from_slice(&[0.5f32]));
        let key = |reading: [f32; 2]| pointer.key.forward(&Tensor::from_slice(&reading));
        let close = |a: &Tensor, b: &Tensor| f64::try_from((a - b).abs().max()).unwrap() < 1e-5;
        // Bin 0 (beat 0) = frame 2; bin 1 (beat 0.25) halfway between frames 2 and 3.
        assert!(close(&memory.keys.get(0).get(0), &key([2.0, 20.0])));
        assert!(close(&memory.keys.get(0).get(1), &key([2.5, 25.0])));
        // Bin 3 (beat 0.75) is past the last frame (beat 0.5): nothing.
        assert!(close(&memory.keys.get(0).get(3), &Tensor::zeros([2], (Kind::Float, Device::Cpu))));
        // A fed TIME 1 gets its bin's value; other tokens nothing.
        let embedded = pointer.embed(&Tensor::from_slice(&[11i64, 4]).view([1, 2]), &memory);
        assert!(close(&embedded.get(0).get(0), &memory.values.get(0).get(1)));
        assert!(close(&embedded.get(0).get(1), &Tensor::zeros([2], (Kind::Float, Device::Cpu))));
    }

    #[test]
    fn scores_land_on_the_time_ids_only() {
        tch::manual_seed(4);
        let vs = nn::VarStore::new(Device::Cpu);
        let pointer = TimePointer::new(vs.root(), 4, TimeBins { offset: 2, count: 3, per_beat: 1.0 });
        let audio = Tensor::randn([1, 5, 4], (Kind::Float, Device::Cpu));
        let memory = pointer.read(&audio, &Tensor::from_slice(&[0f32]), &Tensor::from_slice(&[1f32]));
        let logits = Tensor::zeros([1, 1, 7], (Kind::Float, Device::Cpu));
        let pointed = pointer.point(&Tensor::randn([1, 1, 4], (Kind::Float, Device::Cpu)), &logits, &memory);
        let values = Vec::<f32>::try_from(pointed.reshape([-1])).unwrap();
        assert_eq!((values[0], values[1], values[5], values[6]), (0.0, 0.0, 0.0, 0.0));
        assert!(values[2..5].iter().all(|v| *v != 0.0));
    }
}
