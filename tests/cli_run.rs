//! `mapflow run` as a user runs it: `synth` → `run` (preprocess and train in one process, the
//! trainer reading chunks as they commit) → every chunk committed, checkpoints and metrics
//! written; `--resume` continues both sides; errors end the run naming their cause.

#[path = "support/cli.rs"]
mod cli;

use std::path::{Path, PathBuf};

use cli::{mapflow, run_err, run_ok};

fn overfit_preset() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/model/overfit-tiny.toml")
}

/// `mapflow run` of `source` into `data` and `run`, one song per chunk and one chunk ahead.
fn run_command(source: &Path, data: &Path, run: &Path, steps: u32) -> std::process::Command {
    let mut cmd = mapflow();
    cmd.args([
        "run",
        "--json",
        "--device",
        "cpu",
        "--val-split",
        "train",
        "--chunk-tracks",
        "1",
        "--max-chunks-ahead",
        "1",
    ])
    .args(["--max-steps", &steps.to_string(), "--source"])
    .arg(source)
    .arg("-o")
    .arg(data)
    .arg("--run")
    .arg(run)
    .arg("--model")
    .arg(overfit_preset());
    cmd
}

fn json(out: &str) -> serde_json::Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

#[test]
fn run_preprocesses_and_trains_in_one_process_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus");
    run_ok(mapflow().args(["synth", "--songs", "4", "--songs-per-shard", "2", "--seconds", "10", "-o"]).arg(&corpus));
    let source = corpus.join("compressed");
    let (data, run) = (dir.path().join("data"), dir.path().join("run"));

    // The trainer outlasts the preprocess of four short songs: every chunk is committed.
    let summary = json(&run_ok(&mut run_command(&source, &data, &run, 16)));
    assert_eq!(summary["preprocess_complete"], true, "{summary}");
    assert_eq!(summary["train"]["step"], 16, "{summary}");
    let gate = &summary["gate"];
    assert_eq!(gate["admitted"], 4, "{summary}");
    assert!(gate["peak_ahead"].as_u64().unwrap() <= 1, "more chunks ahead than credits: {summary}");
    assert!(
        gate["producer_waits"].as_u64().unwrap() >= 1,
        "one credit for four chunks must make the producer wait: {summary}"
    );
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(data.join("manifest.json")).unwrap()).unwrap();
    let chunks: Vec<&str> =
        manifest["chunks"].as_array().unwrap().iter().map(|c| c["chunk"].as_str().unwrap()).collect();
    assert_eq!(chunks, ["data-000000-c0000", "data-000000-c0001", "data-000001-c0000", "data-000001-c0001"]);
    assert_eq!(manifest["tracks"], 4);
    for name in ["best.safetensors", "best.json", "last.safetensors", "step-000016.json"] {
        assert!(run.join(name).is_file(), "{name} missing");
    }
    let log = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = log.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(lines.len() >= 2 && lines.iter().all(|l| l["train_loss"].is_f64()), "{log}");
    assert!(lines.last().unwrap()["val_loss"].is_f64(), "the last step validates: {log}");

    // --resume: the preprocess skips the committed chunks, the trainer continues from RUN/last.
    let resumed = json(&run_ok(run_command(&source, &data, &run, 20).arg("--resume")));
    assert_eq!(resumed["preprocess"]["tracks_resumed"], 4, "{resumed}");
    assert_eq!(resumed["preprocess"]["tracks_read"], 0, "{resumed}");
    assert_eq!(
        (resumed["train"]["step"].as_u64(), resumed["train"]["steps_this_run"].as_u64()),
        (Some(20), Some(4)),
        "{resumed}"
    );

    // Errors: a run directory holding a run needs --resume (refused before anything is read);
    // a source that cannot be read ends the run naming it.
    let again = run_err(&mut run_command(&source, &data, &run, 24));
    assert!(again.contains("--resume"), "{again}");
    let missing = dir.path().join("no-such-corpus");
    let err = run_err(&mut run_command(&missing, &dir.path().join("data2"), &dir.path().join("run2"), 5));
    assert!(err.contains("no-such-corpus") && err.contains("preprocess"), "{err}");
}
