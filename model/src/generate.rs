//! Free-running decoding of many windows at once: one encoder pass, then one decoder step per
//! token for the whole batch, with cached keys/values; finished windows leave the batch.
//!
//! ```text
//! windows ─► memory (once) ─► cache ─► step(BOS) ─► sample ─► step(token) ─► sample … EOS
//!                                        │ residual of the token just fed (refines its bin)
//! ```
//! Sampling: temperature (0 = greedy), nucleus (top-p), and a seeded generator per window
//! (seed, window index), so the same seed gives the same map.

use operators::tokenizer::{Residual, Token, Tokenizer};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tch::{Device, Kind, Tensor};

use crate::batch::{ResidualScales, WindowExample, collate};
use crate::network::Mapper;

/// How tokens are drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SamplingOptions {
    /// Softmax temperature; 0 picks the most likely token.
    pub temperature: f64,
    /// Nucleus: sample among the most likely tokens whose probabilities sum to `top_p`.
    pub top_p: f64,
    /// Seed of the per-window generators.
    pub seed: u64,
    /// Windows decoded together (bounds memory).
    pub batch_windows: usize,
    /// Stop each window after this many tokens (default: the network's `max_tokens`).
    pub token_budget: Option<usize>,
}

impl Default for SamplingOptions {
    fn default() -> Self {
        Self { temperature: 0.0, top_p: 0.9, seed: 0, batch_windows: 64, token_budget: None }
    }
}

/// One decoded window.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DecodedWindow {
    /// Token ids, `BOS … [EOS]`.
    pub tokens: Vec<u32>,
    /// One residual per token (tokenizer units).
    pub residuals: Vec<Residual>,
}

/// Draws one id from `logits` (temperature, top-p) with `rng`.
pub fn sample(logits: &[f32], options: &SamplingOptions, rng: &mut ChaCha8Rng) -> u32 {
    let argmax = || logits.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map_or(0, |(i, _)| i as u32);
    if options.temperature <= 0.0 {
        return argmax();
    }
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut probs: Vec<(u32, f64)> =
        logits.iter().enumerate().map(|(i, &l)| (i as u32, (f64::from(l - max) / options.temperature).exp())).collect();
    let total: f64 = probs.iter().map(|p| p.1).sum();
    if !total.is_finite() || total <= 0.0 {
        return argmax();
    }
    probs.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut kept = 0.0;
    let cut = probs
        .iter()
        .position(|p| {
            kept += p.1 / total;
            kept >= options.top_p
        })
        .map_or(probs.len(), |i| i + 1);
    let nucleus = &probs[..cut];
    let mass: f64 = nucleus.iter().map(|p| p.1).sum();
    let mut draw = rng.r#gen::<f64>() * mass;
    for &(id, p) in nucleus {
        draw -= p;
        if draw <= 0.0 {
            return id;
        }
    }
    nucleus.last().map_or(0, |p| p.0)
}

/// Decodes `windows` (their `tokens` ignored) free-running; `first_index` numbers the windows
/// for their generators.
pub fn generate(
    net: &Mapper,
    tokenizer: &Tokenizer,
    windows: &[WindowExample],
    first_index: u64,
    options: &SamplingOptions,
    device: Device,
) -> Vec<DecodedWindow> {
    let scales = ResidualScales::new(tokenizer);
    let mut out = Vec::with_capacity(windows.len());
    for (chunk_no, chunk) in windows.chunks(options.batch_windows.max(1)).enumerate() {
        let first = first_index + (chunk_no * options.batch_windows.max(1)) as u64;
        out.extend(tch::no_grad(|| generate_batch(net, tokenizer, &scales, chunk, first, options, device)));
    }
    out
}

fn generate_batch(
    net: &Mapper,
    tokenizer: &Tokenizer,
    scales: &ResidualScales,
    windows: &[WindowExample],
    first_index: u64,
    options: &SamplingOptions,
    device: Device,
) -> Vec<DecodedWindow> {
    let vocab = tokenizer.vocab();
    let bos = vocab.id(Token::Bos).expect("BOS exists");
    let eos = vocab.id(Token::Eos).expect("EOS exists");
    let batch = collate(windows, scales, 2, device);
    let memory = net.memory(&batch.audio, &batch.conditioning, 0.0);
    let mut cache = net.decoder.start(memory);
    let mut rngs: Vec<ChaCha8Rng> = (0..windows.len() as u64)
        .map(|i| ChaCha8Rng::seed_from_u64(options.seed ^ (first_index + i).wrapping_mul(0x9E37_79B9_7F4A_7C15)))
        .collect();
    let mut decoded: Vec<DecodedWindow> =
        (0..windows.len()).map(|_| DecodedWindow { tokens: vec![bos], residuals: vec![Residual::default()] }).collect();
    let mut active: Vec<usize> = (0..windows.len()).collect();
    let mut input: Vec<i64> = vec![i64::from(bos); windows.len()];
    let budget = options.token_budget.map_or(net.decoder.max_tokens(), |b| (b as i64).min(net.decoder.max_tokens()));
    while !active.is_empty() && cache.len < budget {
        let (logits, residuals) = net.decoder.step(&Tensor::from_slice(&input).to_device(device), &mut cache);
        let logits =
            Vec::<f32>::try_from(logits.to_kind(Kind::Float).to_device(Device::Cpu).reshape([-1])).expect("f32 logits");
        let residuals = Vec::<f32>::try_from(residuals.to_kind(Kind::Float).to_device(Device::Cpu).reshape([-1]))
            .expect("f32 residuals");
        let width = logits.len() / active.len();
        let mut still = Vec::with_capacity(active.len());
        for (slot, &row) in active.iter().enumerate() {
            let d = &mut decoded[row];
            let fed = *d.tokens.last().expect("starts with BOS");
            let r = &residuals[slot * 3..slot * 3 + 3];
            *d.residuals.last_mut().expect("one per token") = scales.unscale(fed, [r[0], r[1], r[2]]);
            let next = sample(&logits[slot * width..(slot + 1) * width], options, &mut rngs[row]);
            d.tokens.push(next);
            d.residuals.push(Residual::default());
            if next != eos {
                still.push((slot, row));
            }
        }
        if still.len() < active.len() && !still.is_empty() {
            let keep: Vec<i64> = still.iter().map(|&(slot, _)| slot as i64).collect();
            cache.select_rows(&Tensor::from_slice(&keep).to_device(device));
        }
        active = still.iter().map(|&(_, row)| row).collect();
        input = active.iter().map(|&row| i64::from(*decoded[row].tokens.last().expect("non-empty"))).collect();
    }
    decoded
}

/// Teacher-forced decoding (the reference system's evaluation): at each position the most
/// likely next token given the TRUE prefix; residuals read at each position.
pub fn teacher_forced(
    net: &Mapper,
    tokenizer: &Tokenizer,
    windows: &[WindowExample],
    max_tokens: usize,
    device: Device,
) -> Vec<DecodedWindow> {
    let scales = ResidualScales::new(tokenizer);
    let bos = tokenizer.vocab().id(Token::Bos).expect("BOS exists");
    let mut out = Vec::with_capacity(windows.len());
    for chunk in windows.chunks(SamplingOptions::default().batch_windows) {
        let batch = collate(chunk, &scales, max_tokens, device);
        let (logits, residuals) = tch::no_grad(|| net.forward(&batch.audio, &batch.conditioning, &batch.inputs, 0.0));
        let next = logits.argmax(-1, false).to_device(Device::Cpu);
        let residuals = residuals.to_kind(Kind::Float).to_device(Device::Cpu);
        for (row, example) in chunk.iter().enumerate() {
            let len = example.tokens.len().clamp(1, max_tokens) - 1;
            let mut d = DecodedWindow { tokens: vec![bos], residuals: Vec::with_capacity(len + 1) };
            for i in 0..len as i64 {
                d.tokens.push(next.int64_value(&[row as i64, i]) as u32);
            }
            // The residual at position i refines token i; for predicted tokens the closest
            // reading is the one at the same position (teacher-forced, as the reference did).
            for (i, &id) in d.tokens.iter().enumerate() {
                let at = (i as i64).min(len as i64 - 1).max(0);
                let r = [0, 1, 2].map(|k| residuals.double_value(&[row as i64, at, k]) as f32);
                d.residuals.push(scales.unscale(id, r));
            }
            out.push(d);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_takes_the_argmax_and_top_p_narrows_the_choice() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let logits = [0.0, 5.0, 1.0, 4.9];
        assert_eq!(sample(&logits, &SamplingOptions::default(), &mut rng), 1);
        let narrow = SamplingOptions { temperature: 1.0, top_p: 0.5, ..Default::default() };
        assert!((0..50).all(|_| sample(&logits, &narrow, &mut rng) == 1));
        let wide = SamplingOptions { temperature: 1.0, top_p: 1.0, ..Default::default() };
        let drawn: std::collections::BTreeSet<u32> = (0..200).map(|_| sample(&logits, &wide, &mut rng)).collect();
        assert!(drawn.contains(&1) && drawn.contains(&3));
    }
}
