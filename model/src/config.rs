//! `ModelConfig`: the network's shape and how it is trained, every default in one place.
//!
//! Presets live in `configs/model/`: `tiny.toml` (trains on a CPU in minutes) and `base.toml`
//! (the reference system's size). A config's hash is stored in every checkpoint, so a
//! checkpoint is never loaded into a network of another shape.

use std::path::Path;

use operators::digest::stable_hash;
use operators::features::{ConfigError, read_toml};
use serde::{Deserialize, Serialize};

/// The network's shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NetworkConfig {
    /// Width of every layer (default 128).
    pub d_model: i64,
    /// Attention heads; must divide `d_model` (default 4).
    pub heads: i64,
    /// Transformer encoder layers over the audio frames (default 2).
    pub encoder_layers: i64,
    /// Transformer decoder layers (default 3).
    pub decoder_layers: i64,
    /// Hidden width of the feed-forward blocks (default 512).
    pub ff_dim: i64,
    /// Dropout in training, on the embeddings and every block's output (Vaswani et al.); not on
    /// attention weights or inside the feed-forward block, where on a CPU libtorch's serially
    /// drawn masks cost most of a tiny-model step (default 0.1).
    pub dropout: f64,
    /// Kernel of the convolutional front end (default 5).
    pub conv_kernel: i64,
    /// Time stride of the front end: 1 keeps every 20 ms frame, 2 pools pairs (default 2).
    pub frontend_stride: i64,
    /// Longest token sequence, BOS and EOS included; longer windows are cut (default 512).
    pub max_tokens: i64,
    /// The time pointer (`network::time_pointer`): TIME tokens scored and embedded from the
    /// audio at their bin's time (default true; mapflow token layout only).
    pub time_pointer: bool,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        Self {
            d_model: 128,
            heads: 4,
            encoder_layers: 2,
            decoder_layers: 3,
            ff_dim: 512,
            dropout: 0.1,
            conv_kernel: 5,
            frontend_stride: 2,
            max_tokens: 512,
            time_pointer: true,
        }
    }
}

/// Which windows training sees from a given step on (curriculum: circles → + sliders → all).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CurriculumStage {
    /// Windows with circles only (empty windows included).
    Circles,
    /// Windows without spinners.
    CirclesSliders,
    /// Every window.
    All,
}

impl CurriculumStage {
    /// Whether a window with these object counts is trained on at this stage.
    pub fn admits(self, sliders: u32, spinners: u32) -> bool {
        match self {
            CurriculumStage::Circles => sliders == 0 && spinners == 0,
            CurriculumStage::CirclesSliders => spinners == 0,
            CurriculumStage::All => true,
        }
    }
}

/// How the network is trained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainingConfig {
    /// Windows per batch (default 16).
    pub batch_size: usize,
    /// Peak learning rate (default 1e-3).
    pub learning_rate: f64,
    /// Floor of the cosine schedule, as a fraction of the peak (default 0.05).
    pub min_lr_fraction: f64,
    /// Linear warm-up steps (default 100).
    pub warmup_steps: u64,
    /// Length of the first cosine cycle after warm-up, steps (default 2000).
    pub restart_period: u64,
    /// Each cycle is this many times longer than the last (default 2).
    pub restart_mult: u64,
    /// AdamW weight decay (default 0.01).
    pub weight_decay: f64,
    /// AdamW β1, β2 (default 0.9, 0.98).
    pub betas: (f64, f64),
    /// Gradient norm clip (default 1.0).
    pub grad_clip: f64,
    /// Weight of the residual SmoothL1 loss next to the token cross-entropy (default 1.0).
    pub residual_weight: f64,
    /// Weight of the encoder's onset loss: binary cross-entropy of "an object starts in this
    /// encoder frame" over the predict region (default 1.0; 0 turns it off). A dense signal that
    /// teaches the encoder where notes are long before the decoder learns to read it.
    pub onset_weight: f64,
    /// Curriculum: `(from_step, stage)` pairs, ascending (default: all windows from step 0).
    pub curriculum: Vec<(u64, CurriculumStage)>,
    /// Steps between validations (default 200).
    pub validate_every: u64,
    /// Validation windows scored per validation (default 64), spread over the validation
    /// split's tracks (at least 8 where it has them).
    pub validate_windows: usize,
    /// Seed of initialisation, data order and dropout (default 7).
    pub seed: u64,
    /// bfloat16 autocast of the forward pass (matmuls, linears and convolutions in bf16; norms,
    /// softmax and the losses in float32). Unset (default): on for CUDA, off on the CPU, where
    /// bf16 matmuls are slower on most processors; `true` or `false` forces it on every device.
    pub autocast_bf16: Option<bool>,
    /// Decay of the moving average of the weights that validation, the checkpoints' weights
    /// files and generation use (`average.rs`); unset (default): no average, the live weights.
    pub ema_decay: Option<f64>,
}

impl Default for TrainingConfig {
    fn default() -> Self {
        Self {
            batch_size: 16,
            learning_rate: 1e-3,
            min_lr_fraction: 0.05,
            warmup_steps: 100,
            restart_period: 2000,
            restart_mult: 2,
            weight_decay: 0.01,
            betas: (0.9, 0.98),
            grad_clip: 1.0,
            residual_weight: 1.0,
            onset_weight: 1.0,
            curriculum: vec![(0, CurriculumStage::All)],
            validate_every: 200,
            validate_windows: 64,
            seed: 7,
            autocast_bf16: None,
            ema_decay: None,
        }
    }
}

impl TrainingConfig {
    /// Whether the forward pass runs under bf16 autocast on a CUDA device (`cuda`) or not.
    pub fn bf16_autocast(&self, cuda: bool) -> bool {
        self.autocast_bf16.unwrap_or(cuda)
    }

    /// The curriculum stage in force at `step`.
    pub fn stage_at(&self, step: u64) -> CurriculumStage {
        self.curriculum.iter().take_while(|(from, _)| *from <= step).last().map_or(CurriculumStage::All, |(_, s)| *s)
    }
}

/// A model preset: network shape and training recipe.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelConfig {
    /// The network.
    pub network: NetworkConfig,
    /// The training recipe.
    pub training: TrainingConfig,
}

impl ModelConfig {
    /// Reads and validates a preset.
    pub fn from_toml_file(path: &Path) -> Result<Self, ConfigError> {
        let config: Self = read_toml(path)?;
        config.validate().map_err(|message| ConfigError::Invalid { path: path.display().to_string(), message })?;
        Ok(config)
    }

    /// Checks the ranges the network and the trainer rely on.
    pub fn validate(&self) -> Result<(), String> {
        let n = &self.network;
        if n.d_model <= 0 || n.heads <= 0 || n.d_model % n.heads != 0 {
            return Err(format!("d_model ({}) must be a positive multiple of heads ({})", n.d_model, n.heads));
        }
        if (n.d_model / n.heads) % 2 != 0 {
            return Err("d_model / heads must be even".into());
        }
        if n.encoder_layers < 1 || n.decoder_layers < 1 || n.ff_dim < 1 {
            return Err("encoder_layers, decoder_layers and ff_dim must be ≥ 1".into());
        }
        if !(0.0..1.0).contains(&n.dropout) {
            return Err(format!("dropout must be in [0, 1), got {}", n.dropout));
        }
        if n.conv_kernel < 1 || n.conv_kernel % 2 == 0 || !(1..=4).contains(&n.frontend_stride) {
            return Err("conv_kernel must be odd and frontend_stride in 1..=4".into());
        }
        if n.max_tokens < 4 {
            return Err("max_tokens must be ≥ 4".into());
        }
        let t = &self.training;
        if t.batch_size == 0
            || t.learning_rate <= 0.0
            || t.restart_period == 0
            || t.restart_mult == 0
            || t.validate_every == 0
            || t.grad_clip.is_nan()
            || t.grad_clip <= 0.0
        {
            return Err(
                "batch_size, learning_rate, restart_period, restart_mult, validate_every and grad_clip must be > 0"
                    .into(),
            );
        }
        if let Some(d) = t.ema_decay
            && !(0.0..1.0).contains(&d)
        {
            return Err(format!("ema_decay must be in [0, 1), got {d}"));
        }
        if !t.curriculum.windows(2).all(|w| w[0].0 < w[1].0) {
            return Err("curriculum steps must be strictly ascending".into());
        }
        Ok(())
    }

    /// Hash of the network shape (training recipe excluded: it may change on resume).
    pub fn network_hash(&self) -> String {
        stable_hash(&self.network)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn preset(name: &str) -> ModelConfig {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/model").join(name);
        ModelConfig::from_toml_file(&path).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    #[test]
    fn presets_load_and_base_has_the_reference_decoder() {
        assert_eq!(preset("tiny.toml").network, NetworkConfig::default());
        let base = preset("base.toml").network;
        assert_eq!((base.decoder_layers, base.heads, base.d_model, base.ff_dim), (6, 8, 768, 2048));
    }

    #[test]
    fn curriculum_stages_follow_the_steps() {
        let t = TrainingConfig {
            curriculum: vec![
                (0, CurriculumStage::Circles),
                (100, CurriculumStage::CirclesSliders),
                (300, CurriculumStage::All),
            ],
            ..TrainingConfig::default()
        };
        assert_eq!(t.stage_at(0), CurriculumStage::Circles);
        assert_eq!(t.stage_at(150), CurriculumStage::CirclesSliders);
        assert_eq!(t.stage_at(10_000), CurriculumStage::All);
        assert!(!CurriculumStage::Circles.admits(1, 0) && CurriculumStage::CirclesSliders.admits(1, 0));
    }

    #[test]
    fn bad_shapes_are_rejected() {
        let mut c = ModelConfig::default();
        c.network.heads = 3;
        assert!(c.validate().is_err());
        let mut c = ModelConfig::default();
        c.training.curriculum = vec![(5, CurriculumStage::All), (5, CurriculumStage::Circles)];
        assert!(c.validate().is_err());
        let mut c = ModelConfig::default();
        c.training.ema_decay = Some(1.0);
        assert!(c.validate().is_err());
        let mut c = ModelConfig::default();
        c.training.validate_every = 0;
        assert!(c.validate().unwrap_err().contains("validate_every"));
        let mut c = ModelConfig::default();
        c.training.grad_clip = 0.0;
        assert!(c.validate().unwrap_err().contains("grad_clip"));
    }
}
