//! The time pointer: ties each TIME token to the audio frames it names.
//!
//! A TIME token's bin `k` stands for a place on the window's beat grid: `k / bins_per_beat`
//! beats after its *base* — the grid anchor for an object's start, the object's start for a
//! slider's slide or a spinner's length (the TIME after `LENGTH` or after `SPINNER_START POS`),
//! plus 16 beats (the TIME block's span) per `LONG_GAP` before it. The base follows from the
//! tokens before it ([`TimeBases`]), so every TIME has a known place among the encoder's frames.
//! The pointer reads the audio memory at every bin of twice the block's span from the anchor
//! (linear interpolation between the two nearest frames) and uses the reading twice:
//!
//! ```text
//! audio memory [B,T',d] ─┬─► Wk ─► read at bins 0..2K ─► keys   [B,2K,d]
//!                        └─► Wv ─► read at bins 0..2K ─► values [B,2K,d]
//! next-token logits of TIME k  +=  Wq(h) · keys[base + k] / √d   (point at the frame of the next event)
//! embedding of a fed TIME k    +=  values[base + k]              (the audio it has placed an event on)
//! ```
//! Without it every one of the (default 768) TIME rows of the token head and the embedding is
//! learnt on its own, from the few windows that use it; with it, choosing a time is choosing a
//! frame by what is heard there, the same at every bin. Places outside the window or past the
//! readings read nothing (zero keys and values). A slide's TIME is one slide of the slider, so
//! it points at the end of the first slide (its first repeat or its end). Only the mapflow
//! layout has the pointer: the reference layout's TIME tokens are deltas from the previous
//! object ([`super::VocabLayout::time`]).

use tch::nn::{self, Module};
use tch::{Kind, Tensor};

/// Where the TIME tokens sit in a vocabulary, their length, and the ids that move their base.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimeBins {
    /// Id of `TIME 0`.
    pub offset: i64,
    /// Number of TIME ids (also the bins a `LONG_GAP` adds).
    pub count: i64,
    /// Bins per beat.
    pub per_beat: f64,
    /// The other ids that move the base of the next TIME.
    pub syntax: TimeSyntax,
}

/// The token ids besides TIME that decide where the next TIME counts from (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimeSyntax {
    /// `LONG_GAP`: 16 beats (the TIME block's span) more.
    pub long_gap: i64,
    /// `LENGTH 0` and the number of `LENGTH` ids: a slider's slide duration follows.
    pub lengths: (i64, i64),
    /// `SPINNER_START`: after its `POS`, the spinner's length follows.
    pub spinner_start: i64,
    /// `SLIDER_END` and `SPINNER_END`: the next TIME is an object's start again.
    pub ends: [i64; 2],
}

/// Per position of a token sequence, in bins after the grid anchor: where bin 0 of the token
/// fed there lies (if it is a TIME), and where bin 0 of a TIME predicted after it would lie.
#[derive(Debug)]
pub struct TimeBases {
    /// `[B, L]` (i64) for the fed tokens.
    pub fed: Tensor,
    /// `[B, L]` (i64) for the next tokens.
    pub next: Tensor,
}

/// The token classes that move a TIME's base, of `tokens` (any shape).
struct TokenClasses {
    time: Tensor,
    bin: Tensor,
    long_gap: Tensor,
    /// `LENGTH` or `SPINNER_START`: a duration follows.
    opens_duration: Tensor,
    /// `SLIDER_END` or `SPINNER_END`.
    ends_object: Tensor,
}

impl TimeBins {
    fn classes(&self, tokens: &Tensor) -> TokenClasses {
        let bin = tokens - self.offset;
        let syntax = &self.syntax;
        let length = tokens - syntax.lengths.0;
        TokenClasses {
            time: bin.ge(0).logical_and(&bin.lt(self.count)),
            bin,
            long_gap: tokens.eq(syntax.long_gap),
            opens_duration: length.ge(0).logical_and(&length.lt(syntax.lengths.1)).logical_or(&tokens.eq(syntax.spinner_start)),
            ends_object: tokens.eq(syntax.ends[0]).logical_or(&tokens.eq(syntax.ends[1])),
        }
    }

    /// The bases of every position of `tokens` (`[B, L]`, i64), as [`TimeState`] would give
    /// them fed one token at a time, computed at once (running maxima and sums along L).
    pub fn bases(&self, tokens: &Tensor) -> TimeBases {
        let (b, len) = tokens.size2().expect("[B, L]");
        let c = self.classes(tokens);
        let index = Tensor::arange(len, (Kind::Int64, tokens.device())).unsqueeze(0).expand([b, len], false);
        let none = Tensor::full([b, len], -1, (Kind::Int64, tokens.device()));
        // The index of the last position at or before each one where `mask` holds (−1: none).
        let last = |mask: &Tensor| index.where_self(mask, &none).cummax(1).0;
        // `values` at those positions (0 where there is none).
        let at = |values: &Tensor, positions: &Tensor| values.gather(1, &positions.clamp_min(0), false) * positions.ge(0);
        let shifted = |t: &Tensor| Tensor::cat(&[t.zeros_like().narrow(1, 0, 1), t.narrow(1, 0, len - 1)], 1);
        let in_duration = last(&c.opens_duration).gt_tensor(&last(&c.ends_object));
        let gaps_seen = c.long_gap.to_kind(Kind::Int64).cumsum(1, Kind::Int64);
        let gaps = &gaps_seen - at(&gaps_seen, &last(&c.time.logical_or(&c.opens_duration)));
        // An object's start: a TIME fed outside a duration, at its base (the gaps before it) + bin.
        let starts = c.time.logical_and(&shifted(&in_duration).logical_not());
        let start = at(&(shifted(&gaps) * self.count + &c.bin), &last(&starts));
        let next = gaps * self.count + start * in_duration;
        TimeBases { fed: shifted(&next), next }
    }
}

/// Where the next TIME counts from, in sequences decoded one token at a time (`[B]` each).
#[derive(Debug)]
pub struct TimeState {
    /// Inside a slider's or spinner's duration (after `LENGTH` / `SPINNER_START`).
    in_duration: Tensor,
    /// `LONG_GAP`s since the last TIME or duration opener.
    gaps: Tensor,
    /// The current object's start, in bins after the anchor.
    start: Tensor,
}

impl TimeState {
    /// The state before any token of `batch` sequences.
    pub fn new(batch: i64, device: tch::Device) -> Self {
        let zeros = || Tensor::zeros([batch], (Kind::Int64, device));
        Self { in_duration: Tensor::zeros([batch], (Kind::Bool, device)), gaps: zeros(), start: zeros() }
    }

    fn base(&self, count: i64) -> Tensor {
        &self.gaps * count + &self.start * &self.in_duration
    }

    /// Keeps only the batch rows in `rows`.
    pub fn select_rows(&mut self, rows: &Tensor) {
        for t in [&mut self.in_duration, &mut self.gaps, &mut self.start] {
            *t = t.index_select(0, rows);
        }
    }
}

impl TimeBins {
    /// Feeds `tokens` (`[B]`) to `state`: the bases of the fed tokens and of the next ones,
    /// `[B, 1]` each; the same as [`bases`](Self::bases) of the whole sequences at that position.
    pub fn feed(&self, state: &mut TimeState, tokens: &Tensor) -> TimeBases {
        let c = self.classes(tokens);
        let fed = state.base(self.count);
        let starts = c.time.logical_and(&state.in_duration.logical_not());
        state.start = (&fed + &c.bin).where_self(&starts, &state.start);
        state.gaps = (&state.gaps + c.long_gap.to_kind(Kind::Int64)) * c.time.logical_or(&c.opens_duration).logical_not();
        state.in_duration = c.opens_duration.logical_or(&state.in_duration.logical_and(&c.ends_object.logical_not()));
        TimeBases { fed: fed.unsqueeze(1), next: state.base(self.count).unsqueeze(1) }
    }
}

/// The projected readings of one batch of windows: `[B, 2K, d]` keys and values, one per bin
/// from the anchor over twice the TIME block's span.
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

    /// The bases of the TIME tokens of `tokens` (`[B, L]`, i64).
    pub fn bases(&self, tokens: &Tensor) -> TimeBases {
        self.bins.bases(tokens)
    }

    /// Feeds `tokens` (`[B]`) to `state`, giving their bases (see [`TimeBins::feed`]).
    pub fn feed(&self, state: &mut TimeState, tokens: &Tensor) -> TimeBases {
        self.bins.feed(state, tokens)
    }

    /// Places read: twice the TIME block's span, so that an object's start near the block's
    /// end still has its slide or spinner read.
    fn span(&self) -> i64 {
        2 * self.bins.count
    }

    /// Reads `audio` (`[B, T', d]`, frame `j` at `grid_start + j · beats_per_frame` beats from
    /// the anchor; both `[B]`) at every bin of the span, projected. The frames are projected first and the
    /// projections interpolated: the same result (interpolation weights sum to 1), at `T'`
    /// rows instead of `K`.
    pub fn read(&self, audio: &Tensor, grid_start: &Tensor, beats_per_frame: &Tensor) -> PointerMemory {
        let (b, frames, d) = audio.size3().expect("[B, T', d]");
        let device = audio.device();
        let span = self.span();
        let beats = Tensor::arange(span, (Kind::Float, device)) / self.bins.per_beat;
        let position = (beats.unsqueeze(0) - grid_start.unsqueeze(1)) / beats_per_frame.unsqueeze(1);
        let inside = position.ge(0.0).logical_and(&position.le((frames - 1) as f64)).to_kind(Kind::Float).unsqueeze(-1);
        let position = position.clamp(0.0, (frames - 1) as f64);
        let below = position.floor();
        let above_weight = (&position - &below).unsqueeze(-1);
        let below_weight: Tensor = 1.0 - &above_weight;
        let below = below.to_kind(Kind::Int64).unsqueeze(-1).expand([b, span, d], false);
        let above = (&below + 1).clamp_max(frames - 1);
        let at_bins = |frames: Tensor| {
            let kind = frames.kind();
            let mixed = frames.gather(1, &below, false) * &below_weight + frames.gather(1, &above, false) * &above_weight;
            (mixed * &inside).to_kind(kind)
        };
        PointerMemory { keys: at_bins(self.key.forward(audio)), values: at_bins(self.value.forward(audio)) }
    }

    /// What fed tokens `[B, L]` with bases `fed` add to their embeddings: the value read at
    /// their place for TIME tokens, zero for the others.
    pub fn embed(&self, tokens: &Tensor, fed: &Tensor, memory: &PointerMemory) -> Tensor {
        let (b, len) = tokens.size2().expect("[B, L]");
        let d = memory.values.size()[2];
        let bin = tokens - self.bins.offset;
        let place = fed + &bin;
        let read = bin.ge(0).logical_and(&bin.lt(self.bins.count)).logical_and(&place.lt(self.span()));
        let index = place.clamp(0, self.span() - 1).unsqueeze(-1).expand([b, len, d], false);
        memory.values.gather(1, &index, false) * read.to_kind(Kind::Float).unsqueeze(-1)
    }

    /// `logits` (`[B, L, V]`) with each TIME bin's pointer score added, from the decoder's
    /// final states `h` (`[B, L, d]`) and the bases `next` (`[B, L]`) of the TIME to come.
    pub fn point(&self, h: &Tensor, next: &Tensor, logits: &Tensor, memory: &PointerMemory) -> Tensor {
        let scores = self.query.forward(h).matmul(&memory.keys.transpose(1, 2)) * self.scale;
        let (offset, count) = (self.bins.offset, self.bins.count);
        let place = next.unsqueeze(-1) + Tensor::arange(count, (Kind::Int64, h.device()));
        let read = place.lt(self.span()).to_kind(scores.kind());
        let scores = scores.gather(2, &place.clamp_max(self.span() - 1), false) * read;
        let vocab = logits.size()[2];
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

    use crate::network::VocabLayout;
    use operators::beatmap::CurveKind;
    use operators::tokenizer::{Token, Tokenizer};

    /// Bins whose base never moves (no id of the syntax occurs).
    fn plain_bins(offset: i64, count: i64, per_beat: f64) -> TimeBins {
        let syntax = TimeSyntax { long_gap: -1, lengths: (-1, 0), spinner_start: -1, ends: [-1, -1] };
        TimeBins { offset, count, per_beat, syntax }
    }

    #[test]
    fn bins_read_the_frames_at_their_time_and_nothing_outside_the_window() {
        tch::manual_seed(3);
        let vs = nn::VarStore::new(Device::Cpu);
        // 4 bins per beat; frames every half beat from beat −1: frame j at beat j/2 − 1.
        let pointer = TimePointer::new(vs.root(), 2, plain_bins(10, 16, 4.0));
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
        let fed = Tensor::zeros([1, 2], (Kind::Int64, Device::Cpu));
        let embedded = pointer.embed(&Tensor::from_slice(&[11i64, 4]).view([1, 2]), &fed, &memory);
        assert!(close(&embedded.get(0).get(0), &memory.values.get(0).get(1)));
        assert!(close(&embedded.get(0).get(1), &Tensor::zeros([2], (Kind::Float, Device::Cpu))));
        // From base 1 the same TIME 1 reads bin 2; from base 31 it lies past the 32 bins read.
        let fed = Tensor::from_slice(&[1i64, 31]).view([1, 2]);
        let embedded = pointer.embed(&Tensor::from_slice(&[11i64, 11]).view([1, 2]), &fed, &memory);
        assert!(close(&embedded.get(0).get(0), &memory.values.get(0).get(2)));
        assert!(!close(&memory.values.get(0).get(2), &Tensor::zeros([2], (Kind::Float, Device::Cpu))));
        assert!(close(&embedded.get(0).get(1), &Tensor::zeros([2], (Kind::Float, Device::Cpu))));
    }

    #[test]
    fn scores_land_on_the_time_ids_only() {
        tch::manual_seed(4);
        let vs = nn::VarStore::new(Device::Cpu);
        let pointer = TimePointer::new(vs.root(), 4, plain_bins(2, 3, 1.0));
        let audio = Tensor::randn([1, 5, 4], (Kind::Float, Device::Cpu));
        let memory = pointer.read(&audio, &Tensor::from_slice(&[0f32]), &Tensor::from_slice(&[1f32]));
        let logits = Tensor::zeros([1, 1, 7], (Kind::Float, Device::Cpu));
        let next = Tensor::zeros([1, 1], (Kind::Int64, Device::Cpu));
        let pointed = pointer.point(&Tensor::randn([1, 1, 4], (Kind::Float, Device::Cpu)), &next, &logits, &memory);
        let values = Vec::<f32>::try_from(pointed.reshape([-1])).unwrap();
        assert_eq!((values[0], values[1], values[5], values[6]), (0.0, 0.0, 0.0, 0.0));
        assert!(values[2..5].iter().all(|v| *v != 0.0));
    }

    #[test]
    fn a_time_counts_from_the_anchor_its_object_or_its_long_gaps_fed_at_once_or_one_by_one() {
        let tokenizer = Tokenizer::new(Default::default()).unwrap();
        let bins = VocabLayout::of(&tokenizer).time.expect("mapflow layout");
        let id = |token| i64::from(tokenizer.vocab().id(token).unwrap());
        let time = |k| id(Token::Time(k));
        let pos = id(Token::Position { bx: 3, by: 4 });
        // A circle at bin 10; a slider at 768 + 5 sliding 24 bins; a spinner at 100 lasting
        // 768 + 7 bins.
        let sequence = [
            id(Token::Bos), time(10), id(Token::Circle), pos,
            id(Token::LongGap), time(5), id(Token::SliderStart), pos, id(Token::Curve(CurveKind::Bezier)),
            id(Token::Repeat(0)), id(Token::Length(3)), time(24), id(Token::SliderEnd),
            time(100), id(Token::SpinnerStart), pos, id(Token::LongGap), time(7), id(Token::SpinnerEnd), id(Token::Eos),
        ];
        let len = sequence.len() as i64;
        let tokens = Tensor::from_slice(&sequence).view([1, len]);
        let at_once = bins.bases(&tokens);
        let mut state = TimeState::new(1, Device::Cpu);
        let one_by_one: Vec<TimeBases> = (0..len).map(|i| bins.feed(&mut state, &tokens.select(1, i))).collect();
        let row = |t: &Tensor| Vec::<i64>::try_from(t.reshape([-1])).unwrap();
        assert_eq!(row(&at_once.fed), row(&Tensor::cat(&one_by_one.iter().map(|b| &b.fed).collect::<Vec<_>>(), 1)));
        assert_eq!(row(&at_once.next), row(&Tensor::cat(&one_by_one.iter().map(|b| &b.next).collect::<Vec<_>>(), 1)));
        // Where each TIME lies: its base + its bin.
        let fed = row(&at_once.fed);
        let places: Vec<i64> = sequence
            .iter()
            .zip(&fed)
            .filter(|&(&t, _)| (bins.offset..bins.offset + bins.count).contains(&t))
            .map(|(&t, &base)| base + t - bins.offset)
            .collect();
        assert_eq!(places, vec![10, 768 + 5, 768 + 5 + 24, 100, 100 + 768 + 7]);
        // The base predicted after a token is the base of the TIME fed next.
        let next = row(&at_once.next);
        assert!((1..sequence.len()).all(|i| next[i - 1] == fed[i]));
    }
}
