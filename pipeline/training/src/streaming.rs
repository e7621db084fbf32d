//! `mapflow run`: preprocess and train in one process, the trainer reading chunks as they
//! commit, with end-to-end backpressure through a [`ChunkGate`].
//!
//! ```text
//!  preprocess thread: source ─admit(chunk)─► timely dataflow ─► OUT chunk committed ─┐
//!                       ▲ waits while max_chunks_ahead chunks are unread              │ wakes
//!                       └──────────────── ChunkGate ◄── consumed(chunk) ──┐           ▼
//!  trainer (this thread): feature statistics ◄── batch reader thread (first read of a chunk)
//!                         steps ◄── bounded channel ◄──┘    ─► RUN checkpoints, metrics.jsonl
//!  training ends first ─► gate.stop(): the input ends at the next chunk boundary (resumable)
//!  preprocess ends ─► the reader stops following and keeps cycling epochs over OUT
//! ```
//! Either side's error ends the run with that error; chunks already committed stay committed
//! (`--resume` skips them), and training stops at its next step with a checkpoint.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use serde::Serialize;

use crate::train::{self, Follow, TrainOptions, TrainSummary};
use dataflow::gate::{ChunkGate, GateStats};
use dataflow::preprocess::{self, PreprocessOptions, SourceOpener};

/// What `mapflow run` does.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The preprocess (its `out` is the data set trained on; its `gate` is set here).
    pub preprocess: PreprocessOptions,
    /// The training (its `data` and `follow` are set here).
    pub train: TrainOptions,
    /// Chunks the preprocess may have admitted and the trainer's reader not yet read.
    pub max_chunks_ahead: usize,
}

/// What a run did: both sides' summaries and the gate's waits.
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    /// The preprocess.
    pub preprocess: preprocess::Summary,
    /// Whether the preprocess read its whole source (false: it stopped at a chunk boundary
    /// when training ended; `--resume` continues it).
    pub preprocess_complete: bool,
    /// The training.
    pub train: TrainSummary,
    /// Credits, and how long each side waited on the other.
    pub gate: GateStats,
    /// Wall time of the whole run.
    pub wall_seconds: f64,
}

/// Marks the producer finished when the preprocess thread ends, however it ends.
struct ProducerEnd(ChunkGate);

impl Drop for ProducerEnd {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.fail("the preprocess panicked".into());
        }
        self.0.producer_finished();
    }
}

/// Waits until the preprocess has written `out/manifest.json` (it does so before reading the
/// source), or has ended without one.
fn wait_for_manifest(out: &Path, gate: &ChunkGate) -> anyhow::Result<()> {
    while !out.join("manifest.json").is_file() {
        if !gate.producing() {
            bail!("the preprocess ended without writing {}", out.join("manifest.json").display());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// Runs the preprocess on its own thread and trains on this one until the training limits.
pub fn run(options: RunOptions, source: SourceOpener) -> anyhow::Result<RunSummary> {
    let RunOptions { mut preprocess, mut train, max_chunks_ahead } = options;
    if preprocess.cluster.processes > 1 {
        bail!(
            "mapflow run works in one process (--workers threads); for a cluster, run `preprocess` and `train --follow`"
        );
    }
    train::check_run_directory(&train)?;
    let started = Instant::now();
    let gate = ChunkGate::new(max_chunks_ahead);
    preprocess.gate = Some(gate.clone());
    train.data = preprocess.out.clone();
    train.follow = Follow::Gate(gate.clone());
    let out = preprocess.out.clone();

    let producer_end = ProducerEnd(gate.clone());
    let producer = std::thread::Builder::new()
        .name("preprocess".into())
        .spawn(move || {
            let result = preprocess::run(preprocess, source);
            match &result {
                Ok(summary) => {
                    if let Some(error) = &summary.source_error {
                        producer_end.0.fail(format!("the source stopped early: {error}"));
                    }
                }
                Err(e) => producer_end.0.fail(format!("{e:#}")),
            }
            drop(producer_end);
            result
        })
        .context("spawning the preprocess thread")?;

    let trained = wait_for_manifest(&out, &gate).and_then(|()| train::run(train));
    gate.stop(if trained.is_ok() { "training ended" } else { "training failed" });
    let preprocessed = producer.join().map_err(|_| anyhow!("the preprocess thread panicked"));
    let stats = gate.stats();
    let kept = format!("the chunks committed in {} are kept: rerun with --resume to continue", out.display());
    let preprocessed = match (preprocessed, gate.failure()) {
        (Ok(Ok(summary)), None) => summary,
        (Ok(Err(e)), _) | (Err(e), _) => return Err(e.context(format!("preprocess failed ({kept})"))),
        (Ok(Ok(_)), Some(failure)) => bail!("preprocess failed: {failure} ({kept})"),
    };
    let trained = trained.with_context(|| format!("training failed ({kept})"))?;
    Ok(RunSummary {
        preprocess_complete: stats.stopped.is_none(),
        preprocess: preprocessed,
        train: trained,
        gate: stats,
        wall_seconds: started.elapsed().as_secs_f64(),
    })
}
