//! Steering a finished map to a requested star rating: the closed loop of `mapflow generate`
//! for maps whose objects come from elsewhere (the model), where the rhythm is the model's and
//! only how far apart and how many the objects are may change.
//!
//! ```text
//!  map ─► difficulty settings of the requested stars (CS AR OD HP; its own slider velocity)
//!      ─► rate (rosu-pp) ─► too easy: spread the objects out from the playfield's centre
//!                           (bisection of the spacing factor up to 2.2×)
//!                        ─► too hard: pull them in (down to 0.4×), then drop the objects that
//!                           follow the shortest gaps (bisection of the share kept, down to 25 %)
//!      ─► the closest map rated, the tries it took
//! ```
//! Sliders move whole with their heads; positions stay on the playfield.

use serde::Serialize;
use thiserror::Error;

use crate::beatmap::write::{WriteError, to_osu_string};
use crate::beatmap::{Beatmap, BeatmapError, ObjectKind, PLAYFIELD_HEIGHT, PLAYFIELD_WIDTH, Point, star_rating};
use crate::onset_map::difficulty_for_stars;

/// Widest spacing factor tried.
const MAX_SPACING: f64 = 2.2;
/// Tightest spacing factor tried.
const MIN_SPACING: f64 = 0.4;
/// Smallest share of the objects kept.
const MIN_DENSITY: f64 = 0.25;
/// Halvings of each searched interval.
const BISECTIONS: usize = 9;
/// An object this many beats from a grid point is on it.
const ON_GRID: f64 = 0.03;

/// How close the loop came.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct StarsFitReport {
    /// Star rating of the map as it came in (with its own difficulty settings).
    pub stars_before: f64,
    /// Star rating of the returned map.
    pub stars: f64,
    /// Maps rated.
    pub tries: usize,
    /// Spacing factor applied (1 = unchanged).
    pub spacing: f64,
    /// Share of the objects kept (1 = all).
    pub density: f64,
}

/// Why a map could not be rated.
#[derive(Debug, Error)]
pub enum StarsFitError {
    /// A tried map could not be written as `.osu`.
    #[error(transparent)]
    Write(#[from] WriteError),
    /// rosu-pp could not rate a tried map.
    #[error(transparent)]
    Rating(#[from] BeatmapError),
}

/// The search's state: the map with the target's settings, and the closest map yet.
struct Fit<'a> {
    base: Beatmap,
    /// Object indices, most important first (the longest gap before them).
    ranking: Vec<usize>,
    target: f64,
    tolerance: f64,
    tries: usize,
    best: Option<(Beatmap, f64, f64, f64)>,
    name: &'a str,
}

impl Fit<'_> {
    /// Rates the map at `spacing` and `density`; keeps it if it is the closest yet.
    fn attempt(&mut self, spacing: f64, density: f64) -> Result<f64, StarsFitError> {
        let map = variant(&self.base, &self.ranking, spacing, density);
        let stars = if map.objects.is_empty() { 0.0 } else { star_rating(self.name, &to_osu_string(&map, "")?)? };
        self.tries += 1;
        let error = (stars - self.target).abs();
        if self.best.as_ref().is_none_or(|b| error < (b.1 - self.target).abs()) {
            self.best = Some((map, stars, spacing, density));
        }
        Ok(stars)
    }

    fn done(&self) -> bool {
        self.best.as_ref().is_some_and(|b| (b.1 - self.target).abs() <= self.tolerance)
    }

    /// Bisection of `range` (the stars rising with the parameter); `at` makes (spacing, density).
    fn bisect(&mut self, range: (f64, f64), at: impl Fn(f64) -> (f64, f64)) -> Result<(), StarsFitError> {
        let (mut lo, mut hi) = range;
        for _ in 0..BISECTIONS {
            if self.done() {
                break;
            }
            let mid = (lo + hi) / 2.0;
            let (spacing, density) = at(mid);
            if self.attempt(spacing, density)? < self.target {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        Ok(())
    }
}

/// `map` steered towards `target` stars (within `tolerance` where its rhythm allows: a sparse
/// rhythm caps how hard spacing can make it). The returned map has the target's difficulty
/// settings; its objects keep their times, kinds and shapes.
pub fn fit_stars(map: &Beatmap, target: f64, tolerance: f64) -> Result<(Beatmap, StarsFitReport), StarsFitError> {
    let stars_before = if map.objects.is_empty() { 0.0 } else { star_rating(&map.name, &to_osu_string(map, "")?)? };
    let settings = difficulty_for_stars(target);
    let mut base = map.clone();
    base.difficulty = crate::beatmap::Difficulty {
        slider_multiplier: map.difficulty.slider_multiplier,
        slider_tick_rate: map.difficulty.slider_tick_rate,
        stack_leniency: map.difficulty.stack_leniency,
        ..settings
    };
    let ranking = importance(&base);
    let name = map.name.clone();
    let mut fit = Fit { base, ranking, target, tolerance, tries: 0, best: None, name: &name };
    let start = fit.attempt(1.0, 1.0)?;
    if !fit.done() && !map.objects.is_empty() {
        if start < target {
            fit.bisect((1.0, MAX_SPACING), |m| (m, 1.0))?;
        } else if fit.attempt(MIN_SPACING, 1.0)? > target {
            fit.bisect((MIN_DENSITY, 1.0), |d| (MIN_SPACING, d))?;
        } else {
            fit.bisect((MIN_SPACING, 1.0), |m| (m, 1.0))?;
        }
    }
    let tries = fit.tries;
    let (beatmap, stars, spacing, density) = fit.best.expect("the first attempt is always kept");
    Ok((beatmap, StarsFitReport { stars_before, stars, tries, spacing, density }))
}

/// Object indices by importance, as a mapper thins a map: spinners, then the objects on a beat,
/// on a half beat, on a quarter, anywhere else; within each, the longest gap since the previous
/// object first, then time.
fn importance(map: &Beatmap) -> Vec<usize> {
    let objects = &map.objects;
    let place = |i: usize| -> u8 {
        if matches!(objects[i].kind, ObjectKind::Spinner { .. }) {
            return 0;
        }
        let beat = map.timing.beat_at(objects[i].time_ms);
        let on = |division: f64| ((beat * division).round() - beat * division).abs() < ON_GRID * division;
        1 + [1.0, 2.0, 4.0].into_iter().position(on).unwrap_or(3) as u8
    };
    let gap = |i: usize| if i == 0 { f64::INFINITY } else { objects[i].time_ms - objects[i - 1].time_ms };
    let mut order: Vec<usize> = (0..objects.len()).collect();
    order.sort_by(|&a, &b| place(a).cmp(&place(b)).then(gap(b).total_cmp(&gap(a))).then(a.cmp(&b)));
    order
}

/// `base` with its objects spread by `spacing` from the playfield's centre and only the most
/// important `density` share of them kept (at least one).
fn variant(base: &Beatmap, ranking: &[usize], spacing: f64, density: f64) -> Beatmap {
    let keep = ((density * ranking.len() as f64).ceil() as usize).clamp(1.min(ranking.len()), ranking.len());
    let mut kept: Vec<usize> = ranking[..keep].to_vec();
    kept.sort_unstable();
    let centre = Point { x: PLAYFIELD_WIDTH / 2.0, y: PLAYFIELD_HEIGHT / 2.0 };
    let m = spacing as f32;
    let objects = kept
        .into_iter()
        .map(|i| {
            let mut object = base.objects[i].clone();
            if matches!(object.kind, ObjectKind::Spinner { .. }) {
                return object;
            }
            let moved = Point {
                x: (centre.x + m * (object.pos.x - centre.x)).clamp(0.0, PLAYFIELD_WIDTH),
                y: (centre.y + m * (object.pos.y - centre.y)).clamp(0.0, PLAYFIELD_HEIGHT),
            };
            let (dx, dy) = (moved.x - object.pos.x, moved.y - object.pos.y);
            if let ObjectKind::Slider(slider) = &mut object.kind {
                for point in &mut slider.path {
                    point.pos = Point { x: point.pos.x + dx, y: point.pos.y + dy };
                }
            }
            object.pos = moved;
            object
        })
        .collect();
    Beatmap { objects, ..base.clone() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::beatmap::{HitObject, Metadata, TimingModel};

    /// `n` circles `gap_ms` apart, zig-zagging `jump` px either side of the centre.
    fn zigzag(n: usize, gap_ms: f64, jump: f32) -> Beatmap {
        let objects = (0..n)
            .map(|i| HitObject {
                time_ms: 1_000.0 + i as f64 * gap_ms,
                pos: Point { x: 256.0 + if i % 2 == 0 { jump } else { -jump }, y: 192.0 },
                new_combo: i % 8 == 0,
                kind: ObjectKind::Circle,
            })
            .collect();
        Beatmap {
            name: "zigzag".into(),
            metadata: Metadata { creator: "test".into(), version: "x".into(), ..Metadata::default() },
            difficulty: Default::default(),
            timing: TimingModel::constant(1_000.0, 120.0),
            objects,
        }
    }

    #[test]
    fn easier_and_harder_requests_move_the_rating_toward_them() {
        let map = zigzag(240, 250.0, 60.0);
        for target in [2.0, 3.0, 3.5] {
            let (fitted, report) = fit_stars(&map, target, 0.05).unwrap();
            assert!((report.stars - target).abs() <= 0.3, "{target}★: {report:?}");
            let rated = star_rating("zigzag", &to_osu_string(&fitted, "").unwrap()).unwrap();
            assert!((rated - report.stars).abs() < 1e-9, "the report rates the returned map");
            assert!(report.tries >= 2 && report.tries <= 2 + 2 * BISECTIONS, "{report:?}");
            assert!(fitted.objects.iter().all(|o| (0.0..=512.0).contains(&o.pos.x)));
            // The rhythm is kept: every object's time is one of the input's.
            assert!(fitted.objects.iter().all(|o| map.objects.iter().any(|m| m.time_ms == o.time_ms)));
        }
    }

    #[test]
    fn a_request_out_of_reach_gets_the_closest_map() {
        let map = zigzag(240, 250.0, 60.0);
        let (_, report) = fit_stars(&map, 8.0, 0.05).unwrap();
        assert!(report.stars > report.stars_before + 0.3 && report.spacing > 2.0, "{report:?}");
    }

    #[test]
    fn too_hard_even_when_tight_drops_the_stream_notes_first() {
        // 1/4 notes at 120 BPM with big jumps: far above 1.5★ even at the tightest spacing.
        let map = zigzag(400, 125.0, 200.0);
        let (fitted, report) = fit_stars(&map, 1.5, 0.05).unwrap();
        assert!(report.density < 1.0, "{report:?}");
        assert!(fitted.objects.len() < map.objects.len());
        assert!((report.stars - 1.5).abs() <= 0.3, "{report:?}");
        assert_eq!(fitted.objects[0].time_ms, map.objects[0].time_ms, "the first object stays");
        // Thinned as a mapper would: the notes on the beats stay, spread over the whole song.
        let on_beat = |t: f64| ((t - 1_000.0) / 500.0).fract() == 0.0;
        assert!(fitted.objects.iter().filter(|o| on_beat(o.time_ms)).count() >= 100, "{report:?}");
        assert!(fitted.objects.last().unwrap().time_ms > 40_000.0);
    }

    #[test]
    fn an_empty_map_stays_empty() {
        let (fitted, report) = fit_stars(&zigzag(0, 100.0, 0.0), 4.0, 0.05).unwrap();
        assert!(fitted.objects.is_empty());
        assert_eq!((report.stars, report.tries), (0.0, 1));
    }
}
