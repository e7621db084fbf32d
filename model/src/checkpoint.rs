//! Checkpoints: weights (safetensors), optimizer moments (safetensors) and a JSON record of the
//! step and the configs (with hashes), all written atomically; the best 3 by validation loss
//! are kept, plus `best` and `last`.
//!
//! ```text
//! RUN/step-000400.safetensors  step-000400.optim.safetensors  step-000400.json   (best 3)
//! RUN/best.safetensors  best.json          the lowest validation loss so far
//! RUN/last.safetensors  last.optim.safetensors  last.json     what --resume continues from
//! ```
//! With a weight average (`training.ema_decay`) the weights files hold the average — what
//! generation loads — and the optimizer file also holds the live training weights
//! (`live.<var>`), so `--resume` goes on from them.

use std::path::{Path, PathBuf};

use operators::tokenizer::{Tokenizer, TokenizerConfig};
use serde::{Deserialize, Serialize};
use tch::{Device, Tensor, nn};

use crate::config::ModelConfig;
use crate::network::{Mapper, VocabLayout};
use crate::trainer::Trainer;

/// Checkpoints kept by validation loss (besides `best` and `last`).
pub const KEEP_BEST: usize = 3;

/// Errors loading or saving a checkpoint; each names the file.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// File system or format trouble.
    #[error("{path}: {reason}")]
    Io {
        /// The file.
        path: String,
        /// What failed.
        reason: String,
    },
    /// The checkpoint was made for another tokenizer, feature or network config.
    #[error("{path}: {reason}")]
    Mismatch {
        /// The checkpoint record.
        path: String,
        /// Which config differs.
        reason: String,
    },
}

fn io_error(path: &Path, reason: impl std::fmt::Display) -> CheckpointError {
    CheckpointError::Io { path: path.display().to_string(), reason: reason.to_string() }
}

/// The JSON record beside a checkpoint's weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointRecord {
    /// Steps taken.
    pub step: u64,
    /// Optimizer updates applied.
    pub updates: i64,
    /// Validation loss at this step (`None` without validation windows).
    pub val_loss: Option<f64>,
    /// The model config.
    pub model: ModelConfig,
    /// Its network hash.
    pub model_hash: String,
    /// The tokenizer config (as JSON) the data was made with.
    pub tokenizer: serde_json::Value,
    /// Its hash.
    pub tokenizer_hash: String,
    /// The feature config hash of the data.
    pub feature_config: String,
    /// Vocabulary size.
    pub vocab: i64,
}

/// Writes `tensors` to `path` atomically (safetensors).
fn write_tensors(path: &Path, tensors: &[(String, Tensor)]) -> Result<(), CheckpointError> {
    // The temp name keeps the `.safetensors` suffix, which selects the format.
    let tmp = path.with_extension(format!("tmp-{}.safetensors", std::process::id()));
    let cpu: Vec<(String, Tensor)> = tensors.iter().map(|(n, t)| (n.clone(), t.to_device(Device::Cpu))).collect();
    let written = Tensor::write_safetensors(&cpu, &tmp).map_err(std::io::Error::other);
    operators::atomic::commit(written, &tmp, path).map_err(|e| io_error(path, e))
}

fn read_tensors(path: &Path) -> Result<Vec<(String, Tensor)>, CheckpointError> {
    Tensor::read_safetensors(path).map_err(|e| io_error(path, e))
}

/// The weights to save for inference: the trainer's variables, each averaged one replaced by
/// its average.
fn inference_weights(trainer: &Trainer) -> Vec<(String, Tensor)> {
    let mut named: Vec<(String, Tensor)> = trainer
        .vs
        .variables()
        .into_iter()
        .map(|(name, t)| {
            let averaged = trainer.average.as_ref().and_then(|a| a.averaged(&name)).map(Tensor::shallow_clone);
            (name, averaged.unwrap_or(t))
        })
        .collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    named
}

/// What `--resume` needs besides the weights file: the optimizer moments and, with an average,
/// the live weights.
fn training_state(trainer: &Trainer) -> Vec<(String, Tensor)> {
    let mut state = trainer.optimizer.state();
    if let Some(average) = &trainer.average {
        let live = trainer.vs.variables().into_iter().filter(|(name, _)| average.averaged(name).is_some());
        state.extend(live.map(|(name, t)| (format!("{LIVE_PREFIX}{name}"), t)));
    }
    state
}

/// Prefix of the live weights in an optimizer file.
const LIVE_PREFIX: &str = "live.";

/// After the weights file was loaded into `trainer.vs`: the average starts from those weights
/// and the live weights come from `state` where it has them (a checkpoint written without an
/// average has none: training goes on from the saved weights).
fn restore_live_weights(trainer: &mut Trainer, state: &[(String, Tensor)], path: &Path) -> Result<(), CheckpointError> {
    if let Some(average) = &mut trainer.average {
        average.reset_to_live();
    }
    let mut variables = trainer.vs.variables();
    tch::no_grad(|| {
        for (name, saved) in state {
            let Some(var) = name.strip_prefix(LIVE_PREFIX).and_then(|n| variables.get_mut(n)) else { continue };
            if saved.size() != var.size() {
                return Err(io_error(path, format!("live weights {name} are {:?}, the network wants {:?}", saved.size(), var.size())));
            }
            var.copy_(saved);
        }
        Ok(())
    })
}

/// Copies saved weights into `vs` (every variable must be present with its shape).
fn load_weights(vs: &nn::VarStore, path: &Path) -> Result<(), CheckpointError> {
    let saved = read_tensors(path)?;
    let mut variables = vs.variables();
    tch::no_grad(|| {
        for (name, var) in &mut variables {
            let (_, t) = saved.iter().find(|(n, _)| n == name).ok_or_else(|| io_error(path, format!("missing tensor {name}")))?;
            if t.size() != var.size() {
                return Err(io_error(path, format!("tensor {name} is {:?}, the network wants {:?}", t.size(), var.size())));
            }
            var.copy_(t);
        }
        Ok(())
    })
}

/// A checkpoint's paths under a run directory.
#[derive(Debug, Clone)]
pub struct CheckpointPaths {
    /// Weights.
    pub weights: PathBuf,
    /// Optimizer moments.
    pub optimizer: PathBuf,
    /// JSON record.
    pub record: PathBuf,
}

impl CheckpointPaths {
    /// The paths of checkpoint `name` (`best`, `last`, `step-000400`) in `run`.
    pub fn new(run: &Path, name: &str) -> Self {
        Self {
            weights: run.join(format!("{name}.safetensors")),
            optimizer: run.join(format!("{name}.optim.safetensors")),
            record: run.join(format!("{name}.json")),
        }
    }

    /// Writes the trainer's state under these paths (record last: it marks completion).
    pub fn save(&self, trainer: &Trainer, record: &CheckpointRecord, with_optimizer: bool) -> Result<(), CheckpointError> {
        write_tensors(&self.weights, &inference_weights(trainer))?;
        if with_optimizer {
            write_tensors(&self.optimizer, &training_state(trainer))?;
        }
        let json = serde_json::to_vec_pretty(record).expect("records serialise");
        operators::atomic::write(&self.record, &json).map_err(|e| io_error(&self.record, e))
    }

    /// Reads the JSON record.
    pub fn record(&self) -> Result<CheckpointRecord, CheckpointError> {
        let bytes = std::fs::read(&self.record).map_err(|e| io_error(&self.record, e))?;
        serde_json::from_slice(&bytes).map_err(|e| io_error(&self.record, e))
    }

    /// Restores weights (live and averaged), optimizer and step into `trainer` (made with the
    /// record's config).
    pub fn restore(&self, trainer: &mut Trainer) -> Result<CheckpointRecord, CheckpointError> {
        let record = self.record()?;
        load_weights(&trainer.vs, &self.weights)?;
        let state = read_tensors(&self.optimizer)?;
        trainer.optimizer.load_state(&state, record.updates).map_err(|e| io_error(&self.optimizer, e))?;
        restore_live_weights(trainer, &state, &self.optimizer)?;
        trainer.step = record.step;
        Ok(record)
    }
}

/// A network loaded for inference, with the configs it was trained with.
#[derive(Debug)]
pub struct LoadedModel {
    /// Its variables.
    pub vs: nn::VarStore,
    /// The network.
    pub net: Mapper,
    /// The record.
    pub record: CheckpointRecord,
    /// The tokenizer of the record's config.
    pub tokenizer: Tokenizer,
}

impl CheckpointRecord {
    /// The tokenizer the record names, checked against its hash and the vocabulary size;
    /// `path` (the record) names errors.
    pub fn tokenizer_of(&self, path: &Path) -> Result<Tokenizer, CheckpointError> {
        let mismatch = |reason: String| CheckpointError::Mismatch { path: path.display().to_string(), reason };
        let config: TokenizerConfig =
            serde_json::from_value(self.tokenizer.clone()).map_err(|e| mismatch(format!("unreadable tokenizer config: {e}")))?;
        if config.hash() != self.tokenizer_hash {
            return Err(mismatch(format!("tokenizer config does not match its hash {}", self.tokenizer_hash)));
        }
        let tokenizer = Tokenizer::new(config).map_err(|e| mismatch(format!("tokenizer config: {e}")))?;
        if i64::from(tokenizer.vocab().size()) != self.vocab {
            return Err(mismatch(format!("vocabulary of {} ids, the tokenizer has {}", self.vocab, tokenizer.vocab().size())));
        }
        Ok(tokenizer)
    }
}

/// Loads a checkpoint for inference: `path` is a run directory (its `best`), or a
/// `.safetensors` / `.json` file of one checkpoint.
pub fn load_for_inference(path: &Path, device: Device) -> Result<LoadedModel, CheckpointError> {
    let paths = if path.is_dir() {
        CheckpointPaths::new(path, "best")
    } else {
        let stem = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let name = stem.trim_end_matches(".json").trim_end_matches(".safetensors");
        CheckpointPaths::new(path.parent().unwrap_or(Path::new(".")), name)
    };
    let record = paths.record()?;
    if record.model_hash != record.model.network_hash() {
        return Err(CheckpointError::Mismatch {
            path: paths.record.display().to_string(),
            reason: "the record's network hash does not match its network config".into(),
        });
    }
    let tokenizer = record.tokenizer_of(&paths.record)?;
    let vs = nn::VarStore::new(device);
    let net = Mapper::new(&vs.root(), &record.model.network, &VocabLayout::of(&tokenizer));
    load_weights(&vs, &paths.weights)?;
    Ok(LoadedModel { vs, net, record, tokenizer })
}

/// Keeps the [`KEEP_BEST`] `step-*` checkpoints of `run` with the lowest validation loss (the
/// newest among equals, and among those without a loss: a run without validation keeps its
/// latest) and deletes the others' files.
pub fn prune(run: &Path) -> Result<(), CheckpointError> {
    let mut scored = Vec::new();
    for entry in std::fs::read_dir(run).map_err(|e| io_error(run, e))? {
        let path = entry.map_err(|e| io_error(run, e))?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else { continue };
        if let Some(stem) = name.strip_prefix("step-").and_then(|s| s.strip_suffix(".json")) {
            let paths = CheckpointPaths::new(run, &format!("step-{stem}"));
            let loss = paths.record().ok().and_then(|r| r.val_loss).unwrap_or(f64::INFINITY);
            scored.push((loss, paths));
        }
    }
    scored.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| b.1.record.cmp(&a.1.record)));
    for (_, paths) in scored.into_iter().skip(KEEP_BEST) {
        for file in [&paths.record, &paths.weights, &paths.optimizer] {
            if file.exists() {
                std::fs::remove_file(file).map_err(|e| io_error(file, e))?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A record for the default tokenizer, `edit`ed.
    fn record(edit: impl FnOnce(&mut CheckpointRecord)) -> CheckpointRecord {
        let config = TokenizerConfig::default();
        let vocab = i64::from(Tokenizer::new(config.clone()).expect("default tokenizer").vocab().size());
        let mut record = CheckpointRecord {
            step: 0,
            updates: 0,
            val_loss: None,
            model: ModelConfig::default(),
            model_hash: ModelConfig::default().network_hash(),
            tokenizer_hash: config.hash(),
            tokenizer: serde_json::to_value(&config).expect("configs serialise"),
            feature_config: String::new(),
            vocab,
        };
        edit(&mut record);
        record
    }

    fn mismatch_reason(record: &CheckpointRecord) -> String {
        match record.tokenizer_of(Path::new("run/best.json")) {
            Err(CheckpointError::Mismatch { path, reason }) => {
                assert_eq!(path, "run/best.json");
                reason
            }
            other => panic!("expected a mismatch, got {other:?}"),
        }
    }

    /// The mean of every trainable variable of `vs`, in name order.
    fn means(vs: &nn::VarStore) -> Vec<f64> {
        crate::optim::trainable_by_name(vs).iter().map(|(_, t)| t.mean(tch::Kind::Float).double_value(&[])).collect()
    }

    #[test]
    fn a_checkpoint_keeps_the_average_for_inference_and_the_live_weights_for_resuming() {
        let mut config = crate::trainer::tests::small_config();
        config.training.ema_decay = Some(0.9);
        let tokenizer = Tokenizer::new(TokenizerConfig::default()).unwrap();
        let vocab = VocabLayout::of(&tokenizer);
        let trainer = Trainer::new(config.clone(), &vocab, Device::Cpu);
        let initial = means(&trainer.vs);
        // The live weights move away from the average (which stays at the initialisation).
        tch::no_grad(|| {
            for t in trainer.vs.trainable_variables() {
                let _ = t.detach().g_add_scalar_(1.0);
            }
        });
        let live = means(&trainer.vs);
        let dir = tempfile::tempdir().unwrap();
        let paths = CheckpointPaths::new(dir.path(), "last");
        let rec = record(|r| {
            r.model = config.clone();
            r.model_hash = config.network_hash();
        });
        paths.save(&trainer, &rec, true).unwrap();

        let inference = load_for_inference(&paths.weights, Device::Cpu).unwrap();
        assert_eq!(means(&inference.vs), initial, "generation loads the average");
        let mut resumed = Trainer::new(config, &vocab, Device::Cpu);
        paths.restore(&mut resumed).unwrap();
        assert_eq!(means(&resumed.vs), live, "training resumes from the live weights");
        assert_eq!(resumed.with_averaged_weights(|t| means(&t.vs)), initial, "with the average restored beside them");
        assert_eq!(means(&resumed.vs), live);

        // Live weights of the wrong shape in the optimizer file: refused, naming file and tensor.
        let mut state = read_tensors(&paths.optimizer).unwrap();
        let (name, tensor) = state.iter_mut().find(|(n, _)| n.starts_with(LIVE_PREFIX)).unwrap();
        *tensor = Tensor::zeros([3, 7], (tch::Kind::Float, Device::Cpu));
        let name = name.clone();
        write_tensors(&paths.optimizer, &state).unwrap();
        let mut refused = Trainer::new(crate::trainer::tests::small_config(), &vocab, Device::Cpu);
        let error = paths.restore(&mut refused).expect_err("a wrong-shaped live tensor").to_string();
        assert!(error.starts_with(&paths.optimizer.display().to_string()), "{error}");
        assert!(error.contains(&format!("live weights {name} are [3, 7]")), "{error}");
    }

    #[test]
    fn tokenizer_of_builds_the_recorded_tokenizer() {
        let tokenizer = record(|_| {}).tokenizer_of(Path::new("run/best.json")).expect("a consistent record");
        assert_eq!(tokenizer.config(), &TokenizerConfig::default());
    }

    #[test]
    fn tokenizer_of_names_each_inconsistency() {
        let unreadable = record(|r| r.tokenizer = serde_json::json!({"grid_x": "wide"}));
        assert!(mismatch_reason(&unreadable).starts_with("unreadable tokenizer config"), "{}", mismatch_reason(&unreadable));
        let rehashed = record(|r| r.tokenizer_hash = "0000".into());
        assert_eq!(mismatch_reason(&rehashed), "tokenizer config does not match its hash 0000");
        let resized = record(|r| r.vocab += 1);
        assert!(mismatch_reason(&resized).starts_with(&format!("vocabulary of {} ids", resized.vocab)), "{}", mismatch_reason(&resized));
    }

    #[test]
    fn prune_keeps_the_lowest_losses_and_without_losses_the_newest() {
        fn write(run: &Path, step: u64, val_loss: Option<f64>) {
            let paths = CheckpointPaths::new(run, &format!("step-{step:06}"));
            let rec = record(|r| {
                r.step = step;
                r.val_loss = val_loss;
            });
            std::fs::write(&paths.record, serde_json::to_vec(&rec).unwrap()).unwrap();
            std::fs::write(&paths.weights, b"weights").unwrap();
        }
        fn kept(run: &Path) -> Vec<String> {
            let mut names: Vec<String> = std::fs::read_dir(run)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            names
        }
        let scored = tempfile::tempdir().unwrap();
        for (step, loss) in [(1, 0.9), (2, 0.5), (3, 0.7), (4, 0.6), (5, 0.8)] {
            write(scored.path(), step, Some(loss));
        }
        prune(scored.path()).unwrap();
        let expected = ["step-000002", "step-000003", "step-000004"];
        let with_files = |names: &[&str]| -> Vec<String> {
            names.iter().flat_map(|n| [format!("{n}.json"), format!("{n}.safetensors")]).collect()
        };
        assert_eq!(kept(scored.path()), with_files(&expected));

        let unscored = tempfile::tempdir().unwrap();
        for step in 1..=5 {
            write(unscored.path(), step, None);
        }
        prune(unscored.path()).unwrap();
        assert_eq!(kept(unscored.path()), with_files(&["step-000003", "step-000004", "step-000005"]));
    }
}
