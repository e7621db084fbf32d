//! Training metrics: running totals per logging window, `metrics.jsonl` lines, and the
//! progress bar (step, loss, tokens/s, data-wait %).

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use model::config::{CurriculumStage, TrainingConfig};
use model::trainer::StepOutcome;
use serde::Serialize;

use super::validation::ValidationScores;

/// Totals over a run of steps.
#[derive(Debug, Default, Clone)]
pub struct StepWindow {
    steps: u64,
    loss: f64,
    token_loss: f64,
    residual_loss: f64,
    lr: f64,
    grad_norm: f64,
    /// Target tokens trained on.
    pub tokens: u64,
    /// Batches skipped by the non-finite guard.
    pub skipped: u64,
    wait: Duration,
    /// Time in steps (waiting included).
    pub busy: Duration,
}

/// One line of `metrics.jsonl`.
#[derive(Debug, Clone, Serialize)]
pub struct MetricsLine {
    /// Step reached.
    pub step: u64,
    /// Mean training loss over the logging window.
    pub train_loss: f64,
    /// Token cross-entropy part.
    pub token_loss: f64,
    /// Residual part.
    pub residual_loss: f64,
    /// Learning rate of the last step.
    pub lr: f64,
    /// Mean gradient norm (before clipping).
    pub grad_norm: f64,
    /// Target tokens per second.
    pub tokens_per_s: f64,
    /// Fraction of the time spent waiting for the reader.
    pub data_wait_fraction: f64,
    /// Batches skipped in the window.
    pub skipped: u64,
    /// Curriculum stage.
    pub stage: CurriculumStage,
    /// Validation scores, on validation steps.
    #[serde(flatten)]
    pub validation: Option<ValidationScores>,
}

impl StepWindow {
    /// Adds one step that waited `wait` for its batch and took `elapsed` in all.
    pub fn add(&mut self, outcome: &StepOutcome, wait: Duration, elapsed: Duration) {
        self.steps += 1;
        self.wait += wait;
        self.busy += elapsed;
        self.tokens += outcome.tokens.max(0) as u64;
        self.lr = outcome.lr;
        if outcome.skipped.is_some() {
            self.skipped += 1;
            return;
        }
        self.loss += outcome.loss.total;
        self.token_loss += outcome.loss.tokens;
        self.residual_loss += outcome.loss.residuals;
        self.grad_norm += outcome.grad_norm;
    }

    /// Seconds spent waiting for batches.
    pub fn wait_seconds(&self) -> f64 {
        self.wait.as_secs_f64()
    }

    /// Waiting time / total time.
    pub fn wait_fraction(&self) -> f64 {
        self.wait.as_secs_f64() / self.busy.as_secs_f64().max(1e-9)
    }

    /// The line for these steps, ending at `step`.
    pub fn line(&self, step: u64, training: &TrainingConfig) -> MetricsLine {
        let taken = (self.steps - self.skipped).max(1) as f64;
        MetricsLine {
            step,
            train_loss: self.loss / taken,
            token_loss: self.token_loss / taken,
            residual_loss: self.residual_loss / taken,
            lr: self.lr,
            grad_norm: self.grad_norm / taken,
            tokens_per_s: self.tokens as f64 / self.busy.as_secs_f64().max(1e-9),
            data_wait_fraction: self.wait_fraction(),
            skipped: self.skipped,
            stage: training.stage_at(step.saturating_sub(1)),
            validation: None,
        }
    }
}

/// `metrics.jsonl`, appended to (a resumed run continues the same file).
#[derive(Debug)]
pub struct MetricsLog {
    file: std::fs::File,
}

impl MetricsLog {
    /// Opens `path` for appending; resuming from a checkpoint at `resumed_at` first drops the
    /// lines of the steps after it (the run logged them, then died before its next checkpoint:
    /// they are trained again), so that no step appears twice. The cut is an atomic rewrite.
    pub fn open_resumed(path: &Path, resumed_at: u64) -> anyhow::Result<Self> {
        if path.exists() {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            let step_of = |line: &str| serde_json::from_str::<serde_json::Value>(line).ok()?.get("step")?.as_u64();
            let kept: String = text
                .lines()
                .filter(|line| step_of(line).is_none_or(|step| step <= resumed_at))
                .flat_map(|line| [line, "\n"])
                .collect();
            if kept.len() != text.len() {
                operators::atomic::write(path, kept.as_bytes())
                    .with_context(|| format!("rewriting {}", path.display()))?;
            }
        }
        Self::open(path)
    }

    /// Opens `path` for appending.
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("opening {}", path.display()))?;
        Ok(Self { file })
    }

    /// Appends one line and flushes it.
    pub fn append(&mut self, line: &MetricsLine) -> anyhow::Result<()> {
        let mut bytes = serde_json::to_vec(line)?;
        bytes.push(b'\n');
        self.file.write_all(&bytes)?;
        self.file.flush()?;
        Ok(())
    }
}

/// The progress bar (hidden when stderr is not a terminal; metric lines are logged instead).
#[derive(Debug)]
pub struct TrainProgress {
    bar: ProgressBar,
}

impl TrainProgress {
    /// A bar to `max_steps` (a spinner without one).
    pub fn new(max_steps: Option<u64>) -> Self {
        let bar = match max_steps {
            Some(n) => ProgressBar::new(n),
            None => ProgressBar::no_length(),
        };
        bar.set_draw_target(ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{spinner} step {pos}/{len} [{elapsed_precise}<{eta}] {msg}")
                .expect("valid template"),
        );
        Self { bar }
    }

    /// Shows `line`; off a terminal, logs it.
    pub fn update(&self, line: &MetricsLine) {
        self.bar.set_position(line.step);
        let mut msg = format!(
            "loss {:.4} | {:.0} tok/s | data wait {:.1}%",
            line.train_loss,
            line.tokens_per_s,
            100.0 * line.data_wait_fraction
        );
        if let Some(v) = &line.validation {
            msg.push_str(&format!(" | val {:.4} rhythm F1 {:.3}", v.val_loss, v.rhythm_f1_50ms));
        }
        if self.bar.is_hidden() {
            log::info!("step {}: {msg}", line.step);
        }
        self.bar.set_message(msg);
    }

    /// Clears the bar.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resuming_drops_the_steps_after_the_checkpoint_so_none_appears_twice() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics.jsonl");
        let lines = ["{\"step\":100,\"x\":1}", "{\"step\":200,\"x\":2}", "{\"step\":250,\"x\":3}", "{\"step\":300}"];
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        drop(MetricsLog::open_resumed(&path, 200).unwrap());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), format!("{}\n{}\n", lines[0], lines[1]));
        // Nothing after the checkpoint: the file is left as it is.
        drop(MetricsLog::open_resumed(&path, 400).unwrap());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), format!("{}\n{}\n", lines[0], lines[1]));
        // No file yet: one is made.
        let fresh = dir.path().join("new.jsonl");
        drop(MetricsLog::open_resumed(&fresh, 0).unwrap());
        assert!(fresh.is_file());
    }
}
