//! `mapflow retokenize` as a user runs it, checked against an oracle: after several config and
//! corpus changes, every config's token shards equal those of a fresh `preprocess` with that
//! config alone, file for file and byte for byte (so the manifest's sha256 agree too); no
//! audio is decoded (the source is moved away and the decode counter reads 0); a corpus that
//! grows decodes only its new tracks; a run interrupted (by a simulated crash, and by `kill -9` at
//! random points) resumes and ends identical.

#[path = "support/cli.rs"]
mod cli;
#[path = "support/kill.rs"]
mod kill;

#[path = "support/snapshot.rs"]
mod snapshot;

use cli::mapflow;
use std::path::{Path, PathBuf};
use std::process::Command;

use snapshot::assert_same;

/// Every file under `dir/sub` (path relative to `dir/sub` → bytes).
fn tree(dir: &Path, sub: &str) -> std::collections::BTreeMap<String, Vec<u8>> {
    snapshot::snapshot(&dir.join(sub))
}

fn run_json(cmd: &mut Command) -> serde_json::Value {
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `songs` synthetic songs, 2 per source shard: a larger corpus extends a smaller one by shards.
fn synth(root: &Path, songs: usize) {
    let out = mapflow()
        .args(["synth", "--songs", &songs.to_string(), "--songs-per-shard", "2", "--seconds", "8", "-o"])
        .arg(root)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

fn preprocess(source: &Path, out: &Path, tokenizers: &[&Path]) -> serde_json::Value {
    let mut cmd = mapflow();
    cmd.args(["preprocess", "--quiet", "--json", "--chunk-tracks", "2", "--source"]).arg(source).arg("-o").arg(out);
    for t in tokenizers {
        cmd.arg("--tokenizer").arg(t);
    }
    run_json(&mut cmd)
}

fn retokenize_command(out: &Path, add: &[&Path], drop: &[&str], extra: &[&str]) -> Command {
    let mut cmd = mapflow();
    cmd.args(["retokenize", "--json", "-o"]).arg(out).args(extra);
    for t in add {
        cmd.arg("--tokenizer").arg(t);
    }
    for d in drop {
        cmd.args(["--drop", d]);
    }
    cmd
}

fn retokenize(out: &Path, add: &[&Path], drop: &[&str], extra: &[&str]) -> serde_json::Value {
    run_json(&mut retokenize_command(out, add, drop, extra))
}

fn preset(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/tokenizer").join(format!("{name}.toml"))
}

fn manifest(out: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap()
}

/// `(chunk, sha256)` of every token shard of `hash` the manifest lists.
fn manifest_shards(out: &Path, hash: &str) -> Vec<(String, String)> {
    let m = manifest(out);
    m["chunks"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| Some((c["chunk"].as_str()?.to_owned(), c["tokens"][hash]["sha256"].as_str()?.to_owned())))
        .collect()
}

/// The hash of the only tokenizer config of a one-config output.
fn only_config(out: &Path) -> String {
    let m = manifest(out);
    let configs = m["configs"]["tokenizers"].as_object().unwrap();
    assert_eq!(configs.len(), 1);
    configs.keys().next().unwrap().clone()
}

#[test]
fn retokenized_outputs_equal_fresh_preprocess_runs_shard_for_shard() {
    let dir = tempfile::tempdir().unwrap();
    let (small, large) = (dir.path().join("small"), dir.path().join("large"));
    synth(&small, 4);
    synth(&large, 8);
    let stride = dir.path().join("stride.toml");
    std::fs::write(&stride, "[windows]\nstride_ms = 2000.0\n").unwrap();
    let (default, reference) = (preset("default"), preset("reference"));

    // The oracle: fresh runs of the final corpus, one config each.
    let fresh = |name: &str, config: &Path| {
        let out = dir.path().join(format!("hash-{name}"));
        preprocess(&large, &out, &[config]);
        out
    };
    let (fresh_default, fresh_reference, fresh_stride) =
        (fresh("default", &default), fresh("reference", &reference), fresh("stride", &stride));
    let (h_default, h_reference, h_stride) =
        (only_config(&fresh_default), only_config(&fresh_reference), only_config(&fresh_stride));
    let out = dir.path().join("out");

    // 1. preprocess the small corpus with the default config.
    let first = preprocess(&small, &out, &[&default]);
    assert_eq!(first["audio_decodes"], 4, "{first}");

    // 2. add the reference config: no audio decoded, the source is not even there.
    let hidden = dir.path().join("small-hidden");
    std::fs::rename(&small, &hidden).unwrap();
    let tracks_before = tree(&out, "tracks");
    let added = retokenize(&out, &[&reference], &[], &[]);
    std::fs::rename(&hidden, &small).unwrap();
    assert_eq!(added["audio_decodes"], 0, "{added}");
    assert_eq!(added["added"], serde_json::json!([h_reference]), "{added}");
    assert_eq!(added["shards_written"], 2, "one shard per chunk: {added}");
    assert_eq!(tree(&out, "tracks"), tracks_before, "tracks/ is never touched");

    // 3. the corpus grows: the new tracks only are decoded, every config gains their rows.
    let grown = preprocess(&large, &out, &[]);
    assert_eq!((grown["audio_decodes"].as_u64(), grown["tracks_resumed"].as_u64()), (Some(4), Some(4)), "{grown}");
    // preprocess cannot add a config to committed chunks; it says to use retokenize.
    let refused = mapflow()
        .args(["preprocess", "--quiet", "--chunk-tracks", "2", "--source"])
        .arg(&large)
        .arg("-o")
        .arg(&out)
        .arg("--tokenizer")
        .arg(&stride)
        .output()
        .unwrap();
    assert!(!refused.status.success() && String::from_utf8_lossy(&refused.stderr).contains("mapflow retokenize"));

    // 4. swap configs in one run, on 2 workers: add the stride config, drop the default one.
    let default_shards = tree(&out, &format!("tokens/{h_default}"));
    assert_eq!(default_shards.len(), 4);
    let swapped = retokenize(&out, &[&stride], &[&h_default], &["--workers", "2"]);
    assert_eq!(
        (swapped["shards_written"].as_u64(), swapped["shards_deleted"].as_u64()),
        (Some(4), Some(4)),
        "{swapped}"
    );
    assert!(!out.join("tokens").join(&h_default).exists(), "the dropped config's shards are deleted");

    // The oracle: every remaining config equals its fresh run, shard for shard.
    for (hash, fresh) in [(&h_reference, &fresh_reference), (&h_stride, &fresh_stride)] {
        let sub = format!("tokens/{hash}");
        assert_same(&tree(&out, &sub), &tree(fresh, &sub), &sub);
        assert_eq!(manifest_shards(&out, hash), manifest_shards(fresh, hash), "manifest sha256 of {hash}");
    }
    assert_same(&tree(&out, "tracks"), &tree(&fresh_reference, "tracks"), "tracks");
    assert_same(&tree(&out, "beatmaps"), &tree(&fresh_reference, "beatmaps"), "beatmaps");
    // The dropped config, before its removal, equalled its fresh run too.
    assert_same(&default_shards, &tree(&fresh_default, &format!("tokens/{h_default}")), "dropped default");
    let m = manifest(&out);
    let configs: Vec<&String> = m["configs"]["tokenizers"].as_object().unwrap().keys().collect();
    let mut want = vec![&h_reference, &h_stride];
    want.sort();
    assert_eq!(configs, want);
    assert!(m["token_rows"].get(&h_default).is_none(), "{}", m["token_rows"]);
    assert!(
        m["token_rows"][&h_reference].as_u64() > Some(0) && m["token_rows"][&h_stride].as_u64() > Some(0),
        "{}",
        m["token_rows"]
    );
    assert_eq!(
        std::fs::read(out.join("rejects.jsonl")).unwrap(),
        std::fs::read(fresh_reference.join("rejects.jsonl")).unwrap()
    );

    // 5. re-adding the default config is the fresh default run again; adding an existing one is a no-op.
    let again = retokenize(&out, &[&default, &stride], &[], &[]);
    assert_eq!(again["already_present"], serde_json::json!([h_stride]), "{again}");
    let sub = format!("tokens/{h_default}");
    assert_same(&tree(&out, &sub), &tree(&fresh_default, &sub), "re-added default");
}

#[test]
fn an_interrupted_retokenize_resumes_and_ends_identical() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus");
    synth(&corpus, 6);
    let out = dir.path().join("out");
    preprocess(&corpus, &out, &[]);
    let before = dir.path().join("before");
    copy_dir(&out, &before);

    let reference = preset("reference");
    let (span, done) = kill::timed(&mut retokenize_command(&out, &[&reference], &[], &[]));
    let done: serde_json::Value = serde_json::from_str(&done).unwrap();
    let hash = done["added"][0].as_str().unwrap().to_owned();
    let complete = tree(&out, "");

    // As if killed before the last chunk was committed and before the manifest was merged: the
    // old manifest and one old commit record, a half-written temp file, no shard for that chunk.
    for file in ["manifest.json", "rejects.jsonl", "commits/data-000002-c0000.json"] {
        std::fs::copy(before.join(file), out.join(file)).unwrap();
    }
    let shard = out.join(format!("tokens/{hash}/data-000002-c0000.parquet"));
    std::fs::remove_file(&shard).unwrap();
    std::fs::write(shard.with_extension("parquet.tmp-4242"), b"half").unwrap();
    let resumed = retokenize(&out, &[&reference], &[], &[]);
    assert_eq!(
        (resumed["shards_resumed"].as_u64(), resumed["shards_written"].as_u64()),
        (Some(2), Some(1)),
        "{resumed}"
    );
    assert_same(&tree(&out, ""), &complete, "resumed retokenize");

    // Killed for real (SIGKILL) at random points of the same run and of its resumed runs.
    std::fs::remove_dir_all(&out).unwrap();
    copy_dir(&before, &out);
    let mut points = kill::KillPoints::new("retokenize");
    let delays = points.kill_repeatedly(4, span * 2, || retokenize_command(&out, &[&reference], &[], &[]));
    retokenize(&out, &[&reference], &[], &[]);
    let what = format!("retokenize resumed after kill -9 at {delays:?} (MAPFLOW_KILL_SEED={})", points.seed());
    assert_same(&tree(&out, ""), &complete, &what);
}

fn copy_dir(from: &Path, to: &Path) {
    for (relative, bytes) in tree(from, "") {
        let path = to.join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
}
