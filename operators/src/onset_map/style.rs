//! What a requested star rating asks of the map before the search tunes it: difficulty settings,
//! the spacing, how sharp the turns and how many sliders — the rules of thumb of ranked maps,
//! interpolated between whole stars. The fastest rhythm is the search's to choose.
//!
//! ```text
//!  ★ ─► table (1★ … 8★, linear in between) ─► Style { difficulty (CS AR OD HP SV), jump,
//!                                                     stream, sharpness, slider shares }
//! ```

use crate::beatmap::Difficulty;

/// The fastest rhythms a map may have, in beats between object starts, slowest first.
pub(super) const GAP_LEVELS: [f64; 3] = [1.0, 0.5, 0.25];

/// Star ratings the table is given at.
const STARS: [f64; 8] = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0];
/// Circle size.
const CS: [f64; 8] = [3.0, 3.5, 3.8, 4.0, 4.0, 4.2, 4.2, 4.5];
/// Approach rate.
const AR: [f64; 8] = [4.0, 5.5, 7.0, 8.3, 9.0, 9.3, 9.6, 9.8];
/// Overall difficulty.
const OD: [f64; 8] = [3.0, 4.5, 6.0, 7.3, 8.0, 8.5, 9.0, 9.3];
/// HP drain.
const HP: [f64; 8] = [3.0, 3.5, 4.5, 5.0, 5.5, 6.0, 6.0, 6.0];
/// Base slider velocity (hundreds of osu!px a beat).
const SLIDER_MULTIPLIER: [f64; 8] = [1.0, 1.2, 1.4, 1.6, 1.8, 1.9, 2.0, 2.1];
/// Distance of jumps (≥ 1/2 beat) per beat of gap, in slider-velocity beats (distance snap).
const JUMP: [f64; 8] = [0.9, 1.0, 1.2, 1.5, 1.9, 2.3, 2.7, 3.0];
/// The same for streams (≤ 1/4 beat): they stay tight at every level.
const STREAM: [f64; 8] = [0.9, 1.0, 1.0, 1.1, 1.2, 1.3, 1.4, 1.5];
/// Share of jumps that turn sharply (back-and-forth patterns) rather than flowing on.
const SHARPNESS: [f64; 8] = [0.0, 0.0, 0.1, 0.3, 0.5, 0.65, 0.8, 0.9];
/// Chance that a held note becomes a slider.
const SLIDER_HELD: [f64; 8] = [0.9, 0.85, 0.8, 0.7, 0.6, 0.5, 0.4, 0.35];
/// Chance that a note before a long gap (≥ 2 beats) becomes a slider.
const SLIDER_LONG: [f64; 8] = [0.8, 0.75, 0.7, 0.6, 0.5, 0.45, 0.4, 0.35];
/// Chance that any other note with room for one becomes a slider.
const SLIDER_PLAIN: [f64; 8] = [0.35, 0.35, 0.3, 0.25, 0.2, 0.15, 0.12, 0.1];

/// The map a star rating asks for, before the search.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Style {
    /// CS, AR, OD, HP and the slider velocity.
    pub difficulty: Difficulty,
    /// Jump distance per beat of gap, in slider-velocity beats.
    pub jump: f64,
    /// Stream distance per beat of gap, in slider-velocity beats.
    pub stream: f64,
    /// Share of sharp turns on jumps (0–1).
    pub sharpness: f64,
    /// Chance that a held note becomes a slider.
    pub slider_held: f64,
    /// Chance that a note before a long gap becomes a slider.
    pub slider_long: f64,
    /// Chance for any other note with room for a slider.
    pub slider_plain: f64,
}

/// Linear interpolation of `table` at `stars` (clamped to the table's range).
fn at(table: &[f64; 8], stars: f64) -> f64 {
    let s = stars.clamp(STARS[0], STARS[7]);
    let i = STARS.partition_point(|&x| x <= s).clamp(1, 7);
    let t = (s - STARS[i - 1]) / (STARS[i] - STARS[i - 1]);
    table[i - 1] + t * (table[i] - table[i - 1])
}

/// To one decimal, as `.osu` files usually give difficulty settings.
fn tenth(x: f64) -> f32 {
    ((x * 10.0).round() / 10.0) as f32
}

impl Style {
    /// The style of a `stars` map.
    pub(super) fn for_stars(stars: f64) -> Self {
        let difficulty = Difficulty {
            hp_drain_rate: tenth(at(&HP, stars)),
            circle_size: tenth(at(&CS, stars)),
            overall_difficulty: tenth(at(&OD, stars)),
            approach_rate: tenth(at(&AR, stars)),
            slider_multiplier: f64::from(tenth(at(&SLIDER_MULTIPLIER, stars))),
            ..Difficulty::default()
        };
        Self {
            difficulty,
            jump: at(&JUMP, stars),
            stream: at(&STREAM, stars),
            sharpness: at(&SHARPNESS, stars),
            slider_held: at(&SLIDER_HELD, stars),
            slider_long: at(&SLIDER_LONG, stars),
            slider_plain: at(&SLIDER_PLAIN, stars),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn harder_maps_are_faster_wider_and_sharper() {
        assert_eq!(at(&AR, 0.2), 4.0);
        assert_eq!(at(&AR, 4.5), (8.3 + 9.0) / 2.0);
        assert_eq!(at(&AR, 12.0), 9.8);
        let (easy, hard) = (Style::for_stars(1.5), Style::for_stars(6.5));
        assert!(easy.jump < hard.jump && easy.sharpness < hard.sharpness);
        assert!(easy.difficulty.approach_rate < hard.difficulty.approach_rate);
        assert!(easy.slider_plain > hard.slider_plain);
        assert_eq!(Style::for_stars(4.0).difficulty.circle_size, 4.0);
    }
}
