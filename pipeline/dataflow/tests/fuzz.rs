//! Fuzz properties of the sources' decoders of outside input (issue 31): WebDataset `.tar`
//! shards, the JSON of their samples, `.osz` archives, the `.osu` files of a Songs folder and the
//! hub's tree listing. Each case must end in tracks and rejects that name their input — never a
//! panic, a hang or a path out of its set.
//!
//! ```text
//!  synth ShardWriter ─► tar bytes ─► mutate ─► LocalShards (mutated shard, then an intact one)
//!  sample JSON ─► mutate_json ─► tar member ─► read_shard ─► TrackRecord / bad_json rejects
//!  zip of fixture .osu + audio ─► mutate ─► SongsSource (.osz)
//!  fixture .osu text ─► odd AudioFilename, bytes ─► set folder ─► SongsSource (folder)
//!  tree API page ─► mutate_json ─► tree_page_shards ─► HubListing plan, pinned source
//! ```

#[path = "../../../tests/support/mutate.rs"]
mod mutate;
#[path = "../../../tests/support/mutate_json.rs"]
mod mutate_json;

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use dataflow::sources::TrackRecord;
use dataflow::sources::hub::{HubListing, ListedShard, tree_page_shards};
use dataflow::sources::songs::{SongsSource, safe_relative_path};
use dataflow::sources::uri::HubSpec;
use dataflow::sources::webdataset::{LocalShards, read_shard};
use proptest::prelude::*;
use serde_json::{Value, json};
use shards::rejects::Reject;
use synth::webdataset::{SampleBeatmap, ShardSample, ShardWriter};

/// Cases of mutated shard bytes.
const SHARD_CASES: u32 = 192;
/// Cases of mutated sample JSON.
const SAMPLE_JSON_CASES: u32 = 256;
/// Cases of mutated `.osz` archives.
const OSZ_CASES: u32 = 192;
/// Cases of Songs folders with mutated `.osu` files.
const FOLDER_CASES: u32 = 96;
/// Cases of mutated tree listing pages.
const LISTING_CASES: u32 = 256;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Small fixture maps (real `.osu` text, a few KiB each).
static OSU_TEXTS: LazyLock<Vec<String>> = LazyLock::new(|| {
    ["basic.osu", "renatus-quick-insane.osu", "diffcalc-test.osu"]
        .iter()
        .map(|name| {
            let path = workspace().join("tests/data/beatmaps").join(name);
            String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned()
        })
        .collect()
});

/// A stand-in for audio: the sources never decode it.
static AUDIO: LazyLock<Vec<u8>> =
    LazyLock::new(|| mutate::head_of(&workspace().join("tests/data/audio/formats/clicks.opus"), 2048));

/// A beatmap of a sample with the API fields the data set has.
fn sample_beatmap(id: i64, text: &str) -> SampleBeatmap {
    let api = json!({
        "approved": "1", "submit_date": "2013-05-24 02:11:22", "approved_date": "2013-06-01 00:00:00",
        "last_update": "2013-06-01 00:00:00", "creator": "Gamu", "creator_id": "8", "version": "Insane",
        "bpm": "182", "tags": "a b c",
    });
    SampleBeatmap {
        beatmap_id: id,
        beatmapset_id: 900 + id,
        mode: 0,
        difficultyrating: 4.25,
        content: text.to_owned(),
        api: api.as_object().unwrap().clone(),
    }
}

/// A shard of `samples` samples (two beatmaps each) as the hub writes it.
fn shard_bytes(samples: usize) -> Vec<u8> {
    let mut writer = ShardWriter::new(Vec::new());
    for i in 0..samples {
        let maps: Vec<SampleBeatmap> =
            (0..2).map(|j| sample_beatmap((10 * i + j) as i64, &OSU_TEXTS[(i + j) % OSU_TEXTS.len()])).collect();
        let key = format!("{i:06}");
        let sample =
            ShardSample { key: &key, audio_extension: "opus", audio: &AUDIO, audio_length: 61.5, beatmaps: &maps };
        writer.append(&sample).unwrap();
    }
    writer.finish().unwrap()
}

static SHARD_SEEDS: LazyLock<Vec<Vec<u8>>> = LazyLock::new(|| vec![shard_bytes(1), shard_bytes(3)]);

/// An item's input name.
fn origin(item: &Result<TrackRecord, Reject>) -> &str {
    match item {
        Ok(track) => &track.origin,
        Err(reject) => &reject.origin,
    }
}

/// What every track must be, whatever its input: named by it, its beatmaps named by it, modes
/// in range, no more bytes than the input had.
fn check_track(track: &TrackRecord, input_bytes: usize) -> Result<(), TestCaseError> {
    prop_assert!(track.audio.len() <= input_bytes, "{} audio bytes from {input_bytes}", track.audio.len());
    for beatmap in &track.beatmaps {
        // The shard or set: a Songs source names a beatmap by its own `.osu` file.
        let input = track.origin.rsplit_once(':').map_or(track.origin.as_str(), |(input, _)| input);
        prop_assert!(beatmap.name.starts_with(input), "{} of {}", beatmap.name, track.origin);
        prop_assert!(beatmap.mode.is_none_or(|m| m <= 3), "mode {:?}", beatmap.mode);
        prop_assert!(beatmap.metadata.status.is_none_or(|s| (-2..=4).contains(&s)));
        prop_assert!(beatmap.osu_text.len() <= input_bytes);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// WebDataset shards
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(mutate::config(SHARD_CASES))]

    /// A mutated shard followed by an intact one: the first gives tracks and rejects named by
    /// it, and reading goes on to give every track of the second.
    #[test]
    fn mutated_shards_give_tracks_or_rejects_naming_the_shard_and_reading_goes_on(
        bytes in mutate::mutated(SHARD_SEEDS.clone(), 4096),
    ) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("data-000000.tar"), &bytes).unwrap();
        std::fs::write(dir.path().join("data-000001.tar"), &SHARD_SEEDS[0]).unwrap();
        let items: Vec<_> = LocalShards::open(dir.path(), 2).unwrap().collect();
        let mut intact = 0;
        for item in &items {
            let shard = origin(item).split(':').next().unwrap_or_default();
            prop_assert!(["data-000000.tar", "data-000001.tar"].contains(&shard), "{}", origin(item));
            if shard == "data-000001.tar" {
                prop_assert!(item.is_ok(), "the intact shard: {item:?}");
                intact += 1;
            }
            if let Ok(track) = item {
                check_track(track, bytes.len().max(SHARD_SEEDS[0].len()))?;
            }
        }
        prop_assert_eq!(intact, 1, "the intact shard's one track");
    }
}

/// A tar of one sample: the audio, then `json` as its `.json` member.
fn sample_tar(json: &[u8]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, data) in [("000000.opus", &AUDIO[..]), ("000000.json", json)] {
        let mut header = tar::Header::new_ustar();
        header.set_path(name).unwrap();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append(&header, data).unwrap();
    }
    builder.into_inner().unwrap()
}

/// The JSON of the seed shards' samples.
static SAMPLE_JSON: LazyLock<Vec<Value>> = LazyLock::new(|| {
    let mut archive = tar::Archive::new(&SHARD_SEEDS[1][..]);
    let mut found = Vec::new();
    for entry in archive.entries().unwrap() {
        let entry = entry.unwrap();
        if entry.path().unwrap().extension().is_some_and(|e| e == "json") {
            found.push(serde_json::from_reader(entry).unwrap());
        }
    }
    found
});

proptest! {
    #![proptest_config(mutate::config(SAMPLE_JSON_CASES))]

    /// Sample JSON with odd values: a track whose kept fields are what the filters expect, plus
    /// rejects naming the sample (or one of its beatmaps).
    #[test]
    fn mutated_sample_json_gives_a_track_or_rejects_naming_the_sample(json in mutate_json::mutated(SAMPLE_JSON.clone())) {
        let tar = sample_tar(&json);
        let mut items = Vec::new();
        let went_on = read_shard(&tar[..], "fuzz.tar", &mut |item| {
            items.push(item);
            true
        });
        prop_assert!(went_on);
        prop_assert!(!items.is_empty());
        for item in &items {
            prop_assert!(origin(item).starts_with("fuzz.tar:000000"), "{}", origin(item));
            match item {
                Ok(track) => {
                    check_track(track, tar.len())?;
                    for beatmap in &track.beatmaps {
                        let dates = [&beatmap.metadata.submit_date, &beatmap.metadata.approved_date];
                        for date in dates.into_iter().flatten() {
                            prop_assert!(date.as_bytes().get(4) == Some(&b'-'), "date {date:?}");
                        }
                        if let Some(other) = &beatmap.metadata.other_json {
                            prop_assert!(serde_json::from_str::<Value>(other).is_ok(), "{other}");
                        }
                    }
                }
                Err(reject) => prop_assert!(!reject.reason.is_empty()),
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// .osz archives and Songs folders
// ---------------------------------------------------------------------------------------------

/// A zip of the fixture maps and their audio, members `compression`-compressed.
fn osz_bytes(compression: zip::CompressionMethod) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(compression);
    for (i, text) in OSU_TEXTS.iter().enumerate() {
        let text = text.replacen("AudioFilename:", &format!("AudioFilename: sub/audio{}.mp3\nOld:", i % 2), 1);
        zip.start_file(format!("map {i}.osu"), options).unwrap();
        zip.write_all(text.as_bytes()).unwrap();
    }
    for i in 0..2 {
        zip.start_file(format!("sub/audio{i}.mp3"), options).unwrap();
        zip.write_all(&AUDIO).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

static OSZ_SEEDS: LazyLock<Vec<Vec<u8>>> =
    LazyLock::new(|| vec![osz_bytes(zip::CompressionMethod::Deflated), osz_bytes(zip::CompressionMethod::Stored)]);

/// What every item of a Songs source must be: named by the set at `set`, its audio a path
/// inside it.
fn check_set_items(items: &[Result<TrackRecord, Reject>], set: &Path, input_bytes: usize) -> Result<(), TestCaseError> {
    let label = set.display().to_string();
    for item in items {
        prop_assert!(origin(item).starts_with(&label), "{} not of {label}", origin(item));
        if let Ok(track) = item {
            check_track(track, input_bytes)?;
            let safe = safe_relative_path(&track.audio_name);
            prop_assert_eq!(safe.as_deref(), Ok(track.audio_name.as_str()));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(mutate::config(OSZ_CASES))]

    #[test]
    fn mutated_osz_archives_give_tracks_or_rejects_naming_the_archive(bytes in mutate::mutated(OSZ_SEEDS.clone(), 4096)) {
        let dir = tempfile::tempdir().unwrap();
        let osz = dir.path().join("123 Artist - Title.osz");
        std::fs::write(&osz, &bytes).unwrap();
        let items: Vec<_> = SongsSource::open(&osz, 2).unwrap().collect();
        // Deflate expands at most ~1032:1.
        check_set_items(&items, &osz, bytes.len() * 1100)?;
    }
}

/// `AudioFilename` values that must stay in their set or be refused.
const ODD_AUDIO_NAMES: [&str; 14] = [
    "../audio.mp3",
    "sub/../../audio.mp3",
    "/etc/passwd",
    "C:\\audio.mp3",
    "\\\\server\\share\\audio.mp3",
    "AUDIO.MP3",
    "sub\\Audio.mp3",
    "./audio.mp3",
    "",
    "   ",
    ".",
    "sub/",
    "audio.mp3\0x",
    "link.mp3",
];

/// A Songs folder's set: its `.osu` files (each the text of a fixture map with an odd
/// `AudioFilename` and a few byte edits), `audio.mp3`, `sub/audio.mp3` and a symlink out.
fn write_set(set: &Path, maps: &[(usize, usize, Vec<mutate::Mutation>)]) -> usize {
    std::fs::create_dir_all(set.join("sub")).unwrap();
    std::fs::write(set.join("audio.mp3"), &*AUDIO).unwrap();
    std::fs::write(set.join("sub/audio.mp3"), &*AUDIO).unwrap();
    std::fs::write(set.parent().unwrap().join("outside.mp3"), &*AUDIO).unwrap();
    std::os::unix::fs::symlink("../outside.mp3", set.join("link.mp3")).unwrap();
    let mut bytes = 0;
    for (i, (text, audio, edits)) in maps.iter().enumerate() {
        let text = OSU_TEXTS[text % OSU_TEXTS.len()].replacen(
            "AudioFilename:",
            &format!("AudioFilename: {}\nOld:", ODD_AUDIO_NAMES[*audio]),
            1,
        );
        let text = mutate::apply(text.as_bytes(), edits);
        bytes += text.len();
        std::fs::write(set.join(format!("map {i}.osu")), text).unwrap();
    }
    bytes + AUDIO.len()
}

proptest! {
    #![proptest_config(mutate::config(FOLDER_CASES))]

    #[test]
    fn songs_folders_with_mutated_osu_files_give_tracks_inside_their_set_or_rejects(
        maps in proptest::collection::vec(
            (any::<usize>(), 0..ODD_AUDIO_NAMES.len(), proptest::collection::vec(mutate::mutation(), 0..3)),
            1..4,
        ),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let set = dir.path().join("123 Artist - Title");
        let bytes = write_set(&set, &maps);
        let items: Vec<_> = SongsSource::open(dir.path(), 2).unwrap().collect();
        check_set_items(&items, &set, bytes)?;
        for track in items.iter().flatten() {
            prop_assert_ne!(track.audio_name.as_str(), "link.mp3", "audio read through a link out of the set");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The hub's tree listing
// ---------------------------------------------------------------------------------------------

/// A page of the tree API as the hub writes it: LFS shards, a shard in git, other files.
fn tree_page(shards: usize) -> Value {
    let mut entries = vec![json!({"type": "directory", "oid": "d0", "size": 0, "path": "compressed"})];
    for i in 0..shards {
        let digest = format!("{:064x}", 0xabc0 + i);
        entries.push(json!({
            "type": "file", "oid": format!("{:040x}", i), "size": 134, "path": format!("compressed/data-{i:06}.tar"),
            "lfs": {"oid": digest, "size": 1_070_000_000u64 + i as u64, "pointerSize": 134}, "xetHash": "x",
        }));
    }
    entries.push(json!({"type": "file", "oid": "bb", "size": 12, "path": "compressed/data-999999.tar"}));
    entries.push(json!({"type": "file", "oid": "cc", "size": 9, "path": "compressed/README.md"}));
    Value::Array(entries)
}

static TREE_PAGES: LazyLock<Vec<Value>> = LazyLock::new(|| vec![tree_page(1), tree_page(4)]);

fn spec() -> HubSpec {
    HubSpec {
        owner: "project-riz".into(),
        name: "osu-beatmaps".into(),
        config: "compressed".into(),
        shards: None,
        revision: None,
    }
}

/// What a listed shard must be for its download and its cache blob: a file directly under the
/// config, a SHA-256 that a download can match, a blob name that is one file name.
fn check_listed(shard: &ListedShard) -> Result<(), TestCaseError> {
    let name = shard.path.strip_prefix("compressed/");
    prop_assert!(name.is_some_and(|n| !n.contains('/') && n.ends_with(".tar")), "{}", shard.path);
    if let Some(digest) = &shard.sha256 {
        prop_assert!(
            digest.len() == 64 && digest.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()),
            "listed sha256 {digest:?}"
        );
    }
    prop_assert!(
        !shard.oid.is_empty() && !shard.oid.contains(['/', '\\']) && shard.oid != "." && shard.oid != "..",
        "oid {:?}",
        shard.oid
    );
    Ok(())
}

proptest! {
    #![proptest_config(mutate::config(LISTING_CASES))]

    /// A tree page with odd values: its shards are ones that can be downloaded, verified and
    /// planned, or the page is refused.
    #[test]
    fn mutated_tree_pages_list_downloadable_shards_or_are_refused(page in mutate_json::mutated(TREE_PAGES.clone())) {
        let Ok(mut shards) = tree_page_shards(&page, "compressed/") else { return Ok(()) };
        for shard in &shards {
            check_listed(shard)?;
        }
        shards.sort_by(|a, b| a.path.cmp(&b.path));
        shards.dedup_by(|a, b| a.path == b.path);
        let listing = HubListing { sha: "s".into(), selected: 0..shards.len(), shards };
        let done: BTreeSet<String> = listing.shards.iter().take(1).map(|s| s.name().to_owned()).collect();
        for keep in [false, true] {
            let plan = listing.plan(&done, keep);
            prop_assert!(plan.max_disk_bytes <= plan.download_bytes);
        }
        let pinned = listing.pinned_source(&spec());
        prop_assert!(pinned.shards.len() <= listing.shards.len());
    }
}

#[test]
fn the_seed_listing_is_read_whole() {
    let page = serde_json::to_vec(&tree_page(4)).unwrap();
    let shards = tree_page_shards(&page, "compressed/").unwrap();
    assert_eq!(shards.len(), 5, "four LFS shards and one in git");
    for shard in &shards {
        check_listed(shard).unwrap();
    }
}
