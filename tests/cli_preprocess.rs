//! `mapflow synth` + `mapflow preprocess` as a user runs them: identical shards with 1 and 2
//! workers and with 2 processes on 127.0.0.1; resume after `kill -9` at random points; every bad-input kind in
//! `rejects.jsonl`; the hub path against a mock hub; choosing the beatmaps (`--status`, `--years`,
//! `--stars`, `--modes`).

#[path = "support/cli.rs"]
mod cli;
#[path = "support/kill.rs"]
mod kill;
#[path = "support/mock_hub.rs"]
mod mock_hub;
#[path = "support/snapshot.rs"]
mod snapshot;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cli::{mapflow, run_err, run_ok};
use snapshot::{assert_same, snapshot};

/// A corpus of 6 songs (2 per shard) plus bad inputs, and one truncated extra shard.
fn corpus(dir: &Path) -> PathBuf {
    let root = dir.join("corpus");
    run_ok(
        mapflow()
            .args(["synth", "--songs", "6", "--songs-per-shard", "2", "--seconds", "12", "--bad-inputs", "-o"])
            .arg(&root),
    );
    // A shard cut in the middle of a member: reported and skipped, the run goes on.
    let whole = std::fs::read(root.join("compressed/data-000000.tar")).unwrap();
    std::fs::write(root.join("compressed/data-000009.tar"), &whole[..whole.len() / 3 + 100]).unwrap();
    root
}

fn preprocess(source: &str, out: &Path, extra: &[&str]) -> Command {
    let mut cmd = mapflow();
    cmd.args(["preprocess", "--quiet", "--json", "--chunk-tracks", "2", "--source", source, "-o"]).arg(out).args(extra);
    cmd
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn workers_processes_and_resume_give_identical_shards() {
    let dir = tempfile::tempdir().unwrap();
    let root = corpus(dir.path());
    let source = root.to_str().unwrap();

    let one = dir.path().join("one");
    let (span, summary) = kill::timed(&mut preprocess(source, &one, &[]));
    let summary: serde_json::Value = serde_json::from_str(&summary).unwrap();
    assert_eq!(summary["tracks"], 6, "{summary}");
    // The taiko map is left out by the default `--modes 0`: filtered, not a reject.
    assert_eq!(summary["filtered"]["modes"], 1, "{summary}");
    let reference = snapshot(&one);
    assert!(reference.keys().any(|k| k.starts_with("tracks/data-000002-c0000")), "{:?}", reference.keys());

    // Every kind of bad input is recorded with its reason, and nothing else is lost.
    let rejects = String::from_utf8(reference["rejects.jsonl"].clone()).unwrap();
    for kind in ["unknown_format", "unparsable_beatmap", "corrupt_shard"] {
        assert!(rejects.contains(&format!("\"kind\":\"{kind}\"")), "{kind} missing from {rejects}");
    }
    assert!(!rejects.contains("wrong_mode"), "{rejects}");

    let two = dir.path().join("two");
    run_ok(&mut preprocess(source, &two, &["--workers", "2"]));
    assert_same(&snapshot(&two), &reference, "2 workers");

    // Two processes of two workers each on 127.0.0.1, one output directory.
    let cluster = dir.path().join("cluster");
    let hostfile = dir.path().join("hosts.txt");
    std::fs::write(&hostfile, format!("127.0.0.1:{}\n127.0.0.1:{}\n", free_port(), free_port())).unwrap();
    let hosts = hostfile.to_str().unwrap();
    // Half-written files of an earlier, killed run: both processes clear them at the start.
    for stale in ["tracks/data-000000-c0000.parquet.tmp-4242", "commits/data-000001-c0000.json.tmp-4242"] {
        std::fs::create_dir_all(cluster.join(stale).parent().unwrap()).unwrap();
        std::fs::write(cluster.join(stale), b"half").unwrap();
    }
    let spawn = |process: &str| {
        preprocess(source, &cluster, &["--workers", "2", "--processes", "2", "--process", process, "--hostfile", hosts])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    // Process 0 alone clears the stale files and then waits for process 1 without writing
    // anything: a process still clearing a shared output could take a temp file being written.
    let p0 = spawn("0");
    let deadline = Instant::now() + Duration::from_secs(60);
    while cluster.join("tracks/data-000000-c0000.parquet.tmp-4242").exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(300));
    assert!(!cluster.join("manifest.json").exists(), "process 0 wrote before process 1 joined");
    let p1 = spawn("1");
    for child in [p0, p1] {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    assert_same(&snapshot(&cluster), &reference, "2 processes × 2 workers");

    // kill -9 in the middle of a run, then the same command again.
    let killed = dir.path().join("killed");
    let mut child = preprocess(source, &killed, &["--max-in-flight", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !killed.join("commits/data-000000-c0000.json").exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    // Then at random points of the resumed runs (one track in flight: a kill lands between
    // commits, in a write, or in the start-up and clearing of stale files).
    let mut points = kill::KillPoints::new("preprocess");
    let delays = points.kill_repeatedly(4, span * 2, || preprocess(source, &killed, &["--max-in-flight", "1"]));
    let resumed: serde_json::Value = serde_json::from_str(&run_ok(&mut preprocess(source, &killed, &[]))).unwrap();
    assert!(resumed["tracks_resumed"].as_u64().unwrap() >= 2, "{resumed}");
    let what = format!("resumed after kill -9 at {delays:?} (MAPFLOW_KILL_SEED={})", points.seed());
    assert_same(&snapshot(&killed), &reference, &what);

    // A chunk that cannot be written (a directory is in the way) fails the run, naming the
    // chunk; the others are committed.
    let blocked = dir.path().join("blocked");
    std::fs::create_dir_all(blocked.join("tracks/data-000001-c0000.parquet")).unwrap();
    let out = preprocess(source, &blocked, &[]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("chunk data-000001-c0000 was not committed"), "{stderr}");
    assert!(blocked.join("commits/data-000002-c0000.json").exists());
}

#[test]
fn the_hub_source_streams_the_same_tracks_from_a_mock_hub() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("hub");
    run_ok(mapflow().args(["synth", "--songs", "3", "--songs-per-shard", "2", "--seconds", "8", "-o"]).arg(&root));
    let hub = mock_hub::MockHub::serve(&root, "project-riz/osu-beatmaps");

    let local = dir.path().join("local");
    run_ok(&mut preprocess(root.to_str().unwrap(), &local, &[]));
    let remote = dir.path().join("remote");
    let cache = dir.path().join("hf-home");
    let summary: serde_json::Value = serde_json::from_str(&run_ok(
        preprocess("hf://project-riz/osu-beatmaps/compressed", &remote, &["--workers", "2"])
            .env("HF_ENDPOINT", &hub.url)
            .env("HF_HOME", &cache)
            .env_remove("HF_TOKEN"),
    ))
    .unwrap();
    assert_eq!(summary["tracks"], 3, "{summary}");
    // The same data set, byte for byte, but for what the hub output records of its source (the
    // commit, and the shards' content in their markers); finished shards were deleted from the cache.
    let without_source = |dir: &Path| {
        let mut files = snapshot(dir);
        files.retain(|name, _| !name.starts_with("shards-done/"));
        let manifest = files.get_mut("manifest.json").unwrap();
        let mut json: serde_json::Value = serde_json::from_slice(manifest).unwrap();
        let source = json["configs"].as_object_mut().unwrap().remove("source");
        *manifest = serde_json::to_vec_pretty(&json).unwrap();
        (files, source)
    };
    let ((remote_files, source), (local_files, no_source)) = (without_source(&remote), without_source(&local));
    assert_same(&remote_files, &local_files, "hub vs local shards");
    assert_eq!(no_source, None);
    assert_eq!(
        source,
        Some(
            serde_json::json!({ "repo": "project-riz/osu-beatmaps", "config": "compressed", "sha": mock_hub::COMMIT })
        )
    );
    let markers = |dir: &Path| snapshot(&dir.join("shards-done")).into_keys().collect::<Vec<_>>();
    assert_eq!(markers(&local), ["data-000000.json", "data-000001.json"]);
    assert_eq!(markers(&remote), ["compressed--data-000000.json", "compressed--data-000001.json"]);
    let cached_tars = walk_count(&cache, "tar");
    assert_eq!(cached_tars, 0, "finished shards must be deleted from the cache");

    // The same command again: every shard is done, none is downloaded, nothing changes.
    let before = snapshot(&remote);
    let data_gets = || hub.requests().iter().filter(|r| r.starts_with("GET ") && r.contains("data-")).count();
    let gets = data_gets();
    run_ok(
        preprocess("hf://project-riz/osu-beatmaps/compressed", &remote, &[])
            .env("HF_ENDPOINT", &hub.url)
            .env("HF_HOME", &cache)
            .env_remove("HF_TOKEN"),
    );
    assert_eq!(data_gets(), gets, "{:?}", hub.requests());
    assert_same(&snapshot(&remote), &before, "a rerun over a finished output");

    // --plan, in huggingface_hub's URI form: the shards with their sizes, what is done, the
    // totals; nothing downloaded, nothing written.
    let plan = |out: &Path| -> serde_json::Value {
        let stdout = run_ok(
            preprocess("hf://datasets/project-riz/osu-beatmaps@main/compressed", out, &["--plan"])
                .env("HF_ENDPOINT", &hub.url)
                .env("HF_HOME", &cache)
                .env_remove("HF_TOKEN"),
        );
        serde_json::from_str(&stdout).unwrap()
    };
    let resolves = || hub.requests().iter().filter(|r| r.contains("/resolve/") || r.starts_with("CDN")).count();
    let resolved = resolves();
    let finished = plan(&remote);
    assert_eq!(finished["sha"], mock_hub::COMMIT);
    assert_eq!(finished["download_bytes"], 0, "{finished}");
    assert!(finished["shards"].as_array().unwrap().iter().all(|s| s["done"] == true), "{finished}");
    let fresh_out = dir.path().join("planned");
    let fresh = plan(&fresh_out);
    let sizes: u64 = ["data-000000.tar", "data-000001.tar"]
        .iter()
        .map(|f| std::fs::metadata(root.join("compressed").join(f)).unwrap().len())
        .sum();
    assert_eq!(fresh["download_bytes"], sizes, "{fresh}");
    assert_eq!(fresh["max_disk_bytes"], sizes, "two shards: both at once");
    assert!(fresh["x_realtime_per_core"].as_f64().unwrap() > 1.0, "{fresh}");
    assert!(fresh["wall_seconds_estimate"].as_f64().unwrap() > 0.0, "{fresh}");
    assert_eq!(resolves(), resolved, "a plan downloads nothing");
    assert!(!fresh_out.exists(), "a plan writes nothing");
}

#[test]
fn a_manifest_that_cannot_be_written_at_the_start_fails_the_run_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("corpus");
    run_ok(mapflow().args(["synth", "--songs", "2", "--seconds", "6", "-o"]).arg(&source));
    let out = dir.path().join("out");
    // A directory where the manifest goes: its rename fails.
    std::fs::create_dir_all(out.join("manifest.json/occupied")).unwrap();
    let stderr = run_err(&mut preprocess(source.to_str().unwrap(), &out, &["--workers", "2"]));
    let manifest = out.join("manifest.json");
    assert!(stderr.contains(&format!("writing {}", manifest.display())), "{stderr}");
    assert_eq!(walk_count(&out, "parquet"), 0, "no track is read once the start has failed");
    assert!(out.join("manifest.json/occupied").is_dir());
}

#[test]
fn status_years_and_modes_choose_the_beatmaps_and_a_rerun_with_another_choice_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("corpus");
    // Songs 0..8: ranked, approved, loved, graveyard in turn, of 2007, 2010, 2013, 2016, 2019,
    // 2022, 2025, 2009 (synth's metadata); song 0 has a taiko map too.
    run_ok(mapflow().args(["synth", "--songs", "8", "--songs-per-shard", "4", "--seconds", "6", "-o"]).arg(&root));
    let source = root.to_str().unwrap();
    let out = dir.path().join("ranked");
    let choice = ["--status", "ranked,approved", "--years", "2008..2024", "--modes", "0"];
    let summary: serde_json::Value = serde_json::from_str(&run_ok(&mut preprocess(source, &out, &choice))).unwrap();
    // Kept: songs 1, 4, 5. Loved and graveyard songs 2, 3, 6, 7 by status; song 0 (2007) by
    // year, its taiko map by mode first.
    let filtered = serde_json::json!({
        "status": 4, "years": 1, "stars": 0, "modes": 1, "status_unknown": 0, "years_unknown": 0
    });
    assert_eq!(summary["filtered"], filtered, "{summary}");
    assert_eq!((summary["beatmaps"].as_u64(), summary["tracks"].as_u64()), (Some(3), Some(3)), "{summary}");
    assert_eq!(summary["rejects"], 0, "filtered beatmaps are not rejects: {summary}");
    assert_eq!(summary["dataset"]["filtered"], filtered, "{summary}");

    // The beatmaps table keeps the data set's metadata.
    let mut rows = Vec::new();
    for name in snapshot(&out.join("beatmaps")).into_keys() {
        rows.extend(shards::read::read_beatmaps(&out.join("beatmaps").join(name)).unwrap());
    }
    let mut kept: Vec<(i64, Option<i8>, Option<i32>)> =
        rows.iter().map(|r| (r.beatmapset_id, r.metadata.status, r.metadata.year())).collect();
    kept.sort();
    assert_eq!(kept, [(900_001, Some(2), Some(2010)), (900_004, Some(1), Some(2019)), (900_005, Some(2), Some(2022))]);
    for row in &rows {
        assert_eq!(
            (row.mode, row.metadata.creator_id, row.metadata.creator.as_deref()),
            (0, Some(1), Some("mapflow-synth"))
        );
        assert!(row.metadata.version.is_some() && row.metadata.submit_date.is_some(), "{:?}", row.metadata);
        assert!(row.metadata.other_json.as_deref().is_some_and(|j| j.contains("\"artist\"")), "{:?}", row.metadata);
    }

    // The same command again resumes; another choice over this output is refused, naming both.
    let again: serde_json::Value = serde_json::from_str(&run_ok(&mut preprocess(source, &out, &choice))).unwrap();
    assert_eq!(again["tracks_resumed"], 8, "{again}");
    let stderr = run_err(&mut preprocess(source, &out, &["--status", "ranked"]));
    assert!(
        stderr.contains("[status ranked,approved; years 2008..2024; stars any; modes 0], this run asks for [status ranked; years any; stars any; modes 0]"),
        "{stderr}"
    );
    // Modes the tokenizer cannot map yet, and values that are none, are refused saying why.
    let taiko = run_err(&mut preprocess(source, &dir.path().join("taiko"), &["--modes", "0,1"]));
    assert!(taiko.contains("osu!standard (mode 0) only"), "{taiko}");
    let typo = run_err(&mut preprocess(source, &dir.path().join("typo"), &["--status", "rankd"]));
    assert!(typo.contains("rankd") && typo.contains("graveyard, wip, pending"), "{typo}");
    let stars = run_err(&mut preprocess(source, &dir.path().join("stars"), &["--stars", "8..1.5"]));
    assert!(stars.contains("MIN is above MAX"), "{stars}");

    // Without --json the summary says what was left out.
    let text = run_ok(
        mapflow()
            .args(["preprocess", "--quiet", "--source", source, "--years", "2020..", "-o"])
            .arg(dir.path().join("recent")),
    );
    assert!(text.contains("filtered (not rejects): status 0, years 6, stars 0, modes 1"), "{text}");
}

fn walk_count(dir: &Path, extension: &str) -> usize {
    if !dir.exists() {
        return 0;
    }
    snapshot(dir).keys().filter(|k| k.ends_with(&format!(".{extension}"))).count()
}
