//! Tokenizer: one window of a beatmap ⇄ token ids + residuals.
//!
//! ```text
//! Beatmap ─► windows (config.windows) ─► per window: BOS object… EOS ─► tokens: Vec<u32>
//!                                                                    └► residuals (time, x, y)
//! tokens + residuals + timing ─► detokenize ─► hit objects (+ count of skipped tokens)
//! ```
//! Mapflow layout, per object (`[…]` optional, `*` repeated):
//! ```text
//! LONG_GAP* TIME [NEW_COMBO] CIRCLE POS
//! LONG_GAP* TIME [NEW_COMBO] SLIDER_START POS CURVE ([CURVE] SLIDER_CONTROL POS)*
//!                            REPEAT_MORE* REPEAT LENGTH_MORE* LENGTH LONG_GAP* TIME SLIDER_END
//! LONG_GAP* TIME [NEW_COMBO] SPINNER_START POS LONG_GAP* TIME SPINNER_END
//! ```
//! An object's time is its beat position counted from the window's grid anchor (the last
//! 1/beat_divisor grid line at or before the predict region's start) in its own section's beat
//! length; a slider's TIME is one slide, a spinner's its length, both in beats at the object's
//! start. Reference layout: `TIME` = beat delta from the previous object, `SLIDER_START POS CURVE
//! (SLIDER_CONTROL POS)* SLIDER_END POS`, `SPINNER_START POS TIME SPINNER_END` (see [`Layout`]).
//!
//! Residuals (f32, one per token, zero where unused): `time` in beats on TIME tokens (exact
//! offset from the bin); `x`, `y` in osu!px from the bin centre on POS tokens; slider length in
//! osu!px from the bin in `x` on LENGTH tokens (mapflow).

mod config;
pub mod roundtrip;
mod vocab;
mod windows;

use crate::beatmap::{
    Beatmap, CurveKind, HitObject, ObjectCounts, ObjectKind, PLAYFIELD_HEIGHT, PLAYFIELD_WIDTH, PathPoint, Point,
    Slider, TimingModel,
};

pub use config::{
    Layout, MAX_BEAT_BINS, MAX_BEAT_DIVISOR, MAX_CONTROL_POINTS, MAX_LENGTH_BINS, MAX_LENGTH_STEP_PX, MAX_REPEAT_BINS,
    MAX_WINDOW_MS, MIN_LENGTH_STEP_PX, MIN_STRIDE_MS, TokenizerConfig, WindowConfig,
};
pub use vocab::{CURVE_OFFSET, POSITION_OFFSET, Token, Vocabulary};
pub use windows::Window;

/// Continuous corrections of one token (see the module docs for what each channel holds).
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize)]
pub struct Residual {
    /// Beats (TIME tokens).
    pub time: f32,
    /// osu!px (POS tokens; slider length on LENGTH tokens).
    pub x: f32,
    /// osu!px (POS tokens).
    pub y: f32,
}

/// One window's tokens, ready for a shard.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenizedWindow {
    /// Where the window lies in the song.
    pub window: Window,
    /// Token ids, `BOS … EOS`.
    pub tokens: Vec<u32>,
    /// One residual per token.
    pub residuals: Vec<Residual>,
    /// The objects encoded (those starting in the predict region).
    pub counts: ObjectCounts,
    /// The window's beat grid: where its anchor lies and how long a beat is there.
    pub grid: WindowGrid,
}

/// A window's local beat grid: the anchor grid line (the last 1/beat_divisor grid line at or
/// before the predict start) and the beat length there. Times of frames in the window map to
/// beats from the anchor as `(t − anchor_ms) / beat_ms`, which is what TIME tokens count
/// (mapflow layout) — the model's encoder reads this grid next to the audio.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct WindowGrid {
    /// Time of the anchor grid line, ms.
    pub anchor_ms: f64,
    /// Beat length at the anchor, ms.
    pub beat_ms: f64,
}

/// Hit objects read back from tokens.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Detokenized {
    /// Objects in token order.
    pub objects: Vec<HitObject>,
    /// Tokens that did not belong to a well-formed object (BOS, EOS and PAD not counted;
    /// everything after the first EOS counted).
    pub skipped_tokens: usize,
}

/// Merges decoded windows into one list of objects sorted by time, keeping each object only if
/// it starts in its own window's predict region ([`Window::keeps_decoded`]): overlapping
/// windows never duplicate an object.
pub fn merge_predict_regions(decoded: impl IntoIterator<Item = (Window, Vec<HitObject>)>) -> Vec<HitObject> {
    let mut merged: Vec<HitObject> = decoded
        .into_iter()
        .flat_map(|(window, objects)| objects.into_iter().filter(move |o| window.keeps_decoded(o.time_ms)))
        .collect();
    merged.sort_by(|a, b| a.time_ms.total_cmp(&b.time_ms));
    merged
}

/// Encodes and decodes windows with one [`TokenizerConfig`].
#[derive(Debug, Clone)]
pub struct Tokenizer {
    config: TokenizerConfig,
    vocab: Vocabulary,
}

impl Tokenizer {
    /// A tokenizer for a valid `config`.
    pub fn new(config: TokenizerConfig) -> Result<Self, String> {
        config.validate()?;
        Ok(Self { vocab: Vocabulary::new(&config), config })
    }

    /// Its config.
    pub fn config(&self) -> &TokenizerConfig {
        &self.config
    }

    /// Its vocabulary.
    pub fn vocab(&self) -> &Vocabulary {
        &self.vocab
    }

    /// The windows of `map` for a song lasting `song_ms` (all of them, empty ones included).
    pub fn windows(&self, map: &Beatmap, song_ms: f64) -> Vec<Window> {
        let span = map.objects.first().zip(map.objects.last()).map(|(a, b)| (a.time_ms, b.time_ms));
        self.config.windows.windows(song_ms, span)
    }

    /// Tokenizes every window of `map` (empty ones only if `keep_empty`).
    pub fn tokenize(&self, map: &Beatmap, song_ms: f64) -> Vec<TokenizedWindow> {
        self.windows(map, song_ms)
            .iter()
            .map(|w| self.tokenize_window(map, w))
            .filter(|w| self.config.windows.keep_empty || w.counts.total() > 0)
            .collect()
    }

    /// Tokenizes the objects of `map` that start in `window`'s predict region.
    pub fn tokenize_window(&self, map: &Beatmap, window: &Window) -> TokenizedWindow {
        let from = map.objects.partition_point(|o| o.time_ms < window.predict_start_ms);
        let to = map.objects.partition_point(|o| o.time_ms < window.predict_end_ms);
        let objects = &map.objects[from..to];
        let mut e = Encoder { t: self, tokens: Vec::new(), residuals: Vec::new() };
        e.push(Token::Bos, Residual::default());
        let anchor = self.anchor_beat(&map.timing, window);
        let mut previous_ms = window.predict_start_ms;
        for object in objects {
            match self.config.layout {
                Layout::Mapflow => e.mapflow_object(object, &map.timing, anchor),
                Layout::Reference => {
                    e.reference_object(object, &map.timing, previous_ms);
                    previous_ms = object.time_ms;
                }
            }
        }
        e.push(Token::Eos, Residual::default());
        TokenizedWindow {
            window: *window,
            tokens: e.tokens,
            residuals: e.residuals,
            counts: ObjectCounts::of(objects),
            grid: self.grid(&map.timing, window),
        }
    }

    /// `window`'s beat grid under `timing` (see [`WindowGrid`]).
    pub fn grid(&self, timing: &TimingModel, window: &Window) -> WindowGrid {
        let anchor = self.anchor_beat(timing, window);
        WindowGrid { anchor_ms: timing.time_at_beat(anchor), beat_ms: timing.beat_len_at_beat(anchor) }
    }

    /// Reads one window's tokens back into hit objects, with the song's `timing` and
    /// `slider_multiplier`. Never panics: malformed stretches are skipped and counted; a missing
    /// residual counts as zero; an object with a non-finite residual is skipped.
    pub fn detokenize(
        &self,
        tokens: &[u32],
        residuals: &[Residual],
        timing: &TimingModel,
        slider_multiplier: f64,
        window: &Window,
    ) -> Detokenized {
        let mut out = Detokenized::default();
        let anchor = self.anchor_beat(timing, window);
        let mut previous_ms = window.predict_start_ms;
        let mut c = Cursor { tokens, residuals, vocab: &self.vocab, pos: 0 };
        while c.pos < tokens.len() {
            match c.peek() {
                Some(Token::Eos) => {
                    out.skipped_tokens += tokens.len() - c.pos - 1;
                    break;
                }
                Some(Token::Bos | Token::Pad) => {
                    c.pos += 1;
                    continue;
                }
                _ => {}
            }
            let start = c.pos;
            let object = match self.config.layout {
                Layout::Mapflow => self.mapflow_object(&mut c, timing, anchor),
                Layout::Reference => self.reference_object(&mut c, timing, slider_multiplier, previous_ms),
            };
            match object {
                Some(o) => {
                    previous_ms = o.time_ms;
                    out.objects.push(o);
                }
                None => {
                    c.pos = start + 1;
                    out.skipped_tokens += 1;
                }
            }
        }
        out
    }

    /// Mapflow: the last grid line (1/beat_divisor beat) at or before the predict start.
    fn anchor_beat(&self, timing: &TimingModel, window: &Window) -> f64 {
        let div = f64::from(self.config.beat_divisor);
        (timing.beat_at(window.predict_start_ms) * div).floor() / div
    }

    fn bin_size(&self) -> (f32, f32) {
        (PLAYFIELD_WIDTH / self.config.grid_x as f32, PLAYFIELD_HEIGHT / self.config.grid_y as f32)
    }

    fn position(&self, bx: u32, by: u32, r: Residual) -> Point {
        let (w, h) = self.bin_size();
        let p = Point { x: (bx as f32 + 0.5) * w + r.x, y: (by as f32 + 0.5) * h + r.y };
        match self.config.layout {
            Layout::Mapflow => p,
            Layout::Reference => Point { x: p.x.clamp(0.0, PLAYFIELD_WIDTH), y: p.y.clamp(0.0, PLAYFIELD_HEIGHT) },
        }
    }

    fn mapflow_object(&self, c: &mut Cursor, timing: &TimingModel, anchor: f64) -> Option<HitObject> {
        let div = f64::from(self.config.beat_divisor);
        let (bins, residual) = c.long_gaps_and_time(self.config.beat_bins)?;
        let beat = anchor + bins as f64 / div + residual;
        let time_ms = timing.time_at_beat(beat);
        let beat_len = timing.beat_len_at_beat(beat);
        let new_combo = c.eat(Token::NewCombo);
        match c.next()?.0 {
            Token::Circle => {
                let pos = c.position(self)?;
                return Some(HitObject { time_ms, pos, new_combo, kind: ObjectKind::Circle });
            }
            Token::SpinnerStart => {
                let pos = c.position(self)?;
                let (bins, residual) = c.long_gaps_and_time(self.config.beat_bins)?;
                c.expect(Token::SpinnerEnd)?;
                let duration_ms = (bins as f64 / div + residual) * beat_len;
                return Some(HitObject { time_ms, pos, new_combo, kind: ObjectKind::Spinner { duration_ms } });
            }
            Token::SliderStart => {}
            _ => return None,
        }
        let head = c.position(self)?;
        let Token::Curve(first) = c.next()?.0 else { return None };
        let mut path = vec![PathPoint { pos: head, segment: Some(first) }];
        let mut pending = None;
        loop {
            match c.peek() {
                Some(Token::Curve(k)) if pending.is_none() => {
                    c.pos += 1;
                    pending = Some(k);
                }
                Some(Token::SliderControl) => {
                    c.pos += 1;
                    path.push(PathPoint { pos: c.position(self)?, segment: pending.take() });
                }
                _ => break,
            }
        }
        if pending.is_some() {
            return None;
        }
        let mut repeats = 0u64;
        while c.eat(Token::RepeatMore) {
            repeats += u64::from(self.config.repeat_bins);
        }
        let Token::Repeat(r) = c.next()?.0 else { return None };
        let repeats = u32::try_from(repeats + u64::from(r)).ok()?;
        let mut length_bins = 0u64;
        while c.eat(Token::LengthMore) {
            length_bins += u64::from(self.config.length_bins);
        }
        let (Token::Length(l), residual) = c.next()? else { return None };
        let length_px =
            (length_bins + u64::from(l)) as f64 * f64::from(self.config.length_step_px) + f64::from(residual.x);
        let (bins, residual) = c.long_gaps_and_time(self.config.beat_bins)?;
        c.expect(Token::SliderEnd)?;
        let span_ms = (bins as f64 / div + residual) * beat_len;
        let slider = Slider { path, repeats, length_px, span_ms };
        Some(HitObject { time_ms, pos: head, new_combo, kind: ObjectKind::Slider(slider) })
    }

    fn reference_object(
        &self,
        c: &mut Cursor,
        timing: &TimingModel,
        slider_multiplier: f64,
        previous_ms: f64,
    ) -> Option<HitObject> {
        let div = f64::from(self.config.beat_divisor);
        let ms_per_beat = timing.first_beat_len();
        let (Token::Time(bin), residual) = c.next()? else { return None };
        let time_ms = previous_ms + (f64::from(bin) / div + f64::from(residual.time)) * ms_per_beat;
        let new_combo = false;
        match c.next()?.0 {
            Token::Circle => Some(HitObject { time_ms, pos: c.position(self)?, new_combo, kind: ObjectKind::Circle }),
            Token::SpinnerStart => {
                let pos = c.position(self)?;
                let (Token::Time(bin), _) = c.next()? else { return None };
                c.expect(Token::SpinnerEnd)?;
                let duration_ms = f64::from(bin) / div * ms_per_beat;
                Some(HitObject { time_ms, pos, new_combo, kind: ObjectKind::Spinner { duration_ms } })
            }
            Token::SliderStart => {
                let head = c.position(self)?;
                let Token::Curve(curve) = c.next()?.0 else { return None };
                let mut path = vec![PathPoint { pos: head, segment: Some(curve) }];
                while c.eat(Token::SliderControl) {
                    let pos = c.position(self)?;
                    // A doubled point in the curve string is a red anchor.
                    let len = path.len();
                    match path.last_mut() {
                        Some(last) if len > 1 && last.pos == pos => last.segment = Some(curve),
                        _ => path.push(PathPoint { pos, segment: None }),
                    }
                }
                c.expect(Token::SliderEnd)?;
                c.position(self)?;
                // The reference writes every slider as 100 px, one slide, at slider velocity 1.
                let length_px = 100.0;
                let span_ms = length_px / (100.0 * slider_multiplier) * ms_per_beat;
                let slider = Slider { path, repeats: 0, length_px, span_ms };
                Some(HitObject { time_ms, pos: head, new_combo, kind: ObjectKind::Slider(slider) })
            }
            _ => None,
        }
    }
}

/// Appends tokens for one window.
struct Encoder<'a> {
    t: &'a Tokenizer,
    tokens: Vec<u32>,
    residuals: Vec<Residual>,
}

impl Encoder<'_> {
    fn push(&mut self, token: Token, residual: Residual) {
        // Every caller clamps its bin into the layout's range, so the id always exists.
        let id = self.t.vocab.id(token).unwrap_or_else(|| unreachable!("{token:?} is outside the vocabulary"));
        self.tokens.push(id);
        self.residuals.push(residual);
    }

    fn position(&mut self, p: Point) {
        let cfg = &self.t.config;
        let (w, h) = self.t.bin_size();
        let bx = (p.x / w).floor().clamp(0.0, (cfg.grid_x - 1) as f32) as u32;
        let by = (p.y / h).floor().clamp(0.0, (cfg.grid_y - 1) as f32) as u32;
        let mut r = Residual { time: 0.0, x: p.x - (bx as f32 + 0.5) * w, y: p.y - (by as f32 + 0.5) * h };
        if cfg.layout == Layout::Reference {
            r.x = r.x.clamp(-w / 2.0, w / 2.0);
            r.y = r.y.clamp(-h / 2.0, h / 2.0);
        }
        self.push(Token::Position { bx, by }, r);
    }

    /// `LONG_GAP* TIME` for a non-negative span of `beats`, exact through the residual.
    fn long_gaps_and_time(&mut self, beats: f64) {
        let cfg = &self.t.config;
        let div = f64::from(cfg.beat_divisor);
        let total = (beats.max(0.0) * div).round() as u64;
        let residual = (beats.max(0.0) - total as f64 / div) as f32;
        for _ in 0..total / u64::from(cfg.beat_bins) {
            self.push(Token::LongGap, Residual::default());
        }
        let bin = (total % u64::from(cfg.beat_bins)) as u32;
        self.push(Token::Time(bin), Residual { time: residual, ..Default::default() });
    }

    fn mapflow_object(&mut self, o: &HitObject, timing: &TimingModel, anchor: f64) {
        let beat = timing.beat_at(o.time_ms);
        let beat_len = timing.beat_len_at(o.time_ms);
        self.long_gaps_and_time(beat - anchor);
        if o.new_combo {
            self.push(Token::NewCombo, Residual::default());
        }
        match &o.kind {
            ObjectKind::Circle => {
                self.push(Token::Circle, Residual::default());
                self.position(o.pos);
            }
            ObjectKind::Spinner { duration_ms } => {
                self.push(Token::SpinnerStart, Residual::default());
                self.position(o.pos);
                self.long_gaps_and_time(duration_ms / beat_len);
                self.push(Token::SpinnerEnd, Residual::default());
            }
            ObjectKind::Slider(s) => {
                let cfg = &self.t.config;
                self.push(Token::SliderStart, Residual::default());
                self.position(o.pos);
                let first = s.path.first().and_then(|p| p.segment).unwrap_or(CurveKind::Bezier);
                self.push(Token::Curve(first), Residual::default());
                for p in s.path.iter().skip(1) {
                    if let Some(kind) = p.segment {
                        self.push(Token::Curve(kind), Residual::default());
                    }
                    self.push(Token::SliderControl, Residual::default());
                    self.position(p.pos);
                }
                for _ in 0..s.repeats / cfg.repeat_bins {
                    self.push(Token::RepeatMore, Residual::default());
                }
                self.push(Token::Repeat(s.repeats % cfg.repeat_bins), Residual::default());
                let step = f64::from(cfg.length_step_px);
                let total = (s.length_px.max(0.0) / step).round() as u64;
                let (length_bins, span_beats) = (u64::from(cfg.length_bins), s.span_ms / beat_len);
                for _ in 0..total / length_bins {
                    self.push(Token::LengthMore, Residual::default());
                }
                let residual =
                    Residual { x: (s.length_px.max(0.0) - total as f64 * step) as f32, ..Default::default() };
                self.push(Token::Length((total % length_bins) as u32), residual);
                self.long_gaps_and_time(span_beats);
                self.push(Token::SliderEnd, Residual::default());
            }
        }
    }

    /// The reference: clamped beat delta at the first BPM, clamped residual, no long gaps.
    fn reference_time(&mut self, beats: f64, with_residual: bool) {
        let cfg = &self.t.config;
        let div = f64::from(cfg.beat_divisor);
        let max_beats = f64::from(cfg.beat_bins - 1) / div;
        let bin = (beats.clamp(0.0, max_beats) * div).round() as u32;
        let half = 0.5 / div;
        let residual = if with_residual { (beats - f64::from(bin) / div).clamp(-half, half) as f32 } else { 0.0 };
        self.push(Token::Time(bin), Residual { time: residual, ..Default::default() });
    }

    fn reference_object(&mut self, o: &HitObject, timing: &TimingModel, previous_ms: f64) {
        let ms_per_beat = timing.first_beat_len();
        self.reference_time((o.time_ms - previous_ms) / ms_per_beat, true);
        match &o.kind {
            ObjectKind::Circle => {
                self.push(Token::Circle, Residual::default());
                self.position(o.pos);
            }
            ObjectKind::Spinner { duration_ms } => {
                self.push(Token::SpinnerStart, Residual::default());
                self.position(o.pos);
                self.reference_time(duration_ms / ms_per_beat, false);
                self.push(Token::SpinnerEnd, Residual::default());
            }
            ObjectKind::Slider(s) => {
                self.push(Token::SliderStart, Residual::default());
                self.position(o.pos);
                let curve = s.path.first().and_then(|p| p.segment).unwrap_or(CurveKind::Bezier);
                self.push(Token::Curve(curve), Residual::default());
                // The .osu curve string's points: red anchors written twice, then truncated.
                let mut points = Vec::new();
                for (i, p) in s.path.iter().enumerate().skip(1) {
                    points.push(p.pos);
                    if p.segment.is_some() && i + 1 < s.path.len() {
                        points.push(p.pos);
                    }
                }
                points.truncate(self.t.config.max_control_points as usize);
                for &p in &points {
                    self.push(Token::SliderControl, Residual::default());
                    self.position(p);
                }
                self.push(Token::SliderEnd, Residual::default());
                self.position(points.last().copied().unwrap_or(o.pos));
            }
        }
    }
}

/// Reads tokens; every accessor returns `None` on anything unexpected.
struct Cursor<'a> {
    tokens: &'a [u32],
    residuals: &'a [Residual],
    vocab: &'a Vocabulary,
    pos: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<Token> {
        self.vocab.token(*self.tokens.get(self.pos)?)
    }

    fn next(&mut self) -> Option<(Token, Residual)> {
        let token = self.peek()?;
        let residual = self.residuals.get(self.pos).copied().unwrap_or_default();
        self.pos += 1;
        (residual.time.is_finite() && residual.x.is_finite() && residual.y.is_finite()).then_some((token, residual))
    }

    fn eat(&mut self, token: Token) -> bool {
        let found = self.peek() == Some(token);
        if found {
            self.pos += 1;
        }
        found
    }

    fn expect(&mut self, token: Token) -> Option<()> {
        self.eat(token).then_some(())
    }

    fn position(&mut self, t: &Tokenizer) -> Option<Point> {
        match self.next()? {
            (Token::Position { bx, by }, r) => Some(t.position(bx, by, r)),
            _ => None,
        }
    }

    /// `LONG_GAP* TIME` → (bins, residual beats).
    fn long_gaps_and_time(&mut self, beat_bins: u32) -> Option<(u64, f64)> {
        let mut bins = 0u64;
        while self.eat(Token::LongGap) {
            bins += u64::from(beat_bins);
        }
        match self.next()? {
            (Token::Time(n), r) => Some((bins + u64::from(n), f64::from(r.time))),
            _ => None,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
