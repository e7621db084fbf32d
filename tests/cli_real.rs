//! End to end, as a user runs them: `mapflow generate --method onsets` (no checkpoint) and
//! `mapflow bench real` over a folder of osu! sets. The quality figures come from the real sets
//! in `../shared/real/` (see the README); these tests check what the commands do and refuse.

#[path = "support/cli.rs"]
mod cli;

use std::path::{Path, PathBuf};

use cli::{mapflow, run_err, run_ok};
use serde_json::Value;

fn data(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(relative)
}

/// The bundled 3-minute song.
fn song() -> PathBuf {
    data("reference/song.mp3")
}

/// A folder of osu! sets: `one/` holds the bundled song with a human map whose audio line names
/// it (the map is not the song's own: these tests check the plumbing, not the score), a copy of
/// that map in `copy/` (to be scored once), and `broken/` a map whose audio is missing.
fn sets(dir: &Path) -> PathBuf {
    let sets = dir.join("sets");
    let map = std::fs::read_to_string(data("beatmaps/renatus-quick-insane.osu"))
        .unwrap()
        .replace("AudioFilename: virtual", "AudioFilename: song.mp3");
    for (set, with_audio) in [("one", true), ("copy", true), ("broken", false)] {
        std::fs::create_dir_all(sets.join(set)).unwrap();
        std::fs::write(sets.join(set).join("map.osu"), &map).unwrap();
        if with_audio {
            std::fs::copy(song(), sets.join(set).join("song.mp3")).unwrap();
        }
    }
    sets
}

#[test]
fn onset_generation_needs_no_checkpoint_and_reaches_the_stars() {
    let dir = tempfile::tempdir().unwrap();
    let osz = dir.path().join("onsets.osz");
    let out = run_ok(
        mapflow().args(["generate", "--method", "onsets", "--stars", "3.5", "--json", "-o"]).arg(&osz).arg(song()),
    );
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["method"], "onsets", "{report}");
    assert_eq!(report["timing_source"], "estimated", "{report}");
    assert!((report["bpm"].as_f64().unwrap() - 174.0).abs() < 0.5, "the bundled song is 174 BPM: {report}");
    assert!(report["objects"].as_u64().unwrap() > 100, "{report}");
    let stars = report["stars_achieved"].as_f64().unwrap();
    assert!((stars - 3.5).abs() <= 0.5, "asked 3.5 stars, got {stars}");
    let mut zip = zip::ZipArchive::new(std::fs::File::open(&osz).unwrap()).unwrap();
    let names: Vec<String> = (0..zip.len()).map(|i| zip.by_index(i).unwrap().name().unwrap().into_owned()).collect();
    assert!(names.iter().any(|n| n.ends_with("[onsets 3.5_].osu")) && names.contains(&"song.mp3".into()), "{names:?}");

    // The same seed gives the same map.
    let again = dir.path().join("again.osu");
    let first = dir.path().join("first.osu");
    for out in [&first, &again] {
        run_ok(
            mapflow()
                .args(["generate", "--method", "onsets", "--stars", "2", "--seed", "4", "-o"])
                .arg(out)
                .arg(song()),
        );
    }
    assert_eq!(std::fs::read(&first).unwrap(), std::fs::read(&again).unwrap());

    let with_checkpoint =
        run_err(mapflow().args(["generate", "--method", "onsets", "--checkpoint", "run", "-o", "x.osu"]).arg(song()));
    assert!(with_checkpoint.contains("uses no checkpoint"), "{with_checkpoint}");
    let without = run_err(mapflow().args(["generate", "-o", "x.osu"]).arg(song()));
    assert!(without.contains("--checkpoint"), "{without}");
    let stars = run_err(mapflow().args(["generate", "--method", "onsets", "--stars", "40", "-o", "x.osu"]).arg(song()));
    assert!(stars.contains("40") && stars.contains("stars"), "{stars}");
}

#[test]
fn a_spread_is_one_osz_of_named_difficulties_on_one_timing_and_previews_as_one_picture() {
    let dir = tempfile::tempdir().unwrap();
    let osz = dir.path().join("set.osz");
    let out = run_ok(
        mapflow().args(["generate", "--method", "onsets", "--stars", "2,3.5,5", "--json", "-o"]).arg(&osz).arg(song()),
    );
    let report: Value = serde_json::from_str(&out).unwrap();
    let difficulties = report["difficulties"].as_array().unwrap();
    let versions: Vec<&str> = difficulties.iter().map(|d| d["version"].as_str().unwrap()).collect();
    assert_eq!(versions, ["Normal", "Hard", "Insane"], "{report}");
    for (d, asked) in difficulties.iter().zip([2.0, 3.5, 5.0]) {
        assert_eq!(d["stars_requested"], asked);
        assert!((d["stars_achieved"].as_f64().unwrap() - asked).abs() <= 0.3, "{d}");
        assert_eq!(
            (&d["bpm"], &d["offset_ms"]),
            (&difficulties[0]["bpm"], &difficulties[0]["offset_ms"]),
            "one timing"
        );
    }
    let mut zip = zip::ZipArchive::new(std::fs::File::open(&osz).unwrap()).unwrap();
    let mut names: Vec<String> =
        (0..zip.len()).map(|i| zip.by_index(i).unwrap().name().unwrap().into_owned()).collect();
    names.sort();
    assert_eq!(names.len(), 4, "three maps and the audio: {names:?}");
    for version in versions {
        assert!(names.iter().any(|n| n.ends_with(&format!("(mapflow) [{version}].osu"))), "{names:?}");
    }
    let png = dir.path().join("set.png");
    let preview = run_ok(mapflow().args(["preview", "-o"]).arg(&png).arg(&osz));
    assert!(preview.contains("3 difficulties"), "{preview}");
    assert!(std::fs::metadata(&png).unwrap().len() > 10_000);

    let one_osu =
        run_err(mapflow().args(["generate", "--method", "onsets", "--stars", "2,5", "-o", "x.osu"]).arg(song()));
    assert!(one_osu.contains("x.osu") && one_osu.contains(".osz"), "{one_osu}");
}

#[test]
fn bench_real_scores_the_baseline_per_difficulty_and_refuses_a_shared_song() {
    let dir = tempfile::tempdir().unwrap();
    let sets = sets(dir.path());
    let out = run_ok(mapflow().args(["bench", "real", "--json", "--sets"]).arg(&sets));
    let report: Value = serde_json::from_str(&out).unwrap();
    let rows = report["difficulties"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "the copy is scored once: {report}");
    assert_eq!(rows[0]["file"], "copy/map.osu");
    assert_eq!(rows[0]["human_objects"], 52);
    let onsets = &rows[0]["methods"]["onsets"];
    assert!(onsets["objects"].as_u64().unwrap() > 0 && onsets["rhythm_f1_50ms"].as_f64().is_some(), "{onsets}");
    assert!(rows[0]["methods"].get("model").is_none(), "no checkpoint, no model column");
    let skipped = report["skipped"].as_array().unwrap();
    let reason =
        |file: &str| skipped.iter().find(|s| s["file"] == file).map(|s| s["reason"].as_str().unwrap().to_owned());
    assert!(reason("broken/map.osu").unwrap().contains("song.mp3 is missing"), "{skipped:?}");
    assert!(reason("one/map.osu").unwrap().contains("the same map as copy/map.osu"), "{skipped:?}");
    let tempo = &report["songs"][0];
    assert!((tempo["estimated_bpm"].as_f64().unwrap() - 174.0).abs() < 0.5, "{tempo}");
    assert_eq!(report["summary"]["onsets"]["difficulties"], 1);

    // Training on a folder with one of the scored songs is refused before any work.
    let shared =
        run_err(mapflow().args(["bench", "real", "--minutes", "0.1", "--sets"]).arg(&sets).arg("--train").arg(&sets));
    assert!(shared.contains("shares the song") && shared.contains("by song"), "{shared}");

    let absent = run_err(mapflow().args(["bench", "real", "--sets"]).arg(dir.path().join("nothing")));
    assert!(absent.contains("no such folder of osu! sets"), "{absent}");
}

#[test]
fn a_preview_of_an_archive_that_is_no_osz_or_holds_no_osu_standard_map_names_the_file_and_why() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("out.png");
    let text = dir.path().join("text.osz");
    std::fs::write(&text, "not an archive").unwrap();
    let err = run_err(mapflow().args(["preview", "-o"]).arg(&png).arg(&text));
    assert!(err.contains("text.osz") && err.contains("not a zip archive"), "{err}");

    let taiko = dir.path().join("taiko.osz");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&taiko).unwrap());
    zip.start_file("taiko.osu", zip::write::SimpleFileOptions::default()).unwrap();
    zip.write_all(&std::fs::read(data("beatmaps/rosupp-1028484.osu")).unwrap()).unwrap();
    zip.finish().unwrap();
    let err = run_err(mapflow().args(["preview", "-o"]).arg(&png).arg(&taiko));
    assert!(err.contains("taiko.osz") && err.contains("no osu!standard difficulty"), "{err}");
    assert!(!png.exists(), "nothing written for a refused archive");
}
