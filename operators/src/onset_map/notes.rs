//! From chosen ticks to notes: which become sliders (and how long), and where combos start.
//!
//! ```text
//!  chosen ticks ─► room = ticks to the next note − rest (the level's fastest gap)
//!               ─► slider lengths that fit: 2, 1 or 1/2 beats (1/2 beat at least)
//!               ─► held (the sound lasts the slider)? p_held : gap ≥ 2 beats? p_long : p_plain
//!               ─► new combo: first note of a bar, once the combo has 2 notes (or after a bar's rest)
//! ```

use super::peaks::Loudness;
use super::rhythm::{Grid, Tick};
use super::rng::SplitMix;
use super::style::Style;

/// Slider lengths tried, longest first (beats).
const SLIDER_BEATS: [f64; 3] = [2.0, 1.0, 0.5];
/// A gap this long (beats) makes a slider likelier.
const LONG_GAP_BEATS: f64 = 2.0;
/// Fewest notes in a combo before a new bar starts the next one.
const MIN_COMBO: usize = 2;

/// One note on the grid: a circle (`end_tick == tick`) or a slider's head and end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Note {
    /// The tick it starts on.
    pub tick: i64,
    /// The tick its body ends on (the start for circles).
    pub end_tick: i64,
    /// Starts a new combo.
    pub new_combo: bool,
}

/// The notes of `chosen` (ticks in time order), the fastest rhythm being `min_gap` ticks; no
/// slider runs past `song_ms`.
pub(super) fn notes(
    chosen: &[Tick],
    grid: &Grid<'_>,
    loudness: &Loudness,
    style: &Style,
    min_gap: i64,
    song_ms: f64,
    rng: &mut SplitMix,
) -> Vec<Note> {
    let rest = min_gap.max(1);
    let mut notes: Vec<Note> = Vec::with_capacity(chosen.len());
    let mut combo = 0;
    for (i, tick) in chosen.iter().enumerate() {
        let next = chosen.get(i + 1).map(|t| t.index);
        let room = next.map_or(i64::MAX, |n| n - tick.index - rest);
        let fits = |len: i64| len <= room && grid.time_of(tick.index + len) <= song_ms;
        let lengths = SLIDER_BEATS.map(|beats| grid.ticks_in(beats));
        let held = lengths
            .iter()
            .copied()
            .find(|&len| fits(len) && loudness.sustained(tick.time_ms, grid.time_of(tick.index + len)));
        let longest = lengths.iter().copied().find(|&len| fits(len));
        let gap_beats = next.map_or(f64::INFINITY, |n| grid.beats(n - tick.index));
        let (length, chance) = match (held, longest) {
            (Some(len), _) => (len, style.slider_held),
            (None, Some(len)) if gap_beats >= LONG_GAP_BEATS => (len, style.slider_long),
            (None, Some(len)) => (len, style.slider_plain),
            (None, None) => (0, 0.0),
        };
        let end_tick = if length > 0 && rng.chance(chance) { tick.index + length } else { tick.index };
        let new_bar = notes.last().is_none_or(|prev| grid.bar_of(prev.tick) != grid.bar_of(tick.index));
        let after_rest = notes.last().is_none_or(|prev| grid.beats(tick.index - prev.end_tick) >= 4.0);
        let new_combo = notes.is_empty() || (new_bar && (combo >= MIN_COMBO || after_rest));
        combo = if new_combo { 1 } else { combo + 1 };
        notes.push(Note { tick: tick.index, end_tick, new_combo });
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::beatmap::TimingModel;
    use crate::features::FeatureMatrix;

    #[test]
    fn sliders_fit_before_the_next_note_and_the_end() {
        let timing = TimingModel::constant(0.0, 120.0); // 500 ms beats, ticks of 125 ms
        let grid = Grid::new(&timing, 4);
        // A steady tone throughout: every note with room is held.
        let frames = 400;
        let loud = FeatureMatrix { channels: 2, frames, data: vec![1.0; 2 * frames] };
        let loudness = Loudness::new(&loud, 20.0);
        let style = Style { slider_held: 1.0, slider_long: 1.0, slider_plain: 1.0, ..Style::for_stars(3.0) };
        let ticks: Vec<Tick> = [0, 4, 5, 16, 30]
            .iter()
            .map(|&index| Tick { index, time_ms: grid.time_of(index), priority: 1.0 })
            .collect();
        let placed = notes(&ticks, &grid, &loudness, &style, 1, 7_600.0, &mut SplitMix::new(1));
        let ends: Vec<i64> = placed.iter().map(|n| n.end_tick).collect();
        // 0: 3 ticks of room → a half beat; 4: none; 5: 10 → 2 beats; 16: 13 → 2 beats;
        // 30 (3750 ms): 2 beats would end at 4750 ms, inside the song.
        assert_eq!(ends, vec![2, 4, 13, 24, 38]);
        let combos: Vec<bool> = placed.iter().map(|n| n.new_combo).collect();
        assert_eq!(combos, vec![true, false, false, true, false], "bar 1 at tick 16, bar 1 again at 30");
        let short = notes(&ticks[4..], &grid, &loudness, &style, 1, 4_100.0, &mut SplitMix::new(1));
        assert_eq!(short[0].end_tick, 32, "only a half beat before the song ends");
    }
}
