//! Tempo sections: where one song's beat grid changes (a tempo change, an accelerando, an edit
//! that shifts the beat), each section with its own BPM and phase — an .osu file's red lines.
//!
//! ```text
//!  events + a grid ─► steady? each 8-beat block's fold (onset weight mod the beat) lines up with
//!                     the range's fold within 10 ms (lag at most ±1/4 beat) ─► one section
//!                  ─► else every block edge ≥ 16 beats from either end: both sides refitted
//!                     (BPM within ±5 % of the grid's or of another tempo of the side's own
//!                     envelope, phase chosen as the song's), scored by their onset weight near
//!                     a 1/4 or 1/3 beat line (Gaussian, σ 5 ms)
//!                  ─► the best split, if it adds ≥ 3 % to the range's score: its boundary moved
//!                     to the new grid's best beat within a block of the edge; each side again
//!                  ─► each boundary moved again (within two blocks) between the final grids of
//!                     its neighbours, both refitted; neighbours on one grid (BPM within 0.02 %,
//!                     beats within 3 ms) merged
//! ```
//! A song whose blocks all line up stays one section whatever its score.

use super::TempoConfig;
use super::grid::{Blocks, accented_phase, best_tempo, block_lags, lobe_bpm, refine, residual};
use super::onsets::OnsetEvent;
use super::salience::candidates;

/// Beats per block in the steadiness test and between split candidates.
const BLOCK_BEATS: f64 = 8.0;
/// Shortest section (beats).
const MIN_SECTION_BEATS: f64 = 16.0;
/// Largest lag (s) of a block against its range for the range to count as steady.
const STEADY_SECONDS: f64 = 0.010;
/// Fewest events a block needs for its lag to count.
const BLOCK_MIN_EVENTS: usize = 6;
/// Share of the median block's weight a block needs for its lag to count (a break with a few
/// soft notes says little about the grid).
const BLOCK_MIN_WEIGHT_SHARE: f64 = 0.5;
/// Share of the range's score a split must add.
const MIN_GAIN: f64 = 0.08;
/// BPM search of a refitted side, relative to its range's grid.
const SPAN: f64 = 0.05;
/// Width of the on-line kernel of the score (s).
const KERNEL_SECONDS: f64 = 0.005;
/// Other tempos a side may take: its own envelope's candidates, moved to the octave nearest the
/// grid's tempo (the side keeps the song's octave), within this ratio of it (a tempo change;
/// octaves of the grid's tempo are not changes).
const OTHER_TEMPO_RATIO: (f64, f64) = (0.75, 1.34);
/// Splits deep (at most 2^6 sections).
const MAX_DEPTH: usize = 6;
/// Neighbours whose BPMs differ by less than this share...
const SAME_BPM: f64 = 0.0002;
/// ... and whose beats at their boundary are this close (s) are one section.
const SAME_BEAT_SECONDS: f64 = 0.003;

/// A beat grid: beats at `phase_s + k · 60 / bpm`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Grid {
    /// Beats per minute.
    pub bpm: f64,
    /// Time of one beat (s).
    pub phase_s: f64,
}

impl Grid {
    fn period(&self) -> f64 {
        60.0 / self.bpm
    }

    /// The beat nearest `time_s`.
    fn beat_near(&self, time_s: f64) -> f64 {
        time_s - residual(time_s, self.phase_s, self.period())
    }
}

/// One section: the grid from `start_s` to the next section's start.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Section {
    /// Its first beat (s); the first section's is the first event's nearest beat.
    pub start_s: f64,
    /// Its grid.
    pub grid: Grid,
}

/// What the sections are fitted to: the onset events (time-ordered, at least one) and the tempo
/// envelope (one value per `frame_seconds`) whose autocorrelation proposes other tempos.
pub(super) struct Onsets<'a> {
    /// The onset events.
    pub events: &'a [OnsetEvent],
    /// The tempo envelope.
    pub envelope: &'a [f64],
    /// Its frame spacing (s).
    pub frame_seconds: f64,
    /// The estimator's config (tempo range, prior).
    pub config: &'a TempoConfig,
}

/// The sections of the song starting from its `grid`.
pub(super) fn sections(onsets: &Onsets<'_>, grid: Grid) -> Vec<Section> {
    let mut found = Vec::new();
    split(onsets, onsets.events, grid, MAX_DEPTH, &mut found);
    merge(settle_boundaries(onsets, found))
}

/// Each boundary moved again, now that both its neighbours' grids are final (a split chosen
/// early saw mixed grids on one side), within two blocks; then both neighbours refitted.
fn settle_boundaries(onsets: &Onsets<'_>, mut found: Vec<Section>) -> Vec<Section> {
    let events = onsets.events;
    let index = |t: f64| events.partition_point(|e| e.time_s < t);
    for i in 1..found.len() {
        let (from, to) = (index(found[i - 1].start_s), found.get(i + 1).map_or(events.len(), |s| index(s.start_s)));
        let range = &events[from..to];
        let (left, right) = (found[i - 1].grid, found[i].grid);
        let at = index(found[i].start_s - 0.25 * right.period()).saturating_sub(from);
        let moved = boundary(range, at, left, right, 2.0 * BLOCK_BEATS);
        let (before, after) = range.split_at(moved);
        if before.len() < BLOCK_MIN_EVENTS || after.len() < BLOCK_MIN_EVENTS {
            continue;
        }
        let (left, right) = (refit(onsets, before, left), refit(onsets, after, right));
        found[i - 1].grid = left;
        found[i - 1].start_s =
            if i == 1 { left.beat_near(before[0].time_s) } else { left.beat_near(found[i - 1].start_s) };
        found[i] = Section { start_s: right.beat_near(after[0].time_s), grid: right };
    }
    found
}

fn split(onsets: &Onsets<'_>, events: &[OnsetEvent], grid: Grid, depth: usize, found: &mut Vec<Section>) {
    let start_s = grid.beat_near(events[0].time_s);
    let whole = Section { start_s, grid };
    let period = grid.period();
    let beats = (events[events.len() - 1].time_s - start_s) / period;
    if depth == 0 || beats < 2.0 * MIN_SECTION_BEATS || steady(events, grid) {
        found.push(whole);
        return;
    }
    let base = score(events, grid);
    let mut best: Option<(f64, usize, Grid, Grid)> = None;
    let mut edge = MIN_SECTION_BEATS;
    while edge <= beats - MIN_SECTION_BEATS {
        let at = events.partition_point(|e| e.time_s < start_s + edge * period);
        let (left, right) = (refit(onsets, &events[..at], grid), refit(onsets, &events[at..], grid));
        let total = score(&events[..at], left) + score(&events[at..], right);
        if best.is_none_or(|b| total > b.0) {
            best = Some((total, at, left, right));
        }
        edge += BLOCK_BEATS;
    }
    let Some((_, at, left, right)) = best.filter(|b| b.0 >= (1.0 + MIN_GAIN) * base) else {
        found.push(whole);
        return;
    };
    let at = boundary(events, at, left, right, BLOCK_BEATS);
    split(onsets, &events[..at], left, depth - 1, found);
    split(onsets, &events[at..], right, depth - 1, found);
}

/// Whether every block of `events` with enough onsets lines up with the fold of them all.
fn steady(events: &[OnsetEvent], grid: Grid) -> bool {
    let blocks = Blocks {
        beats: BLOCK_BEATS,
        origin_s: grid.phase_s,
        min_events: BLOCK_MIN_EVENTS,
        min_weight_share: BLOCK_MIN_WEIGHT_SHARE,
    };
    block_lags(events, grid.period(), &blocks, grid.period() / 4.0).into_iter().all(|lag| lag.abs() <= STEADY_SECONDS)
}

/// The grid of `events` (a part of the song): the most coherent BPM within ±[`SPAN`] of the
/// parent's or of another tempo the part's own envelope proposes ([`OTHER_TEMPO_RATIO`]), then
/// the phase as the song's: the fold's mode or the one half a beat away, whichever the part's
/// envelope accents.
fn refit(onsets: &Onsets<'_>, events: &[OnsetEvent], parent: Grid) -> Grid {
    let (first, last) = (events[0].time_s, events[events.len() - 1].time_s);
    let lobe = lobe_bpm(events);
    let frames = |t: f64| ((t / onsets.frame_seconds).max(0.0) as usize).min(onsets.envelope.len());
    let envelope = &onsets.envelope[frames(first)..frames(last)];
    let others = candidates(envelope, onsets.frame_seconds, onsets.config).unwrap_or_default();
    let (rough, _) = std::iter::once(parent.bpm)
        .chain(others.iter().map(|c| c.bpm * (parent.bpm / c.bpm).log2().round().exp2()).filter(|&bpm| {
            let ratio = bpm / parent.bpm;
            (OTHER_TEMPO_RATIO.0..OTHER_TEMPO_RATIO.1).contains(&ratio) && (ratio - 1.0).abs() > SPAN
        }))
        .map(|center| best_tempo(events, center, SPAN * center, lobe / 4.0))
        .fold((parent.bpm, f64::NEG_INFINITY), |best, x| if x.1 > best.1 { x } else { best });
    let bpm = refine(events, rough, lobe);
    let phase_s = accented_phase(events, 60.0 / bpm, onsets.envelope, onsets.frame_seconds, first..last);
    Grid { bpm, phase_s }
}

/// Onset weight near the grid's 1/4 and 1/3 beat lines (a Gaussian of the distance).
fn score(events: &[OnsetEvent], grid: Grid) -> f64 {
    let period = grid.period();
    events
        .iter()
        .map(|e| {
            let quarter = residual(e.time_s, grid.phase_s, period / 4.0).abs();
            let third = residual(e.time_s, grid.phase_s, period / 3.0).abs();
            let d = quarter.min(third) / KERNEL_SECONDS;
            e.weight * (-0.5 * d * d).exp()
        })
        .sum()
}

/// The split index near `at` that scores best with `left` before it and `right` from it: each
/// of the right grid's beats within `reach_beats` of the edge is tried (a quarter beat early, so
/// that the split falls between the last note of one grid and the first of the other).
pub(super) fn boundary(events: &[OnsetEvent], at: usize, left: Grid, right: Grid, reach_beats: f64) -> usize {
    let period = right.period();
    let Some(edge) = events.get(at).map(|e| right.beat_near(e.time_s)) else { return at };
    let mut best = (f64::NEG_INFINITY, at);
    let reach = reach_beats.ceil() as i64;
    for k in -reach..=reach {
        let t = edge + k as f64 * period - 0.25 * period;
        let i = events.partition_point(|e| e.time_s < t);
        if i == 0 || i == events.len() {
            continue;
        }
        let total = score(&events[..i], left) + score(&events[i..], right);
        if total > best.0 {
            best = (total, i);
        }
    }
    best.1
}

/// `sections` with neighbours on one grid made one.
fn merge(sections: Vec<Section>) -> Vec<Section> {
    let mut merged: Vec<Section> = Vec::with_capacity(sections.len());
    for s in sections {
        if let Some(last) = merged.last() {
            let same_bpm = (s.grid.bpm / last.grid.bpm - 1.0).abs() < SAME_BPM;
            let same_beat = residual(s.start_s, last.grid.phase_s, last.grid.period()).abs() < SAME_BEAT_SECONDS;
            if same_bpm && same_beat {
                continue;
            }
        }
        merged.push(s);
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Events on every beat (weight 10) and half beat (weight 4) of `bpm` from `from_s` to
    /// `to_s`, phase `phase_s`.
    fn beats(bpm: f64, phase_s: f64, from_s: f64, to_s: f64) -> Vec<OnsetEvent> {
        let period = 60.0 / bpm;
        let mut t = phase_s + ((from_s - phase_s) / period).ceil() * period;
        let mut events = Vec::new();
        while t < to_s {
            events.push(OnsetEvent { time_s: t, weight: 10.0, amplitude: 1.0, lead_s: 0.0 });
            if t + period / 2.0 < to_s {
                events.push(OnsetEvent { time_s: t + period / 2.0, weight: 4.0, amplitude: 0.5, lead_s: 0.0 });
            }
            t += period;
        }
        events
    }

    /// The events alone (a flat envelope proposes no other tempo).
    fn onsets(events: &[OnsetEvent]) -> Onsets<'_> {
        static CONFIG: std::sync::LazyLock<TempoConfig> = std::sync::LazyLock::new(TempoConfig::default);
        Onsets { events, envelope: &[], frame_seconds: 0.02, config: &CONFIG }
    }

    #[test]
    fn a_steady_song_is_one_section() {
        let events = beats(150.0, 0.1, 0.0, 120.0);
        let found = sections(&onsets(&events), Grid { bpm: 150.0, phase_s: 0.1 });
        assert_eq!(found.len(), 1, "{found:?}");
        assert!((found[0].grid.bpm - 150.0).abs() < 1e-9);
    }

    #[test]
    fn a_shifted_beat_and_a_faster_end_are_sections_of_their_own() {
        // 170 BPM; at 40 s the beat moves 60 ms (an edit); from 80 s 173 BPM.
        let mut events = beats(170.0, 0.2, 0.0, 40.0);
        events.extend(beats(170.0, 0.26, 40.0, 80.0));
        let last = events.last().unwrap().time_s;
        events.extend(beats(173.0, last + 60.0 / 171.0, 80.0, 120.0));
        let found = sections(&onsets(&events), Grid { bpm: 170.3, phase_s: 0.21 });
        assert_eq!(found.len(), 3, "{found:?}");
        for (s, (bpm, start)) in found.iter().zip([(170.0, 0.2), (170.0, 40.0), (173.0, 80.0)]) {
            assert!((s.grid.bpm - bpm).abs() < 0.02, "{found:?}");
            assert!((s.start_s - start).abs() < 0.4, "{found:?}");
        }
        for (s, t) in found.iter().zip([10.2, 50.0, 100.0]) {
            let on = events.iter().filter(|e| (e.time_s - t).abs() < 5.0 && e.weight == 10.0);
            assert!(on.clone().count() > 5);
            for e in on {
                assert!(residual(e.time_s, s.grid.phase_s, s.grid.period()).abs() < 0.002, "{s:?} {t}");
            }
        }
    }
}
