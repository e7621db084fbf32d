//! Validation: a fixed set of windows scored by loss (teacher-forced) and by free-running
//! generation (the metrics that matter: rhythm and hit F1 against the true objects).
//!
//! ```text
//! split windows (first N, in data order) ─► loss (no dropout)
//!                                         └► generate (greedy) ─► detokenize on the window's
//!                                            grid ─► objects in the predict region ─► F1 vs truth
//! ```

use model::batch::{ResidualScales, WindowExample, collate};
use model::generate::{SamplingOptions, generate};
use model::trainer::Trainer;
use operators::beatmap::{Difficulty, HitObject, TimingModel};
use operators::metrics::{HIT_TOLERANCE_MS, PooledF1, HIT_TOLERANCE_PX, RHYTHM_TOLERANCES_MS, hit_f1, rhythm_f1};
use operators::tokenizer::{Residual, Tokenizer, Window};
use serde::Serialize;
use tch::Device;

use super::dataset::DataSet;
use crate::shards::training_rows::{read_token_rows, read_track_features};
use crate::shards::rows::Split;

/// One validation window and where it lies.
#[derive(Debug, Clone)]
pub struct ValidationWindow {
    /// The model's input and the true tokens.
    pub example: WindowExample,
    /// The window.
    pub window: Window,
    /// Its beat grid as a timing model.
    pub timing: TimingModel,
}

/// Scores of one validation pass.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ValidationScores {
    /// Mean loss per window batch, weighted by target tokens.
    pub val_loss: f64,
    /// Token cross-entropy part.
    pub val_token_loss: f64,
    /// Free-running rhythm F1 at ±50 ms (pooled over windows).
    pub rhythm_f1_50ms: f64,
    /// Free-running rhythm F1 at ±10 ms.
    pub rhythm_f1_10ms: f64,
    /// Free-running hit F1 at 50 ms / 50 px.
    pub hit_f1: f64,
    /// Windows scored.
    pub windows: usize,
}

/// Loads the first `limit` windows of `split` (chunks by name, rows in file order), without
/// onset labels: the validation loss is the token + residual loss.
pub fn load_windows(data: &DataSet, split: Split, limit: usize) -> anyhow::Result<Vec<ValidationWindow>> {
    let config = &data.tokenizer().config().windows;
    let mut out = Vec::new();
    for chunk in data.chunks()? {
        if out.len() >= limit {
            break;
        }
        let rows: Vec<_> = read_token_rows(&chunk.tokens)?.into_iter().filter(|r| r.split == split).collect();
        if rows.is_empty() {
            continue;
        }
        let tracks = read_track_features(&chunk.tracks)?;
        for row in rows.into_iter().take(limit - out.len()) {
            let Some(track) = tracks.iter().find(|t| t.track_id == row.track_id) else { continue };
            out.push(ValidationWindow {
                example: data.example(track, &row, false),
                window: config.window_at(0, row.window_start_ms),
                timing: row.grid_timing(),
            });
        }
    }
    Ok(out)
}

/// The objects `tokens` encode inside `w`'s predict region (the default slider multiplier:
/// only the reference layout reads it).
pub fn window_objects(tokenizer: &Tokenizer, w: &ValidationWindow, tokens: &[u32], residuals: &[Residual]) -> Vec<HitObject> {
    let multiplier = Difficulty::default().slider_multiplier;
    let decoded = tokenizer.detokenize(tokens, residuals, &w.timing, multiplier, &w.window);
    decoded.objects.into_iter().filter(|o| w.window.keeps_decoded(o.time_ms)).collect()
}

/// Scores `windows` with the trainer's current network.
pub fn validate(trainer: &Trainer, tokenizer: &Tokenizer, windows: &[ValidationWindow], device: Device) -> ValidationScores {
    let scales = ResidualScales::new(tokenizer);
    let examples: Vec<WindowExample> = windows.iter().map(|w| w.example.clone()).collect();
    let batch_size = trainer.config.training.batch_size;
    let max_tokens = trainer.config.network.max_tokens as usize;
    let (mut loss, mut token_loss, mut weight) = (0.0, 0.0, 0.0);
    for chunk in examples.chunks(batch_size) {
        let batch = collate(chunk, &scales, max_tokens, device);
        let l = trainer.evaluate(&batch);
        let w = batch.target_tokens as f64;
        loss += l.total * w;
        token_loss += l.tokens * w;
        weight += w;
    }
    let decoded = generate(&trainer.net, tokenizer, &examples, 0, &SamplingOptions::default(), device);
    let (mut r50, mut r10, mut hits) = (PooledF1::default(), PooledF1::default(), PooledF1::default());
    for (w, d) in windows.iter().zip(&decoded) {
        let truth = window_objects(tokenizer, w, &w.example.tokens, &w.example.residuals);
        let predicted = window_objects(tokenizer, w, &d.tokens, &d.residuals);
        let (p, t) = (predicted.len(), truth.len());
        r50.add(rhythm_f1(&predicted, &truth, RHYTHM_TOLERANCES_MS[0]), p, t);
        r10.add(rhythm_f1(&predicted, &truth, RHYTHM_TOLERANCES_MS[1]), p, t);
        hits.add(hit_f1(&predicted, &truth, HIT_TOLERANCE_MS, HIT_TOLERANCE_PX), p, t);
    }
    let per = |v: f64| if weight > 0.0 { v / weight } else { f64::NAN };
    ValidationScores {
        val_loss: per(loss),
        val_token_loss: per(token_loss),
        rhythm_f1_50ms: r50.f1,
        rhythm_f1_10ms: r10.f1,
        hit_f1: hits.f1,
        windows: windows.len(),
    }
}
