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
    /// The device asked for cannot be used.
    #[error(transparent)]
    Device(#[from] crate::runtime::DeviceError),
    /// A tensor file is not the one its record was saved with: the process was killed between
    /// writing the files of one checkpoint.
    #[error("{path}: not the file its record was saved with (the run was killed while saving it)")]
    Incomplete {
        /// The tensor file.
        path: String,
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
    /// SHA-256 of the tensor files saved with this record (set by [`CheckpointPaths::save`];
    /// absent in records of older versions, whose files are not checked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files: Option<FileHashes>,
}

/// SHA-256 (hex) of a checkpoint's tensor files: a record is never paired with the files of
/// another save.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileHashes {
    /// The weights file.
    pub weights: String,
    /// The optimizer file, where one was saved.
    pub optimizer: Option<String>,
}

/// Lower-case hex SHA-256 of what `file` holds from where it is read on (streamed: a
/// checkpoint can be larger than is worth holding in memory twice).
fn sha256_of(mut file: std::fs::File) -> std::io::Result<String> {
    use sha2::Digest;
    let mut hasher = sha2::Sha256::new();
    std::io::copy(&mut file, &mut hasher)?;
    Ok(hex::encode(hasher.finalize()))
}

/// Checks that the file at `path` has the SHA-256 `expected` (when one was recorded).
fn check_file(path: &Path, expected: Option<&str>) -> Result<(), CheckpointError> {
    match expected {
        Some(expected) if std::fs::File::open(path).and_then(sha256_of).map_err(|e| io_error(path, e))? != expected => {
            Err(CheckpointError::Incomplete { path: path.display().to_string() })
        }
        _ => Ok(()),
    }
}

/// Writes `tensors` to `path` atomically (safetensors, fsynced); returns the file's SHA-256.
fn write_tensors(path: &Path, tensors: &[(String, Tensor)]) -> Result<String, CheckpointError> {
    // The temp name keeps the `.safetensors` suffix, which selects the format.
    let tmp = path.with_extension(format!("tmp-{}.safetensors", std::process::id()));
    let cpu: Vec<(String, Tensor)> = tensors.iter().map(|(n, t)| (n.clone(), t.to_device(Device::Cpu))).collect();
    let mut hash = String::new();
    let written = Tensor::write_safetensors(&cpu, &tmp).map_err(std::io::Error::other).and_then(|()| {
        let file = std::fs::File::open(&tmp)?;
        file.sync_all()?;
        hash = sha256_of(file)?;
        Ok(())
    });
    operators::atomic::commit(written, &tmp, path).map_err(|e| io_error(path, e))?;
    Ok(hash)
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
                return Err(io_error(
                    path,
                    format!("live weights {name} are {:?}, the network wants {:?}", saved.size(), var.size()),
                ));
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
            let (_, t) = saved
                .iter()
                .find(|(n, _)| n == name)
                .ok_or_else(|| io_error(path, format!("missing tensor {name}")))?;
            if t.size() != var.size() {
                return Err(io_error(
                    path,
                    format!("tensor {name} is {:?}, the network wants {:?}", t.size(), var.size()),
                ));
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

    /// Writes the trainer's state under these paths, the record last with the files' hashes:
    /// a kill between the files leaves a record that [`Self::restore`] refuses.
    pub fn save(
        &self,
        trainer: &Trainer,
        record: &CheckpointRecord,
        with_optimizer: bool,
    ) -> Result<(), CheckpointError> {
        let weights = write_tensors(&self.weights, &inference_weights(trainer))?;
        let optimizer = with_optimizer.then(|| write_tensors(&self.optimizer, &training_state(trainer))).transpose()?;
        let record = CheckpointRecord { files: Some(FileHashes { weights, optimizer }), ..record.clone() };
        let json = serde_json::to_vec_pretty(&record).expect("records serialise");
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
        if let Some(files) = &record.files {
            check_file(&self.weights, Some(&files.weights))?;
            check_file(&self.optimizer, files.optimizer.as_deref())?;
        }
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
        let config: TokenizerConfig = serde_json::from_value(self.tokenizer.clone())
            .map_err(|e| mismatch(format!("unreadable tokenizer config: {e}")))?;
        if config.hash() != self.tokenizer_hash {
            return Err(mismatch(format!("tokenizer config does not match its hash {}", self.tokenizer_hash)));
        }
        let tokenizer = Tokenizer::new(config).map_err(|e| mismatch(format!("tokenizer config: {e}")))?;
        if i64::from(tokenizer.vocab().size()) != self.vocab {
            return Err(mismatch(format!(
                "vocabulary of {} ids, the tokenizer has {}",
                self.vocab,
                tokenizer.vocab().size()
            )));
        }
        Ok(tokenizer)
    }
}

/// Loads a checkpoint for inference: `path` is a run directory (its `best`), or a
/// `.safetensors` / `.json` file of one checkpoint. Weights whose SHA-256 is not the recorded one
/// (a torn or foreign file) are refused, as by `restore`.
pub fn load_for_inference(path: &Path, device: Device) -> Result<LoadedModel, CheckpointError> {
    let device = crate::runtime::usable_device(device)?;
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
    if let Some(files) = &record.files {
        check_file(&paths.weights, Some(&files.weights))?;
    }
    let vs = nn::VarStore::new(device);
    let net = Mapper::new(&vs.root(), &record.model.network, &VocabLayout::of(&tokenizer));
    load_weights(&vs, &paths.weights)?;
    Ok(LoadedModel { vs, net, record, tokenizer })
}

/// The `step-*` checkpoints of `run`, oldest first.
fn step_checkpoints(run: &Path) -> Result<Vec<CheckpointPaths>, CheckpointError> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(run).map_err(|e| io_error(run, e))? {
        let path = entry.map_err(|e| io_error(run, e))?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else { continue };
        if let Some(stem) = name.strip_prefix("step-").and_then(|s| s.strip_suffix(".json")) {
            names.push(format!("step-{stem}"));
        }
    }
    names.sort();
    Ok(names.iter().map(|name| CheckpointPaths::new(run, name)).collect())
}

/// Restores the newest whole checkpoint of `run` into `trainer` (`--resume`): `last`, or, when
/// a kill tore it (its files are not its record's), the newest whole `step-*` checkpoint, which
/// is saved just before `last` and so holds the state `last` was being saved with.
pub fn restore_latest(run: &Path, trainer: &mut Trainer) -> Result<CheckpointRecord, CheckpointError> {
    let torn = match CheckpointPaths::new(run, "last").restore(trainer) {
        Err(torn @ CheckpointError::Incomplete { .. }) => torn,
        result => return result,
    };
    for paths in step_checkpoints(run)?.iter().rev() {
        match paths.restore(trainer) {
            Err(CheckpointError::Incomplete { .. }) => continue,
            result => return result,
        }
    }
    Err(torn)
}

/// Keeps the [`KEEP_BEST`] `step-*` checkpoints of `run` with the lowest validation loss (the
/// newest among equals, and among those without a loss: a run without validation keeps its
/// latest) and deletes the others' files.
pub fn prune(run: &Path) -> Result<(), CheckpointError> {
    let mut scored: Vec<(f64, CheckpointPaths)> = step_checkpoints(run)?
        .into_iter()
        .map(|paths| (paths.record().ok().and_then(|r| r.val_loss).unwrap_or(f64::INFINITY), paths))
        .collect();
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

    #[test]
    fn loading_onto_a_cuda_device_that_is_not_there_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let past = Device::Cuda(tch::Cuda::device_count() as usize);
        let Err(error) = load_for_inference(dir.path(), past) else { panic!("loaded onto no such device") };
        assert!(matches!(error, CheckpointError::Device(_)), "{error}");
        assert!(error.to_string().contains("CUDA"), "{error}");
    }

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
            files: None,
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
        let trainer = Trainer::new(config.clone(), &vocab, Device::Cpu).unwrap();
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
        let mut resumed = Trainer::new(config, &vocab, Device::Cpu).unwrap();
        paths.restore(&mut resumed).unwrap();
        assert_eq!(means(&resumed.vs), live, "training resumes from the live weights");
        assert_eq!(resumed.with_averaged_weights(|t| means(&t.vs)), initial, "with the average restored beside them");
        assert_eq!(means(&resumed.vs), live);

        // Live weights of the wrong shape in the optimizer file: refused, naming file and tensor.
        let mut state = read_tensors(&paths.optimizer).unwrap();
        let (name, tensor) = state.iter_mut().find(|(n, _)| n.starts_with(LIVE_PREFIX)).unwrap();
        *tensor = Tensor::zeros([3, 7], (tch::Kind::Float, Device::Cpu));
        let name = name.clone();
        let optimizer = write_tensors(&paths.optimizer, &state).unwrap();
        let mut edited = paths.record().unwrap();
        edited.files.as_mut().unwrap().optimizer = Some(optimizer);
        std::fs::write(&paths.record, serde_json::to_vec(&edited).unwrap()).unwrap();
        let mut refused = Trainer::new(crate::trainer::tests::small_config(), &vocab, Device::Cpu).unwrap();
        let error = paths.restore(&mut refused).expect_err("a wrong-shaped live tensor").to_string();
        assert!(error.starts_with(&paths.optimizer.display().to_string()), "{error}");
        assert!(error.contains(&format!("live weights {name} are [3, 7]")), "{error}");
    }

    #[test]
    fn a_torn_last_checkpoint_is_refused_and_resume_takes_the_step_checkpoint_saved_with_it() {
        let config = crate::trainer::tests::small_config();
        let tokenizer = Tokenizer::new(TokenizerConfig::default()).unwrap();
        let vocab = VocabLayout::of(&tokenizer);
        let trainer = Trainer::new(config.clone(), &vocab, Device::Cpu).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let at = |step| {
            record(|r| {
                r.step = step;
                r.model = config.clone();
                r.model_hash = config.network_hash();
            })
        };
        let last = CheckpointPaths::new(dir.path(), "last");
        CheckpointPaths::new(dir.path(), "step-000001").save(&trainer, &at(1), true).unwrap();
        last.save(&trainer, &at(1), true).unwrap();
        // Step 2: its step checkpoint is whole; `last` got its new weights, then the kill came.
        tch::no_grad(|| {
            for t in trainer.vs.trainable_variables() {
                let _ = t.detach().g_add_scalar_(1.0);
            }
        });
        let moved = means(&trainer.vs);
        let step2 = CheckpointPaths::new(dir.path(), "step-000002");
        step2.save(&trainer, &at(2), true).unwrap();
        std::fs::copy(&step2.weights, &last.weights).unwrap();

        let mut resumed = Trainer::new(config.clone(), &vocab, Device::Cpu).unwrap();
        let error = last.restore(&mut resumed).expect_err("weights of another save");
        assert!(
            matches!(&error, CheckpointError::Incomplete { path } if path == &last.weights.display().to_string()),
            "{error}"
        );
        // Loading for inference checks the weights against the record too.
        match load_for_inference(&last.record, Device::Cpu) {
            Err(CheckpointError::Incomplete { path }) => assert_eq!(path, last.weights.display().to_string()),
            Err(other) => panic!("another error: {other}"),
            Ok(_) => panic!("weights of another save were loaded for inference"),
        }
        let record = restore_latest(dir.path(), &mut resumed).unwrap();
        assert_eq!((record.step, resumed.step), (2, 2));
        assert_eq!(means(&resumed.vs), moved);
        // A whole `last` is what resume takes.
        last.save(&trainer, &at(3), true).unwrap();
        assert_eq!(restore_latest(dir.path(), &mut resumed).unwrap().step, 3);
    }

    #[test]
    fn tokenizer_of_builds_the_recorded_tokenizer() {
        let tokenizer = record(|_| {}).tokenizer_of(Path::new("run/best.json")).expect("a consistent record");
        assert_eq!(tokenizer.config(), &TokenizerConfig::default());
    }

    #[test]
    fn tokenizer_of_names_each_inconsistency() {
        let unreadable = record(|r| r.tokenizer = serde_json::json!({"grid_x": "wide"}));
        assert!(
            mismatch_reason(&unreadable).starts_with("unreadable tokenizer config"),
            "{}",
            mismatch_reason(&unreadable)
        );
        let rehashed = record(|r| r.tokenizer_hash = "0000".into());
        assert_eq!(mismatch_reason(&rehashed), "tokenizer config does not match its hash 0000");
        let resized = record(|r| r.vocab += 1);
        assert!(
            mismatch_reason(&resized).starts_with(&format!("vocabulary of {} ids", resized.vocab)),
            "{}",
            mismatch_reason(&resized)
        );
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
