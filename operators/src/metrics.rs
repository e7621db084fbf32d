//! Scores of a generated map (or token sequence) against the real one.
//!
//! ```text
//! predicted objects ─┐   optimal matching (Hungarian, per cluster of nearby times)
//!                    ├─► hit F1 · rhythm F1 · timing MAE · slider IoU      tokens ─► edit distance
//! true objects ──────┘                                                     stars  ─► SR error
//! ```
//! Every object metric matches with [`min_cost_matching`]: the largest possible set of pairs
//! within the tolerance and, among those, the smallest total cost — never greedy, so the order of
//! the predicted objects does not matter.

use std::collections::HashSet;

use crate::beatmap::{HitObject, ObjectKind, Point};

/// Hit F1 time tolerance (ms), as in the reference system.
pub const HIT_TOLERANCE_MS: f64 = 50.0;
/// Hit F1 distance tolerance (osu!px).
pub const HIT_TOLERANCE_PX: f32 = 50.0;
/// Rhythm F1 tolerances (ms): the field's usual loose and tight windows.
pub const RHYTHM_TOLERANCES_MS: [f64; 2] = [50.0, 10.0];
/// What one unmatched object costs in [`timing_mae`] (ms), and the widest pair it accepts.
pub const TIMING_MISS_MS: f64 = 100.0;
/// Radius slider paths are buffered by in [`slider_iou`] (osu!px).
pub const SLIDER_BUFFER_PX: f32 = 10.0;

/// Normalised Levenshtein distance: edits (insert, delete, substitute) to turn `predicted` into
/// `truth`, divided by the longer length; 0 when both are empty, 1 when exactly one is.
pub fn token_edit_distance(predicted: &[u32], truth: &[u32]) -> f64 {
    let longest = predicted.len().max(truth.len());
    if longest == 0 {
        return 0.0;
    }
    let mut row: Vec<usize> = (0..=truth.len()).collect();
    for (i, p) in predicted.iter().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, t) in truth.iter().enumerate() {
            let substitute = diagonal + usize::from(p != t);
            diagonal = row[j + 1];
            row[j + 1] = substitute.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[truth.len()] as f64 / longest as f64
}

/// Minimum-cost matching between `rows` and `cols` items, where `cost(r, c)` is `None` for pairs
/// that may not be matched: first as many pairs as possible, then the least total cost
/// (Hungarian algorithm, O(n²m)). Costs must be finite and non-negative. Returns `(row, col)`
/// pairs sorted by row.
pub fn min_cost_matching(rows: usize, cols: usize, cost: impl Fn(usize, usize) -> Option<f64>) -> Vec<(usize, usize)> {
    if rows == 0 || cols == 0 {
        return Vec::new();
    }
    let transpose = rows > cols;
    let (n, m) = if transpose { (cols, rows) } else { (rows, cols) };
    let at = |i: usize, j: usize| if transpose { cost(j, i) } else { cost(i, j) };
    let mut matrix = vec![vec![None; m]; n];
    let mut max_cost: f64 = 0.0;
    for (i, row) in matrix.iter_mut().enumerate() {
        for (j, cell) in row.iter_mut().enumerate() {
            *cell = at(i, j).filter(|c| c.is_finite() && *c >= 0.0);
            max_cost = max_cost.max(cell.unwrap_or(0.0));
        }
    }
    // A forbidden pair costs more than any set of allowed ones, so fewer of them always wins.
    let forbidden = (max_cost + 1.0) * (n as f64 + 1.0);
    let a = |i: usize, j: usize| matrix[i][j].unwrap_or(forbidden);

    let (mut u, mut v) = (vec![0.0f64; n + 1], vec![0.0f64; m + 1]);
    let (mut p, mut way) = (vec![0usize; m + 1], vec![0usize; m + 1]);
    for i in 1..=n {
        p[0] = i;
        let mut j0 = 0;
        let mut minv = vec![f64::INFINITY; m + 1];
        let mut used = vec![false; m + 1];
        loop {
            used[j0] = true;
            let i0 = p[j0];
            let (mut delta, mut j1) = (f64::INFINITY, 0);
            for j in 1..=m {
                if !used[j] {
                    let current = a(i0 - 1, j - 1) - u[i0] - v[j];
                    if current < minv[j] {
                        minv[j] = current;
                        way[j] = j0;
                    }
                    if minv[j] < delta {
                        delta = minv[j];
                        j1 = j;
                    }
                }
            }
            for j in 0..=m {
                if used[j] {
                    u[p[j]] += delta;
                    v[j] -= delta;
                } else {
                    minv[j] -= delta;
                }
            }
            j0 = j1;
            if p[j0] == 0 {
                break;
            }
        }
        loop {
            let j1 = way[j0];
            p[j0] = p[j1];
            j0 = j1;
            if j0 == 0 {
                break;
            }
        }
    }
    let mut pairs: Vec<(usize, usize)> = (1..=m)
        .filter(|&j| p[j] != 0 && matrix[p[j] - 1][j - 1].is_some())
        .map(|j| if transpose { (j - 1, p[j] - 1) } else { (p[j] - 1, j - 1) })
        .collect();
    pairs.sort_unstable();
    pairs
}

/// [`min_cost_matching`] of objects whose start times differ by at most `tolerance_ms`, solved
/// separately in each cluster of times (split where consecutive times are more than the
/// tolerance apart: no allowed pair can cross such a gap), so long maps stay fast. `cost` gets
/// the indices of a predicted and a true object.
pub fn match_by_time(
    predicted: &[HitObject],
    truth: &[HitObject],
    tolerance_ms: f64,
    cost: impl Fn(usize, usize) -> Option<f64>,
) -> Vec<(usize, usize)> {
    let mut events: Vec<(f64, bool, usize)> = predicted
        .iter()
        .enumerate()
        .map(|(i, o)| (o.time_ms, true, i))
        .chain(truth.iter().enumerate().map(|(i, o)| (o.time_ms, false, i)))
        .collect();
    events.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut pairs = Vec::new();
    let mut start = 0;
    for end in 1..=events.len() {
        if end < events.len() && events[end].0 - events[end - 1].0 <= tolerance_ms {
            continue;
        }
        let cluster = &events[start..end];
        let p: Vec<usize> = cluster.iter().filter(|e| e.1).map(|e| e.2).collect();
        let t: Vec<usize> = cluster.iter().filter(|e| !e.1).map(|e| e.2).collect();
        let allowed = |i: usize, j: usize| {
            if (predicted[i].time_ms - truth[j].time_ms).abs() <= tolerance_ms { cost(i, j) } else { None }
        };
        for (i, j) in min_cost_matching(p.len(), t.len(), |i, j| allowed(p[i], t[j])) {
            pairs.push((p[i], t[j]));
        }
        start = end;
    }
    pairs.sort_unstable();
    pairs
}

/// Precision, recall and F1 of a matching.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct F1Score {
    /// Matched / predicted (0 if nothing was predicted but something was expected).
    pub precision: f64,
    /// Matched / true (0 if nothing was expected but something was predicted).
    pub recall: f64,
    /// Harmonic mean of the two; 1 when both sides are empty.
    pub f1: f64,
    /// Number of matched pairs.
    pub matched: usize,
}

impl F1Score {
    /// The score of `matched` pairs out of `predicted` and `truth` objects (summed over many
    /// windows or maps, this pools them).
    pub fn new(matched: usize, predicted: usize, truth: usize) -> Self {
        if predicted == 0 && truth == 0 {
            return Self { precision: 1.0, recall: 1.0, f1: 1.0, matched };
        }
        let ratio = |n: usize| if n == 0 { 0.0 } else { matched as f64 / n as f64 };
        let (precision, recall) = (ratio(predicted), ratio(truth));
        let f1 = if precision + recall > 0.0 { 2.0 * precision * recall / (precision + recall) } else { 0.0 };
        Self { precision, recall, f1, matched }
    }
}

/// F1 pooled over many windows or maps: matched pairs and object counts summed, F1 of the sums.
#[derive(Debug, Default, Clone, Copy, PartialEq, serde::Serialize)]
pub struct PooledF1 {
    /// Matched pairs.
    pub matched: usize,
    /// Predicted objects.
    pub predicted: usize,
    /// True objects.
    pub truth: usize,
    /// F1 of the pooled counts.
    pub f1: f64,
}

impl PooledF1 {
    /// Adds one comparison of `predicted` against `truth` objects that matched `score.matched`.
    pub fn add(&mut self, score: F1Score, predicted: usize, truth: usize) {
        self.matched += score.matched;
        self.predicted += predicted;
        self.truth += truth;
        self.f1 = F1Score::new(self.matched, self.predicted, self.truth).f1;
    }
}

/// Hit F1: a predicted object hits a true one within `tolerance_ms` and `tolerance_px` of its
/// start (any kinds); pairs are chosen optimally with cost `|Δt| (ms) + distance (px)`.
pub fn hit_f1(predicted: &[HitObject], truth: &[HitObject], tolerance_ms: f64, tolerance_px: f32) -> F1Score {
    let pairs = match_by_time(predicted, truth, tolerance_ms, |i, j| {
        let (a, b) = (&predicted[i], &truth[j]);
        let d = a.pos.distance(b.pos);
        (d <= tolerance_px).then(|| (a.time_ms - b.time_ms).abs() + f64::from(d))
    });
    F1Score::new(pairs.len(), predicted.len(), truth.len())
}

/// Rhythm F1: [`hit_f1`] on start times only (cost `|Δt|`).
pub fn rhythm_f1(predicted: &[HitObject], truth: &[HitObject], tolerance_ms: f64) -> F1Score {
    let pairs =
        match_by_time(predicted, truth, tolerance_ms, |i, j| Some((predicted[i].time_ms - truth[j].time_ms).abs()));
    F1Score::new(pairs.len(), predicted.len(), truth.len())
}

/// Timing MAE (ms) that counts misses: objects are matched optimally on `|Δt| ≤ miss_ms`; every
/// pair adds its `|Δt|`, every unmatched object on either side adds `miss_ms`, and the sum is
/// divided by pairs + unmatched objects. 0 when both sides are empty; `miss_ms` when one is.
pub fn timing_mae(predicted: &[HitObject], truth: &[HitObject], miss_ms: f64) -> f64 {
    let pairs = match_by_time(predicted, truth, miss_ms, |i, j| Some((predicted[i].time_ms - truth[j].time_ms).abs()));
    let unmatched = predicted.len() + truth.len() - 2 * pairs.len();
    let count = pairs.len() + unmatched;
    if count == 0 {
        return 0.0;
    }
    let error: f64 = pairs.iter().map(|&(i, j)| (predicted[i].time_ms - truth[j].time_ms).abs()).sum();
    (error + miss_ms * unmatched as f64) / count as f64
}

/// The 1-px cells whose centres lie within `radius` of the polyline `points`.
fn buffered_cells(points: &[Point], radius: f32) -> HashSet<(i32, i32)> {
    let mut cells = HashSet::new();
    let segments: Vec<(Point, Point)> = if points.len() == 1 {
        vec![(points[0], points[0])]
    } else {
        points.windows(2).map(|w| (w[0], w[1])).collect()
    };
    for (a, b) in segments {
        let (dx, dy) = (b.x - a.x, b.y - a.y);
        let len2 = dx * dx + dy * dy;
        let (x0, x1) = ((a.x.min(b.x) - radius).floor() as i32, (a.x.max(b.x) + radius).ceil() as i32);
        let (y0, y1) = ((a.y.min(b.y) - radius).floor() as i32, (a.y.max(b.y) + radius).ceil() as i32);
        for cx in x0..=x1 {
            for cy in y0..=y1 {
                let p = Point { x: cx as f32 + 0.5, y: cy as f32 + 0.5 };
                let t = if len2 > 0.0 { (((p.x - a.x) * dx + (p.y - a.y) * dy) / len2).clamp(0.0, 1.0) } else { 0.0 };
                let closest = Point { x: a.x + t * dx, y: a.y + t * dy };
                if p.distance(closest) <= radius {
                    cells.insert((cx, cy));
                }
            }
        }
    }
    cells
}

fn slider_cells(object: &HitObject) -> Option<HashSet<(i32, i32)>> {
    match &object.kind {
        ObjectKind::Slider(s) => Some(buffered_cells(&s.polyline(2.0), SLIDER_BUFFER_PX)),
        _ => None,
    }
}

fn iou(a: &HashSet<(i32, i32)>, b: &HashSet<(i32, i32)>) -> f64 {
    let inter = a.intersection(b).count();
    let union = a.len() + b.len() - inter;
    if union == 0 { 0.0 } else { inter as f64 / union as f64 }
}

/// Slider IoU: sliders are compared as the area within [`SLIDER_BUFFER_PX`] of their real
/// (cut/extended) curve, rasterised on a 1 px grid. Predicted and true sliders starting within
/// [`HIT_TOLERANCE_MS`] are matched optimally (cost `1 − IoU`); the score is the sum of matched
/// IoUs over matched pairs + unmatched sliders on both sides (an unmatched slider scores 0).
/// 1 when neither side has sliders.
pub fn slider_iou(predicted: &[HitObject], truth: &[HitObject]) -> f64 {
    let sliders = |objects: &[HitObject]| -> (Vec<HitObject>, Vec<HashSet<(i32, i32)>>) {
        objects.iter().filter_map(|o| slider_cells(o).map(|c| (o.clone(), c))).unzip()
    };
    let ((p, p_cells), (t, t_cells)) = (sliders(predicted), sliders(truth));
    if p.is_empty() && t.is_empty() {
        return 1.0;
    }
    let pairs = match_by_time(&p, &t, HIT_TOLERANCE_MS, |i, j| Some(1.0 - iou(&p_cells[i], &t_cells[j])));
    let total: f64 = pairs.iter().map(|&(i, j)| iou(&p_cells[i], &t_cells[j])).sum();
    total / (p.len() + t.len() - pairs.len()) as f64
}

/// Star-rating error: `|predicted − target|` (both NoMod, from the same rosu-pp version).
pub fn star_rating_error(predicted_stars: f64, target_stars: f64) -> f64 {
    (predicted_stars - target_stars).abs()
}

/// All object metrics of one map at the standard tolerances.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct MapScores {
    /// [`hit_f1`] at 50 ms / 50 px.
    pub hit_f1: F1Score,
    /// [`rhythm_f1`] at ±50 ms.
    pub rhythm_f1_50ms: F1Score,
    /// [`rhythm_f1`] at ±10 ms.
    pub rhythm_f1_10ms: F1Score,
    /// [`timing_mae`] with [`TIMING_MISS_MS`].
    pub timing_mae_ms: f64,
    /// [`slider_iou`].
    pub slider_iou: f64,
}

/// Computes every object metric of `predicted` against `truth`.
pub fn score_map(predicted: &[HitObject], truth: &[HitObject]) -> MapScores {
    MapScores {
        hit_f1: hit_f1(predicted, truth, HIT_TOLERANCE_MS, HIT_TOLERANCE_PX),
        rhythm_f1_50ms: rhythm_f1(predicted, truth, RHYTHM_TOLERANCES_MS[0]),
        rhythm_f1_10ms: rhythm_f1(predicted, truth, RHYTHM_TOLERANCES_MS[1]),
        timing_mae_ms: timing_mae(predicted, truth, TIMING_MISS_MS),
        slider_iou: slider_iou(predicted, truth),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::beatmap::{CurveKind, PathPoint, Slider};
    use proptest::prelude::*;

    fn circle(time_ms: f64, x: f32, y: f32) -> HitObject {
        HitObject { time_ms, pos: Point { x, y }, new_combo: false, kind: ObjectKind::Circle }
    }

    fn line_slider(time_ms: f64, y: f32) -> HitObject {
        let path = vec![
            PathPoint { pos: Point { x: 100.0, y }, segment: Some(CurveKind::Linear) },
            PathPoint { pos: Point { x: 200.0, y }, segment: None },
        ];
        let slider = Slider { path, repeats: 0, length_px: 100.0, span_ms: 200.0 };
        HitObject { time_ms, pos: Point { x: 100.0, y }, new_combo: false, kind: ObjectKind::Slider(slider) }
    }

    #[test]
    fn edit_distance_by_hand() {
        assert_eq!(token_edit_distance(&[1, 2, 3], &[1, 3]), 1.0 / 3.0);
        assert_eq!(token_edit_distance(&[5, 6], &[6, 5]), 1.0);
        assert_eq!(token_edit_distance(&[], &[]), 0.0);
        assert_eq!(token_edit_distance(&[], &[1, 2]), 1.0);
        assert_eq!(token_edit_distance(&[1, 2], &[]), 1.0);
    }

    #[test]
    fn hit_f1_is_optimal_not_greedy() {
        let truth = [circle(0.0, 0.0, 0.0), circle(45.0, 0.0, 0.0)];
        // Greedy in sequence order gives the 20 ms object the nearer truth (0 ms, 20 ms off), after
        // which the −30 ms object finds nothing within 50 ms: F1 0.5. Optimal pairs both.
        let predicted = [circle(20.0, 0.0, 0.0), circle(-30.0, 0.0, 0.0)];
        let score = hit_f1(&predicted, &truth, 50.0, 50.0);
        assert_eq!((score.matched, score.f1), (2, 1.0));
        // Too far in space: no hit, though the rhythm matches.
        let far = [circle(0.0, 60.0, 0.0)];
        assert_eq!(hit_f1(&far, &truth[..1], 50.0, 50.0).f1, 0.0);
        assert_eq!(rhythm_f1(&far, &truth[..1], 50.0).f1, 1.0);
    }

    #[test]
    fn f1_with_empty_sides() {
        let some = [circle(0.0, 0.0, 0.0)];
        assert_eq!(hit_f1(&[], &[], 50.0, 50.0).f1, 1.0);
        let empty_prediction = hit_f1(&[], &some, 50.0, 50.0);
        assert_eq!((empty_prediction.precision, empty_prediction.recall, empty_prediction.f1), (0.0, 0.0, 0.0));
        assert_eq!(hit_f1(&some, &[], 50.0, 50.0).f1, 0.0);
        // 3 predicted, 2 true, 1 within 10 ms: P = 1/3, R = 1/2, F1 = 0.4.
        let predicted = [circle(0.0, 0.0, 0.0), circle(500.0, 0.0, 0.0), circle(1000.0, 0.0, 0.0)];
        let truth = [circle(5.0, 0.0, 0.0), circle(530.0, 0.0, 0.0)];
        let s = rhythm_f1(&predicted, &truth, 10.0);
        assert!((s.f1 - 0.4).abs() < 1e-12, "{s:?}");
        assert_eq!(rhythm_f1(&predicted, &truth, 50.0).matched, 2);
    }

    #[test]
    fn timing_mae_counts_misses() {
        let truth = [circle(0.0, 0.0, 0.0), circle(1000.0, 0.0, 0.0)];
        assert_eq!(timing_mae(&[circle(10.0, 0.0, 0.0)], &truth, 100.0), (10.0 + 100.0) / 2.0);
        assert_eq!(timing_mae(&[], &[], 100.0), 0.0);
        assert_eq!(timing_mae(&[], &truth, 100.0), 100.0);
        assert_eq!(timing_mae(&truth, &[], 100.0), 100.0);
        assert_eq!(timing_mae(&truth, &truth, 100.0), 0.0);
    }

    #[test]
    fn slider_iou_by_hand() {
        let a = [line_slider(0.0, 100.0)];
        assert_eq!(slider_iou(&a, &a), 1.0);
        // Two 100 px capsules of radius 10, 10 px apart: intersection 100·10 + lens(r=10, d=10)
        // = 1000 + 122.84; each is 100·20 + π·100 = 2314.16; IoU = 1122.84 / 3505.48 = 0.3203.
        let b = [line_slider(20.0, 110.0)];
        let iou = slider_iou(&b, &a);
        assert!((iou - 0.3203).abs() < 0.01, "{iou}");
        // An unmatched slider counts 0: (1 + 0) / 2.
        assert!((slider_iou(&[a[0].clone(), line_slider(5000.0, 0.0)], &a) - 0.5).abs() < 1e-12);
        assert_eq!(slider_iou(&[], &[]), 1.0);
        assert_eq!(slider_iou(&[], &a), 0.0);
    }

    #[test]
    fn star_rating_error_is_absolute() {
        assert_eq!(star_rating_error(5.5, 5.0), 0.5);
        assert_eq!(star_rating_error(4.0, 5.0), 1.0);
    }

    /// Brute force over all partial matchings: most pairs, then least cost.
    fn brute_force(cost: &[Vec<Option<f64>>], m: usize) -> (usize, f64) {
        fn go(
            i: usize,
            cost: &[Vec<Option<f64>>],
            used: &mut Vec<bool>,
            pairs: usize,
            total: f64,
            best: &mut (usize, f64),
        ) {
            if i == cost.len() {
                if pairs > best.0 || (pairs == best.0 && total < best.1 - 1e-9) {
                    *best = (pairs, total);
                }
                return;
            }
            go(i + 1, cost, used, pairs, total, best);
            for j in 0..used.len() {
                if let (false, Some(c)) = (used[j], cost[i][j]) {
                    used[j] = true;
                    go(i + 1, cost, used, pairs + 1, total + c, best);
                    used[j] = false;
                }
            }
        }
        let mut best = (0, 0.0);
        go(0, cost, &mut vec![false; m], 0, 0.0, &mut best);
        best
    }

    proptest! {
        #[test]
        fn hungarian_matches_brute_force(
            n in 0usize..5, m in 0usize..5,
            cells in proptest::collection::vec(proptest::option::weighted(0.7, 0.0f64..100.0), 25),
        ) {
            let cost: Vec<Vec<Option<f64>>> = (0..n).map(|i| (0..m).map(|j| cells[i * 5 + j]).collect()).collect();
            let pairs = min_cost_matching(n, m, |i, j| cost[i][j]);
            let total: f64 = pairs.iter().map(|&(i, j)| cost[i][j].unwrap()).sum();
            let (best_pairs, best_total) = brute_force(&cost, m);
            prop_assert_eq!(pairs.len(), best_pairs);
            prop_assert!((total - best_total).abs() < 1e-6, "{} vs {}", total, best_total);
        }
    }
}
