//! Turns decoded objects into a playable sequence: times snapped to the beat grid (1/4 or 1/3
//! beat, whichever is nearer), slider and spinner ends snapped too, objects outside the song or
//! overlapping the previous object's body dropped, positions kept on the playfield.
//!
//! ```text
//! merged objects ─► snap start (1/4 ∪ 1/3 grid) ─► inside [0, song end]? ─► after the previous
//! object's end? ─► clamp position ─► playable objects
//! ```

use operators::beatmap::{HitObject, ObjectKind, PLAYFIELD_HEIGHT, PLAYFIELD_WIDTH, Point, TimingModel};

/// Grid divisions objects snap to.
const SNAP_DIVISIONS: [f64; 2] = [4.0, 3.0];

/// Shortest gap kept between one object's end and the next start, ms.
const MIN_GAP_MS: f64 = 1.0;

/// The grid time nearest to `time_ms` among the snap divisions.
pub fn snap(time_ms: f64, timing: &TimingModel) -> f64 {
    let beat = timing.beat_at(time_ms);
    SNAP_DIVISIONS
        .iter()
        .map(|d| timing.time_at_beat((beat * d).round() / d))
        .min_by(|a, b| (a - time_ms).abs().total_cmp(&(b - time_ms).abs()))
        .unwrap_or(time_ms)
}

fn clamp(p: Point) -> Point {
    Point { x: p.x.clamp(0.0, PLAYFIELD_WIDTH), y: p.y.clamp(0.0, PLAYFIELD_HEIGHT) }
}

/// Snaps one object; its body keeps its length in beats, snapped as well.
fn snapped(mut o: HitObject, timing: &TimingModel) -> HitObject {
    let start = snap(o.time_ms, timing);
    match &mut o.kind {
        ObjectKind::Circle => {}
        ObjectKind::Slider(s) => {
            let end = snap(o.time_ms + s.span_ms * f64::from(s.repeats + 1), timing);
            s.span_ms = ((end - start) / f64::from(s.repeats + 1)).max(1.0);
        }
        ObjectKind::Spinner { duration_ms } => {
            *duration_ms = (snap(o.time_ms + *duration_ms, timing) - start).max(1.0);
        }
    }
    o.time_ms = start;
    o.pos = clamp(o.pos);
    o
}

/// The playable subset of `objects` (sorted by time), snapped to `timing`.
pub fn clean(objects: Vec<HitObject>, timing: &TimingModel, song_ms: f64) -> Vec<HitObject> {
    let mut out: Vec<HitObject> = Vec::with_capacity(objects.len());
    for o in objects.into_iter().filter(|o| o.time_ms.is_finite()) {
        let o = snapped(o, timing);
        if o.time_ms < 0.0 || o.end_time_ms() > song_ms {
            continue;
        }
        if out.last().is_some_and(|prev| o.time_ms < prev.end_time_ms() + MIN_GAP_MS) {
            continue;
        }
        out.push(o);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn circle(time_ms: f64) -> HitObject {
        HitObject { time_ms, pos: Point { x: 600.0, y: -5.0 }, new_combo: false, kind: ObjectKind::Circle }
    }

    #[test]
    fn snaps_to_quarters_or_thirds_and_drops_overlaps() {
        let timing = TimingModel::constant(100.0, 120.0); // 500 ms beats from 100 ms
        assert_eq!(snap(226.0, &timing), 225.0); // 1/4 beat
        assert!((snap(268.0, &timing) - (100.0 + 500.0 / 3.0)).abs() < 1e-9); // 1/3 beat
        let spinner = HitObject { kind: ObjectKind::Spinner { duration_ms: 990.0 }, ..circle(100.0) };
        let cleaned = clean(vec![spinner, circle(600.0), circle(1_350.0), circle(1_352.0), circle(9_000.0)], &timing, 5_000.0);
        let times: Vec<f64> = cleaned.iter().map(|o| o.time_ms).collect();
        assert_eq!(times, vec![100.0, 1_350.0], "inside the spinner, duplicate, after the song");
        assert_eq!(cleaned[1].pos, Point { x: PLAYFIELD_WIDTH, y: 0.0 });
    }
}
