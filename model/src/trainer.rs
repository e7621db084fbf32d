//! The training step: loss, non-finite guard, clipping, AdamW, schedule — and the validation
//! loss.
//!
//! ```text
//! DeviceBatch ─► Mapper (dropout, bf16 autocast: CUDA, or `training.autocast_bf16`) ─► CE(tokens, PAD ignored)
//!             + residual_weight · SmoothL1(residuals where they count)
//!             + onset_weight · BCE(encoder onset logits, onset labels of the predict region) ─► loss
//! loss ─► finite? ─► backward ─► grad norm finite? ─► clip ─► AdamW(lr(step)) ─► weight average
//!                                                                              ; else skip + why
//! ```

use tch::{Device, Kind, Reduction, Tensor, nn};

use crate::average::WeightAverage;
use crate::batch::{DeviceBatch, PAD};
use crate::config::{ModelConfig, TrainingConfig};
use crate::network::{Mapper, VocabLayout};
use crate::optim::{AdamW, learning_rate};
use crate::runtime::{Autocast, AutocastError};

/// The parts of a batch's loss.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Loss {
    /// Cross-entropy + weighted residual loss + weighted encoder onset loss.
    pub total: f64,
    /// Token cross-entropy (nats per token).
    pub tokens: f64,
    /// Residual SmoothL1 (bins).
    pub residuals: f64,
}

/// What one training step did.
#[derive(Debug, Clone, PartialEq)]
pub struct StepOutcome {
    /// The batch's loss (before the update).
    pub loss: Loss,
    /// Learning rate used.
    pub lr: f64,
    /// Gradient norm before clipping.
    pub grad_norm: f64,
    /// Target tokens in the batch.
    pub tokens: i64,
    /// `Some(reason)` when the update was skipped (non-finite loss or gradients).
    pub skipped: Option<String>,
}

/// The device whose forward passes will run under bf16 autocast (`None`: float32), checked by
/// turning autocast on once. Autocast asked for (`training.autocast_bf16 = true`) that libtorch
/// refuses is an error; the default (on for CUDA) falls back to float32 and says so once.
fn checked_autocast(config: &TrainingConfig, device: Device) -> Result<Option<Device>, AutocastError> {
    if !config.bf16_autocast(device.is_cuda()) {
        return Ok(None);
    }
    match Autocast::bf16(device) {
        Ok(_on_and_back_off) => Ok(Some(device)),
        Err(e) if config.autocast_bf16 == Some(true) => Err(e),
        Err(e) => {
            log::warn!("bf16 autocast is unavailable on {device:?} ({e}): training runs in float32");
            Ok(None)
        }
    }
}

/// The loss tensor and its parts for `batch` (dropout as given); the forward pass runs under
/// bf16 autocast on `autocast`'s device when given (checked by [`checked_autocast`]: should
/// libtorch refuse it later all the same, the pass runs in float32 and that is logged, once).
/// The losses are taken in float32.
fn loss_of(
    net: &Mapper,
    batch: &DeviceBatch,
    weights: &TrainingConfig,
    dropout: f64,
    autocast: Option<Device>,
) -> (Tensor, Tensor, Tensor) {
    static REFUSED: std::sync::Once = std::sync::Once::new();
    let guard = autocast.and_then(|device| {
        Autocast::bf16(device)
            .inspect_err(|e| REFUSED.call_once(|| log::error!("bf16 autocast refused on {device:?}: {e}; float32")))
            .ok()
    });
    let memory = net.memory(&batch.audio, &batch.conditioning, dropout);
    let (logits, residuals) = net.decoder.forward(&batch.inputs, &memory, dropout);
    let onsets = batch.onsets.as_ref().map(|_| net.onset_logits(&memory));
    drop(guard);
    let vocab = logits.size().last().copied().expect("logits have a vocab axis");
    let ce = logits.to_kind(Kind::Float).view([-1, vocab]).cross_entropy_loss::<Tensor>(
        &batch.targets.reshape([-1]),
        None,
        Reduction::Mean,
        PAD,
        0.0,
    );
    let mask = &batch.residual_mask;
    let smooth =
        (residuals.to_kind(Kind::Float) * mask).smooth_l1_loss(&(&batch.residuals * mask), Reduction::Sum, 1.0)
            / mask.sum(Kind::Float).clamp_min(1.0);
    let mut total = &ce + &smooth * weights.residual_weight;
    if let (Some(labels), Some(onsets)) = (&batch.onsets, onsets) {
        total += onset_loss(&onsets.to_kind(Kind::Float), labels) * weights.onset_weight;
    }
    (total, ce, smooth)
}

/// Binary cross-entropy of the encoder frames' onset logits `[B, T']` against per-feature-frame
/// labels `[B, frames]` (1 onset, 0 none, −1 unlabelled), pooled to the encoder's frames.
/// Encoder frame `j` is centred on feature frame `j·s` (stride `s`), so it takes the labels of
/// the feature frames within `s/2` of that centre: an onset halfway between two encoder frames
/// labels both, and none is labelled late.
fn onset_loss(logits: &Tensor, labels: &Tensor) -> Tensor {
    let (frames, encoded) = (labels.size()[1], logits.size()[1]);
    let stride = (frames + encoded - 1) / encoded.max(1);
    let half = stride / 2;
    let pooled = labels.unsqueeze(1).max_pool1d([2 * half + 1], [stride], [half], [1], true).squeeze_dim(1);
    let n = encoded.min(pooled.size()[1]);
    let (logits, pooled) = (logits.narrow(1, 0, n), pooled.narrow(1, 0, n));
    let known = pooled.ge(0.0).to_kind(Kind::Float);
    logits.binary_cross_entropy_with_logits::<Tensor>(
        &pooled.clamp_min(0.0),
        Some(known.shallow_clone()),
        None,
        Reduction::Sum,
    ) / known.sum(Kind::Float).clamp_min(1.0)
}

fn loss_values(total: &Tensor, ce: &Tensor, smooth: &Tensor) -> Loss {
    Loss { total: total.double_value(&[]), tokens: ce.double_value(&[]), residuals: smooth.double_value(&[]) }
}

/// Owns the network, its variables and the optimizer.
#[derive(Debug)]
pub struct Trainer {
    /// The variables (weights and feature statistics).
    pub vs: nn::VarStore,
    /// The network.
    pub net: Mapper,
    /// The optimizer.
    pub optimizer: AdamW,
    /// The config.
    pub config: ModelConfig,
    /// Steps taken (updates + skipped batches): the next step's number.
    pub step: u64,
    /// The moving average of the weights (`training.ema_decay`), if kept.
    pub average: Option<WeightAverage>,
    /// The device whose forward passes run under bf16 autocast, if they do.
    autocast: Option<Device>,
}

impl Trainer {
    /// A freshly initialised network on `device` for the vocabulary `vocab`; an error when the
    /// config asks for bf16 autocast (`training.autocast_bf16 = true`) that `device` cannot run.
    pub fn new(config: ModelConfig, vocab: &VocabLayout, device: Device) -> Result<Self, AutocastError> {
        let autocast = checked_autocast(&config.training, device)?;
        tch::manual_seed(config.training.seed as i64);
        let vs = nn::VarStore::new(device);
        let net = Mapper::new(&vs.root(), &config.network, vocab);
        let optimizer = AdamW::new(&vs, &config.training);
        let average = config.training.ema_decay.map(|decay| WeightAverage::new(&vs, decay));
        Ok(Self { vs, net, optimizer, config, step: 0, average, autocast })
    }

    /// Runs `f` with the averaged weights in the network (the live ones without an average),
    /// then puts the live weights back.
    pub fn with_averaged_weights<R>(&mut self, f: impl FnOnce(&Self) -> R) -> R {
        let Some(average) = &mut self.average else { return f(self) };
        average.swap();
        let result = f(self);
        self.average.as_mut().expect("still there").swap();
        result
    }

    /// The device whose forward passes run under bf16 autocast, if they do
    /// (`training.autocast_bf16`; default: CUDA only, where libtorch can).
    pub fn autocast(&self) -> Option<Device> {
        self.autocast
    }

    /// One optimisation step on `batch`.
    pub fn train_step(&mut self, batch: &DeviceBatch) -> StepOutcome {
        let t = &self.config.training;
        let lr = learning_rate(t, self.step);
        // Dropout draws from a generator seeded by the step, so a resumed run repeats exactly.
        tch::manual_seed(t.seed.wrapping_add(self.step) as i64);
        self.step += 1;
        self.optimizer.zero_grad();
        let (total, ce, smooth) = loss_of(&self.net, batch, t, self.config.network.dropout, self.autocast());
        let loss = loss_values(&total, &ce, &smooth);
        let mut outcome = StepOutcome { loss, lr, grad_norm: f64::NAN, tokens: batch.target_tokens, skipped: None };
        if !loss.total.is_finite() {
            outcome.skipped = Some(format!("non-finite loss (tokens {}, residuals {})", loss.tokens, loss.residuals));
            return outcome;
        }
        total.backward();
        outcome.grad_norm = self.optimizer.grad_norm();
        if !outcome.grad_norm.is_finite() {
            outcome.skipped = Some(format!("non-finite gradient norm ({})", outcome.grad_norm));
            self.optimizer.zero_grad();
            return outcome;
        }
        self.optimizer.step(lr, outcome.grad_norm, t.grad_clip);
        if let Some(average) = &mut self.average {
            average.update(self.optimizer.updates);
        }
        outcome
    }

    /// The loss of `batch` without dropout or gradients.
    pub fn evaluate(&self, batch: &DeviceBatch) -> Loss {
        tch::no_grad(|| {
            let (total, ce, smooth) = loss_of(&self.net, batch, &self.config.training, 0.0, self.autocast());
            loss_values(&total, &ce, &smooth)
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use operators::tokenizer::{Residual, Tokenizer};

    use super::*;
    use crate::batch::{ResidualScales, WindowExample, collate};
    use crate::network::FEATURE_CHANNELS;
    use crate::runtime::autocast_state;

    /// A network small enough for unit tests.
    pub(crate) fn small_config() -> ModelConfig {
        let mut config = ModelConfig::default();
        let n = &mut config.network;
        (n.d_model, n.heads, n.encoder_layers, n.decoder_layers, n.ff_dim, n.max_tokens) = (32, 2, 1, 1, 64, 16);
        config.training.batch_size = 2;
        config
    }

    fn batch(tokenizer: &Tokenizer) -> DeviceBatch {
        let example = |seed: f32| WindowExample {
            features: (0..FEATURE_CHANNELS as usize * 300)
                .map(|i| ((i as f32 * 0.37 + seed).sin() * 20.0) - 40.0)
                .collect(),
            grid_start: -0.5,
            beats_per_frame: 0.05,
            stars: 4.0,
            bpm: 180.0,
            tokens: vec![1, 4, 9, 4, 2],
            residuals: vec![Residual::default(); 5],
            onsets: Vec::new(),
        };
        collate(&[example(0.0), example(1.0)], &ResidualScales::new(tokenizer), 16, Device::Cpu)
    }

    #[test]
    fn training_steps_under_cpu_bf16_autocast_when_configured() {
        let tokenizer = Tokenizer::new(Default::default()).unwrap();
        let vocab = VocabLayout::of(&tokenizer);
        let batch = batch(&tokenizer);
        assert_eq!(
            Trainer::new(small_config(), &vocab, Device::Cpu).unwrap().autocast(),
            None,
            "off on the CPU by default"
        );

        let mut config = small_config();
        config.training.autocast_bf16 = Some(true);
        // Trainer::new checks autocast by turning it on once: it leaves it off again.
        let before = autocast_state(Device::Cpu).unwrap();
        let mut trainer = Trainer::new(config, &vocab, Device::Cpu).unwrap();
        assert_eq!(trainer.autocast(), Some(Device::Cpu));
        assert_eq!(autocast_state(Device::Cpu).unwrap(), before, "the check at construction");
        for _ in 0..2 {
            let outcome = trainer.train_step(&batch);
            assert!(
                outcome.skipped.is_none() && outcome.loss.total.is_finite() && outcome.grad_norm > 0.0,
                "{outcome:?}"
            );
        }
        assert!(trainer.evaluate(&batch).total.is_finite());
        assert_eq!(autocast_state(Device::Cpu).unwrap(), before, "the step leaves autocast as it found it");
        // The weights stay float32 (autocast casts copies for the forward pass only).
        assert!(trainer.vs.trainable_variables().iter().all(|v| v.kind() == Kind::Float));
    }

    #[test]
    fn autocast_asked_for_where_libtorch_cannot_run_it_is_an_error_not_float32() {
        let vocab = VocabLayout::of(&Tokenizer::new(Default::default()).unwrap());
        let mut config = small_config();
        config.training.autocast_bf16 = Some(true);
        // The shim covers the CPU and CUDA only: MPS is refused before any weight is made.
        let error = Trainer::new(config, &vocab, Device::Mps).unwrap_err();
        assert_eq!(error, AutocastError::Device(Device::Mps));
        assert!(error.to_string().contains("not available on Mps"), "{error}");
    }

    #[test]
    fn the_weight_average_trails_the_live_weights() {
        let tokenizer = Tokenizer::new(Default::default()).unwrap();
        let batch = batch(&tokenizer);
        let mut config = small_config();
        config.training.ema_decay = Some(0.99);
        let mut trainer = Trainer::new(config, &VocabLayout::of(&tokenizer), Device::Cpu).unwrap();
        for _ in 0..3 {
            assert!(trainer.train_step(&batch).skipped.is_none());
        }
        let live = trainer.evaluate(&batch).total;
        let averaged = trainer.with_averaged_weights(|t| t.evaluate(&batch).total);
        assert!(averaged.is_finite() && averaged != live, "{averaged} vs {live}");
        assert_eq!(trainer.evaluate(&batch).total, live, "the live weights are back");
    }

    #[test]
    fn onset_loss_pools_labels_around_each_encoder_frame_and_ignores_unlabelled_ones() {
        // 6 feature frames, 3 encoder frames centred on feature frames 0, 2 and 4.
        let loss = |labels: [f32; 6], logits: [f32; 3]| {
            let labels = Tensor::from_slice(&labels).view([1, 6]);
            onset_loss(&Tensor::from_slice(&logits).view([1, 3]), &labels).double_value(&[])
        };
        // An onset on feature frame 4 labels encoder frame 2 only; frame 0 sees only unlabelled ones.
        let on_four = [-1.0, -1.0, 0.0, 0.0, 1.0, 0.0];
        assert!(loss(on_four, [-30.0, -30.0, 30.0]) < 1e-6);
        assert!(loss(on_four, [30.0, -30.0, 30.0]) < 1e-6, "the unlabelled frame does not count");
        assert!(loss(on_four, [-30.0, 30.0, 30.0]) > 10.0, "not the frame before");
        // Halfway between two encoder frames (feature frame 3): both.
        let on_three = [-1.0, -1.0, 0.0, 1.0, 0.0, 0.0];
        assert!(loss(on_three, [-30.0, 30.0, 30.0]) < 1e-6);
        assert!(loss(on_three, [-30.0, -30.0, 30.0]) > 10.0);
    }
}
