//! Scores of a generated map (or token sequence) against the real one.
//!
//! ```text
//! predicted objects ─┐   optimal matching (sparse, per cluster of nearby times)
//!                    ├─► hit F1 · rhythm F1 · timing MAE · slider IoU      tokens ─► edit distance
//! true objects ──────┘                                                     stars  ─► SR error
//! ```
//! Every object metric matches optimally: the largest possible set of pairs within the tolerance
//! and, among those, the smallest total cost — never greedy in the objects' order, so the order
//! of the predicted objects does not matter. [`match_by_time`] solves it on the allowed pairs
//! only (a sparse assignment, see [`sparse_min_cost_matching`]), so a long stream whose objects
//! all chain into one cluster costs about its number of allowed pairs, not the cube of its
//! length. Rhythm F1 only counts pairs, and on a line the most pairs within a tolerance need no
//! assignment at all ([`max_pairs_within`]).

pub mod grid;

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashSet};

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
/// (Hungarian algorithm on the dense `rows × cols` matrix: O(n²m) time, O(nm) memory — for
/// small sets such as one window's objects; [`sparse_min_cost_matching`] for large ones).
/// Costs must be finite and non-negative. Returns `(row, col)` pairs sorted by row.
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

/// A column of [`sparse_min_cost_matching`]'s Dijkstra queue: its tentative distance (the
/// heap is a max-heap, so the order is reversed: the nearest column comes out first).
#[derive(Debug, Clone, Copy)]
struct Tentative(f64, usize);

impl PartialEq for Tentative {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Tentative {}

impl PartialOrd for Tentative {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Tentative {
    fn cmp(&self, other: &Self) -> Ordering {
        other.0.total_cmp(&self.0).then_with(|| other.1.cmp(&self.1))
    }
}

/// [`min_cost_matching`] on a sparse graph: `edges[r]` lists the allowed `(col, cost)` pairs of
/// row `r` (columns `0..cols`; costs that are not finite and non-negative are dropped). The same
/// optimum — as many pairs as possible, then the least total cost — in O(rows + cols + edges)
/// memory.
///
/// ```text
/// rows one by one: Dijkstra on reduced costs (cost − u[row] − v[col] ≥ 0) from the new row,
///   through matched pairs, to the nearest free column ─► flip the path ─► update u, v
/// every row also has its own "unmatched" column, dearer than any set of real pairs,
///   so each row always ends somewhere and more real pairs always win
/// ```
/// Each search stops at the first free column it reaches, so on objects sorted in time (the
/// rows in time order, each allowed only near its own time) a search stays among the few
/// objects around the new row: the cost grows with the allowed pairs, not with their square.
/// At worst (every search sweeping the whole cluster) it is O(rows · edges · log).
/// Returns `(row, col)` pairs sorted by row.
pub fn sparse_min_cost_matching(cols: usize, edges: &[Vec<(usize, f64)>]) -> Vec<(usize, usize)> {
    let rows = edges.len();
    let edges: Vec<Vec<(usize, f64)>> = edges
        .iter()
        .map(|row| row.iter().copied().filter(|&(c, w)| c < cols && w.is_finite() && w >= 0.0).collect())
        .collect();
    let max_cost = edges.iter().flatten().map(|&(_, w)| w).fold(0.0f64, f64::max);
    // Leaving a row unmatched costs more than any set of real pairs: fewer of them always loses.
    let unmatched = (max_cost + 1.0) * (rows as f64 + 1.0);
    // Columns `cols..cols + rows`: row r's own "unmatched" column is `cols + r`.
    let mut state = Assignment::new(cols + rows, rows);
    let mut search = Search::new(cols + rows);
    for start in 0..rows {
        let neighbours = |row: usize| edges[row].iter().copied().chain([(cols + row, unmatched)]);
        search.relax(start, 0.0, neighbours(start), &state);
        let free = loop {
            let Some(Tentative(d, c)) = search.heap.pop() else {
                unreachable!("the row's own unmatched column is always free");
            };
            if search.done[c] || d > search.dist[c] {
                continue;
            }
            search.done[c] = true;
            match state.row_of_col[c] {
                NONE => break c,
                // Through the matched pair (reduced cost 0) to its row.
                row => search.relax(row, d, neighbours(row), &state),
            }
        };
        state.augment(start, free, &mut search);
    }
    (0..rows).filter(|&r| state.col_of_row[r] < cols).map(|r| (r, state.col_of_row[r])).collect()
}

/// No row or column.
const NONE: usize = usize::MAX;

/// The matching of [`sparse_min_cost_matching`] so far and its potentials (`u` per row, `v`
/// per column: every allowed pair has `cost − u − v ≥ 0`, every matched pair `= 0`).
struct Assignment {
    row_of_col: Vec<usize>,
    col_of_row: Vec<usize>,
    u: Vec<f64>,
    v: Vec<f64>,
}

impl Assignment {
    fn new(cols: usize, rows: usize) -> Self {
        Self { row_of_col: vec![NONE; cols], col_of_row: vec![NONE; rows], u: vec![0.0; rows], v: vec![0.0; cols] }
    }

    /// Moves the potentials by the finished `search` (which reached the free column `free`) and
    /// flips its path from `start`; clears the search for the next row.
    fn augment(&mut self, start: usize, free: usize, search: &mut Search) {
        let far = search.dist[free];
        for &(row, d) in &search.reached {
            self.u[row] += far - d;
        }
        for &c in &search.touched {
            if search.done[c] {
                self.v[c] -= far - search.dist[c];
            }
        }
        let mut c = free;
        loop {
            let row = search.via[c];
            let next = self.col_of_row[row];
            self.col_of_row[row] = c;
            self.row_of_col[c] = row;
            if row == start {
                break;
            }
            c = next;
        }
        search.clear();
    }
}

/// One row's shortest-path search; only the columns it touched are reset afterwards.
struct Search {
    dist: Vec<f64>,
    via: Vec<usize>,
    done: Vec<bool>,
    touched: Vec<usize>,
    reached: Vec<(usize, f64)>,
    heap: BinaryHeap<Tentative>,
}

impl Search {
    fn new(cols: usize) -> Self {
        Self {
            dist: vec![f64::INFINITY; cols],
            via: vec![NONE; cols],
            done: vec![false; cols],
            touched: Vec::new(),
            reached: Vec::new(),
            heap: BinaryHeap::new(),
        }
    }

    /// `row` is reached at distance `at`: its columns may now be nearer.
    fn relax(&mut self, row: usize, at: f64, neighbours: impl Iterator<Item = (usize, f64)>, state: &Assignment) {
        self.reached.push((row, at));
        for (c, w) in neighbours {
            if self.done[c] {
                continue;
            }
            let d = at + (w - state.u[row] - state.v[c]).max(0.0);
            if d < self.dist[c] {
                if self.dist[c] == f64::INFINITY {
                    self.touched.push(c);
                }
                self.dist[c] = d;
                self.via[c] = row;
                self.heap.push(Tentative(d, c));
            }
        }
    }

    fn clear(&mut self) {
        for c in self.touched.drain(..) {
            (self.dist[c], self.via[c], self.done[c]) = (f64::INFINITY, NONE, false);
        }
        self.reached.clear();
        self.heap.clear();
    }
}

/// The optimal matching (as many pairs as possible, then the least total cost) of objects whose
/// start times differ by at most `tolerance_ms`, solved separately in each cluster of times
/// (split where consecutive times are more than the tolerance apart: no allowed pair can cross
/// such a gap) with [`sparse_min_cost_matching`] over the allowed pairs only, so long maps and
/// long streams stay fast. `cost` gets the indices of a predicted and a true object (`None`:
/// the pair is not allowed).
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
        start = end;
        // Both sides in time order; the smaller one is the rows.
        let p: Vec<usize> = cluster.iter().filter(|e| e.1).map(|e| e.2).collect();
        let t: Vec<usize> = cluster.iter().filter(|e| !e.1).map(|e| e.2).collect();
        if p.is_empty() || t.is_empty() {
            continue;
        }
        let transpose = p.len() > t.len();
        let (rows, cols) = if transpose { (&t, &p) } else { (&p, &t) };
        let times = |indices: &[usize], objects: &[HitObject]| indices.iter().map(|&i| objects[i].time_ms).collect();
        let (row_times, col_times): (Vec<f64>, Vec<f64>) = if transpose {
            (times(rows, truth), times(cols, predicted))
        } else {
            (times(rows, predicted), times(cols, truth))
        };
        let pair_cost = |r: usize, c: usize| if transpose { cost(c, r) } else { cost(r, c) };
        // The columns within the tolerance of each row: a window sliding along both sorted lists
        // (the same `|Δt| ≤ tolerance` test as a full scan; subtraction is monotone).
        let mut first = 0;
        let edges: Vec<Vec<(usize, f64)>> = rows
            .iter()
            .zip(&row_times)
            .map(|(&r, &x)| {
                while first < cols.len() && x - col_times[first] > tolerance_ms {
                    first += 1;
                }
                let mut allowed = Vec::new();
                for (k, (&c, &y)) in cols.iter().zip(&col_times).enumerate().skip(first) {
                    if y - x > tolerance_ms {
                        break;
                    }
                    if (x - y).abs() <= tolerance_ms
                        && let Some(w) = pair_cost(r, c)
                    {
                        allowed.push((k, w));
                    }
                }
                allowed
            })
            .collect();
        for (i, k) in sparse_min_cost_matching(cols.len(), &edges) {
            pairs.push(if transpose { (cols[k], rows[i]) } else { (rows[i], cols[k]) });
        }
    }
    pairs.sort_unstable();
    pairs
}

/// The most pairs of `predicted` and `truth` times within `tolerance_ms` of each other, each
/// time in at most one pair — the size of [`match_by_time`]'s matching when every pair within
/// the tolerance is allowed. On a line this needs no assignment: walking both sorted lists, the
/// earlier of the two heads either pairs with the other head (some best matching does so) or is
/// more than the tolerance before every time left on the other side. O(n log n).
pub fn max_pairs_within(predicted: &[f64], truth: &[f64], tolerance_ms: f64) -> usize {
    let sorted = |times: &[f64]| {
        let mut times = times.to_vec();
        times.sort_by(f64::total_cmp);
        times
    };
    let (p, t) = (sorted(predicted), sorted(truth));
    let (mut i, mut j, mut pairs) = (0, 0, 0);
    while i < p.len() && j < t.len() {
        if (p[i] - t[j]).abs() <= tolerance_ms {
            (i, j, pairs) = (i + 1, j + 1, pairs + 1);
        } else if p[i] < t[j] {
            i += 1;
        } else {
            j += 1;
        }
    }
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

/// Rhythm F1: [`hit_f1`] on start times only. Only the number of pairs counts, which
/// [`max_pairs_within`] finds without an assignment.
pub fn rhythm_f1(predicted: &[HitObject], truth: &[HitObject], tolerance_ms: f64) -> F1Score {
    let times = |objects: &[HitObject]| objects.iter().map(|o| o.time_ms).collect::<Vec<_>>();
    let matched = max_pairs_within(&times(predicted), &times(truth), tolerance_ms);
    F1Score::new(matched, predicted.len(), truth.len())
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

    /// A 1/4 stream at 200 BPM (75 ms apart) of circles near one spot, with a slider at every
    /// object k ≡ 5 or 11 (mod 20): every object is within the tolerances of its neighbours, so
    /// the whole map is one cluster.
    fn stream(objects: usize) -> Vec<HitObject> {
        (0..objects)
            .map(|k| {
                let (time, shift) = (1000.0 + 75.0 * k as f64, 10.0 * (k % 3) as f32);
                if matches!(k % 20, 5 | 11) {
                    line_slider(time, 100.0 + shift)
                } else {
                    circle(time, 200.0 + shift, 100.0)
                }
            })
            .collect()
    }

    #[test]
    fn a_3000_object_stream_is_scored_exactly_and_fast() {
        let truth = stream(3000);
        // The same stream 30 ms late, objects k ≡ 0 and k ≡ 5 (mod 10) missing: each prediction
        // is 30 ms from its own object and 45 ms from the next.
        let predicted: Vec<HitObject> = truth
            .iter()
            .enumerate()
            .filter(|(k, _)| k % 10 != 0 && k % 10 != 5)
            .map(|(_, o)| HitObject { time_ms: o.time_ms + 30.0, ..o.clone() })
            .collect();
        assert_eq!(predicted.len(), 2400);
        let started = std::time::Instant::now();
        let scores = score_map(&predicted, &truth);
        eprintln!("score_map of 2,400 against 3,000 stream objects: {:?}", started.elapsed());
        assert_eq!(scores.hit_f1.matched, 2400);
        assert_eq!(scores.rhythm_f1_50ms.matched, 2400);
        assert_eq!((scores.rhythm_f1_50ms.precision, scores.rhythm_f1_50ms.recall), (1.0, 0.8));
        assert_eq!(scores.rhythm_f1_10ms.matched, 0);
        // Every prediction paired with its own object (30 ms), 600 misses at 100 ms.
        assert_eq!(scores.timing_mae_ms, (2400.0 * 30.0 + 600.0 * 100.0) / 3000.0);
        // 300 true sliders, those at k ≡ 5 (mod 20) missing; the other 150 match their own,
        // identical, slider (IoU 1): 150 / (150 + 300 − 150).
        assert_eq!(scores.slider_iou, 0.5);
    }

    /// Times on a 5 ms grid (ties and exact tolerance edges are common) and a cost per pair.
    fn objects(times: &[u16]) -> Vec<HitObject> {
        times.iter().map(|&t| circle(5.0 * f64::from(t), 0.0, 0.0)).collect()
    }

    proptest! {
        #[test]
        fn sparse_matching_matches_the_dense_hungarian(
            n in 0usize..7, m in 0usize..7,
            cells in proptest::collection::vec(proptest::option::weighted(0.5, 0.0f64..100.0), 49),
        ) {
            let cost: Vec<Vec<Option<f64>>> = (0..n).map(|i| (0..m).map(|j| cells[i * 7 + j]).collect()).collect();
            let edges: Vec<Vec<(usize, f64)>> =
                cost.iter().map(|row| row.iter().enumerate().filter_map(|(j, c)| c.map(|c| (j, c))).collect()).collect();
            let sparse = sparse_min_cost_matching(m, &edges);
            let dense = min_cost_matching(n, m, |i, j| cost[i][j]);
            let total = |pairs: &[(usize, usize)]| pairs.iter().map(|&(i, j)| cost[i][j].unwrap()).sum::<f64>();
            prop_assert_eq!(sparse.len(), dense.len());
            prop_assert!((total(&sparse) - total(&dense)).abs() < 1e-6, "{:?} vs {:?}", sparse, dense);
            let (rows, cols): (HashSet<usize>, HashSet<usize>) = sparse.iter().copied().unzip();
            prop_assert_eq!((rows.len(), cols.len()), (sparse.len(), sparse.len()), "one pair per object");
        }

        #[test]
        fn matching_by_time_matches_one_dense_matching_of_the_whole_map(
            p in proptest::collection::vec(0u16..200, 0..24),
            t in proptest::collection::vec(0u16..200, 0..24),
            weights in proptest::collection::vec(0.0f64..10.0, 24 * 24),
            tolerance in prop_oneof![Just(10.0), Just(25.0), Just(50.0)],
        ) {
            let (predicted, truth) = (objects(&p), objects(&t));
            let dt = |i: usize, j: usize| (predicted[i].time_ms - truth[j].time_ms).abs();
            // Some pairs within the tolerance are refused (as hit F1 refuses distant ones).
            let cost = |i: usize, j: usize| (weights[i * 24 + j] < 8.0).then(|| dt(i, j) + weights[i * 24 + j]);
            let within = |i: usize, j: usize| if dt(i, j) <= tolerance { cost(i, j) } else { None };
            let clustered = match_by_time(&predicted, &truth, tolerance, cost);
            let whole = min_cost_matching(p.len(), t.len(), within);
            let total = |pairs: &[(usize, usize)]| pairs.iter().map(|&(i, j)| cost(i, j).unwrap()).sum::<f64>();
            prop_assert_eq!(clustered.len(), whole.len());
            prop_assert!((total(&clustered) - total(&whole)).abs() < 1e-6, "{:?} vs {:?}", clustered, whole);
            prop_assert!(clustered.iter().all(|&(i, j)| within(i, j).is_some()));
            // Counting only, every pair within the tolerance allowed: the walk along both lists.
            let times = |o: &[HitObject]| o.iter().map(|o| o.time_ms).collect::<Vec<_>>();
            let all = min_cost_matching(p.len(), t.len(), |i, j| (dt(i, j) <= tolerance).then(|| dt(i, j)));
            prop_assert_eq!(max_pairs_within(&times(&predicted), &times(&truth), tolerance), all.len());
        }

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
