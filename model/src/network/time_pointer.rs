//! The time pointer: ties each TIME token to the audio frames it names.
//!
//! A TIME token's bin `k` stands for a place on the window's beat grid: `k / bins_per_beat`
//! beats after its *base* — the grid anchor for an object's start, the object's start for a
//! slider's slide or a spinner's length (the TIME after `LENGTH` or after `SPINNER_START POS`),
//! plus 16 beats (the TIME block's span) per `LONG_GAP` before it. The base follows from the
//! tokens before it ([`TimeBases`]), so every TIME has a known place among the encoder's frames.
//! The pointer reads the audio memory at any place of twice the block's span from the anchor
//! (linear interpolation between the two frames around it) and uses the reading twice:
//!
//! ```text
//! audio memory [B,T',d] ─┬─► Wk ─► frame keys   [B,T',d]
//!                        └─► Wv ─► frame values [B,T',d]
//! next-token logits of TIME k  +=  Wq(h) · keys at base + k / √d   (point at the frame of the next event)
//! embedding of a fed TIME k    +=  values at base + k             (the audio it has placed an event on)
//! ```
//! Projections are linear, so reading the projected frames equals projecting the reading; and
//! `Wq(h)` is scored against the `T'` frames and the scores interpolated, not against every place.
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

/// Where the next TIME counts from in one sequence decoded token by token.
#[derive(Debug, Clone, Copy, Default)]
struct RowState {
    /// Inside a slider's or spinner's duration (after `LENGTH` / `SPINNER_START`).
    in_duration: bool,
    /// `LONG_GAP`s since the last TIME or duration opener.
    gaps: i64,
    /// The current object's start, in bins after the anchor.
    start: i64,
}

impl RowState {
    fn base(&self, count: i64) -> i64 {
        self.gaps * count + if self.in_duration { self.start } else { 0 }
    }
}

/// Where the next TIME counts from, in sequences decoded one token at a time: kept on the CPU,
/// one small state per row, since each step feeds only one token per row.
#[derive(Debug, Clone)]
pub struct TimeState {
    rows: Vec<RowState>,
}

impl TimeState {
    /// The state before any token of `batch` sequences.
    pub fn new(batch: i64) -> Self {
        Self { rows: vec![RowState::default(); usize::try_from(batch).unwrap_or(0)] }
    }

    /// Keeps only the batch rows in `rows` (an i64 index tensor).
    pub fn select_rows(&mut self, rows: &Tensor) {
        let rows = Vec::<i64>::try_from(rows.to_device(tch::Device::Cpu)).expect("i64 row indices");
        self.rows = rows.into_iter().map(|r| self.rows[r as usize]).collect();
    }
}

impl TimeBins {
    /// Feeds `tokens` (`[B]`) to `state`: the bases of the fed tokens and of the next ones,
    /// `[B, 1]` each; the same as [`bases`](Self::bases) of the whole sequences at that position.
    pub fn feed(&self, state: &mut TimeState, tokens: &Tensor) -> TimeBases {
        let ids = Vec::<i64>::try_from(tokens.to_device(tch::Device::Cpu)).expect("i64 token ids");
        let syntax = &self.syntax;
        let (mut fed, mut next) = (Vec::with_capacity(ids.len()), Vec::with_capacity(ids.len()));
        for (row, id) in state.rows.iter_mut().zip(ids) {
            let base = row.base(self.count);
            let bin = id - self.offset;
            let opens_duration = (0..syntax.lengths.1).contains(&(id - syntax.lengths.0)) || id == syntax.spinner_start;
            if (0..self.count).contains(&bin) {
                if !row.in_duration {
                    row.start = base + bin;
                }
                row.gaps = 0;
            } else if id == syntax.long_gap {
                row.gaps += 1;
            } else if opens_duration {
                (row.in_duration, row.gaps) = (true, 0);
            } else if syntax.ends.contains(&id) {
                row.in_duration = false;
            }
            fed.push(base);
            next.push(row.base(self.count));
        }
        let column = |v: Vec<i64>| Tensor::from_slice(&v).unsqueeze(1).to_device(tokens.device());
        TimeBases { fed: column(fed), next: column(next) }
    }
}

/// What the pointer reads of one batch of windows: the projected encoder frames (`[B, T', d]`
/// keys and values), and where each place `0..2K` (bins from the anchor) lies among them. A
/// reading at a place interpolates the two frames around it, so a step of decoding scores
/// `T'` frames, not `2K` places, and a whole sequence's places are read in one gather.
#[derive(Debug)]
pub struct PointerMemory {
    keys: Tensor,
    values: Tensor,
    /// `[B, 2K]` (i64): the frame at or before each place.
    below: Tensor,
    /// `[B, 2K]`: the weight of the frame after it.
    above_weight: Tensor,
    /// `[B, 2K]`: 1 where the place lies inside the window, else 0.
    inside: Tensor,
}

/// Where some places lie among the frames (see [`PointerMemory::locate`]), each `[B, N]`.
struct Located {
    below: Tensor,
    above: Tensor,
    above_weight: Tensor,
    /// 1 where the place is read (inside the window and the span), else 0.
    read: Tensor,
}

impl PointerMemory {
    /// Keeps only the batch rows in `rows` (finished windows leave the batch while decoding).
    pub fn select_rows(&mut self, rows: &Tensor) {
        for t in [&mut self.keys, &mut self.values, &mut self.below, &mut self.above_weight, &mut self.inside] {
            *t = t.index_select(0, rows);
        }
    }

    /// Where `places` (`[B, N]`, i64, any values) lie among the frames.
    fn locate(&self, places: &Tensor) -> Located {
        let (span, frames) = (self.below.size()[1], self.keys.size()[1]);
        let at = places.clamp(0, span - 1);
        let below = self.below.gather(1, &at, false);
        let in_span = places.ge(0).logical_and(&places.lt(span)).to_kind(Kind::Float);
        Located {
            above: (&below + 1).clamp_max(frames - 1),
            below,
            above_weight: self.above_weight.gather(1, &at, false),
            read: self.inside.gather(1, &at, false) * in_span,
        }
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
    /// the anchor; both `[B]`): its frames projected, and where every place of the span lies
    /// among them.
    pub fn read(&self, audio: &Tensor, grid_start: &Tensor, beats_per_frame: &Tensor) -> PointerMemory {
        let frames = audio.size()[1];
        let beats = Tensor::arange(self.span(), (Kind::Float, audio.device())) / self.bins.per_beat;
        let position = (beats.unsqueeze(0) - grid_start.unsqueeze(1)) / beats_per_frame.unsqueeze(1);
        let inside = position.ge(0.0).logical_and(&position.le((frames - 1) as f64)).to_kind(Kind::Float);
        let position = position.clamp(0.0, (frames - 1) as f64);
        let below = position.floor();
        PointerMemory {
            keys: self.key.forward(audio),
            values: self.value.forward(audio),
            above_weight: (&position - &below).to_kind(Kind::Float),
            below: below.to_kind(Kind::Int64),
            inside,
        }
    }

    /// What fed tokens `[B, L]` with bases `fed` add to their embeddings: the value read at
    /// their place for TIME tokens, zero for the others.
    pub fn embed(&self, tokens: &Tensor, fed: &Tensor, memory: &PointerMemory) -> Tensor {
        let (b, len) = tokens.size2().expect("[B, L]");
        let d = memory.values.size()[2];
        let bin = tokens - self.bins.offset;
        let at = memory.locate(&(fed + &bin));
        let is_time = bin.ge(0).logical_and(&bin.lt(self.bins.count)).to_kind(Kind::Float);
        let frame = |index: &Tensor| memory.values.gather(1, &index.unsqueeze(-1).expand([b, len, d], false), false);
        let weight = at.above_weight.unsqueeze(-1);
        let below_weight: Tensor = 1.0 - &weight;
        let mixed: Tensor = frame(&at.below) * below_weight + frame(&at.above) * &weight;
        (mixed * (at.read * is_time).unsqueeze(-1)).to_kind(memory.values.kind())
    }

    /// `logits` (`[B, L, V]`) with each TIME bin's pointer score added, from the decoder's
    /// final states `h` (`[B, L, d]`) and the bases `next` (`[B, L]`) of the TIME to come.
    pub fn point(&self, h: &Tensor, next: &Tensor, logits: &Tensor, memory: &PointerMemory) -> Tensor {
        let (b, len) = next.size2().expect("[B, L]");
        let (offset, count) = (self.bins.offset, self.bins.count);
        // Scores of the frames, then interpolated at the places, as the keys would be.
        let frames = self.query.forward(h).matmul(&memory.keys.transpose(1, 2)) * self.scale;
        let places = next.unsqueeze(-1) + Tensor::arange(count, (Kind::Int64, h.device()));
        let at = memory.locate(&places.view([b, len * count]));
        let score = |index: &Tensor| frames.gather(2, &index.view([b, len, count]), false);
        let weight = at.above_weight.view([b, len, count]);
        let below_weight: Tensor = 1.0 - &weight;
        let scores: Tensor = (score(&at.below) * below_weight + score(&at.above) * &weight) * at.read.view([b, len, count]);
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
    fn times_read_the_frames_at_their_place_and_nothing_outside_the_window() {
        tch::manual_seed(3);
        let vs = nn::VarStore::new(Device::Cpu);
        // 4 bins per beat, 16 TIME ids from id 10 (32 places read); frames every half beat from
        // beat −1: frame j at beat j/2 − 1.
        let pointer = TimePointer::new(vs.root(), 2, plain_bins(10, 16, 4.0));
        let audio = Tensor::from_slice(&[0f32, 0.0, 1.0, 10.0, 2.0, 20.0, 3.0, 30.0]).view([1, 4, 2]);
        let memory = pointer.read(&audio, &Tensor::from_slice(&[-1f32]), &Tensor::from_slice(&[0.5f32]));
        let close = |a: &Tensor, b: &Tensor| f64::try_from((a - b).abs().max()).unwrap() < 1e-5;
        let zero = Tensor::zeros([2], (Kind::Float, Device::Cpu));
        let value = |reading: [f32; 2]| pointer.value.forward(&Tensor::from_slice(&reading));
        // TIME 0, 1, 3 from base 0; TIME 1 from bases 1 and 31; a token that is no TIME.
        let tokens = Tensor::from_slice(&[10i64, 11, 13, 11, 11, 4]).view([1, 6]);
        let fed = Tensor::from_slice(&[0i64, 0, 0, 1, 31, 0]).view([1, 6]);
        let embedded = pointer.embed(&tokens, &fed, &memory).get(0);
        // Bin 0 (beat 0) = frame 2; bin 1 (beat 0.25) halfway between frames 2 and 3; bin 3
        // (beat 0.75) is past the last frame (beat 0.5): nothing.
        assert!(close(&embedded.get(0), &value([2.0, 20.0])));
        assert!(close(&embedded.get(1), &value([2.5, 25.0])));
        assert!(close(&embedded.get(2), &zero));
        // From base 1 TIME 1 reads place 2 (frame 3); from base 31 it lies past the places read.
        assert!(close(&embedded.get(3), &value([3.0, 30.0])));
        assert!(close(&embedded.get(4), &zero));
        assert!(close(&embedded.get(5), &zero));
        // The logit of TIME k after base 1 gets Wq(h) · key at place 1 + k / √d.
        let h = Tensor::randn([1, 1, 2], (Kind::Float, Device::Cpu));
        let logits = Tensor::zeros([1, 1, 26], (Kind::Float, Device::Cpu));
        let next = Tensor::from_slice(&[1i64]).view([1, 1]);
        let pointed = pointer.point(&h, &next, &logits, &memory).reshape([-1]);
        let query = pointer.query.forward(&h).reshape([-1]);
        let score = |reading: [f32; 2]| (&query * pointer.key.forward(&Tensor::from_slice(&reading))).sum(Kind::Float) / 2f64.sqrt();
        assert!(close(&pointed.get(10), &score([2.5, 25.0])));
        assert!(close(&pointed.get(11), &score([3.0, 30.0])));
        assert!(close(&pointed.get(12), &Tensor::from(0f32)));
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
        let mut state = TimeState::new(1);
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
