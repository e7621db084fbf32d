//! The vocabulary: token ids ↔ [`Token`]s, laid out from a [`TokenizerConfig`].
//!
//! ```text
//! 0 PAD 1 BOS 2 EOS 3 SEP │ 4 CIRCLE 5 SLIDER_START 6 SLIDER_CONTROL 7 SLIDER_END 8 SPINNER_START
//! 9 SPINNER_END │ 10 BEZIER 11 LINEAR 12 PERFECT 13 CATMULL │ 14.. POS (by·grid_x + bx)
//! │ TIME bins (1/beat_divisor beat) │ mapflow only: NEW_COMBO LONG_GAP REPEAT_MORE REPEAT×n
//! LENGTH_MORE LENGTH×n
//! ```
//! The reference preset (32×32 grid, 128 bins) gives exactly the reference's 1,166 ids.

use crate::beatmap::CurveKind;

use super::config::{Layout, TokenizerConfig};

/// What a token id means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Token {
    /// Padding.
    Pad,
    /// Start of a window's sequence.
    Bos,
    /// End of a window's sequence.
    Eos,
    /// Separator (part of the reference layout, never emitted).
    Sep,
    /// A hit circle follows (`POS`).
    Circle,
    /// A slider follows (`POS CURVE …`).
    SliderStart,
    /// A slider control point follows (`POS`).
    SliderControl,
    /// End of a slider.
    SliderEnd,
    /// A spinner follows (`POS duration SPINNER_END`).
    SpinnerStart,
    /// End of a spinner.
    SpinnerEnd,
    /// A curve type: the slider's first segment, or (mapflow) a new segment at the next point.
    Curve(CurveKind),
    /// Position bin (column, row).
    Position {
        /// Column, 0..grid_x.
        bx: u32,
        /// Row, 0..grid_y.
        by: u32,
    },
    /// A time bin: `n / beat_divisor` beats.
    Time(u32),
    /// The next object starts a new combo (mapflow).
    NewCombo,
    /// Adds `beat_bins` bins to the next time (mapflow).
    LongGap,
    /// Adds `repeat_bins` to the next repeat count (mapflow).
    RepeatMore,
    /// The slider's repeat count, 0..repeat_bins (mapflow).
    Repeat(u32),
    /// Adds `length_bins` bins to the next length (mapflow).
    LengthMore,
    /// Slider length bin: `n · length_step_px` (mapflow).
    Length(u32),
}

const CURVES: [CurveKind; 4] = [CurveKind::Bezier, CurveKind::Linear, CurveKind::Perfect, CurveKind::Catmull];
const FIXED: [Token; 10] = [
    Token::Pad,
    Token::Bos,
    Token::Eos,
    Token::Sep,
    Token::Circle,
    Token::SliderStart,
    Token::SliderControl,
    Token::SliderEnd,
    Token::SpinnerStart,
    Token::SpinnerEnd,
];

/// Id of the first curve token.
pub const CURVE_OFFSET: u32 = 10;
/// Id of the first position token.
pub const POSITION_OFFSET: u32 = 14;

/// Token ids of one config: offsets of every block and the total size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vocabulary {
    grid_x: u32,
    grid_y: u32,
    beat_bins: u32,
    repeat_bins: u32,
    length_bins: u32,
    time_offset: u32,
    /// `Some(first id)` of the mapflow block (NEW_COMBO, LONG_GAP, REPEAT_MORE, repeats,
    /// LENGTH_MORE, lengths).
    extra_offset: Option<u32>,
    size: u32,
}

impl Vocabulary {
    /// The layout of `config` (assumed valid).
    pub fn new(config: &TokenizerConfig) -> Self {
        let time_offset = POSITION_OFFSET + config.grid_x * config.grid_y;
        let after_time = time_offset + config.beat_bins;
        let (extra_offset, size) = match config.layout {
            Layout::Reference => (None, after_time),
            Layout::Mapflow => (Some(after_time), after_time + 3 + config.repeat_bins + 1 + config.length_bins),
        };
        Self {
            grid_x: config.grid_x,
            grid_y: config.grid_y,
            beat_bins: config.beat_bins,
            repeat_bins: config.repeat_bins,
            length_bins: config.length_bins,
            time_offset,
            extra_offset,
            size,
        }
    }

    /// Number of token ids.
    pub fn size(&self) -> u32 {
        self.size
    }

    /// Id of the first time bin.
    pub fn time_offset(&self) -> u32 {
        self.time_offset
    }

    /// The id of `token`, or `None` if this layout has no such token (or a bin is out of range).
    pub fn id(&self, token: Token) -> Option<u32> {
        let extra = |i: u32| self.extra_offset.map(|o| o + i);
        match token {
            Token::Curve(kind) => Some(CURVE_OFFSET + CURVES.iter().position(|&c| c == kind)? as u32),
            Token::Position { bx, by } if bx < self.grid_x && by < self.grid_y => {
                Some(POSITION_OFFSET + by * self.grid_x + bx)
            }
            Token::Position { .. } => None,
            Token::Time(n) => (n < self.beat_bins).then_some(self.time_offset + n),
            Token::NewCombo => extra(0),
            Token::LongGap => extra(1),
            Token::RepeatMore => extra(2),
            Token::Repeat(n) => extra(3 + n).filter(|_| n < self.repeat_bins),
            Token::LengthMore => extra(3 + self.repeat_bins),
            Token::Length(n) => extra(4 + self.repeat_bins + n).filter(|_| n < self.length_bins),
            fixed => FIXED.iter().position(|&f| f == fixed).map(|i| i as u32),
        }
    }

    /// What `id` means, or `None` for ids outside the vocabulary.
    pub fn token(&self, id: u32) -> Option<Token> {
        if id < CURVE_OFFSET {
            return Some(FIXED[id as usize]);
        }
        if id < POSITION_OFFSET {
            return Some(Token::Curve(CURVES[(id - CURVE_OFFSET) as usize]));
        }
        if id < self.time_offset {
            let cell = id - POSITION_OFFSET;
            return Some(Token::Position { bx: cell % self.grid_x, by: cell / self.grid_x });
        }
        if id < self.time_offset + self.beat_bins {
            return Some(Token::Time(id - self.time_offset));
        }
        let i = id.checked_sub(self.extra_offset?)?;
        let r = self.repeat_bins;
        Some(match i {
            0 => Token::NewCombo,
            1 => Token::LongGap,
            2 => Token::RepeatMore,
            _ if i < 3 + r => Token::Repeat(i - 3),
            _ if i == 3 + r => Token::LengthMore,
            _ if i < 4 + r + self.length_bins => Token::Length(i - 4 - r),
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference() -> TokenizerConfig {
        TokenizerConfig {
            layout: Layout::Reference,
            grid_x: 32,
            grid_y: 32,
            beat_divisor: 16,
            beat_bins: 128,
            ..Default::default()
        }
    }

    #[test]
    fn reference_layout_is_id_for_id() {
        let v = Vocabulary::new(&reference());
        assert_eq!(v.size(), 1166);
        assert_eq!(v.id(Token::Circle), Some(4));
        assert_eq!(v.id(Token::SpinnerEnd), Some(9));
        assert_eq!(v.id(Token::Curve(CurveKind::Bezier)), Some(10));
        assert_eq!(v.id(Token::Curve(CurveKind::Catmull)), Some(13));
        assert_eq!(v.id(Token::Position { bx: 0, by: 0 }), Some(14));
        assert_eq!(v.id(Token::Position { bx: 5, by: 2 }), Some(14 + 2 * 32 + 5));
        assert_eq!(v.id(Token::Time(0)), Some(1038));
        assert_eq!(v.id(Token::Time(127)), Some(1165));
        assert_eq!(v.id(Token::Time(128)), None);
        assert_eq!(v.id(Token::NewCombo), None);
        assert_eq!(v.token(1166), None);
    }

    #[test]
    fn every_id_decodes_and_encodes_back() {
        for config in [reference(), TokenizerConfig::default()] {
            let v = Vocabulary::new(&config);
            for id in 0..v.size() {
                let token = v.token(id).unwrap();
                assert_eq!(v.id(token), Some(id), "{token:?}");
            }
            assert_eq!(v.token(v.size()), None);
        }
        assert_eq!(Vocabulary::new(&TokenizerConfig::default()).size(), 1634);
    }
}
