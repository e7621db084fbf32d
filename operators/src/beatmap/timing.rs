//! The timing model: red lines (BPM, offset, meter) and green lines (slider velocity) → beats.
//!
//! ```text
//!  time (ms) ──► section i = last red line at or before t ──► beat = B_i + (t − t_i) / beat_len_i
//!  beat      ──► section i = last red line with B_i ≤ beat ──► time = t_i + (beat − B_i) · beat_len_i
//! ```
//! Every red line starts on a whole beat `B_i` (the first at beat 0; a later one on the first
//! whole beat at or after where the previous section's grid reaches it), as osu! restarts the beat
//! and bar grid at each red line. So objects snapped in any section land exactly on that
//! section's grid, and both maps are exact inverses for every time.

/// An uninherited timing point ("red line"): where a beat grid starts and how long its beats are.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RedLine {
    /// Start of the section (ms from the start of the audio).
    pub time_ms: f64,
    /// Milliseconds per beat (60,000 / BPM).
    pub beat_len_ms: f64,
    /// Beats per bar.
    pub meter: u32,
}

/// An inherited timing point ("green line"): the slider velocity multiplier from its time on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GreenLine {
    /// Time from which the multiplier applies (ms).
    pub time_ms: f64,
    /// Slider velocity multiplier (1 = the map's base `SliderMultiplier`).
    pub slider_velocity: f64,
}

/// All red and green lines of a map, with the beat at which each red line's section starts.
#[derive(Debug, Clone, PartialEq)]
pub struct TimingModel {
    red: Vec<RedLine>,
    green: Vec<GreenLine>,
    section_beats: Vec<f64>,
}

/// Beat length used when a map has no usable red line (osu!'s own default: 60 BPM).
pub const DEFAULT_BEAT_LEN_MS: f64 = 1000.0;

impl TimingModel {
    /// Builds the model; lines are sorted by time, red lines with a non-finite or non-positive
    /// beat length are dropped, and a map without red lines gets one at 0 ms, 60 BPM.
    pub fn new(mut red: Vec<RedLine>, mut green: Vec<GreenLine>) -> Self {
        red.retain(|r| r.time_ms.is_finite() && r.beat_len_ms.is_finite() && r.beat_len_ms > 0.0);
        red.sort_by(|a, b| a.time_ms.total_cmp(&b.time_ms));
        red.dedup_by(|later, earlier| later.time_ms == earlier.time_ms);
        if red.is_empty() {
            red.push(RedLine { time_ms: 0.0, beat_len_ms: DEFAULT_BEAT_LEN_MS, meter: 4 });
        }
        green.retain(|g| g.time_ms.is_finite() && g.slider_velocity.is_finite() && g.slider_velocity > 0.0);
        green.sort_by(|a, b| a.time_ms.total_cmp(&b.time_ms));
        let mut section_beats = Vec::with_capacity(red.len());
        section_beats.push(0.0);
        for pair in red.windows(2) {
            let previous = *section_beats.last().unwrap_or(&0.0);
            let reached = previous + (pair[1].time_ms - pair[0].time_ms) / pair[0].beat_len_ms;
            section_beats.push(reached.ceil());
        }
        Self { red, green, section_beats }
    }

    /// A single red line: one constant BPM from `offset_ms` on, slider velocity 1 throughout.
    pub fn constant(offset_ms: f64, bpm: f64) -> Self {
        Self::new(vec![RedLine { time_ms: offset_ms, beat_len_ms: 60_000.0 / bpm, meter: 4 }], Vec::new())
    }

    /// The red lines, sorted by time (at least one).
    pub fn red_lines(&self) -> &[RedLine] {
        &self.red
    }

    /// The green lines, sorted by time (as rosu-map reports them: red lines reset SV to 1).
    pub fn green_lines(&self) -> &[GreenLine] {
        &self.green
    }

    fn section_at_time(&self, time_ms: f64) -> usize {
        self.red.partition_point(|r| r.time_ms <= time_ms).saturating_sub(1)
    }

    /// The section of a beat position; a beat a hair (1e-9) below a section start counts as in
    /// it, so that float noise in a decoded beat cannot move an object to the previous section.
    fn section_at_beat(&self, beat: f64) -> usize {
        self.section_beats.partition_point(|&b| b <= beat + 1e-9).saturating_sub(1)
    }

    /// Beat position of `time_ms` (fractional; negative before the first red line).
    pub fn beat_at(&self, time_ms: f64) -> f64 {
        let i = self.section_at_time(time_ms);
        self.section_beats[i] + (time_ms - self.red[i].time_ms) / self.red[i].beat_len_ms
    }

    /// Time (ms) of beat position `beat`: the inverse of [`Self::beat_at`].
    pub fn time_at_beat(&self, beat: f64) -> f64 {
        let i = self.section_at_beat(beat);
        self.red[i].time_ms + (beat - self.section_beats[i]) * self.red[i].beat_len_ms
    }

    /// Milliseconds per beat of the section containing `time_ms`.
    pub fn beat_len_at(&self, time_ms: f64) -> f64 {
        self.red[self.section_at_time(time_ms)].beat_len_ms
    }

    /// Milliseconds per beat of the section containing beat position `beat`.
    pub fn beat_len_at_beat(&self, beat: f64) -> f64 {
        self.red[self.section_at_beat(beat)].beat_len_ms
    }

    /// The red line governing `time_ms`.
    pub fn red_line_at(&self, time_ms: f64) -> &RedLine {
        &self.red[self.section_at_time(time_ms)]
    }

    /// Slider velocity multiplier at `time_ms` (1 before the first green line).
    pub fn slider_velocity_at(&self, time_ms: f64) -> f64 {
        let i = self.green.partition_point(|g| g.time_ms <= time_ms);
        if i == 0 { 1.0 } else { self.green[i - 1].slider_velocity }
    }

    /// Milliseconds per beat of the first red line (what the reference system uses everywhere).
    pub fn first_beat_len(&self) -> f64 {
        self.red[0].beat_len_ms
    }

    /// The map's main BPM: the BPM that lasts longest between `start_ms` and `end_ms` (osu!'s
    /// definition; ties go to the earlier section).
    pub fn main_bpm(&self, start_ms: f64, end_ms: f64) -> f64 {
        let mut best = (f64::NEG_INFINITY, self.red[0].beat_len_ms);
        let mut durations: Vec<(f64, f64)> = Vec::new();
        for (i, line) in self.red.iter().enumerate() {
            let from = if i == 0 { start_ms.min(line.time_ms) } else { line.time_ms.max(start_ms) };
            let to = self.red.get(i + 1).map_or(end_ms, |next| next.time_ms.min(end_ms));
            let duration = (to - from).max(0.0);
            match durations.iter_mut().find(|(len, _)| (*len - line.beat_len_ms).abs() < 1e-9) {
                Some(entry) => entry.1 += duration,
                None => durations.push((line.beat_len_ms, duration)),
            }
        }
        for (beat_len, duration) in durations {
            if duration > best.0 {
                best = (duration, beat_len);
            }
        }
        60_000.0 / best.1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two_sections() -> TimingModel {
        // 120 BPM from 1000 ms, then 180 BPM from 2250 ms (2.5 beats later: not on the old grid).
        TimingModel::new(
            vec![
                RedLine { time_ms: 2250.0, beat_len_ms: 1000.0 / 3.0, meter: 4 },
                RedLine { time_ms: 1000.0, beat_len_ms: 500.0, meter: 4 },
            ],
            vec![GreenLine { time_ms: 3000.0, slider_velocity: 2.0 }],
        )
    }

    #[test]
    fn red_lines_start_on_whole_beats() {
        let t = two_sections();
        assert_eq!(t.beat_at(1000.0), 0.0);
        assert_eq!(t.beat_at(2000.0), 2.0);
        assert_eq!(t.beat_at(2250.0), 3.0, "2.5 beats reached → the new section starts at beat 3");
        assert!((t.beat_at(2250.0 + 1000.0 / 6.0) - 3.5).abs() < 1e-12);
        assert_eq!(t.beat_at(0.0), -2.0, "extrapolated before the first red line");
    }

    #[test]
    fn beat_and_time_are_inverse() {
        let t = two_sections();
        for ms in [-500.0, 0.0, 999.0, 1000.0, 1750.5, 2249.9, 2250.0, 2251.0, 10_000.0] {
            assert!((t.time_at_beat(t.beat_at(ms)) - ms).abs() < 1e-9, "{ms}");
        }
    }

    #[test]
    fn lengths_and_velocities_follow_their_sections() {
        let t = two_sections();
        assert_eq!(t.beat_len_at(500.0), 500.0);
        assert_eq!(t.beat_len_at(2250.0), 1000.0 / 3.0);
        assert_eq!(t.slider_velocity_at(2999.0), 1.0);
        assert_eq!(t.slider_velocity_at(3000.0), 2.0);
        assert_eq!(t.first_beat_len(), 500.0);
        // 1250 ms at 120 BPM vs 7750 ms at 180 BPM.
        assert!((t.main_bpm(1000.0, 10_000.0) - 180.0).abs() < 1e-9);
        assert!((t.main_bpm(1000.0, 2000.0) - 120.0).abs() < 1e-9);
    }

    #[test]
    fn unusable_red_lines_fall_back_to_60_bpm() {
        let t = TimingModel::new(vec![RedLine { time_ms: 0.0, beat_len_ms: f64::NAN, meter: 4 }], vec![]);
        assert_eq!(t.red_lines().len(), 1);
        assert_eq!(t.beat_len_at(123.0), DEFAULT_BEAT_LEN_MS);
    }
}
