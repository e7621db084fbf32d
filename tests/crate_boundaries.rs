//! The crate layout keeps its promises (docs/architecture.md): the preprocessing path builds
//! without libtorch and without the test tools, and data flows one way between the crates.

use std::collections::BTreeSet;
use std::process::Command;

/// The packages `package` depends on for its normal (non-dev) build, itself excluded.
fn dependencies(package: &str) -> BTreeSet<String> {
    let out = Command::new(env!("CARGO"))
        .args(["tree", "--offline", "-p", package, "-e", "normal", "--prefix", "none", "--format", "{p}"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("running cargo tree");
    assert!(out.status.success(), "cargo tree -p {package}: {}", String::from_utf8_lossy(&out.stderr));
    let names: BTreeSet<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|line| line.split_whitespace().next().map(str::to_owned))
        .collect();
    names.into_iter().filter(|name| name != package).collect()
}

/// Crates only the model and the test tools need: libtorch, the audio encoders, the PNG drawing.
const HEAVY: [&str; 6] = ["tch", "torch-sys", "mp3lame-encoder", "vorbis_rs", "tiny-skia", "model"];

#[test]
fn the_preprocessing_path_needs_neither_libtorch_nor_the_test_tools() {
    for package in ["operators", "shards", "dataflow", "pipeline"] {
        let deps = dependencies(package);
        let heavy: Vec<&str> = HEAVY.into_iter().filter(|h| deps.contains(*h)).collect();
        assert!(heavy.is_empty(), "{package} depends on {heavy:?}");
        assert!(!deps.contains("synth") && !deps.contains("training"), "{package}: {deps:?}");
    }
}

#[test]
fn data_flows_one_way() {
    // Each crate may use only those before it: operators → shards → dataflow → training.
    let order = ["operators", "shards", "dataflow", "training"];
    for (i, package) in order.iter().enumerate() {
        let deps = dependencies(package);
        for later in &order[i + 1..] {
            assert!(!deps.contains(*later), "{package} depends on {later}");
        }
        for earlier in &order[..i] {
            assert!(deps.contains(*earlier), "{package} should build on {earlier}");
        }
    }
    let synth = dependencies("synth");
    assert!(!synth.contains("dataflow") && !synth.contains("shards"), "synth writes the hub's layout: {synth:?}");
}
