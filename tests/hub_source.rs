//! The hub source end to end against a mock hub on 127.0.0.1 (and its CDN): listing at one
//! commit through paged trees, one-ahead download, deletion of finished shards, every download
//! checked against the tree, each fault of the CDN as a retryable reject that leaves nothing
//! behind, the preprocess over a faulty hub and its rerun (plain, filtered, and with two uploads of
//! one song), and the mock's own answers.

#[path = "support/mock_hub.rs"]
mod mock_hub;
#[path = "support/snapshot.rs"]
mod snapshot;

use std::path::Path;
use std::time::Duration;

use dataflow::sources::hub::{HubListing, HubOptions, HubShards};
use dataflow::sources::uri::HubSpec;
use dataflow::sources::webdataset::LocalShards;
use dataflow::sources::{SourceUri, TrackRecord};
use mock_hub::{Fault, MockHub};
use sha2::Digest;
use shards::filter::{BeatmapFilter, FilteredCounts, RankedStatus};
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
        write_corpus_shard(root, shard, shard);
    }
    std::fs::write(root.join("README.md"), "---\nlicense: other\n---\n").unwrap();
}

/// `root/compressed/data-{shard}.tar` with the tracks and maps of shard `content` of
/// [`write_corpus`] (another `content` than `shard`: a shard updated upstream).
fn write_corpus_shard(root: &Path, shard: usize, content: usize) {
    let mut audio = Vec::new();
    let mut maps = Vec::new();
    for t in 0..PER_SHARD {
        let n = content * PER_SHARD + t;
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
            api: api_metadata(n),
        }]);
    }
    let keys: Vec<String> = (0..PER_SHARD).map(|t| format!("{:06}", content * PER_SHARD + t)).collect();
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

/// The osu! API v1 fields of track `n`'s map, as the data set writes them: every third one in
/// the graveyard (no `approved_date`), the others ranked, all submitted in 2015.
fn api_metadata(n: usize) -> serde_json::Map<String, serde_json::Value> {
    let graveyard = n % 3 == 2;
    let fields = serde_json::json!({
        "approved": if graveyard { "-2" } else { "1" },
        "submit_date": "2015-03-14 12:00:00",
        "approved_date": if graveyard { serde_json::Value::Null } else { "2015-09-01 12:00:00".into() },
        "creator_id": "2",
        "version": format!("Diff {n}"),
        "artist": "Mock",
        "title": format!("Song {n}"),
    });
    fields.as_object().unwrap().clone()
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
        read_timeout: Some(Duration::from_secs(2)),
        download_attempts: Some(1),
        skip: Default::default(),
    }
}

fn paths(source: &HubShards) -> Vec<&str> {
    source.shards().iter().map(|s| s.path.as_str()).collect()
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
    // Pages of two entries: the listing follows the `Link` headers to the last shard.
    hub.set_page_size(2);

    let mut source = HubShards::open(spec(""), options(&hub, cache.path(), false), 1).unwrap();
    assert_eq!(source.sha(), mock_hub::COMMIT);
    assert_eq!(
        paths(&source),
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
        hub.requests().iter().any(|r| r
            .starts_with(&format!("HEAD /datasets/{REPO}/resolve/{}/compressed/data-000000.tar", mock_hub::COMMIT))),
        "downloads use the commit the revision resolved to: {:?}",
        hub.requests()
    );
    assert!(hub.requests().iter().any(|r| r.contains("/tree/") && r.contains("cursor=")), "{:?}", hub.requests());

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
    assert_eq!(paths(&source), ["compressed/data-000001.tar", "compressed/data-000002.tar"]);
    let ids: Vec<i64> = source.map(|t| t.unwrap().beatmaps[0].beatmap_id).collect();
    assert_eq!(ids, [1003, 1004, 1005, 1006, 1007, 1008]);
    assert_eq!(blobs(cache.path()).len(), 2);
    assert_eq!(gets_of(&hub, "data-000000.tar"), 0);
    // A second run finds them in the cache at that commit (and checks them again): no GET is sent.
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
    hub.fault("compressed/data-000001.tar", Fault::ErrorPage(500));
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
    // hf-hub saved the error page as the shard: the size check caught it, and says what it was.
    let Err(reject) = &items[3] else { unreachable!() };
    assert!(reject.reason.contains("the tree lists") && reject.reason.contains("500"), "{reject}");
    assert!(reject.is_retryable());
    assert!(blobs(cache.path()).is_empty(), "the error page was deleted: {:?}", blobs(cache.path()));
}

const FAULTS: [Fault; 6] =
    [Fault::ErrorPage(403), Fault::ErrorPage(500), Fault::CutShort, Fault::Reset, Fault::Stall, Fault::Corrupt];

#[test]
fn every_fault_of_the_cdn_is_a_retryable_reject_that_leaves_nothing_in_the_cache() {
    let repo = tempfile::tempdir().unwrap();
    write_corpus(repo.path(), 3);
    let local: Vec<_> = LocalShards::open(repo.path(), 1).unwrap().map(|t| strip(&t.unwrap())).collect();
    let hub = MockHub::serve(repo.path(), REPO);
    for fault in FAULTS {
        let cache = tempfile::tempdir().unwrap();
        hub.fault("compressed/data-000001.tar", fault);
        let items: Vec<_> = HubShards::open(spec(""), options(&hub, cache.path(), false), 1).unwrap().collect();
        let rejects: Vec<_> = items.iter().filter_map(|i| i.as_ref().err()).collect();
        assert_eq!(rejects.len(), 1, "{fault:?}: {rejects:?}");
        let reject = rejects[0];
        assert_eq!(
            (reject.kind.as_str(), reject.origin.as_str()),
            ("download_failed", "hf://project-riz/osu-beatmaps/compressed/data-000001.tar"),
            "{fault:?}"
        );
        assert!(reject.is_retryable());
        assert_eq!(items.iter().filter(|i| i.is_ok()).count(), 2 * PER_SHARD, "{fault:?}: the other shards are read");
        assert!(blobs(cache.path()).is_empty(), "{fault:?} left {:?}", blobs(cache.path()));

        hub.clear_faults();
        let again: Vec<_> = HubShards::open(spec(""), options(&hub, cache.path(), false), 1)
            .unwrap()
            .map(|t| strip(&t.unwrap()))
            .collect();
        assert_eq!(again, local, "{fault:?}: once the CDN is well, every track comes through");
    }
}

/// The preprocess as `mapflow preprocess` runs it on `out` from the mock hub: the source pinned
/// to the commit its revision resolves to, shards marked done for that content skipped.
fn preprocess(hub: &MockHub, cache: &Path, out: &Path) -> dataflow::preprocess::Summary {
    preprocess_at(hub, cache, out, "", false).unwrap()
}

/// [`preprocess`] of `hf://…/compressed{query}`, moving an output read at another commit when
/// `accept_new_revision`; the error as text.
fn preprocess_at(
    hub: &MockHub,
    cache: &Path,
    out: &Path,
    query: &str,
    accept_new_revision: bool,
) -> Result<dataflow::preprocess::Summary, String> {
    preprocess_with(hub, cache, out, query, accept_new_revision, |_| {})
}

/// [`preprocess_at`] with its options changed by `edit` (another filter, another split seed).
fn preprocess_with(
    hub: &MockHub,
    cache: &Path,
    out: &Path,
    query: &str,
    accept_new_revision: bool,
    edit: impl FnOnce(&mut dataflow::preprocess::PreprocessOptions),
) -> Result<dataflow::preprocess::Summary, String> {
    use dataflow::preprocess::{ClusterArgs, PreprocessOptions, source_opener};
    let mut hub_options = options(hub, cache, false);
    let listing = HubListing::fetch(&spec(query), &hub_options).map_err(|e| e.to_string())?;
    let pinned = listing.pinned_source(&spec(query));
    hub_options.skip = shards::done::done_shards(out, Some(&pinned)).unwrap();
    let mut options = PreprocessOptions {
        out: out.to_owned(),
        features: operators::features::FeatureConfig::default(),
        tokenizers: Vec::new(),
        chunk_tracks: 2,
        max_in_flight: 2,
        split_seed: dataflow::preprocess::defaults::SPLIT_SEED,
        filter: BeatmapFilter::default(),
        cluster: ClusterArgs { workers: 1, ..Default::default() },
        progress: false,
        gate: None,
        pinned: Some(pinned),
        accept_new_revision,
    };
    edit(&mut options);
    let source = dataflow::sources::SourceOptions { hub: hub_options, capacity: 1 };
    let opener = source_opener(SourceUri::Hub(listing.pinned_spec(&spec(query))), source);
    dataflow::preprocess::run(options, opener).map_err(|e| format!("{e:#}"))
}

/// GETs of each of the three shards so far (on the hub: one per download).
fn shard_gets(hub: &MockHub) -> [usize; 3] {
    [0, 1, 2].map(|n| gets_of(hub, &format!("data-{n:06}.tar")))
}

#[test]
fn a_faulty_download_fails_the_run_naming_the_shard_and_a_rerun_completes_the_output() {
    let repo = tempfile::tempdir().unwrap();
    write_corpus(repo.path(), 3);
    let hub = MockHub::serve(repo.path(), REPO);
    let work = tempfile::tempdir().unwrap();
    let reference = work.path().join("reference");
    let undisturbed = preprocess(&hub, &work.path().join("cache"), &reference);
    assert!(undisturbed.chunk_failures.is_empty(), "{:?}", undisturbed.chunk_failures);
    assert_eq!(undisturbed.tracks, 9);
    let reference = snapshot::snapshot(&reference);
    for fault in FAULTS {
        let (out, cache) = (work.path().join(format!("{fault:?}")), work.path().join(format!("{fault:?}-cache")));
        hub.fault("compressed/data-000001.tar", fault);
        let failed = preprocess(&hub, &cache, &out);
        // The run ends with an error naming the shard; nothing of it is committed or marked done.
        assert_eq!(failed.chunk_failures.len(), 1, "{fault:?}: {:?}", failed.chunk_failures);
        let failure = &failed.chunk_failures[0];
        assert!(failure.contains("data-000001-c0000") && failure.contains("compressed/data-000001.tar"), "{failure}");
        let files = snapshot::snapshot(&out);
        assert!(!files.keys().any(|f| f.contains("data-000001")), "{fault:?}: {:?}", files.keys());
        let done: Vec<String> = shards::done::markers(&out).unwrap().into_iter().map(|m| m.shard).collect();
        assert_eq!(done.len(), 2, "{fault:?}: {done:?}");
        assert!(!done.contains(&"data-000001.tar".to_owned()), "{fault:?}: {done:?}");
        assert!(blobs(&cache).is_empty(), "{fault:?} left {:?}", blobs(&cache));

        // The same command once the hub is well: only the failed shard is downloaded, and the
        // output is the undisturbed run's, byte for byte.
        hub.clear_faults();
        let before = shard_gets(&hub);
        let rerun = preprocess(&hub, &cache, &out);
        assert!(rerun.chunk_failures.is_empty(), "{fault:?}: {:?}", rerun.chunk_failures);
        let after = shard_gets(&hub);
        assert_eq!([after[0] - before[0], after[1] - before[1], after[2] - before[2]], [0, 1, 0], "{fault:?}");
        snapshot::assert_same(&snapshot::snapshot(&out), &reference, &format!("{fault:?} then a rerun"));
    }
}

#[test]
fn a_filtered_run_over_a_faulty_hub_counts_what_it_left_out_and_another_filter_is_refused_before_downloading() {
    let repo = tempfile::tempdir().unwrap();
    write_corpus(repo.path(), 3);
    let hub = MockHub::serve(repo.path(), REPO);
    let work = tempfile::tempdir().unwrap();
    let ranked = || BeatmapFilter::new(Some(vec![RankedStatus::Ranked]), None, None, vec![0]);
    let run = |out: &Path, cache: &str, filter: BeatmapFilter| {
        preprocess_with(&hub, &work.path().join(cache), out, "", false, |o| o.filter = filter)
    };
    let reference = work.path().join("reference");
    let undisturbed = run(&reference, "cache", ranked()).unwrap();
    // Tracks 2, 5 and 8 are in the graveyard: left out, not rejected; the others' maps have no
    // objects (rejects), so no track is decoded at all for the graveyard ones.
    assert_eq!(undisturbed.filtered, FilteredCounts { status: 3, ..FilteredCounts::default() });
    assert_eq!((undisturbed.rejects, undisturbed.tracks), (6, 6), "{undisturbed:?}");
    let manifest = shards::manifest::Manifest::read(&reference).unwrap();
    assert_eq!((manifest.configs.filter, manifest.filtered.status), (ranked(), 3));
    let reference = snapshot::snapshot(&reference);

    // A shard whose download breaks: its beatmaps are neither filtered nor rejected yet.
    let out = work.path().join("faulty");
    hub.fault("compressed/data-000001.tar", Fault::Reset);
    let failed = run(&out, "faulty-cache", ranked()).unwrap();
    assert_eq!(failed.chunk_failures.len(), 1, "{:?}", failed.chunk_failures);
    assert_eq!(failed.filtered.status, 2, "tracks 2 and 8 only: {failed:?}");
    hub.clear_faults();
    let rerun = run(&out, "faulty-cache", ranked()).unwrap();
    assert!(rerun.chunk_failures.is_empty(), "{:?}", rerun.chunk_failures);
    assert_eq!(rerun.filtered.status, 1, "track 5, in the shard read again");
    snapshot::assert_same(&snapshot::snapshot(&out), &reference, "a filtered run after a fault and a rerun");
    assert_eq!(rerun.dataset.unwrap().filtered.status, 3, "the output's totals count every chunk");

    // Another filter over the output is refused, naming both, and downloads nothing.
    let before = shard_gets(&hub);
    let loved = BeatmapFilter::new(Some(vec![RankedStatus::Ranked, RankedStatus::Loved]), None, None, vec![0]);
    let refused = run(&out, "faulty-cache", loved).unwrap_err();
    assert!(
        refused.contains("[status ranked; years any; stars any; modes 0], this run asks for [status ranked,loved;"),
        "{refused}"
    );
    assert_eq!(shard_gets(&hub), before, "refused before any download");
    snapshot::assert_same(&snapshot::snapshot(&out), &reference, "a refused run changes nothing");
}

#[test]
fn two_uploads_of_one_song_on_the_hub_land_in_one_split_across_a_fault_and_its_rerun() {
    // Two sets of one song in two shards: other audio (another rip, another hash), the title
    // spelled otherwise.
    let repo = tempfile::tempdir().unwrap();
    let mut hashes = Vec::new();
    for (shard, (artist, title)) in
        [("Soleily", "Renatus (TV Size)"), ("SOLEILY", "renatus - tv  size!")].iter().enumerate()
    {
        let spec = RenderSpec {
            sample_rate: 48_000,
            length_ms: 600.0,
            beat_grid: BeatGrid { offset_ms: 0.0, beat_length_ms: 300.0 },
            events: vec![AudioEvent { time_ms: 100.0 + 50.0 * shard as f64, kind: EventKind::Hit }],
            seed: shard as u64,
        };
        let audio = encode(AudioFormat::Opus, "upload.opus", &render_track(&spec), 48_000).unwrap();
        hashes.push(sha2::Sha256::digest(&audio).iter().map(|b| format!("{b:02x}")).collect::<String>());
        let maps = [SampleBeatmap {
            beatmap_id: 2000 + shard as i64,
            beatmapset_id: 600 + shard as i64,
            mode: 0,
            difficultyrating: 2.0,
            content: format!("osu file format v14\n[Metadata]\nTitle:{title}\nArtist:{artist}\n"),
            api: api_metadata(shard),
        }];
        let sample =
            ShardSample { key: "000000", audio_extension: "opus", audio: &audio, audio_length: 0.6, beatmaps: &maps };
        write_shard(&repo.path().join(format!("compressed/data-{shard:06}.tar")), &[sample]).unwrap();
    }
    let hub = MockHub::serve(repo.path(), REPO);
    // A seed under which the two audio hashes would split the song apart.
    let seed = (0..1000)
        .find(|&s| shards::rows::Split::of(&hashes[0], s) != shards::rows::Split::of(&hashes[1], s))
        .expect("a seed that splits the hashes");
    let work = tempfile::tempdir().unwrap();
    let (out, cache) = (work.path().join("out"), work.path().join("cache"));
    let run = || preprocess_with(&hub, &cache, &out, "", false, |o| o.split_seed = seed).unwrap();
    hub.fault("compressed/data-000001.tar", Fault::Corrupt);
    assert_eq!(run().chunk_failures.len(), 1, "the second upload's shard failed");
    hub.clear_faults();
    let rerun = run();
    assert!(rerun.chunk_failures.is_empty() && rerun.tracks == 1, "{rerun:?}");
    let mut splits = Vec::new();
    for shard in ["data-000000-c0000", "data-000001-c0000"] {
        let tracks = shards::read::read_tracks(&out.join(format!("tracks/{shard}.parquet"))).unwrap();
        splits.extend(tracks.into_iter().map(|t| (t.track_id, t.split)));
    }
    let song = shards::rows::Split::of("song:soleily - renatus tv size", seed);
    assert_eq!(splits, [(hashes[0].clone(), song), (hashes[1].clone(), song)], "one song, one split");
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

    // A shard (LFS) resolves to a 302 to the CDN, with the headers the hub sends.
    let http = reqwest::blocking::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let head =
        http.head(format!("{}/datasets/{REPO}/resolve/main/compressed/data-000000.tar", hub.url)).send().unwrap();
    let tar = std::fs::read(repo.path().join("compressed/data-000000.tar")).unwrap();
    let sha256: String = sha2::Sha256::digest(&tar).iter().map(|b| format!("{b:02x}")).collect();
    let headers = head.headers();
    assert_eq!(head.status(), 302);
    assert_eq!(headers["X-Repo-Commit"], mock_hub::COMMIT);
    assert_eq!(headers["X-Linked-Etag"].to_str().unwrap(), format!("\"{sha256}\""));
    assert_eq!(headers["X-Linked-Size"].to_str().unwrap(), tar.len().to_string());
    let cdn = headers["Location"].to_str().unwrap().to_owned();
    assert!(!cdn.starts_with(&hub.url), "another server: {cdn}");
    assert_eq!(http.get(&cdn).send().unwrap().bytes().unwrap().as_ref(), tar.as_slice());

    // The tree lists the shard with its LFS digest, in pages linked by `Link: <…>; rel="next"`.
    hub.set_page_size(1);
    let tree = |url: &str| http.get(url).send().unwrap();
    let first = tree(&format!("{}/api/datasets/{REPO}/tree/main/compressed?recursive=true", hub.url));
    assert!(first.headers().get("Link").is_none(), "one entry under compressed/: one page");
    let listed: serde_json::Value = serde_json::from_slice(&first.bytes().unwrap()).unwrap();
    assert_eq!(listed[0]["lfs"]["oid"], sha256.as_str());
    assert_eq!(listed[0]["size"], tar.len());
    let top = tree(&format!("{}/api/datasets/{REPO}/tree/main?recursive=true", hub.url));
    let link = top.headers()["Link"].to_str().unwrap().to_owned();
    assert!(link.ends_with("; rel=\"next\"") && link.contains("cursor=1"), "{link}");
}

#[test]
fn a_source_reads_the_commit_it_resolved_when_it_opened_even_after_main_moves() {
    let (v1, v2, cache) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    write_corpus(v1.path(), 3);
    write_corpus(v2.path(), 3);
    write_corpus_shard(v2.path(), 2, 7);
    let hub = MockHub::serve(v1.path(), REPO);
    let source = HubShards::open(spec(""), options(&hub, cache.path(), false), 1).unwrap();
    // main moves while the run is early in shard 0: shard 2 is downloaded later, from the first commit.
    let moved = hub.publish(v2.path());
    let ids: Vec<i64> = source.map(|t| t.unwrap().beatmaps[0].beatmap_id).collect();
    assert_eq!(ids, (1000..1009).collect::<Vec<_>>());
    let resolves: Vec<String> = hub.requests().into_iter().filter(|r| r.contains("/resolve/")).collect();
    assert!(resolves.iter().all(|r| r.contains(&format!("/resolve/{}/", mock_hub::COMMIT))), "{resolves:?}");
    assert!(!hub.requests().iter().any(|r| r.contains(&moved)));
    assert_eq!(HubListing::fetch(&spec(""), &options(&hub, cache.path(), false)).unwrap().sha, moved);
}

#[test]
fn an_output_records_its_commit_and_a_rerun_at_another_is_refused_unless_accepted() {
    let (v1, v2, work) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    write_corpus(v1.path(), 3);
    write_corpus(v2.path(), 3);
    write_corpus_shard(v2.path(), 1, 5); // shard 1 updated upstream; 0 and 2 unchanged
    let hub = MockHub::serve(v1.path(), REPO);
    let (out, cache) = (work.path().join("out"), work.path().join("cache"));
    preprocess(&hub, &cache, &out);
    let manifest = shards::manifest::Manifest::read(&out).unwrap();
    let recorded = manifest.configs.source.clone().unwrap();
    assert_eq!(
        (recorded.repo.as_str(), recorded.config.as_str(), recorded.sha.as_str()),
        (REPO, "compressed", mock_hub::COMMIT)
    );
    let markers = shards::done::markers(&out).unwrap();
    assert_eq!(markers.len(), 3);
    let tar = std::fs::read(v1.path().join("compressed/data-000001.tar")).unwrap();
    let marker = markers.iter().find(|m| m.shard == "data-000001.tar").unwrap();
    assert_eq!(marker.source.as_ref(), Some(&recorded));
    let content = marker.content.as_ref().unwrap();
    assert_eq!(content.size, tar.len() as u64);
    assert_eq!(
        content.sha256.as_deref().unwrap(),
        sha2::Sha256::digest(&tar).iter().map(|b| format!("{b:02x}")).collect::<String>()
    );

    let moved = hub.publish(v2.path());
    let before = snapshot::snapshot(&out);
    let refused = preprocess_at(&hub, &cache, &out, "", false).unwrap_err();
    assert!(refused.contains(mock_hub::COMMIT) && refused.contains(&moved), "names both commits: {refused}");
    assert!(refused.contains("--accept-new-revision"), "{refused}");
    assert_eq!(snapshot::snapshot(&out), before, "a refused run changes nothing");
    // At the output's own commit, the output is finished: nothing to download, nothing changes.
    let gets = shard_gets(&hub);
    preprocess_at(&hub, &cache, &out, &format!("?revision={}", mock_hub::COMMIT), false).unwrap();
    assert_eq!(shard_gets(&hub), gets);
    snapshot::assert_same(&snapshot::snapshot(&out), &before, "a rerun at the recorded commit");

    // Accepted: only the changed shard is downloaded again, and the output is a fresh run's at
    // the new commit, byte for byte.
    let moved_run = preprocess_at(&hub, &cache, &out, "", true).unwrap();
    assert!(moved_run.chunk_failures.is_empty(), "{:?}", moved_run.chunk_failures);
    let after = shard_gets(&hub);
    assert_eq!([after[0] - gets[0], after[1] - gets[1], after[2] - gets[2]], [0, 1, 0]);
    let fresh = work.path().join("fresh");
    preprocess(&hub, &work.path().join("fresh-cache"), &fresh);
    snapshot::assert_same(&snapshot::snapshot(&out), &snapshot::snapshot(&fresh), "moved vs fresh at the new commit");
    assert_eq!(shards::manifest::Manifest::read(&out).unwrap().configs.source.unwrap().sha, moved);

    // Another config of the same data set is another output.
    let mut other = std::fs::read_to_string(out.join("manifest.json")).unwrap();
    other = other.replace("\"compressed\"", "\"original\"");
    std::fs::write(out.join("manifest.json"), other).unwrap();
    let refused = preprocess_at(&hub, &cache, &out, "", true).unwrap_err();
    assert!(
        refused.contains("hf://project-riz/osu-beatmaps/original") && refused.contains("another --output"),
        "{refused}"
    );
}

#[test]
fn a_plan_lists_the_shards_with_their_sizes_and_what_is_done_and_downloads_nothing() {
    let repo = tempfile::tempdir().unwrap();
    write_corpus(repo.path(), 3);
    let hub = MockHub::serve(repo.path(), REPO);
    let work = tempfile::tempdir().unwrap();
    let (out, cache) = (work.path().join("out"), work.path().join("cache"));
    preprocess_at(&hub, &cache, &out, "?shards=0..1", false).unwrap();
    let size = |n: usize| std::fs::metadata(repo.path().join(format!("compressed/data-{n:06}.tar"))).unwrap().len();

    let asked = hub.requests().len();
    let listing = HubListing::fetch(&spec(""), &options(&hub, &cache, false)).unwrap();
    let done = shards::done::done_shards(&out, Some(&listing.pinned_source(&spec("")))).unwrap();
    let plan = listing.plan(&done, false);
    let rows: Vec<(&str, u64, bool)> = plan.shards.iter().map(|(s, d)| (s.path.as_str(), s.size, *d)).collect();
    assert_eq!(
        rows,
        [
            ("compressed/data-000000.tar", size(0), true),
            ("compressed/data-000001.tar", size(1), false),
            ("compressed/data-000002.tar", size(2), false),
        ]
    );
    assert_eq!(plan.download_bytes, size(1) + size(2));
    assert_eq!(plan.max_disk_bytes, size(1) + size(2));
    let since: Vec<String> = hub.requests()[asked..].to_vec();
    assert!(
        !since.iter().any(|r| r.contains("/resolve/") || r.starts_with("CDN")),
        "a plan downloads nothing: {since:?}"
    );
}

#[test]
fn a_fault_that_passes_is_healed_by_another_attempt_in_the_same_run() {
    let repo = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    write_corpus(repo.path(), 2);
    let local: Vec<_> = LocalShards::open(repo.path(), 1).unwrap().map(|t| strip(&t.unwrap())).collect();
    let hub = MockHub::serve(repo.path(), REPO);
    hub.fault_times("compressed/data-000001.tar", Fault::ErrorPage(500), 1);
    let mut retrying = options(&hub, cache.path(), false);
    retrying.download_attempts = Some(2);
    let tracks: Vec<_> = HubShards::open(spec(""), retrying, 1).unwrap().map(|t| strip(&t.unwrap())).collect();
    assert_eq!(tracks, local, "the second attempt read the shard");
    assert_eq!(gets_of(&hub, "data-000001.tar"), 2);
    assert!(blobs(cache.path()).is_empty(), "{:?}", blobs(cache.path()));

    // Every attempt failing: one reject, saying how many attempts were made.
    hub.fault("compressed/data-000001.tar", Fault::Corrupt);
    let mut retrying = options(&hub, cache.path(), false);
    retrying.download_attempts = Some(2);
    let items: Vec<_> = HubShards::open(spec(""), retrying, 1).unwrap().collect();
    let rejects: Vec<_> = items.iter().filter_map(|i| i.as_ref().err()).collect();
    assert_eq!(rejects.len(), 1, "{rejects:?}");
    assert!(rejects[0].reason.contains("after 2 attempts") && rejects[0].reason.contains("SHA-256"), "{}", rejects[0]);
    assert_eq!(gets_of(&hub, "data-000001.tar"), 4);
}
