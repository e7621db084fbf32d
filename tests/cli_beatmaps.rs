//! End to end, as a user runs it: `mapflow inspect` and `mapflow tokenize` on real beatmaps.

#[path = "support/cli.rs"]
mod cli;

use cli::mapflow;
use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

fn data(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(relative)
}

fn preset(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/tokenizer").join(name)
}

fn json(run: &Output, what: &str) -> Value {
    assert!(run.status.success(), "{what}: {}", String::from_utf8_lossy(&run.stderr));
    serde_json::from_slice(&run.stdout)
        .unwrap_or_else(|e| panic!("{what}: {e}: {}", String::from_utf8_lossy(&run.stdout)))
}

/// The osu!standard fixture maps (every .osu in tests/data/beatmaps but the taiko one).
fn standard_maps() -> Vec<PathBuf> {
    let mut maps: Vec<PathBuf> = std::fs::read_dir(data("beatmaps"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "osu") && !p.ends_with("rosupp-1028484.osu"))
        .collect();
    maps.sort();
    maps
}

#[test]
fn inspect_reports_objects_stars_and_bpm() {
    let run = mapflow().arg("inspect").arg(data("beatmaps/rosupp-2785319.osu")).arg("--json").output().unwrap();
    let v = json(&run, "2785319");
    assert!((v["stars"].as_f64().unwrap() - 5.740766).abs() < 1e-6, "{v}");
    assert_eq!(v["mode"], 0);

    let run = mapflow()
        .arg("inspect")
        .arg(data("beatmaps/Soleily - Renatus (Gamu) [Insane].osu"))
        .arg("--json")
        .output()
        .unwrap();
    let v = json(&run, "renatus");
    let count = |k: &str| v[k].as_u64().unwrap();
    assert_eq!(count("objects"), count("circles") + count("sliders") + count("spinners"));
    assert!(count("sliders") > 0 && count("spinners") > 0, "{v}");
    assert!((v["stars"].as_f64().unwrap() - 5.27).abs() < 0.01, "{v}");
    assert!((v["bpm"].as_f64().unwrap() - 182.0).abs() < 1e-6, "{v}");
    assert!(count("timing_points") >= 2, "{v}");
}

#[test]
fn inspect_refuses_other_modes_and_missing_files_naming_them() {
    let run = mapflow().arg("inspect").arg(data("beatmaps/rosupp-1028484.osu")).output().unwrap();
    assert!(!run.status.success());
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(err.contains("rosupp-1028484.osu") && err.contains("osu!taiko"), "{err}");
    let run = mapflow().arg("inspect").arg(data("beatmaps/no-such-map.osu")).output().unwrap();
    assert!(!run.status.success());
    assert!(String::from_utf8_lossy(&run.stderr).contains("no-such-map.osu"));
}

#[test]
fn every_edge_case_parses_or_fails_cleanly() {
    for entry in std::fs::read_dir(data("beatmaps/edge-cases")).unwrap() {
        let path = entry.unwrap().path();
        let run = mapflow().arg("inspect").arg(&path).arg("--json").output().unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
        if !run.status.success() {
            assert!(stderr.contains(&name), "{name}: {stderr}");
        }
    }
}

#[test]
fn default_tokenizer_round_trips_every_standard_fixture() {
    for map in standard_maps() {
        let what = map.file_name().unwrap().to_string_lossy().into_owned();
        let run = mapflow()
            .arg("tokenize")
            .arg(&map)
            .arg("--tokenizer")
            .arg(preset("default.toml"))
            .args(["--roundtrip", "--json"])
            .output()
            .unwrap();
        let v = json(&run, &what);
        assert_eq!(v["objects_out"], v["objects_in"], "{what}: {v}");
        assert!(v["windows"].as_u64().unwrap() >= 1 && v["tokens"].as_u64().unwrap() >= 2, "{what}: {v}");
        assert_eq!(v["vocab_size"], 1634, "{what}");
        assert!(v["max_time_error_ms"].as_f64().unwrap() <= 1.0, "{what}: {v}");
        assert!(v["max_position_error_px"].as_f64().unwrap() <= 1.0, "{what}: {v}");
        assert_eq!(v["slider_repeat_mismatches"], 0, "{what}: {v}");
        assert!(v["slider_length_max_error_px"].as_f64().unwrap() <= 1.0, "{what}: {v}");
    }
}

#[test]
fn reference_tokenizer_has_1166_tokens_and_drops_repeats() {
    let run = mapflow()
        .arg("tokenize")
        .arg(data("beatmaps/Soleily - Renatus (Gamu) [Insane].osu"))
        .arg("--tokenizer")
        .arg(preset("reference.toml"))
        .args(["--roundtrip", "--json"])
        .output()
        .unwrap();
    let v = json(&run, "reference");
    assert_eq!(v["vocab_size"], 1166);
    assert!(v["slider_repeat_mismatches"].as_u64().unwrap() > 0, "{v}");
    assert!(v["objects_out"].as_u64().unwrap() < v["objects_in"].as_u64().unwrap(), "{v}");
}

#[test]
fn tokenize_rejects_a_preset_with_a_typo_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let typo = dir.path().join("typo.toml");
    std::fs::write(&typo, "grid_xx = 3\n").unwrap();
    let run = mapflow().arg("tokenize").arg(data("beatmaps/basic.osu")).arg("--tokenizer").arg(&typo).output().unwrap();
    assert!(!run.status.success());
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(err.contains("typo.toml") && err.contains("grid_xx"), "{err}");
}
