//! The hub source end to end against a mock hub on 127.0.0.1: listing, one-ahead download,
//! deletion of finished shards, download failures as rejects, and the mock's own answers.

#[path = "support/mock_hub.rs"]
mod mock_hub;

use std::path::Path;
use std::time::Duration;

use dataflow::sources::hub::{HubOptions, HubShards};
use dataflow::sources::uri::HubSpec;
use dataflow::sources::webdataset::LocalShards;
use dataflow::sources::{SourceUri, TrackRecord};
use mock_hub::MockHub;
use synth::encode::{AudioFormat, encode};
use synth::render::{AudioEvent, BeatGrid, EventKind, RenderSpec, render_track};
use synth::webdataset::{SampleBeatmap, ShardSample, write_shard};

const REPO: &str = "project-riz/osu-beatmaps";
/// Tracks per shard: more than the reader's channel holds, so the reader is still in a shard
/// while the consumer waits.
const PER_SHARD: usize = 3;

/// `root/compressed/data-00000{0..shards}.tar`, [`PER_SHARD`] short Opus tracks each, plus a README.
fn write_corpus(root: &Path, shards: usize) {
    for shard in 0..shards {
        let mut audio = Vec::new();
        let mut maps = Vec::new();
        for t in 0..PER_SHARD {
            let n = shard * PER_SHARD + t;
            let spec = RenderSpec {
                sample_rate: 48_000,
                length_ms: 600.0,
                beat_grid: BeatGrid { offset_ms: 0.0, beat_length_ms: 300.0 },
                events: vec![AudioEvent { time_ms: 100.0 + 10.0 * n as f64, kind: EventKind::Hit }],
                seed: n as u64,
            };
            audio.push(encode(AudioFormat::Opus, &format!("{n}.opus"), &render_track(&spec), 48_000).unwrap());
            maps.push(vec![SampleBeatmap {
                beatmap_id: 1000 + n as i64,
                beatmapset_id: 500,
                mode: 0,
                difficultyrating: 1.5,
                content: format!("osu file format v14\n[Metadata]\nBeatmapID:{}\n", 1000 + n),
            }]);
        }
        let keys: Vec<String> = (0..PER_SHARD).map(|t| format!("{:06}", shard * PER_SHARD + t)).collect();
        let samples: Vec<ShardSample> = (0..PER_SHARD)
            .map(|t| ShardSample {
                key: &keys[t],
                audio_extension: "opus",
                audio: &audio[t],
                audio_length: 0.6,
                beatmaps: &maps[t],
            })
            .collect();
        write_shard(&root.join(format!("compressed/data-{shard:06}.tar")), &samples).unwrap();
    }
    std::fs::write(root.join("README.md"), "---\nlicense: other\n---\n").unwrap();
}

fn spec(query: &str) -> HubSpec {
    match format!("hf://{REPO}/compressed{query}").parse().unwrap() {
        SourceUri::Hub(spec) => spec,
        other => panic!("not a hub uri: {other:?}"),
    }
}

fn options(hub: &MockHub, cache: &Path, keep: bool) -> HubOptions {
    HubOptions {
        cache_dir: Some(cache.to_owned()),
        endpoint: Some(hub.url.clone()),
        keep_shards: keep,
        retry_max_attempts: Some(0),
        skip: Default::default(),
    }
}

/// Regular files (not links) under `dir`: downloaded blobs.
fn blobs(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let kind = entry.file_type().unwrap();
            if kind.is_dir() {
                stack.push(entry.path());
            } else if kind.is_file() && entry.path().components().any(|c| c.as_os_str() == "blobs") {
                out.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
    }
    out
}

fn gets_of(hub: &MockHub, file: &str) -> usize {
    hub.requests().iter().filter(|r| r.starts_with("GET /datasets/") && r.ends_with(file)).count()
}

fn strip(track: &TrackRecord) -> (String, Vec<u8>, Vec<i64>) {
    (track.track_id.clone(), track.audio.clone(), track.beatmaps.iter().map(|b| b.beatmap_id).collect())
}

#[test]
fn reads_shards_one_ahead_and_deletes_them() {
    let repo = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    write_corpus(repo.path(), 3);
    let hub = MockHub::serve(repo.path(), REPO);

    let mut source = HubShards::open(spec(""), options(&hub, cache.path(), false), 1).unwrap();
    assert_eq!(
        source.shards(),
        ["compressed/data-000000.tar", "compressed/data-000001.tar", "compressed/data-000002.tar"]
    );
    let first = source.next().unwrap().unwrap();
    assert_eq!(first.origin, "compressed/data-000000.tar:000000");
    // While shard 0 is being read, shard 1 is fetched, and nothing further.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while gets_of(&hub, "data-000001.tar") == 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(gets_of(&hub, "data-000000.tar"), 1);
    assert_eq!(gets_of(&hub, "data-000001.tar"), 1);
    assert_eq!(gets_of(&hub, "data-000002.tar"), 0, "read ahead more than one shard: {:?}", hub.requests());
    assert!(
        hub.requests()
            .iter()
            .any(|r| r.starts_with("HEAD /datasets/project-riz/osu-beatmaps/resolve/main/compressed/data-000000.tar"))
    );

    let mut tracks = vec![first];
    tracks.extend(source.map(Result::unwrap));
    let local: Vec<_> = LocalShards::open(repo.path(), 1).unwrap().map(Result::unwrap).collect();
    assert_eq!(tracks.iter().map(strip).collect::<Vec<_>>(), local.iter().map(strip).collect::<Vec<_>>());
    assert_eq!(tracks.len(), 9);
    assert_eq!(tracks[8].origin, "compressed/data-000002.tar:000008");
    assert!(blobs(cache.path()).is_empty(), "finished shards left behind: {:?}", blobs(cache.path()));
}

#[test]
fn stopping_early_leaves_no_shard_behind() {
    let repo = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    write_corpus(repo.path(), 3);
    let hub = MockHub::serve(repo.path(), REPO);
    let mut source = HubShards::open(spec(""), options(&hub, cache.path(), false), 1).unwrap();
    source.next().unwrap().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while gets_of(&hub, "data-000001.tar") == 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    while blobs(cache.path()).len() < 2 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(blobs(cache.path()).len(), 2, "shard 0 being read, shard 1 waiting");
    drop(source);
    while !blobs(cache.path()).is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(blobs(cache.path()).is_empty(), "left behind: {:?}", blobs(cache.path()));
    assert_eq!(gets_of(&hub, "data-000002.tar"), 0);
}

#[test]
fn keeps_shards_when_asked_and_selects_a_range_at_a_revision() {
    let repo = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    write_corpus(repo.path(), 3);
    let hub = MockHub::serve(repo.path(), REPO);
    let query = format!("?shards=1..3&revision={}", mock_hub::COMMIT);
    let source = HubShards::open(spec(&query), options(&hub, cache.path(), true), 2).unwrap();
    assert_eq!(source.shards(), ["compressed/data-000001.tar", "compressed/data-000002.tar"]);
    let ids: Vec<i64> = source.map(|t| t.unwrap().beatmaps[0].beatmap_id).collect();
    assert_eq!(ids, [1003, 1004, 1005, 1006, 1007, 1008]);
    assert_eq!(blobs(cache.path()).len(), 2);
    assert_eq!(gets_of(&hub, "data-000000.tar"), 0);
    // A second run finds them in the cache: the HEAD answers 304 and no GET is sent.
    let again: Vec<_> = HubShards::open(spec(&query), options(&hub, cache.path(), true), 2).unwrap().collect();
    assert_eq!(again.len(), 6);
    assert_eq!(gets_of(&hub, "data-000001.tar"), 1, "{:?}", hub.requests());
}

#[test]
fn a_failed_download_is_a_reject_and_the_next_shard_is_read() {
    let repo = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    write_corpus(repo.path(), 3);
    let hub = MockHub::serve(repo.path(), REPO);
    hub.fail_downloads_of("compressed/data-000001.tar");
    let items: Vec<_> = HubShards::open(spec(""), options(&hub, cache.path(), false), 1).unwrap().collect();
    let summary: Vec<String> = items
        .iter()
        .map(|i| match i {
            Ok(t) => t.origin.clone(),
            Err(r) => format!("{} {} {}", r.stage, r.kind, r.origin),
        })
        .collect();
    assert_eq!(
        summary,
        [
            "compressed/data-000000.tar:000000",
            "compressed/data-000000.tar:000001",
            "compressed/data-000000.tar:000002",
            "download download_failed hf://project-riz/osu-beatmaps/compressed/data-000001.tar",
            "compressed/data-000002.tar:000006",
            "compressed/data-000002.tar:000007",
            "compressed/data-000002.tar:000008",
        ]
    );
}

#[test]
fn listing_errors_name_the_source() {
    let repo = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    write_corpus(repo.path(), 2);
    let hub = MockHub::serve(repo.path(), REPO);
    let err = HubShards::open(spec("?shards=1..3"), options(&hub, cache.path(), false), 1).unwrap_err();
    assert_eq!(err.origin, "hf://project-riz/osu-beatmaps/compressed?shards=1..3");
    assert!(err.reason.contains("more than the 2 shards"), "{err}");
    let mut other = spec("");
    other.name = "no-such-repo".into();
    let err = HubShards::open(other, options(&hub, cache.path(), false), 1).unwrap_err();
    assert_eq!((err.stage.as_str(), err.kind.as_str()), ("download", "hub_error"));
    assert!(err.origin.starts_with("hf://project-riz/no-such-repo/compressed"), "{err}");
    let mut original = spec("");
    original.config = "original".into();
    let err = HubShards::open(original, options(&hub, cache.path(), false), 1).unwrap_err();
    assert!(err.reason.contains("original"), "{err}");
}

#[test]
fn the_mock_answers_info_tree_and_resolve_like_the_hub() {
    let repo = tempfile::tempdir().unwrap();
    write_corpus(repo.path(), 1);
    let hub = MockHub::serve(repo.path(), REPO);
    let cache = tempfile::tempdir().unwrap();
    let client = hf_hub::HFClient::builder()
        .endpoint(hub.url.clone())
        .cache_dir(cache.path().to_owned())
        .retry_max_attempts(0)
        .build_sync()
        .unwrap();
    let dataset = client.dataset("project-riz", "osu-beatmaps");
    let info = dataset.info().send().unwrap();
    assert_eq!(info.sha.as_deref(), Some(mock_hub::COMMIT));
    let names: Vec<String> = info.siblings.unwrap().into_iter().map(|s| s.rfilename).collect();
    assert_eq!(names, ["README.md", "compressed/data-000000.tar"]);
    let top = dataset.list_tree().send().unwrap();
    assert_eq!(top.len(), 2, "non-recursive: README.md and compressed/ only");
    let readme = dataset.download_file().filename("README.md").send().unwrap();
    assert_eq!(std::fs::read_to_string(readme).unwrap(), "---\nlicense: other\n---\n");
    let missing = dataset.download_file().filename("compressed/nope.tar").send().unwrap_err();
    assert!(matches!(missing, hf_hub::HFError::EntryNotFound { .. }), "{missing:?}");
}
