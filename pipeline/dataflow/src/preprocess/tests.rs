//! The dataflow on in-memory tracks: same output for 1 and 2 workers, rejects kept, resume.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::*;
use crate::sources::{BeatmapRecord, SourceEntry, TrackRecord};
use shards::filter::{BeatmapFilter, FilteredCounts, RankedStatus};
use shards::rows::{BeatmapMetadata, Split};

fn beatmap(id: i64, file: &str, mode: Option<u8>) -> BeatmapRecord {
    BeatmapRecord {
        beatmap_id: id,
        beatmapset_id: 1,
        mode,
        metadata: Default::default(),
        osu_text: std::fs::read_to_string(data(file)).unwrap(),
        name: format!("{file}#{id}"),
    }
}

fn data(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data").join(relative)
}

fn track(shard: &str, key: &str, file: &str) -> SourceEntry {
    let audio = std::fs::read(data(file)).unwrap();
    SourceEntry {
        shard: shard.into(),
        item: Ok(TrackRecord {
            origin: format!("{shard}:{key}"),
            track_id: format!("{file}-{key}"),
            audio_name: format!("{key}.mp3"),
            audio,
            audio_length: None,
            beatmaps: Vec::new(),
        }),
    }
}

fn corpus() -> Vec<SourceEntry> {
    let mut song = track("b.tar", "000004", "audio/test-sample.mp3");
    if let Ok(t) = &mut song.item {
        t.beatmaps = vec![
            beatmap(11, "beatmaps/renatus-quick-insane.osu", Some(0)),
            beatmap(12, "beatmaps/basic.osu", None),
            beatmap(13, "beatmaps/rosupp-1028484.osu", Some(1)),
            beatmap(14, "beatmaps/edge-cases/corrupted-header.osu", Some(0)),
        ];
    }
    let mut bad = track("b.tar", "000005", "audio/formats/clicks.mp3");
    if let Ok(t) = &mut bad.item {
        t.audio = b"not audio".repeat(50);
    }
    vec![
        track("a.tar", "000001", "audio/formats/clicks.opus"),
        track("a.tar", "000002", "audio/formats/clicks.ogg"),
        track("a.tar", "000003", "audio/formats/clicks.mp3"),
        song,
        bad,
    ]
}

fn options(out: &Path, workers: usize) -> PreprocessOptions {
    PreprocessOptions {
        out: out.to_path_buf(),
        features: FeatureConfig::default(),
        tokenizers: ["default.toml", "reference.toml"]
            .iter()
            .map(|p| {
                let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/tokenizer").join(p);
                TokenizerStage::new(operators::tokenizer::TokenizerConfig::from_toml_file(&path).unwrap()).unwrap()
            })
            .collect(),
        // Fewer tracks in flight than a chunk holds: the backpressure must not wait on chunks.
        chunk_tracks: 3,
        max_in_flight: 1,
        split_seed: defaults::SPLIT_SEED,
        filter: Default::default(),
        cluster: ClusterArgs { workers, ..Default::default() },
        progress: false,
        gate: None,
        pinned: None,
        accept_new_revision: false,
    }
}

fn run_on(out: &Path, workers: usize, entries: Vec<SourceEntry>) -> Summary {
    let opener: SourceOpener = Box::new(move |_| Ok(Box::new(entries.into_iter())));
    run(options(out, workers), opener).unwrap()
}

/// Every file under `dir` (relative path → bytes).
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
                files.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    files
}

#[test]
fn one_and_two_workers_write_identical_shards() {
    let (one, two) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let summary = run_on(one.path(), 1, corpus());
    // Rejects: the undecodable track, the map whose corrupted header hides its objects; the
    // taiko map is left out by the default `--modes 0`, which is no reject.
    assert_eq!((summary.tracks, summary.rejects, summary.chunks_committed), (4, 2, 2));
    assert_eq!(summary.filtered, FilteredCounts { modes: 1, ..FilteredCounts::default() });
    assert_eq!(summary.beatmaps, 2, "renatus-quick and basic are tokenized");
    // The decode threads' CPU time is counted, and is part of the process's.
    assert!(summary.decode_cpu_seconds > 0.0, "{summary:?}");
    assert!(summary.cpu_seconds >= summary.decode_cpu_seconds, "{summary:?}");
    // Both source shards were read to their end and their chunks committed.
    assert_eq!(shards::done::done_shards(one.path(), None).unwrap(), ["a.tar".to_owned(), "b.tar".to_owned()].into());
    run_on(two.path(), 2, corpus());
    let (a, b) = (snapshot(one.path()), snapshot(two.path()));
    let names: Vec<&str> = a.keys().map(String::as_str).filter(|n| !n.starts_with("tokens/")).collect();
    assert_eq!(
        names,
        [
            "beatmaps/a-c0000.parquet",
            "beatmaps/b-c0000.parquet",
            "commits/a-c0000.json",
            "commits/b-c0000.json",
            "manifest.json",
            "rejects.jsonl",
            "shards-done/a.json",
            "shards-done/b.json",
            "tracks/a-c0000.parquet",
            "tracks/b-c0000.parquet",
        ]
    );
    assert_eq!(a.keys().filter(|n| n.starts_with("tokens/")).count(), 2 * 2, "two tokenizers × two chunks");
    assert_eq!(a, b, "1 and 2 workers must produce byte-identical output");
    let rejects = String::from_utf8(a["rejects.jsonl"].clone()).unwrap();
    assert!(rejects.contains("b.tar:000005") && rejects.contains("unknown_format"), "{rejects}");
    let manifest = Manifest::read(one.path()).unwrap();
    assert_eq!(manifest.tracks, 4);
    assert_eq!(manifest.rejects_by_kind["unknown_format"], 1);
    assert!(!manifest.rejects_by_kind.contains_key("wrong_mode"), "{:?}", manifest.rejects_by_kind);
    assert_eq!(manifest.filtered.modes, 1);
    assert_eq!(manifest.token_rows.len(), 2);
    // The default tokenizer tiles the whole song; the reference one keeps only whole 6 s
    // windows, and the only song with beatmaps here lasts 3 s.
    let default_hash = operators::tokenizer::TokenizerConfig::default().hash();
    assert!(manifest.token_rows[&default_hash] > 0, "{:?}", manifest.token_rows);
    assert_eq!(manifest.token_rows.values().filter(|&&rows| rows == 0).count(), 1, "{:?}", manifest.token_rows);
}

#[test]
fn a_rerun_resumes_and_ends_identical() {
    let dir = tempfile::tempdir().unwrap();
    run_on(dir.path(), 1, corpus());
    let complete = snapshot(dir.path());
    // As after a crash between two chunks: one chunk's files and commit are gone, a temp
    // file of an interrupted write is left behind.
    std::fs::remove_file(dir.path().join("commits/b-c0000.json")).unwrap();
    std::fs::remove_file(dir.path().join("tracks/b-c0000.parquet")).unwrap();
    std::fs::remove_file(dir.path().join("manifest.json")).unwrap();
    let summary = run_on(dir.path(), 2, corpus());
    assert_eq!(summary.tracks_resumed, 3, "chunk a-c0000 is skipped");
    assert_eq!((summary.tracks, summary.rejects, summary.filtered.modes), (1, 2, 1), "b-c0000 is redone");
    assert_eq!(snapshot(dir.path()), complete);
}

#[test]
fn a_shard_is_marked_done_while_the_next_one_is_still_being_read() {
    // A run killed in the middle of shard b must keep a's marker (a rerun then does not
    // download a again): the marker is written when a's chunk commits, not at the run's end.
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("shards-done/a.json");
    let marked_in_time = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let seen = Arc::clone(&marked_in_time);
    let (mut entries, mut b_entries) = (corpus().into_iter(), 0);
    let source = std::iter::from_fn(move || {
        let entry = entries.next()?;
        if entry.shard == "b.tar" {
            b_entries += 1;
            // b's first track moved the input past a's chunk; before handing over b's second,
            // wait (bounded) for a's marker.
            if b_entries == 2 {
                let deadline = Instant::now() + Duration::from_secs(30);
                while !marker.is_file() && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(10));
                }
                seen.store(marker.is_file(), std::sync::atomic::Ordering::SeqCst);
            }
        }
        Some(entry)
    });
    let opener: SourceOpener = Box::new(move |_| Ok(Box::new(source)));
    run(options(dir.path(), 1), opener).unwrap();
    assert!(marked_in_time.load(std::sync::atomic::Ordering::SeqCst), "a.tar's marker came only at the end");
    assert_eq!(shards::done::done_shards(dir.path(), None).unwrap(), ["a.tar".to_owned(), "b.tar".to_owned()].into());
}

#[test]
fn a_rerun_with_other_settings_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    run_on(dir.path(), 1, corpus());
    let committed = snapshot(dir.path());
    let refusal = |edit: fn(&mut PreprocessOptions)| {
        let mut changed = options(dir.path(), 1);
        edit(&mut changed);
        let opener: SourceOpener = Box::new(|_| Ok(Box::new(corpus().into_iter())));
        format!("{:#}", run(changed, opener).expect_err("another setting over the same output"))
    };
    let chunks = refusal(|o| o.chunk_tracks = 2);
    assert!(chunks.contains("chunk size (--chunk-tracks) 3, this run asks for 2"), "{chunks}");
    let seed = refusal(|o| o.split_seed += 1);
    assert!(seed.contains("split seed"), "{seed}");
    let features = refusal(|o| o.features.f_min = 30.0);
    assert!(features.contains("feature config") && features.contains(&dir.path().display().to_string()), "{features}");
    let filter = refusal(|o| o.filter = BeatmapFilter::new(Some(vec![RankedStatus::Ranked]), None, None, vec![0]));
    assert!(
        filter.contains(
            "beatmap filter (--status, --years, --stars, --modes) [status any; years any; stars any; modes 0], \
             this run asks for [status ranked; years any; stars any; modes 0]"
        ),
        "{filter}"
    );
    let taiko = refusal(|o| o.filter = BeatmapFilter::new(None, None, None, vec![0, 1]));
    assert!(taiko.contains("--modes [1]") && taiko.contains("osu!standard (mode 0) only"), "{taiko}");
    assert_eq!(snapshot(dir.path()), committed, "a refused run writes nothing");
}

/// The API metadata of a beatmap with status `approved` (-2..4), ranked or submitted in `year`.
fn api(approved: i8, year: Option<i32>) -> BeatmapMetadata {
    let date = year.map(|y| format!("{y}-05-24 02:11:22"));
    BeatmapMetadata {
        status: Some(approved),
        submit_date: date.clone(),
        approved_date: date.filter(|_| approved > 0),
        creator: Some("Gamu".into()),
        creator_id: Some(8),
        version: Some("Insane".into()),
        difficultyrating: Some(4.5),
        other_json: Some(r#"{"bpm":"182"}"#.into()),
        ..BeatmapMetadata::default()
    }
}

#[test]
fn the_filter_leaves_beatmaps_out_by_reason_keeps_the_metadata_and_decodes_only_what_it_keeps() {
    let osu = |file: &str| std::fs::read_to_string(data(file)).unwrap();
    let (quick, basic) = ("beatmaps/renatus-quick-insane.osu", "beatmaps/basic.osu");
    let stars = |file: &str| operators::beatmap::star_rating(file, &osu(file)).unwrap();
    // A star range that keeps renatus-quick and leaves basic out (or the other way round).
    let cut = (stars(quick) + stars(basic)) / 2.0;
    let keep_quick = if stars(quick) > cut { format!("{cut}..") } else { format!("..{cut}") };
    let filter = BeatmapFilter::new(
        Some(vec![RankedStatus::Ranked, RankedStatus::Approved]),
        Some(shards::filter::parse_years("2007..2024").unwrap()),
        Some(shards::filter::parse_stars(&keep_quick).unwrap()),
        vec![0],
    );
    let with = |id, file, mode, metadata| BeatmapRecord { metadata, ..beatmap(id, file, mode) };
    let mut kept = track("a.tar", "000001", "audio/formats/clicks.opus");
    let mut all_out = track("a.tar", "000002", "audio/formats/clicks.ogg");
    let mut songs_folder = track("a.tar", "000003", "audio/formats/clicks.mp3");
    let (Ok(k), Ok(o), Ok(f)) = (&mut kept.item, &mut all_out.item, &mut songs_folder.item) else { unreachable!() };
    k.beatmaps = vec![
        with(31, quick, Some(0), api(1, Some(2013))),
        with(32, basic, Some(0), api(2, Some(2013))),
        with(33, "beatmaps/rosupp-1028484.osu", Some(1), api(1, Some(2013))),
        with(34, quick, Some(0), api(4, Some(2013))),
    ];
    o.beatmaps = vec![
        with(41, quick, Some(0), api(-2, Some(2013))),
        with(42, quick, Some(0), api(1, Some(2005))),
        with(43, quick, Some(0), api(2, None)),
    ];
    // A Songs folder has no status: left out by --status, counted as unknown.
    f.beatmaps = vec![beatmap(51, quick, None)];

    let dir = tempfile::tempdir().unwrap();
    let mut opts = options(dir.path(), 1);
    opts.filter = filter.clone();
    let entries = vec![kept, all_out, songs_folder];
    let opener: SourceOpener = Box::new(move |_| Ok(Box::new(entries.into_iter())));
    let summary = run(opts.clone(), opener).unwrap();
    let counts = FilteredCounts { status: 3, years: 2, stars: 1, modes: 1, status_unknown: 1, years_unknown: 1 };
    assert_eq!(summary.filtered, counts, "{summary:?}");
    assert_eq!((summary.beatmaps, summary.rejects), (1, 0), "{summary:?}");
    // Tracks none of whose beatmaps is kept are not decoded: no `tracks` row.
    assert_eq!(summary.tracks, 1, "{summary:?}");
    let manifest = Manifest::read(dir.path()).unwrap();
    assert_eq!((manifest.configs.filter, manifest.filtered), (filter, counts));

    let rows = shards::read::read_beatmaps(&dir.path().join("beatmaps/a-c0000.parquet")).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].beatmap_id, rows[0].mode), (31, 0));
    assert_eq!(rows[0].metadata, api(1, Some(2013)), "the data set's metadata is kept");

    // The same filter again resumes; another is refused (the refusal test names both).
    let opener: SourceOpener = Box::new(|_| Ok(Box::new(Vec::new().into_iter())));
    assert!(run(opts, opener).is_ok());
}

#[test]
fn a_chunk_whose_tracks_file_cannot_be_written_is_not_committed_and_a_rerun_completes_it() {
    let (dir, reference) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    run_on(reference.path(), 1, corpus());
    // `tracks/a-c0000.parquet` cannot be created: a directory is in the way.
    std::fs::create_dir_all(dir.path().join("tracks/a-c0000.parquet")).unwrap();
    let summary = run_on(dir.path(), 2, corpus());
    assert_eq!(summary.chunks_committed, 1, "chunk b-c0000 is written all the same");
    assert_eq!(summary.chunk_failures.len(), 1, "the failure is reported: {:?}", summary.chunk_failures);
    assert!(summary.chunk_failures[0].contains("a-c0000"), "{:?}", summary.chunk_failures);
    assert!(!dir.path().join("commits/a-c0000.json").exists());
    assert!(dir.path().join("commits/b-c0000.json").exists());
    let temps = snapshot(dir.path()).into_keys().filter(|n| n.contains(".tmp-")).count();
    assert_eq!(temps, 0, "the half-written file is removed");
    std::fs::remove_dir(dir.path().join("tracks/a-c0000.parquet")).unwrap();
    let rerun = run_on(dir.path(), 1, corpus());
    assert_eq!((rerun.tracks_resumed, rerun.chunks_committed), (2, 1), "only a-c0000 is redone");
    assert!(rerun.chunk_failures.is_empty());
    assert_eq!(snapshot(dir.path()), snapshot(reference.path()));
}

#[test]
fn a_failed_download_leaves_its_chunk_uncommitted_and_a_rerun_reads_the_shard() {
    let (dir, reference) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    run_on(reference.path(), 1, corpus());
    let mut first = corpus();
    first.retain(|e| e.shard != "a.tar");
    let failed = shards::rejects::Reject::new("hf://o/n/a.tar", "download", "download_failed", "error sending request");
    first.insert(0, SourceEntry { shard: "a.tar".into(), item: Err(failed) });
    let summary = run_on(dir.path(), 2, first);
    assert_eq!(summary.chunks_committed, 1, "chunk b-c0000 is committed all the same");
    assert_eq!(summary.chunk_failures.len(), 1, "{:?}", summary.chunk_failures);
    assert!(summary.chunk_failures[0].contains("a-c0000") && summary.chunk_failures[0].contains("download_failed"));
    assert!(!dir.path().join("commits/a-c0000.json").exists(), "not committed: a rerun must not skip it");
    assert_eq!(shards::done::done_shards(dir.path(), None).unwrap(), ["b.tar".to_owned()].into(), "a.tar is not done");
    // The download works this time: the shard's tracks fill the chunk, as if nothing had failed.
    let rerun = run_on(dir.path(), 1, corpus());
    assert_eq!((rerun.tracks_resumed, rerun.chunks_committed), (2, 1));
    assert!(rerun.chunk_failures.is_empty());
    assert_eq!(snapshot(dir.path()), snapshot(reference.path()));
}

/// Adds the set `name` to the Songs folder `songs`: one map of `audio` (a file under tests/data).
fn add_set(songs: &Path, name: &str, audio: &str) {
    let dir = songs.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let file = Path::new(audio).file_name().unwrap().to_str().unwrap();
    std::fs::copy(data(audio), dir.join(file)).unwrap();
    let osu = std::fs::read_to_string(data("beatmaps/renatus-quick-insane.osu")).unwrap();
    std::fs::write(
        dir.join(format!("{name} [Insane].osu")),
        osu.replace("AudioFilename: virtual", &format!("AudioFilename: {file}")),
    )
    .unwrap();
}

#[test]
fn a_rerun_over_a_changed_songs_folder_redoes_only_its_changed_groups_and_ends_as_a_fresh_run() {
    let songs = tempfile::tempdir().unwrap();
    let audio = [
        "audio/formats/clicks.ogg",
        "audio/formats/clicks.opus",
        "audio/formats/clicks.mp3",
        "audio/formats/clicks.flac",
        "audio/formats/clicks-44k.mp3",
        "audio/formats/stereo.opus",
        "audio/formats/stereo.flac",
        "audio/test-sample.ogg",
        "audio/test-sample.mp3",
    ];
    // With 8 tracks per chunk, sets come in groups of 4 on average: these names start groups
    // at "100 A" and "105 F" (see `sources::songs::groups`), so the folder has two groups.
    let names = ["100 A", "101 B", "102 C", "103 D", "104 E", "105 F", "106 G", "107 H"];
    for (name, audio) in names.iter().zip(audio) {
        add_set(songs.path(), name, audio);
    }
    let run_songs = |out: &Path| {
        let mut options = options(out, 2);
        options.chunk_tracks = 8;
        run(options, source_opener(SourceUri::Songs(songs.path().to_owned()), SourceOptions::default())).unwrap()
    };
    let commits = |out: &Path| snapshot(out).into_keys().filter(|n| n.starts_with("commits/")).collect::<Vec<_>>();
    let kept = tempfile::tempdir().unwrap();
    let first = run_songs(kept.path());
    assert_eq!((first.tracks, first.rejects, first.chunks_committed), (8, 0, 2));
    let before = commits(kept.path());
    // A chunk of an output written when the whole folder was one shard `songs`.
    let mut legacy: serde_json::Value =
        serde_json::from_slice(&std::fs::read(kept.path().join(&before[0])).unwrap()).unwrap();
    legacy["chunk"] = "songs-c0000".into();
    std::fs::write(kept.path().join("commits/songs-c0000.json"), serde_json::to_vec(&legacy).unwrap()).unwrap();
    std::fs::write(kept.path().join("tracks/songs-c0000.parquet"), b"stale").unwrap();

    // A set joins the first group: only that group is redone, and its old chunk is gone.
    add_set(songs.path(), "103b X", audio[8]);
    let grown = run_songs(kept.path());
    assert_eq!((grown.tracks_resumed, grown.tracks, grown.chunks_committed), (3, 6, 1), "{grown:?}");
    let fresh = tempfile::tempdir().unwrap();
    run_songs(fresh.path());
    assert_eq!(snapshot(kept.path()), snapshot(fresh.path()), "the rerun leaves what a fresh run writes");
    let after = commits(kept.path());
    assert_eq!(before.iter().filter(|c| after.contains(c)).count(), 1, "one group kept: {before:?} → {after:?}");

    // A set removed from the second group: only that group is redone.
    std::fs::remove_dir_all(songs.path().join("106 G")).unwrap();
    let shrunk = run_songs(kept.path());
    assert_eq!((shrunk.tracks_resumed, shrunk.tracks, shrunk.chunks_committed), (6, 2, 1), "{shrunk:?}");
    let fresh = tempfile::tempdir().unwrap();
    run_songs(fresh.path());
    assert_eq!(snapshot(kept.path()), snapshot(fresh.path()));
    let manifest = Manifest::read(kept.path()).unwrap();
    assert_eq!((manifest.tracks, manifest.chunks.len()), (8, 2));

    // A map of the second group updated: its files changed size, so that group is redone.
    let map = songs.path().join("107 H/107 H [Insane].osu");
    std::fs::write(&map, std::fs::read_to_string(&map).unwrap().replace("Version:Insane", "Version:Insane v2"))
        .unwrap();
    let updated = run_songs(kept.path());
    assert_eq!((updated.tracks_resumed, updated.tracks), (6, 2), "{updated:?}");
    let fresh = tempfile::tempdir().unwrap();
    run_songs(fresh.path());
    assert_eq!(snapshot(kept.path()), snapshot(fresh.path()));
}

#[test]
fn two_uploads_of_one_song_land_in_one_split_and_outputs_split_by_audio_are_refused() {
    // Two sets of one song: other audio (other rips, other hashes), other spelling of the song.
    let mut first = track("a.tar", "000001", "audio/formats/clicks.opus");
    let mut second = track("b.tar", "000002", "audio/formats/clicks.mp3");
    let (Ok(a), Ok(b)) = (&mut first.item, &mut second.item) else { unreachable!() };
    a.beatmaps = vec![beatmap(21, "beatmaps/renatus-quick-insane.osu", Some(0))];
    let mut upload = beatmap(22, "beatmaps/renatus-quick-insane.osu", Some(0));
    upload.osu_text = upload
        .osu_text
        .replace("Title:RenatusQuick", "Title: RENATUSQUICK!")
        .replace("Artist:Soleily", "Artist:SOLEILY");
    upload.beatmapset_id = 2;
    b.beatmaps = vec![upload];
    // A seed under which their audio hashes would split them apart.
    let (id_a, id_b) = (a.track_id.clone(), b.track_id.clone());
    let seed = (0..1000).find(|&s| Split::of(&id_a, s) != Split::of(&id_b, s)).expect("a seed that splits the hashes");

    let dir = tempfile::tempdir().unwrap();
    let mut opts = options(dir.path(), 1);
    opts.split_seed = seed;
    let opener: SourceOpener = Box::new(move |_| Ok(Box::new(vec![first, second].into_iter())));
    let summary = run(opts.clone(), opener).unwrap();
    assert_eq!(summary.tracks, 2);
    let mut splits = Vec::new();
    for file in shards::entries_of(&dir.path().join("tracks")).unwrap() {
        splits.extend(shards::read::read_tracks(&file).unwrap().into_iter().map(|t| t.split));
    }
    let song = Split::of("song:soleily - renatusquick", seed);
    assert_eq!(splits, [song, song], "both uploads in the song's split");

    // An output of the first layout (split by audio file) is refused, saying why.
    let path = dir.path().join("manifest.json");
    let manifest = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, manifest.replace(shards::manifest::FORMAT, "mapflow-shards/1")).unwrap();
    let opener: SourceOpener = Box::new(|_| Ok(Box::new(Vec::new().into_iter())));
    let refused = format!("{:#}", run(opts, opener).unwrap_err());
    assert!(refused.contains("mapflow-shards/1") && refused.contains("split by song"), "{refused}");
}
