//! Validation: a fixed set of windows scored by loss (teacher-forced) and by free-running
//! generation (the metrics that matter: rhythm and hit F1 against the true objects).
//!
//! ```text
//! split windows (N, spread over tracks) ─► loss (no dropout)
//!                                       └► generate (greedy) ─► detokenize on the window's
//!                                          grid ─► objects in the predict region ─► F1 vs truth
//! ```

use model::batch::{ResidualScales, WindowExample, collate};
use model::generate::{SamplingOptions, generate};
use model::trainer::Trainer;
use operators::beatmap::{Difficulty, HitObject, TimingModel};
use operators::metrics::{HIT_TOLERANCE_MS, HIT_TOLERANCE_PX, PooledF1, RHYTHM_TOLERANCES_MS, hit_f1, rhythm_f1};
use operators::tokenizer::{Residual, Tokenizer, Window};
use serde::Serialize;
use tch::Device;

use super::dataset::DataSet;
use shards::rows::Split;
use shards::training_rows::read_token_rows;

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

/// The fewest tracks the validation windows come from, where the split has that many: one
/// track gives at most `limit / SPREAD_TRACKS` (rounded up) before the rest fill up.
const SPREAD_TRACKS: usize = 8;

/// Loads `limit` windows of `split`, spread over its tracks ([`choose`]; chunks by name).
/// Without onset labels: the validation loss is the token + residual loss.
pub fn load_windows(data: &DataSet, split: Split, limit: usize) -> anyhow::Result<Vec<ValidationWindow>> {
    let config = &data.tokenizer().config().windows;
    let chunks = data.chunks()?;
    let rows = chunks.iter().map(|chunk| -> anyhow::Result<Vec<_>> {
        Ok(read_token_rows(&chunk.tokens)?.into_iter().filter(|r| r.split == split).collect())
    });
    let chosen = choose(rows, |r| r.track_id.as_str(), limit)?;
    let mut out = Vec::with_capacity(chosen.len());
    for rows in chosen.chunk_by(|a, b| a.0 == b.0) {
        let tracks = data.read_tracks(&chunks[rows[0].0])?;
        for (_, row) in rows {
            let Some(track) = tracks.iter().find(|t| t.track_id == row.track_id) else { continue };
            out.push(ValidationWindow {
                example: data.example(track, row, false),
                window: config.window_at(0, row.window_start_ms),
                timing: row.grid_timing(),
            });
        }
    }
    Ok(out)
}

/// Chooses `limit` rows of `chunks` (each chunk's rows in file order, those of one track
/// together), read only as far as needed: up to `limit / 8` (rounded up) evenly spaced rows of
/// each track, then, if that gives fewer than `limit`, the rows passed over, in order. Returns
/// (chunk index, row), by chunk. (The first `limit` rows in file order were one or two songs of
/// real length.)
fn choose<T>(
    chunks: impl Iterator<Item = anyhow::Result<Vec<T>>>,
    track: impl Fn(&T) -> &str,
    limit: usize,
) -> anyhow::Result<Vec<(usize, T)>> {
    let per_track = limit.div_ceil(SPREAD_TRACKS).max(1);
    let (mut picked, mut passed) = (Vec::new(), Vec::new());
    for (c, rows) in chunks.enumerate() {
        if picked.len() >= limit {
            break;
        }
        let rows = rows?;
        let mut spread = Vec::with_capacity(rows.len());
        for one_track in rows.chunk_by(|a, b| track(a) == track(b)) {
            let picks = evenly_spaced(one_track.len(), per_track);
            spread.extend((0..one_track.len()).map(|i| picks.contains(&i)));
        }
        for (row, spread) in rows.into_iter().zip(spread) {
            let to = if spread && picked.len() < limit { &mut picked } else { &mut passed };
            to.push((c, row));
        }
    }
    let missing = limit.saturating_sub(picked.len());
    picked.extend(passed.into_iter().take(missing));
    picked.sort_by_key(|&(c, _)| c);
    Ok(picked)
}

/// `k` indices spread evenly over `0..n` (the middles of `k` equal parts), or all of them when
/// `n <= k`.
fn evenly_spaced(n: usize, k: usize) -> Vec<usize> {
    if n <= k {
        return (0..n).collect();
    }
    (0..k).map(|j| (2 * j + 1) * n / (2 * k)).collect()
}

/// The objects `tokens` encode inside `w`'s predict region (the default slider multiplier:
/// only the reference layout reads it).
pub fn window_objects(
    tokenizer: &Tokenizer,
    w: &ValidationWindow,
    tokens: &[u32],
    residuals: &[Residual],
) -> Vec<HitObject> {
    let multiplier = Difficulty::default().slider_multiplier;
    let decoded = tokenizer.detokenize(tokens, residuals, &w.timing, multiplier, &w.window);
    decoded.objects.into_iter().filter(|o| w.window.keeps_decoded(o.time_ms)).collect()
}

/// Scores `windows` with the trainer's current network.
pub fn validate(
    trainer: &Trainer,
    tokenizer: &Tokenizer,
    windows: &[ValidationWindow],
    device: Device,
) -> ValidationScores {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(tracks: &[(&'static str, usize)]) -> anyhow::Result<Vec<(&'static str, usize)>> {
        Ok(tracks.iter().flat_map(|&(t, n)| (0..n).map(move |i| (t, i))).collect())
    }

    #[test]
    fn evenly_spaced_takes_the_middles_of_equal_parts() {
        assert_eq!(evenly_spaced(3, 5), vec![0, 1, 2]);
        assert_eq!(evenly_spaced(10, 2), vec![2, 7]);
        assert_eq!(evenly_spaced(9, 3), vec![1, 4, 7]);
    }

    #[test]
    fn validation_rows_are_spread_over_the_tracks_then_filled_up_in_order() {
        // Two long songs, then eight short ones in a second chunk: 16 rows, at most 2 a track.
        let short: Vec<_> = ["c", "d", "e", "f", "g", "h", "i", "j"].into_iter().map(|t| (t, 3)).collect();
        let chunks = vec![chunk(&[("a", 40), ("b", 40)]), chunk(&short)];
        let chosen = choose(chunks.into_iter(), |r| r.0, 16).unwrap();
        assert_eq!(chosen.len(), 16);
        let tracks: std::collections::BTreeSet<&str> = chosen.iter().map(|(_, r)| r.0).collect();
        assert_eq!(tracks.into_iter().collect::<Vec<_>>(), ["a", "b", "c", "d", "e", "f", "g", "h"]);
        assert_eq!(chosen[..2].iter().map(|(c, r)| (*c, *r)).collect::<Vec<_>>(), vec![(0, ("a", 10)), (0, ("a", 30))]);
        // Chunks are not read past the limit: an error after it is never seen.
        let long: Vec<_> = ["a", "b", "c", "d", "e", "f", "g", "h"].into_iter().map(|t| (t, 40)).collect();
        let stop = vec![chunk(&long), Err(anyhow::anyhow!("not read"))];
        assert_eq!(choose(stop.into_iter(), |r| r.0, 16).unwrap().len(), 16);
        // Fewer tracks than the spread wants: the passed-over rows fill up, in file order.
        let few = choose(vec![chunk(&[("a", 5), ("b", 5)])].into_iter(), |r| r.0, 8).unwrap();
        let rows: Vec<_> = few.iter().map(|(_, r)| *r).collect();
        assert_eq!(rows, vec![("a", 2), ("b", 2), ("a", 0), ("a", 1), ("a", 3), ("a", 4), ("b", 0), ("b", 1)]);
        // Fewer rows than the limit: all of them.
        assert_eq!(choose(vec![chunk(&[("a", 3)])].into_iter(), |r| r.0, 64).unwrap().len(), 3);
    }
}
