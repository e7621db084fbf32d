//! `mapflow eval`: free-running generation on a split, scored against the true maps — and the
//! reference system's teacher-forced numbers beside them, for comparison.
//!
//! ```text
//! split's beatmaps ─► their windows (true conditioning and beat grid) ─► generate (greedy)
//!                                                                   └► teacher-forced argmax
//! per map: decoded windows ─► merged predict regions ─► metrics vs the true objects
//!          (hit F1, rhythm F1, timing MAE, slider IoU, stars), token edit distance per window
//!          ─► pooled counters; the map's windows are dropped before the next map is read
//! ```
//! The beat grid of each window is the map's own (oracle timing), so these numbers measure the
//! model. The BPM error is the tempo estimator's on each map's track, from the stored features
//! (the shards keep no samples; `mapflow bench tempo` measures the offset from the audio).

use std::collections::BTreeMap;
use std::path::PathBuf;

use model::batch::WindowExample;
use model::checkpoint::{LoadedModel, load_for_inference};
use model::generate::{DecodedWindow, SamplingOptions, generate, teacher_forced};
use operators::beatmap::write::to_osu_string;
use operators::beatmap::{Beatmap, Difficulty, HitObject, Metadata, star_rating};
use operators::features::FeatureConfig;
use operators::metrics::{PooledF1, score_map, star_rating_error, token_edit_distance};
use operators::tempo::{TempoConfig, TempoInput, estimate_tempo};
use operators::tokenizer::{Tokenizer, Window, merge_predict_regions};
use serde::Serialize;
use tch::Device;

use crate::train::dataset::DataSet;
use shards::rows::{Split, TokenRow};
use shards::training_rows::{TrackFeatures, read_token_rows};

/// What to evaluate.
#[derive(Debug, Clone)]
pub struct EvalOptions {
    /// Run directory or checkpoint file.
    pub checkpoint: PathBuf,
    /// The preprocessed data set.
    pub data: PathBuf,
    /// Which split (`None`: every split).
    pub split: Option<Split>,
    /// At most this many beatmaps (in data order).
    pub max_maps: Option<usize>,
    /// Where the model runs.
    pub device: Device,
}

/// Object metrics of one decoding mode, over every map.
#[derive(Debug, Default, Clone, Serialize)]
pub struct ModeScores {
    /// Hit F1 at 50 ms / 50 px.
    pub hit_f1: PooledF1,
    /// Rhythm F1 at ±50 ms.
    pub rhythm_f1_50ms: PooledF1,
    /// Rhythm F1 at ±10 ms.
    pub rhythm_f1_10ms: PooledF1,
    /// Timing MAE (misses count 100 ms), mean over maps.
    pub timing_mae_ms: f64,
    /// Slider IoU, mean over maps.
    pub slider_iou: f64,
    /// Token edit distance / true length, mean over windows.
    pub edit_distance: f64,
}

/// The whole report (also written as JSON).
#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    /// The split (`None`: every split).
    pub split: Option<Split>,
    /// Beatmaps scored.
    pub maps: usize,
    /// Windows decoded.
    pub windows: usize,
    /// Free-running generation (what users get).
    pub free_running: ModeScores,
    /// Teacher-forced argmax (the reference system's way of measuring).
    pub teacher_forced: ModeScores,
    /// Teacher-forced next-token accuracy.
    pub teacher_forced_token_accuracy: f64,
    /// |stars of the generated map − stars of the true map|, mean over maps.
    pub star_rating_error: f64,
    /// |estimated BPM − the map's BPM|, mean over the maps whose track got an estimate
    /// (`operators::tempo` on the stored features).
    pub bpm_error: f64,
    /// Share of maps whose estimated BPM is within 0.5 of the map's (no estimate: a miss).
    pub bpm_within_half: f64,
    /// Wall seconds.
    pub seconds: f64,
}

/// One beatmap's windows.
struct MapWindows {
    rows: Vec<TokenRow>,
    examples: Vec<WindowExample>,
    /// The tempo estimated for its track (`None`: no beat found).
    estimated_bpm: Option<f64>,
}

/// The BPM `operators::tempo` finds in a stored track's features (`None`: no beat, logged with
/// the track's id).
fn estimate_bpm(track: &TrackFeatures, config: &FeatureConfig) -> Option<f64> {
    let features = track.matrix();
    let input = TempoInput { name: &track.track_id, features: &features, feature_config: config, samples: None };
    estimate_tempo(&input, &TempoConfig::default())
        .inspect_err(|e| log::warn!("BPM error skips a track: {e}"))
        .ok()
        .map(|e| e.bpm)
}

/// The objects decoded windows give, merged over predict regions.
fn map_objects(tokenizer: &Tokenizer, rows: &[TokenRow], decoded: &[DecodedWindow]) -> Vec<HitObject> {
    let config = &tokenizer.config().windows;
    merge_predict_regions(rows.iter().zip(decoded).enumerate().map(|(i, (row, d))| {
        let window: Window = config.window_at(i, row.window_start_ms);
        (
            window,
            tokenizer
                .detokenize(
                    &d.tokens,
                    &d.residuals,
                    &row.grid_timing(),
                    Difficulty::default().slider_multiplier,
                    &window,
                )
                .objects,
        )
    }))
}

/// Stars of `objects` written as a map on the first window's grid.
fn stars_of(objects: &[HitObject], row: &TokenRow) -> anyhow::Result<f64> {
    let map = Beatmap {
        name: format!("beatmap {} (generated)", row.beatmap_id),
        metadata: Metadata::default(),
        difficulty: Difficulty::default(),
        timing: row.grid_timing(),
        objects: objects.to_vec(),
    };
    Ok(star_rating(&map.name, &to_osu_string(&map, "")?)?)
}

/// One decoding mode's pooled counters and sums, map by map.
#[derive(Default)]
struct ModeTally {
    scores: ModeScores,
    timing_mae_sum: f64,
    slider_iou_sum: f64,
    edit_sum: f64,
    windows: usize,
    maps: usize,
}

impl ModeTally {
    /// Scores one map's decoded windows against its true ones; the predicted objects.
    fn add(
        &mut self,
        tokenizer: &Tokenizer,
        map: &MapWindows,
        truth: &[HitObject],
        decoded: &[DecodedWindow],
    ) -> Vec<HitObject> {
        let predicted = map_objects(tokenizer, &map.rows, decoded);
        for (d, e) in decoded.iter().zip(&map.examples) {
            self.edit_sum += token_edit_distance(&d.tokens, &e.tokens);
            self.windows += 1;
        }
        let s = score_map(&predicted, truth);
        let (p, t) = (predicted.len(), truth.len());
        let scores = &mut self.scores;
        scores.hit_f1.add(s.hit_f1, p, t);
        scores.rhythm_f1_50ms.add(s.rhythm_f1_50ms, p, t);
        scores.rhythm_f1_10ms.add(s.rhythm_f1_10ms, p, t);
        self.timing_mae_sum += s.timing_mae_ms;
        self.slider_iou_sum += s.slider_iou;
        self.maps += 1;
        predicted
    }

    /// The scores: pooled F1s, means over maps and windows.
    fn finish(self) -> ModeScores {
        let maps = self.maps.max(1) as f64;
        ModeScores {
            timing_mae_ms: self.timing_mae_sum / maps,
            slider_iou: self.slider_iou_sum / maps,
            edit_distance: self.edit_sum / self.windows.max(1) as f64,
            ..self.scores
        }
    }
}

/// Every counter of the report, map by map: a map's windows are decoded, scored and dropped
/// before the next is read, so memory does not grow with the split.
#[derive(Default)]
struct Tally {
    free_running: ModeTally,
    teacher_forced: ModeTally,
    tokens_right: usize,
    tokens: usize,
    star_error_sum: f64,
    bpm_errors: Vec<f64>,
    maps: usize,
    windows: usize,
}

impl Tally {
    /// Decodes one map both ways and scores it.
    fn add(&mut self, loaded: &LoadedModel, map: &MapWindows, device: Device) -> anyhow::Result<()> {
        let tokenizer = &loaded.tokenizer;
        let max_tokens = loaded.record.model.network.max_tokens as usize;
        // The window index seeds sampling: numbered over the split, as one call over it would.
        let free =
            generate(&loaded.net, tokenizer, &map.examples, self.windows as u64, &SamplingOptions::default(), device);
        let forced = teacher_forced(&loaded.net, tokenizer, &map.examples, max_tokens, device);
        let truth_windows: Vec<DecodedWindow> = map
            .examples
            .iter()
            .map(|e| DecodedWindow { tokens: e.tokens.clone(), residuals: e.residuals.clone() })
            .collect();
        let truth = map_objects(tokenizer, &map.rows, &truth_windows);
        let predicted = self.free_running.add(tokenizer, map, &truth, &free);
        self.teacher_forced.add(tokenizer, map, &truth, &forced);
        for (d, e) in forced.iter().zip(&map.examples) {
            for (p, t) in d.tokens.iter().zip(&e.tokens).skip(1) {
                self.tokens_right += usize::from(p == t);
                self.tokens += 1;
            }
        }
        let stars = if predicted.is_empty() { 0.0 } else { stars_of(&predicted, &map.rows[0])? };
        self.star_error_sum += star_rating_error(stars, f64::from(map.rows[0].stars));
        self.bpm_errors.extend(map.estimated_bpm.map(|bpm| (bpm - f64::from(map.rows[0].bpm)).abs()));
        self.maps += 1;
        self.windows += map.examples.len();
        Ok(())
    }
}

/// Runs the evaluation.
pub fn run(options: &EvalOptions) -> anyhow::Result<EvalReport> {
    let started = std::time::Instant::now();
    // The features are read from the shards, not extracted: they must be the model's.
    let loaded = load_for_inference(&options.checkpoint, options.device)?;
    let data = DataSet::open(&options.data, Some(&loaded.record.tokenizer_hash))?;
    if data.feature_config_hash() != loaded.record.feature_config {
        anyhow::bail!(
            "{}: trained on features {}, but {} holds features {}",
            options.checkpoint.display(),
            loaded.record.feature_config,
            options.data.display(),
            data.feature_config_hash()
        );
    }
    let mut tally = Tally::default();
    'chunks: for chunk in data.chunks()? {
        let rows: Vec<TokenRow> = read_token_rows(&chunk.tokens)?
            .into_iter()
            .filter(|r| options.split.is_none_or(|s| r.split == s))
            .collect();
        if rows.is_empty() {
            continue;
        }
        let tracks = data.read_tracks(&chunk)?;
        let mut bpm_of: BTreeMap<String, Option<f64>> = BTreeMap::new();
        let mut by_map: BTreeMap<(String, i64), Vec<TokenRow>> = BTreeMap::new();
        for row in rows {
            by_map.entry((row.track_id.clone(), row.beatmap_id)).or_default().push(row);
        }
        for ((track_id, _), mut rows) in by_map {
            if options.max_maps.is_some_and(|m| tally.maps >= m) {
                break 'chunks;
            }
            let Some(track) = tracks.iter().find(|t| t.track_id == track_id) else { continue };
            rows.sort_by(|a, b| a.window_start_ms.total_cmp(&b.window_start_ms));
            let examples = rows.iter().map(|r| data.example(track, r, false)).collect();
            let estimated_bpm = *bpm_of.entry(track_id).or_insert_with(|| estimate_bpm(track, data.feature_config()));
            tally.add(&loaded, &MapWindows { rows, examples, estimated_bpm }, options.device)?;
        }
    }
    if tally.maps == 0 {
        anyhow::bail!("{}: no {} beatmaps to evaluate", options.data.display(), split_name(options.split));
    }
    let bpm_errors = &tally.bpm_errors;
    Ok(EvalReport {
        split: options.split,
        maps: tally.maps,
        windows: tally.windows,
        teacher_forced_token_accuracy: tally.tokens_right as f64 / tally.tokens.max(1) as f64,
        star_rating_error: tally.star_error_sum / tally.maps as f64,
        bpm_error: bpm_errors.iter().sum::<f64>() / bpm_errors.len().max(1) as f64,
        bpm_within_half: bpm_errors.iter().filter(|&&e| e <= 0.5).count() as f64 / tally.maps as f64,
        free_running: tally.free_running.finish(),
        teacher_forced: tally.teacher_forced.finish(),
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// `train`, `val`, `test` or `all`.
pub fn split_name(split: Option<Split>) -> &'static str {
    split.map_or("all", Split::as_str)
}

/// The report as a table.
pub fn table(r: &EvalReport) -> String {
    let row = |name: &str, free: String, forced: String| format!("{name:<24} {free:>14} {forced:>16}\n");
    let f1 = |p: &PooledF1| format!("{:.3}", p.f1);
    let mut out = format!("{} split: {} maps, {} windows\n", split_name(r.split), r.maps, r.windows);
    out += &row("metric", "free-running".into(), "teacher-forced".into());
    let (a, b) = (&r.free_running, &r.teacher_forced);
    out += &row("hit F1 50ms/50px", f1(&a.hit_f1), f1(&b.hit_f1));
    out += &row("rhythm F1 ±50 ms", f1(&a.rhythm_f1_50ms), f1(&b.rhythm_f1_50ms));
    out += &row("rhythm F1 ±10 ms", f1(&a.rhythm_f1_10ms), f1(&b.rhythm_f1_10ms));
    out += &row("timing MAE ms", format!("{:.1}", a.timing_mae_ms), format!("{:.1}", b.timing_mae_ms));
    out += &row("slider IoU", format!("{:.3}", a.slider_iou), format!("{:.3}", b.slider_iou));
    out += &row("token edit distance", format!("{:.3}", a.edit_distance), format!("{:.3}", b.edit_distance));
    out += &row("token accuracy", "-".into(), format!("{:.3}", r.teacher_forced_token_accuracy));
    out += &format!(
        "star rating error {:.2} | BPM error {:.2} (estimated from the stored features; within 0.5 on {:.0} % of maps) | {:.1} s\n",
        r.star_rating_error,
        r.bpm_error,
        100.0 * r.bpm_within_half,
        r.seconds
    );
    out
}
