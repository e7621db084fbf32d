//! End to end, as a user runs it: `mapflow features` and `mapflow demo`.

#[path = "support/cli.rs"]
mod cli;

use cli::mapflow;
use std::path::{Path, PathBuf};

fn data(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(relative)
}

/// Parses a little-endian float32 `.npy` header: returns the shape.
fn npy_shape(bytes: &[u8]) -> Vec<usize> {
    assert_eq!(&bytes[..6], b"\x93NUMPY");
    let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let header = std::str::from_utf8(&bytes[10..10 + header_len]).unwrap();
    assert!(header.contains("'descr': '<f4'"), "{header}");
    assert!(header.contains("'fortran_order': False"), "{header}");
    let shape = &header[header.find("'shape': (").unwrap() + 10..];
    shape[..shape.find(')').unwrap()].split(',').filter_map(|s| s.trim().parse().ok()).collect()
}

#[test]
fn features_writes_a_129_by_t_npy_for_mp3_ogg_and_opus() {
    let dir = tempfile::tempdir().unwrap();
    for (input, seconds) in
        [("audio/test-sample.mp3", None), ("audio/test-sample.ogg", None), ("audio/formats/clicks.opus", Some(2.0))]
    {
        let out = dir.path().join("features.npy");
        let run =
            mapflow().args(["features"]).arg(data(input)).arg("--output").arg(&out).arg("--json").output().unwrap();
        assert!(run.status.success(), "{input}: {}", String::from_utf8_lossy(&run.stderr));
        let summary: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
        let bytes = std::fs::read(&out).unwrap();
        let shape = npy_shape(&bytes);
        assert_eq!(shape[0], 129, "{input}");
        assert_eq!(summary["shape"], serde_json::json!(shape), "{input}");
        if let Some(s) = seconds {
            // T = 1 + samples / 441 at 22,050 Hz.
            assert_eq!(shape[1], 1 + (s * 22_050.0) as usize / 441, "{input}");
        }
        let values = (bytes.len() - (bytes.len() - shape[0] * shape[1] * 4)) / 4;
        assert_eq!(values, shape[0] * shape[1]);
    }
}

#[test]
fn features_with_the_reference_preset_differs_from_the_default() {
    let dir = tempfile::tempdir().unwrap();
    let run = |config: Option<&str>, out: &str| {
        let mut cmd = mapflow();
        cmd.arg("features").arg(data("audio/test-sample.mp3")).arg("-o").arg(dir.path().join(out));
        if let Some(c) = config {
            cmd.arg("--config").arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/features").join(c));
        }
        assert!(cmd.status().unwrap().success());
        std::fs::read(dir.path().join(out)).unwrap()
    };
    let default = run(None, "a.npy");
    let reference = run(Some("reference.toml"), "b.npy");
    assert_eq!(npy_shape(&default), npy_shape(&reference));
    assert_ne!(default, reference);
}

#[test]
fn bad_audio_fails_with_the_file_name_and_no_output() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.npy");
    let run = mapflow().arg("features").arg(data("beatmaps/basic.osu")).arg("-o").arg(&out).output().unwrap();
    assert!(!run.status.success());
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("basic.osu") && stderr.contains("not a recognised audio container"), "{stderr}");
    assert!(!out.exists());
}

#[test]
fn demo_runs_on_the_embedded_song_and_a_synthetic_corpus() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("demo");
    // A few seconds of training keep the test short; cli_model.rs covers learning itself.
    let run = mapflow().args(["demo", "--train-minutes", "0.1", "--output"]).arg(&out).output().unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(stdout.contains("features: [129, 9001]"), "{stdout}");
    assert!(stdout.contains("preprocess (timely, 2 workers): 8 tracks"), "{stdout}");
    assert!(out.join("shards/manifest.json").is_file());
    assert!(stdout.contains("train: ") && out.join("run/best.safetensors").is_file(), "{stdout}");
    let generated = out.join("song.osz").is_file() && out.join("song-preview.png").is_file();
    assert!(generated || stdout.contains("needs more training"), "{stdout}");

    // The demo replaces its own output only: a folder with anything else in it, or a file, is
    // refused and left as it was.
    std::fs::write(out.join("thesis.tex"), "mine").unwrap();
    let refused = mapflow().args(["demo", "--train-minutes", "0.1", "--output"]).arg(&out).output().unwrap();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success() && stderr.contains("not a mapflow demo output"), "{stderr}");
    assert!(stderr.contains("thesis.tex") && out.join("thesis.tex").is_file() && out.join("shards").is_dir());
    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let refused = mapflow().args(["demo", "--output"]).arg(&file).output().unwrap();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success() && stderr.contains("not a folder"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "x");
}
