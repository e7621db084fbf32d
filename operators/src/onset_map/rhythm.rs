//! The beat grid the map lives on, and the song's onset peaks snapped to it, ranked as a
//! mapper would pick them: loud first, on the beat before off it.
//!
//! ```text
//!  peaks ─► off-beat peaks nearer 1/3 than 1/4 ticks outweigh the rest? ─► 3 or 4 ticks a beat
//!        ─► snapped to the nearest tick (one peak per tick: the strongest), inside the song
//!        ─► + fillers: the other ticks with onset activity, at ¼ of their height
//!        ─► priority = metrical weight (bar 1, beat .85, 1/2 .6, others .45)
//!                      × strength (half against the song's loudest, half against ±2 bars)
//! ```

use super::peaks::Peak;
use crate::beatmap::TimingModel;
use crate::stats::weighted_median;

/// Metrical weight of a downbeat, a beat, a half beat and any other tick.
const METRIC_WEIGHTS: [f64; 4] = [1.0, 0.85, 0.6, 0.45];
/// Bars either side that a tick's strength is also measured against.
const LOCAL_BARS: f64 = 2.0;
/// Share of the priority that comes from the local (±2 bars) comparison.
const LOCAL_SHARE: f64 = 0.5;
/// A tick without a peak is a filler candidate where the onset row reaches this (0–1) near it.
const FILL_MIN: f64 = 0.05;
/// Fillers weigh this much of their onset height, so that they rank behind the peaks.
const FILL_WEIGHT: f64 = 0.25;

/// Ticks of a beat grid over a [`TimingModel`]: `divisions` per beat.
#[derive(Debug, Clone, Copy)]
pub(super) struct Grid<'a> {
    timing: &'a TimingModel,
    /// Ticks per beat: 4 (1/4 and 1/2 notes) or 3 (triplets).
    pub divisions: u32,
}

impl<'a> Grid<'a> {
    /// The grid with `divisions` ticks a beat.
    pub(super) fn new(timing: &'a TimingModel, divisions: u32) -> Self {
        Self { timing, divisions: divisions.max(1) }
    }

    /// The nearest tick to `time_ms`.
    pub(super) fn tick_at(&self, time_ms: f64) -> i64 {
        (self.timing.beat_at(time_ms) * f64::from(self.divisions)).round() as i64
    }

    /// When tick `tick` sounds (ms).
    pub(super) fn time_of(&self, tick: i64) -> f64 {
        self.timing.time_at_beat(tick as f64 / f64::from(self.divisions))
    }

    /// The number of ticks in `beats` beats (at least one).
    pub(super) fn ticks_in(&self, beats: f64) -> i64 {
        ((beats * f64::from(self.divisions)).round() as i64).max(1)
    }

    /// Length of `ticks` ticks in beats.
    pub(super) fn beats(&self, ticks: i64) -> f64 {
        ticks as f64 / f64::from(self.divisions)
    }

    /// Milliseconds per beat at `time_ms`.
    pub(super) fn beat_len_at(&self, time_ms: f64) -> f64 {
        self.timing.beat_len_at(time_ms)
    }

    /// The bar tick `tick` lies in (bars from the governing red line's meter).
    pub(super) fn bar_of(&self, tick: i64) -> i64 {
        let meter = i64::from(self.timing.red_line_at(self.time_of(tick)).meter.max(1));
        tick.div_euclid(i64::from(self.divisions) * meter)
    }

    /// How strong the tick's place in the bar is: downbeat, beat, half beat, other.
    fn metric_weight(&self, tick: i64) -> f64 {
        let d = i64::from(self.divisions);
        let meter = i64::from(self.timing.red_line_at(self.time_of(tick)).meter.max(1));
        let place = if tick.rem_euclid(d * meter) == 0 {
            0
        } else if tick.rem_euclid(d) == 0 {
            1
        } else if d % 2 == 0 && tick.rem_euclid(d / 2) == 0 {
            2
        } else {
            3
        };
        METRIC_WEIGHTS[place]
    }
}

/// Peaks within this share of a beat of the grid's beats tell how late the onset row is.
const ON_BEAT_SHARE: f64 = 0.125;

/// How many ms the onset row's peaks lie after the beats of `timing` (the strength-weighted
/// median over the peaks within [`ON_BEAT_SHARE`] of a beat; 0 without any). The onset row is
/// spectral flux over ~93 ms windows, so its peaks trail the attacks by a song-dependent 10–30 ms;
/// the red lines are where the attacks begin, and the objects belong there too.
pub(super) fn lag_behind_beats(peaks: &[Peak], timing: &TimingModel) -> f64 {
    let near: Vec<(f64, f64)> = peaks
        .iter()
        .filter_map(|peak| {
            let beat = timing.beat_at(peak.time_ms);
            let off = beat - beat.round();
            (off.abs() <= ON_BEAT_SHARE).then(|| (off * timing.beat_len_at(peak.time_ms), peak.strength))
        })
        .collect();
    weighted_median(near).unwrap_or(0.0)
}

/// 3 when the song's off-beat onsets sit nearer the 1/3 than the 1/4 ticks, weighed by
/// strength (evenly spread onsets favour the quarters 2 : 1); else 4.
pub(super) fn divisions_for(peaks: &[Peak], timing: &TimingModel) -> u32 {
    let (mut thirds, mut quarters) = (0.0, 0.0);
    for peak in peaks {
        let beat = timing.beat_at(peak.time_ms);
        let off = |d: f64| ((beat * d).round() / d - beat).abs();
        let on_beat = (beat.round() - beat).abs();
        let (third, quarter) = (off(3.0), off(4.0));
        if on_beat <= third.min(quarter) {
            continue;
        }
        if third < quarter {
            thirds += peak.strength;
        } else {
            quarters += peak.strength;
        }
    }
    if thirds > quarters { 3 } else { 4 }
}

/// A grid tick with an onset on it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Tick {
    /// Tick index on the grid.
    pub index: i64,
    /// Its time (ms).
    pub time_ms: f64,
    /// How much a mapper wants a note here (0–1).
    pub priority: f64,
}

/// The peaks snapped to `grid`, one per tick (the strongest), and behind them every other tick
/// where the normalised `onset` row (frames `frame_ms` apart) shows some activity, kept where
/// the tick lies in `[0, song_ms]`, in time order, with their priorities.
pub(super) fn snapped_ticks(peaks: &[Peak], onset: &[f64], frame_ms: f64, grid: &Grid<'_>, song_ms: f64) -> Vec<Tick> {
    let mut snapped: Vec<(i64, f64, f64)> = Vec::with_capacity(peaks.len());
    for peak in peaks {
        let index = grid.tick_at(peak.time_ms);
        let time_ms = grid.time_of(index);
        if !(0.0..=song_ms).contains(&time_ms) {
            continue;
        }
        match snapped.last_mut() {
            Some(last) if last.0 == index => last.2 = last.2.max(peak.strength),
            _ => snapped.push((index, time_ms, peak.strength)),
        }
    }
    // Fillers: the ticks between the peaks, at the onset row's height there, ranked behind
    // them — the notes a dense map adds once the song's own onsets are used up.
    let peak_ticks: std::collections::HashSet<i64> = snapped.iter().map(|s| s.0).collect();
    let (first, last) = (grid.tick_at(0.0), grid.tick_at(song_ms));
    for index in first..=last {
        let time_ms = grid.time_of(index);
        if peak_ticks.contains(&index) || !(0.0..=song_ms).contains(&time_ms) {
            continue;
        }
        let frame = (time_ms / frame_ms).round() as usize;
        let height = onset[frame.saturating_sub(1)..(frame + 2).min(onset.len())].iter().copied().fold(0.0, f64::max);
        if height >= FILL_MIN {
            snapped.push((index, time_ms, height * FILL_WEIGHT));
        }
    }
    snapped.sort_by_key(|s| s.0);
    let loudest = snapped.iter().map(|s| s.2).fold(0.0, f64::max);
    let radius = grid.ticks_in(LOCAL_BARS * 4.0);
    let mut ticks = Vec::with_capacity(snapped.len());
    let mut window = std::collections::VecDeque::new();
    let mut ahead = 0;
    for &(index, time_ms, strength) in &snapped {
        // `window` holds the indices of the snapped peaks within ±radius ticks of this one.
        while ahead < snapped.len() && snapped[ahead].0 <= index + radius {
            window.push_back(ahead);
            ahead += 1;
        }
        while window.front().is_some_and(|&j| snapped[j].0 < index - radius) {
            window.pop_front();
        }
        let local = window.iter().map(|&j| snapped[j].2).fold(strength, f64::max);
        let relative = (1.0 - LOCAL_SHARE) * strength / loudest + LOCAL_SHARE * strength / local;
        ticks.push(Tick { index, time_ms, priority: grid.metric_weight(index) * relative });
    }
    ticks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peak(time_ms: f64, strength: f64) -> Peak {
        Peak { time_ms, strength }
    }

    #[test]
    fn straight_and_triplet_rhythms_choose_their_grid() {
        let timing = TimingModel::constant(0.0, 120.0); // 500 ms beats
        let straight: Vec<Peak> = (0..64).map(|i| peak(f64::from(i) * 125.0 + 7.0, 0.5)).collect();
        assert_eq!(divisions_for(&straight, &timing), 4);
        let triplets: Vec<Peak> = (0..48).map(|i| peak(f64::from(i) * 500.0 / 3.0 - 6.0, 0.5)).collect();
        assert_eq!(divisions_for(&triplets, &timing), 3);
        assert_eq!(divisions_for(&[], &timing), 4);
    }

    #[test]
    fn peaks_snap_merge_and_rank() {
        let timing = TimingModel::constant(100.0, 120.0); // 500 ms beats from 100 ms, 4/4
        let grid = Grid::new(&timing, 4);
        let peaks = [
            peak(-300.0, 1.0),  // before the song
            peak(105.0, 0.5),   // the downbeat (tick 0)
            peak(118.0, 0.8),   // the same tick: the stronger one is kept
            peak(352.0, 0.8),   // tick 2: a half beat
            peak(480.0, 0.8),   // tick 3: a quarter
            peak(600.0, 0.8),   // tick 4: a beat
            peak(9_000.0, 1.0), // after the song
        ];
        let quiet = vec![0.0; 300];
        let ticks = snapped_ticks(&peaks, &quiet, 20.0, &grid, 5_000.0);
        let indices: Vec<i64> = ticks.iter().map(|t| t.index).collect();
        assert_eq!(indices, vec![0, 2, 3, 4], "no fillers where the onset row is flat");
        assert_eq!(ticks[1].time_ms, 350.0);
        let priorities: Vec<f64> = ticks.iter().map(|t| t.priority).collect();
        assert!(priorities[0] > priorities[3] && priorities[3] > priorities[1] && priorities[1] > priorities[2]);
        assert!((priorities[0] - 1.0).abs() < 1e-12, "the loudest peak on a downbeat");
        // Activity at 850 ms (tick 6) and 1100 ms (tick 8): fillers, ranked behind the peaks.
        let mut busy = quiet.clone();
        (busy[42], busy[55]) = (0.9, 0.02);
        let ticks = snapped_ticks(&peaks, &busy, 20.0, &grid, 5_000.0);
        let filler = ticks.iter().find(|t| t.index == 6).unwrap();
        assert!(filler.priority < priorities[2], "{filler:?}");
        assert!(ticks.iter().all(|t| t.index != 8), "too quiet for a filler");
        assert_eq!(grid.bar_of(15), 0);
        assert_eq!(grid.bar_of(16), 1);
        assert_eq!(grid.bar_of(-1), -1);
    }

    #[test]
    fn the_lag_is_read_off_the_peaks_near_the_beats() {
        // 120 BPM from 0: beats every 500 ms; the beats' peaks trail by 22 ms, a weak one by 60.
        let timing = TimingModel::constant(0.0, 120.0);
        let mut peaks: Vec<Peak> = (0..12).map(|n| peak(n as f64 * 500.0 + 22.0, 0.8)).collect();
        peaks.push(peak(6_060.0, 0.1));
        // Off-beat peaks (quarters and halves) do not vote.
        peaks.extend((0..12).map(|n| peak(n as f64 * 500.0 + 250.0, 1.0)));
        peaks.extend((0..12).map(|n| peak(n as f64 * 500.0 + 125.0, 1.0)));
        assert!((lag_behind_beats(&peaks, &timing) - 22.0).abs() < 1e-9);
        // Peaks ahead of the beats give a negative lag; none near a beat give none.
        let early: Vec<Peak> = (0..8).map(|n| peak(n as f64 * 500.0 - 15.0, 0.8)).collect();
        assert!((lag_behind_beats(&early, &timing) + 15.0).abs() < 1e-9);
        assert_eq!(lag_behind_beats(&peaks[13..], &timing), 0.0);
    }
}
