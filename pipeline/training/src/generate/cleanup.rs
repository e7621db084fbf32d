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

/// Snaps one object; its body keeps its length in beats, snapped as well. A body shorter than
/// the grid (its end snaps onto its start) is not playable as such: the slider becomes a
/// circle, the spinner is dropped.
fn snapped(mut o: HitObject, timing: &TimingModel) -> Option<HitObject> {
    let (start, end) = (snap(o.time_ms, timing), snap(o.end_time_ms(), timing));
    let collapsed = end <= start;
    match &mut o.kind {
        ObjectKind::Circle => {}
        ObjectKind::Spinner { .. } if collapsed => return None,
        ObjectKind::Spinner { duration_ms } => *duration_ms = end - start,
        ObjectKind::Slider(s) if !collapsed => s.span_ms = (end - start) / f64::from(s.repeats + 1),
        ObjectKind::Slider(_) => o.kind = ObjectKind::Circle,
    }
    o.time_ms = start;
    o.pos = clamp(o.pos);
    Some(o)
}

/// The playable subset of `objects` (sorted by time), snapped to `timing`.
pub fn clean(objects: Vec<HitObject>, timing: &TimingModel, song_ms: f64) -> Vec<HitObject> {
    let mut out: Vec<HitObject> = Vec::with_capacity(objects.len());
    for o in objects.into_iter().filter(|o| o.time_ms.is_finite()) {
        let Some(o) = snapped(o, timing) else { continue };
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
        let cleaned =
            clean(vec![spinner, circle(600.0), circle(1_350.0), circle(1_352.0), circle(9_000.0)], &timing, 5_000.0);
        let times: Vec<f64> = cleaned.iter().map(|o| o.time_ms).collect();
        assert_eq!(times, vec![100.0, 1_350.0], "inside the spinner, duplicate, after the song");
        assert_eq!(cleaned[1].pos, Point { x: PLAYFIELD_WIDTH, y: 0.0 });
    }

    #[test]
    fn bodies_shorter_than_the_grid_become_circles_or_go() {
        use operators::beatmap::Slider;
        let timing = TimingModel::constant(100.0, 120.0); // 125 ms quarter beats from 100 ms
        let slider = |span_ms| Slider { path: Vec::new(), repeats: 0, length_px: 50.0, span_ms };
        let objects = vec![
            HitObject { kind: ObjectKind::Slider(slider(20.0)), ..circle(600.0) },
            HitObject { kind: ObjectKind::Spinner { duration_ms: 30.0 }, ..circle(1_100.0) },
            HitObject { kind: ObjectKind::Slider(slider(240.0)), ..circle(1_600.0) },
        ];
        let cleaned = clean(objects, &timing, 5_000.0);
        assert_eq!(cleaned.len(), 2, "the 30 ms spinner is dropped");
        assert_eq!((cleaned[0].time_ms, &cleaned[0].kind), (600.0, &ObjectKind::Circle));
        let ObjectKind::Slider(kept) = &cleaned[1].kind else { panic!("{:?}", cleaned[1].kind) };
        assert_eq!((cleaned[1].time_ms, kept.span_ms), (1_600.0, 250.0), "snapped to two quarter beats");
    }
}
