//! Placement: a cursor path over the 512×384 playfield that the notes are laid along.
//!
//! ```text
//!  note ─► gap since the last object's end (beats) ─► distance = gap × (stream | jump) × px/beat
//!       ─► heading += turn (a gentle curve per combo; on jumps, sometimes a sharp ±110–155° turn)
//!       ─► step from the last end; off the field? mirror the heading on that wall, else rotate
//!       ─► slider: a line or an arc along the heading, length = px/beat × beats (velocity 1),
//!                  turned or folded into repeats until every point is on the field, else a circle
//! ```

use std::f64::consts::{PI, TAU};

use super::notes::Note;
use super::rhythm::Grid;
use super::rng::SplitMix;
use crate::beatmap::{CurveKind, HitObject, ObjectKind, PLAYFIELD_HEIGHT, PLAYFIELD_WIDTH, PathPoint, Point, Slider};

/// Objects keep this far (osu!px) from the playfield's edges.
const MARGIN: f64 = 16.0;
/// Slider bodies keep this far from the edges (rounding the control points moves them a little).
const BODY_MARGIN: f64 = 4.0;
/// Longest jump (osu!px).
const MAX_JUMP_PX: f64 = 320.0;
/// Gaps up to this many beats are streams, from twice it jumps; linear in between.
const STREAM_BEATS: f64 = 0.25;
/// Points of a slider body checked against the playfield, at most this far apart (osu!px).
const BODY_STEP_PX: f64 = 6.0;
/// Share of sliders that are straight lines (the rest are arcs).
const LINEAR_SHARE: f64 = 0.35;
/// Headings tried for a slider that leaves the field, as multiples of 30° either way.
const SLIDER_TURNS: i32 = 6;

/// How far apart notes are laid.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Spacing {
    /// osu!px a slider covers in a beat (100 × the slider multiplier).
    pub px_per_beat: f64,
    /// Jump distance per beat of gap, in `px_per_beat`.
    pub jump: f64,
    /// Stream distance per beat of gap, in `px_per_beat`.
    pub stream: f64,
    /// Share of jumps that turn sharply (0–1).
    pub sharpness: f64,
}

impl Spacing {
    /// Distance (osu!px) for a gap of `beats`.
    fn distance(&self, beats: f64) -> f64 {
        let t = ((beats - STREAM_BEATS) / STREAM_BEATS).clamp(0.0, 1.0);
        let multiplier = self.stream + t * (self.jump - self.stream);
        (multiplier * beats.max(0.0) * self.px_per_beat).min(MAX_JUMP_PX)
    }
}

fn inside(p: Point, margin: f64) -> bool {
    let (x, y) = (f64::from(p.x), f64::from(p.y));
    (margin..=f64::from(PLAYFIELD_WIDTH) - margin).contains(&x)
        && (margin..=f64::from(PLAYFIELD_HEIGHT) - margin).contains(&y)
}

fn offset(from: Point, heading: f64, distance: f64) -> Point {
    Point {
        x: (f64::from(from.x) + distance * heading.cos()) as f32,
        y: (f64::from(from.y) + distance * heading.sin()) as f32,
    }
}

/// `distance` from `from` along `heading`, or along the heading mirrored on the walls it would
/// cross, or the nearest heading that stays on the field; the point and the heading taken.
fn step(from: Point, heading: f64, distance: f64) -> (Point, f64) {
    let target = offset(from, heading, distance);
    if inside(target, MARGIN) {
        return (target, heading);
    }
    let (x, y) = (f64::from(target.x), f64::from(target.y));
    let mut mirrored = heading;
    if !(MARGIN..=f64::from(PLAYFIELD_WIDTH) - MARGIN).contains(&x) {
        mirrored = PI - mirrored;
    }
    if !(MARGIN..=f64::from(PLAYFIELD_HEIGHT) - MARGIN).contains(&y) {
        mirrored = -mirrored;
    }
    let turns = (1..=12).flat_map(|k| [f64::from(k), -f64::from(k)]).map(|k| mirrored + k * PI / 12.0);
    for h in std::iter::once(mirrored).chain(turns) {
        let p = offset(from, h, distance);
        if inside(p, MARGIN) {
            return (p, h);
        }
    }
    let clamp = |v: f32, max: f32| v.clamp(MARGIN as f32, max - MARGIN as f32);
    (Point { x: clamp(target.x, PLAYFIELD_WIDTH), y: clamp(target.y, PLAYFIELD_HEIGHT) }, mirrored)
}

/// The shape of one slider before it is fitted to the field.
#[derive(Debug, Clone, Copy)]
struct Shape {
    /// Arc angle (radians, signed: + turns counter-clockwise on screen maths); 0 for a line.
    bend: f64,
}

impl Shape {
    /// The control points of a `length` px body from `head` along `heading`, and the heading at
    /// its tail.
    fn path(self, head: Point, heading: f64, length: f64) -> (Vec<PathPoint>, f64) {
        if self.bend == 0.0 {
            let tail = offset(head, heading, length);
            let points =
                vec![PathPoint { pos: head, segment: Some(CurveKind::Linear) }, PathPoint { pos: tail, segment: None }];
            return (points, heading);
        }
        // The centre lies a radius to the side the arc turns to; the arc starts along `heading`.
        let side = self.bend.signum();
        let radius = length / self.bend.abs();
        let normal = heading + side * PI / 2.0;
        let centre = offset(head, normal, radius);
        let start = normal + PI;
        let at = |angle: f64| offset(centre, start + side * angle, radius);
        let points = vec![
            PathPoint { pos: head, segment: Some(CurveKind::Perfect) },
            PathPoint { pos: at(self.bend.abs() / 2.0), segment: None },
            PathPoint { pos: at(self.bend.abs()), segment: None },
        ];
        (points, heading + self.bend)
    }
}

/// A slider from `head` lasting `duration_ms`, `px_per_ms` fast, that stays on the field: along
/// `heading` or turned by up to 180°, with its bend or the opposite one, with the fewest repeats
/// (that divide `ticks` evenly); the slider, where the cursor leaves it and its heading there.
fn fitted_slider(
    head: Point,
    heading: f64,
    shape: Shape,
    ticks: i64,
    duration_ms: f64,
    px_per_ms: f64,
) -> Option<(Slider, Point, f64)> {
    let headings: Vec<f64> = (0..=SLIDER_TURNS)
        .flat_map(|k| [f64::from(k), -f64::from(k)])
        .map(|k| heading + k * PI / f64::from(SLIDER_TURNS))
        .collect();
    let bends = [shape.bend, -shape.bend];
    for repeats in (0..4u32).filter(|r| ticks % i64::from(r + 1) == 0) {
        let span_ms = duration_ms / f64::from(repeats + 1);
        let length_px = span_ms * px_per_ms;
        for &h in &headings {
            for &bend in &bends {
                let (path, tail_heading) = Shape { bend }.path(head, h, length_px);
                let slider = Slider { path, repeats, length_px, span_ms };
                if slider.polyline(BODY_STEP_PX).iter().all(|&p| inside(p, BODY_MARGIN)) {
                    let tail = slider.path.last().map_or(head, |p| p.pos);
                    let exit = if repeats % 2 == 0 { (tail, tail_heading) } else { (head, h + PI) };
                    return Some((slider, exit.0, exit.1));
                }
            }
        }
    }
    None
}

/// The hit objects of `notes` (in time order), laid out with `spacing`.
pub(super) fn place(notes: &[Note], grid: &Grid<'_>, spacing: &Spacing, rng: &mut SplitMix) -> Vec<HitObject> {
    let mut objects: Vec<HitObject> = Vec::with_capacity(notes.len());
    let mut cursor = Point { x: PLAYFIELD_WIDTH / 2.0, y: PLAYFIELD_HEIGHT / 2.0 };
    let mut heading = rng.range(0.0, TAU);
    let mut turn = 0.0;
    let mut alternate = rng.sign();
    let mut last_end_ms = f64::NEG_INFINITY;
    for note in notes {
        let time_ms = grid.time_of(note.tick);
        let beat_ms = grid.beat_len_at(time_ms);
        if note.new_combo {
            turn = rng.sign() * rng.range(0.1, 0.5);
        }
        let pos = if objects.is_empty() {
            offset(cursor, rng.range(0.0, TAU), rng.range(0.0, 60.0))
        } else {
            let gap_beats = (time_ms - last_end_ms) / beat_ms;
            let sharp = gap_beats >= 2.0 * STREAM_BEATS && rng.chance(spacing.sharpness);
            heading += if sharp {
                alternate = -alternate;
                alternate * rng.range(1.9, 2.7)
            } else {
                turn + rng.range(-0.15, 0.15)
            };
            let (p, h) = step(cursor, heading, spacing.distance(gap_beats));
            heading = h;
            p
        };
        let end_ms = grid.time_of(note.end_tick);
        let shape = Shape { bend: if rng.chance(LINEAR_SHARE) { 0.0 } else { turn.signum() * rng.range(0.5, 1.5) } };
        let body = (note.end_tick > note.tick)
            .then(|| {
                let px_per_ms = spacing.px_per_beat / beat_ms;
                fitted_slider(pos, heading, shape, note.end_tick - note.tick, end_ms - time_ms, px_per_ms)
            })
            .flatten();
        let kind = match body {
            Some((slider, exit, exit_heading)) => {
                (cursor, heading, last_end_ms) = (exit, exit_heading, end_ms);
                ObjectKind::Slider(slider)
            }
            None => {
                (cursor, last_end_ms) = (pos, time_ms);
                ObjectKind::Circle
            }
        };
        objects.push(HitObject { time_ms, pos, new_combo: note.new_combo, kind });
    }
    objects
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::beatmap::TimingModel;

    #[test]
    fn steps_bounce_off_the_walls() {
        let (p, h) = step(Point { x: 500.0, y: 192.0 }, 0.0, 100.0);
        assert!(inside(p, MARGIN), "{p:?}");
        assert!((h - PI).abs() < 1e-9, "mirrored on the right wall: {h}");
        let (p, _) = step(Point { x: 20.0, y: 20.0 }, -3.0 * PI / 4.0, 100.0);
        assert!(inside(p, MARGIN) && (p.distance(Point { x: 20.0, y: 20.0 }) - 100.0).abs() < 1e-3, "{p:?}");
        // Farther than the field allows from a corner in any direction: clamped.
        let (p, _) = step(Point { x: 20.0, y: 20.0 }, 0.0, 900.0);
        assert!(inside(p, MARGIN), "{p:?}");
    }

    #[test]
    fn distance_grows_with_the_gap_and_stops_at_the_cap() {
        let spacing = Spacing { px_per_beat: 140.0, jump: 2.0, stream: 1.0, sharpness: 0.0 };
        assert!((spacing.distance(0.25) - 35.0).abs() < 1e-9);
        assert!((spacing.distance(0.5) - 140.0).abs() < 1e-9);
        assert_eq!(spacing.distance(4.0), MAX_JUMP_PX);
        assert_eq!(spacing.distance(-1.0), 0.0);
    }

    #[test]
    fn arcs_are_as_long_as_asked_and_start_along_the_heading() {
        let head = Point { x: 100.0, y: 100.0 };
        let (path, tail_heading) = Shape { bend: 1.0 }.path(head, 0.0, 120.0);
        let slider = Slider { path, repeats: 0, length_px: 120.0, span_ms: 500.0 };
        let line = slider.polyline(1.0);
        let travelled: f32 = line.windows(2).map(|w| w[0].distance(w[1])).sum();
        assert!((travelled - 120.0).abs() < 1.0, "{travelled}");
        assert!(line[1].x > head.x && (line[1].y - head.y).abs() < 1.0, "{:?}", &line[..2]);
        assert_eq!(tail_heading, 1.0);
    }

    #[test]
    fn sliders_too_long_for_the_field_fold_into_repeats_or_give_up() {
        let head = Point { x: 256.0, y: 192.0 };
        // 600 px do not fit in any direction; 3 spans of 200 px do.
        let (slider, exit, _) = fitted_slider(head, 0.0, Shape { bend: 0.0 }, 6, 1500.0, 0.4).unwrap();
        assert_eq!(slider.repeats, 2);
        assert!((slider.length_px - 200.0).abs() < 1e-9 && (slider.span_ms - 500.0).abs() < 1e-9);
        assert_ne!(exit, head, "an even number of repeats ends at the tail");
        // 5 ticks cannot be split: a 2000 px line never fits.
        assert!(fitted_slider(head, 0.0, Shape { bend: 0.0 }, 5, 5000.0, 0.4).is_none());
    }

    #[test]
    fn placed_notes_stay_on_the_field() {
        let timing = TimingModel::constant(0.0, 180.0);
        let grid = Grid::new(&timing, 4);
        let notes: Vec<Note> = (0..400)
            .map(|i| {
                let tick = i64::from(i) * 3;
                Note { tick, end_tick: if i % 5 == 0 { tick + 2 } else { tick }, new_combo: i % 8 == 0 }
            })
            .collect();
        let spacing = Spacing { px_per_beat: 180.0, jump: 3.0, stream: 1.3, sharpness: 0.8 };
        let objects = place(&notes, &grid, &spacing, &mut SplitMix::new(3));
        assert_eq!(objects.len(), 400);
        for o in &objects {
            assert!(inside(o.pos, MARGIN), "{o:?}");
            if let ObjectKind::Slider(s) = &o.kind {
                assert!(s.polyline(2.0).iter().all(|&p| inside(p, 0.0)), "{o:?}");
            }
        }
        let sliders = objects.iter().filter(|o| matches!(o.kind, ObjectKind::Slider(_))).count();
        assert_eq!(sliders, 80, "every 2-tick slider fits");
    }
}
