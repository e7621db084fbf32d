//! Tokenize → detokenize → compare: how much of a map survives a tokenizer.
//!
//! ```text
//! Beatmap ─► tokenize (every window) ─► detokenize (each window) ─► merge predict regions
//!    └──────────────────────── compare, window by window ◄──────────────┘
//! ```
//! Decoded objects outside their window's predict region are dropped (as in generation). Within
//! each window, input and kept objects are paired by optimal matching on start time (windows
//! hold few objects, so no tolerance is needed); errors are maxima over the pairs.

use serde::Serialize;

use crate::beatmap::{Beatmap, HitObject, ObjectKind};
use crate::metrics::min_cost_matching;

use super::{Tokenizer, merge_predict_regions};

/// What a round trip kept and lost.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RoundTripReport {
    /// Windows tokenized.
    pub windows: usize,
    /// Tokens over all windows.
    pub tokens: usize,
    /// The tokenizer's vocabulary size.
    pub vocab_size: u32,
    /// The tokenizer config's hash.
    pub tokenizer_hash: String,
    /// Objects in the map.
    pub objects_in: usize,
    /// Objects decoded from all windows.
    pub objects_out: usize,
    /// Tokens the decoder skipped (0 for its own output).
    pub skipped_tokens: usize,
    /// Largest start-time error of a paired object (ms).
    pub max_time_error_ms: f64,
    /// Largest end-time error of a paired object (ms): slider slides, spinner lengths.
    pub max_end_time_error_ms: f64,
    /// Largest position error of a paired object's head or slider control point (osu!px).
    pub max_position_error_px: f64,
    /// Paired objects whose kind changed.
    pub kind_mismatches: usize,
    /// Paired sliders whose repeat count changed.
    pub slider_repeat_mismatches: usize,
    /// Paired sliders whose number of control points (or segment types) changed.
    pub control_point_mismatches: usize,
    /// Largest slider length error (osu!px).
    pub slider_length_max_error_px: f64,
}

/// Tokenizes every window of `map` (song of `song_ms`), decodes each window, merges the predict
/// regions in order and compares with the input. Returns the report and the decoded objects.
pub fn round_trip(tokenizer: &Tokenizer, map: &Beatmap, song_ms: f64) -> (RoundTripReport, Vec<HitObject>) {
    let windows = tokenizer.tokenize(map, song_ms);
    let mut report = RoundTripReport {
        windows: windows.len(),
        tokens: windows.iter().map(|w| w.tokens.len()).sum(),
        vocab_size: tokenizer.vocab().size(),
        tokenizer_hash: tokenizer.config().hash(),
        objects_in: map.objects.len(),
        objects_out: 0,
        skipped_tokens: 0,
        max_time_error_ms: 0.0,
        max_end_time_error_ms: 0.0,
        max_position_error_px: 0.0,
        kind_mismatches: 0,
        slider_repeat_mismatches: 0,
        control_point_mismatches: 0,
        slider_length_max_error_px: 0.0,
    };
    let mut decoded_windows = Vec::with_capacity(windows.len());
    for w in &windows {
        let decoded =
            tokenizer.detokenize(&w.tokens, &w.residuals, &map.timing, map.difficulty.slider_multiplier, &w.window);
        report.skipped_tokens += decoded.skipped_tokens;
        let input: Vec<&HitObject> = map.objects.iter().filter(|o| w.window.predicts(o.time_ms)).collect();
        let out: Vec<HitObject> = decoded.objects.into_iter().filter(|o| w.window.keeps_decoded(o.time_ms)).collect();
        for (i, j) in min_cost_matching(input.len(), out.len(), |i, j| Some((input[i].time_ms - out[j].time_ms).abs()))
        {
            compare(&mut report, input[i], &out[j]);
        }
        decoded_windows.push((w.window, out));
    }
    let merged = merge_predict_regions(decoded_windows);
    report.objects_out = merged.len();
    (report, merged)
}

fn compare(report: &mut RoundTripReport, a: &HitObject, b: &HitObject) {
    let r = report;
    r.max_time_error_ms = r.max_time_error_ms.max((a.time_ms - b.time_ms).abs());
    r.max_end_time_error_ms = r.max_end_time_error_ms.max((a.end_time_ms() - b.end_time_ms()).abs());
    r.max_position_error_px = r.max_position_error_px.max(f64::from(a.pos.distance(b.pos)));
    match (&a.kind, &b.kind) {
        (ObjectKind::Slider(s), ObjectKind::Slider(t)) => {
            r.slider_repeat_mismatches += usize::from(s.repeats != t.repeats);
            r.slider_length_max_error_px = r.slider_length_max_error_px.max((s.length_px - t.length_px).abs());
            let same_shape =
                s.path.len() == t.path.len() && s.path.iter().zip(&t.path).all(|(p, q)| p.segment == q.segment);
            if same_shape {
                for (p, q) in s.path.iter().zip(&t.path) {
                    r.max_position_error_px = r.max_position_error_px.max(f64::from(p.pos.distance(q.pos)));
                }
            } else {
                r.control_point_mismatches += 1;
            }
        }
        (x, y) if std::mem::discriminant(x) == std::mem::discriminant(y) => {}
        _ => r.kind_mismatches += 1,
    }
}
