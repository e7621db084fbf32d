use std::path::Path;

use super::*;
use synth::webdataset::{SampleBeatmap, ShardSample, ShardWriter, write_shard};

fn beatmap(id: i64) -> SampleBeatmap {
    SampleBeatmap {
        beatmap_id: id,
        beatmapset_id: 900 + id,
        mode: 0,
        difficultyrating: 3.25,
        content: format!("osu file format v14\n[Metadata]\nBeatmapID:{id}\n"),
        api: Default::default(),
    }
}

/// A shard of `n` samples keyed 000000.. with audio `audio-{i}`, as bytes.
fn shard_bytes(n: usize) -> Vec<u8> {
    let maps: Vec<Vec<SampleBeatmap>> =
        (0..n).map(|i| vec![beatmap(10 * i as i64 + 1), beatmap(10 * i as i64 + 2)]).collect();
    let audio: Vec<Vec<u8>> = (0..n).map(|i| format!("audio-{i}").repeat(200).into_bytes()).collect();
    let keys: Vec<String> = (0..n).map(|i| format!("{i:06}")).collect();
    let mut writer = ShardWriter::new(Vec::new());
    for i in 0..n {
        writer
            .append(&ShardSample {
                key: &keys[i],
                audio_extension: "opus",
                audio: &audio[i],
                audio_length: 1.0 + i as f64,
                beatmaps: &maps[i],
            })
            .unwrap();
    }
    writer.finish().unwrap()
}

/// A tar built member by member from `(name, bytes)`.
fn raw_tar(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, data) in members {
        let mut header = tar::Header::new_ustar();
        header.set_path(name).unwrap();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append(&header, *data).unwrap();
    }
    builder.into_inner().unwrap()
}

fn read_all(bytes: &[u8]) -> Vec<Result<TrackRecord, Reject>> {
    let mut out = Vec::new();
    assert!(read_shard(bytes, "s.tar", &mut |item| {
        out.push(item);
        true
    }));
    out
}

fn kinds(items: &[Result<TrackRecord, Reject>]) -> Vec<String> {
    items
        .iter()
        .map(|i| match i {
            Ok(t) => format!("track {}", t.origin),
            Err(r) => format!("{} {}", r.kind, r.origin),
        })
        .collect()
}

#[test]
fn reads_samples_in_tar_order() {
    let items = read_all(&shard_bytes(3));
    assert_eq!(kinds(&items), ["track s.tar:000000", "track s.tar:000001", "track s.tar:000002"]);
    let track = items[1].as_ref().unwrap();
    let audio = "audio-1".repeat(200).into_bytes();
    assert_eq!(track.track_id, sha256_hex(&audio));
    assert_eq!(track.audio, audio);
    assert_eq!(track.audio_name, "000001.opus");
    assert_eq!(track.audio_length, Some(2.0));
    assert_eq!(track.beatmaps.len(), 2);
    let map = &track.beatmaps[1];
    assert_eq!(
        (map.beatmap_id, map.beatmapset_id, map.mode, map.metadata.difficultyrating),
        (12, 912, Some(0), Some(3.25))
    );
    assert_eq!(map.osu_text, beatmap(12).content);
    assert_eq!(map.name, "s.tar:000001#beatmap-12");
}

#[test]
fn tolerates_extra_fields_string_ids_json_first_and_missing_hash() {
    let json = br#"{"audio_length": "12.5", "extra": {"x": 1}, "beatmaps": [
        {"beatmap_id": "77", "beatmapset_id": "5", "mode": "0", "difficultyrating": "4.5", "approved": 1, "content": "osu"},
        {"beatmap_id": 78, "beatmapset_id": 5, "content": "osu2"}]}"#;
    let items = read_all(&raw_tar(&[("dir/a.b.json", json), ("dir/a.b.mp3", b"RIFFxxxx")]));
    assert_eq!(kinds(&items), ["track s.tar:dir/a"]);
    let track = items[0].as_ref().unwrap();
    assert_eq!(track.track_id, sha256_hex(b"RIFFxxxx"));
    assert_eq!(track.audio_name, "dir/a.b.mp3");
    assert_eq!(track.audio_length, Some(12.5));
    assert_eq!(track.beatmaps[0].beatmap_id, 77);
    assert_eq!(track.beatmaps[0].metadata.difficultyrating, Some(4.5));
    assert_eq!(track.beatmaps[0].metadata.status, Some(1));
    assert_eq!(track.beatmaps[1].mode, None);
    assert_eq!(track.beatmaps[1].metadata, BeatmapMetadata::default());
}

#[test]
fn the_api_metadata_is_kept_and_a_malformed_status_or_date_is_a_reject_saying_which() {
    // As the osu! API v1 writes a beatmap: every value a string, dates in UTC.
    let json = br#"{"audio_hash": "ab", "beatmaps": [
        {"beatmap_id": "75", "beatmapset_id": "1", "mode": "0", "approved": "1",
         "submit_date": "2007-10-06 17:46:31", "approved_date": "2007-10-06 17:46:31",
         "last_update": "2007-10-06 17:46:31", "creator": "peppy", "creator_id": "2",
         "version": "Normal", "difficultyrating": "2.4", "artist": "Kenji Ninuma",
         "title": "DISCO PRINCE", "bpm": "119.999", "content": "osu"},
        {"beatmap_id": 76, "beatmapset_id": 1, "approved": "-2", "approved_date": null,
         "submit_date": "", "creator_id": "n/a", "content": "osu"},
        {"beatmap_id": 77, "beatmapset_id": 1, "approved": "ranked", "content": "osu"},
        {"beatmap_id": 78, "beatmapset_id": 1, "approved": "9", "content": "osu"},
        {"beatmap_id": 79, "beatmapset_id": 1, "submit_date": "06/10/2007", "content": "osu"},
        {"beatmap_id": 80, "beatmapset_id": 1, "approved_date": "2007-13-06 17:46:31", "content": "osu"}]}"#;
    let items = read_all(&raw_tar(&[("000001.json", json), ("000001.opus", b"a1")]));
    let reasons: Vec<String> = items.iter().filter_map(|i| i.as_ref().err()).map(|r| r.to_string()).collect();
    assert_eq!(reasons.len(), 4, "{reasons:?}");
    for (reason, (beatmap, field)) in reasons.iter().zip([
        ("beatmap-77", "`approved` is \"ranked\""),
        ("beatmap-78", "`approved` is \"9\""),
        ("beatmap-79", "`submit_date` is \"06/10/2007\""),
        ("beatmap-80", "`approved_date` is \"2007-13-06 17:46:31\""),
    ]) {
        assert!(reason.contains(beatmap) && reason.contains(field) && reason.contains("bad_json"), "{reason}");
    }
    let Some(Ok(track)) = items.last() else { panic!("{items:?}") };
    assert_eq!(track.beatmaps.len(), 2);
    let want = BeatmapMetadata {
        status: Some(1),
        submit_date: Some("2007-10-06 17:46:31".into()),
        approved_date: Some("2007-10-06 17:46:31".into()),
        last_update: Some("2007-10-06 17:46:31".into()),
        creator: Some("peppy".into()),
        creator_id: Some(2),
        version: Some("Normal".into()),
        difficultyrating: Some(2.4),
        other_json: Some(r#"{"artist":"Kenji Ninuma","bpm":"119.999","title":"DISCO PRINCE"}"#.into()),
    };
    assert_eq!(track.beatmaps[0].metadata, want);
    // Unknown dates are none; a value without its column's type is kept as given.
    let graveyard = &track.beatmaps[1].metadata;
    assert_eq!((graveyard.status, graveyard.submit_date.as_deref(), graveyard.year()), (Some(-2), None, None));
    assert_eq!(graveyard.other_json.as_deref(), Some(r#"{"creator_id":"n/a"}"#));
}

#[test]
fn missing_members_and_bad_json_are_rejects_and_reading_goes_on() {
    let good = br#"{"audio_hash": "ABCDEF", "audio_length": 1, "beatmaps": [
        {"beatmap_id": 1, "beatmapset_id": 2, "mode": 0, "content": "osu"},
        {"beatmap_id": 3, "beatmapset_id": 2, "mode": 7, "content": "osu"},
        {"beatmapset_id": 2, "content": "osu"},
        {"beatmap_id": 4, "beatmapset_id": 2}]}"#;
    let items = read_all(&raw_tar(&[
        ("000001.opus", b"a1"),
        ("000002.json", b"{\"beatmaps\": []}"),
        ("000003.opus", b"a3"),
        ("000003.json", b"{not json"),
        ("000004.opus", b"a4"),
        ("000004.json", b"{\"audio_hash\": 5, \"beatmaps\": []}"),
        ("000005.opus", b"a5"),
        ("000005.json", b"{\"audio_hash\": \"x\"}"),
        ("000006.opus", b"a6"),
        ("000006.txt", b"ignored"),
        ("000006.json", good),
        ("000006.opus", b"a6 again"),
    ]));
    assert_eq!(
        kinds(&items),
        [
            "missing_json s.tar:000001",
            "missing_audio s.tar:000002",
            "bad_json s.tar:000003",
            "bad_json s.tar:000004",
            "bad_json s.tar:000005",
            "duplicate_member s.tar:000006",
            "bad_json s.tar:000006#beatmap-3",
            "bad_json s.tar:000006#beatmaps[2]",
            "bad_json s.tar:000006#beatmap-4",
            "track s.tar:000006",
        ]
    );
    let Ok(track) = &items[9] else { unreachable!() };
    assert_eq!(track.track_id, "abcdef");
    assert_eq!(track.audio, b"a6 again");
    assert_eq!(track.beatmaps.len(), 1);
    let Err(reject) = &items[7] else { unreachable!() };
    assert_eq!(reject.reason, "no integer `beatmap_id`");
    assert_eq!(reject.stage, STAGE_READ);
}

#[test]
fn a_corrupt_header_stops_the_shard_with_one_reject() {
    let mut bytes = shard_bytes(3);
    // The second sample's audio header starts after 000000.opus (header + 3 data blocks) and
    // 000000.json (header + 1 block): overwrite its checksum field.
    let second = find_header(&bytes, "000001.opus");
    bytes[second + 148..second + 156].copy_from_slice(b"0000001\0");
    let items = read_all(&bytes);
    assert_eq!(kinds(&items), ["track s.tar:000000", "corrupt_shard s.tar"]);
    let Err(reject) = &items[1] else { unreachable!() };
    assert!(reject.reason.contains("checksum"), "{}", reject.reason);
}

#[test]
fn a_truncated_shard_is_one_reject() {
    let bytes = shard_bytes(3);
    let cut = find_header(&bytes, "000001.opus") + 512 + 100;
    let items = read_all(&bytes[..cut]);
    assert_eq!(kinds(&items), ["track s.tar:000000", "corrupt_shard s.tar"]);
    let Err(reject) = &items[1] else { unreachable!() };
    assert!(reject.reason.contains("truncated") || reject.reason.contains("unreadable"), "{}", reject.reason);
    // Garbage that is not a tar at all.
    let items = read_all(&[0x42u8; 1000]);
    assert_eq!(kinds(&items), ["corrupt_shard s.tar"]);
}

#[test]
fn member_keys_and_kinds() {
    assert_eq!(split_member("000042.opus"), ("000042", "opus"));
    assert_eq!(split_member("dir.x/a.b.json"), ("dir.x/a", "json"));
    assert_eq!(split_member("noext"), ("noext", ""));
}

fn find_header(bytes: &[u8], name: &str) -> usize {
    (0..bytes.len()).step_by(512).find(|&o| bytes[o..].starts_with(name.as_bytes())).unwrap()
}

#[test]
fn local_shards_go_in_name_order_past_a_corrupt_one() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("compressed");
    std::fs::create_dir_all(&sub).unwrap();
    let maps = [beatmap(1)];
    for (n, key) in [(2, "000020"), (0, "000000")] {
        write_shard(
            &sub.join(format!("data-{n:06}.tar")),
            &[ShardSample { key, audio_extension: "opus", audio: key.as_bytes(), audio_length: 1.0, beatmaps: &maps }],
        )
        .unwrap();
    }
    let bytes = shard_bytes(2);
    std::fs::write(sub.join("data-000001.tar"), &bytes[..bytes.len() / 2]).unwrap();
    std::fs::write(sub.join("notes.txt"), "not a shard").unwrap();

    let source = LocalShards::open(dir.path(), 1).unwrap();
    let names: Vec<_> = source.shards().iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
    assert_eq!(names, ["data-000000.tar", "data-000001.tar", "data-000002.tar"]);
    // Shards are named relative to the source directory.
    let label = |n: &str| format!("compressed/{n}");
    let got = kinds(&source.collect::<Vec<_>>());
    assert_eq!(
        got,
        [
            format!("track {}:000000", label("data-000000.tar")),
            format!("track {}:000000", label("data-000001.tar")),
            format!("corrupt_shard {}", label("data-000001.tar")),
            format!("track {}:000020", label("data-000002.tar")),
        ]
    );
}

#[test]
fn a_directory_without_shards_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let err = LocalShards::open(dir.path(), 1).unwrap_err();
    assert_eq!(err.kind, "no_shards");
    assert_eq!(err.origin, dir.path().display().to_string());
    let missing = dir.path().join("nope");
    let err = LocalShards::open(&missing, 1).unwrap_err();
    assert_eq!((err.kind.as_str(), err.origin), ("io", missing.display().to_string()));
    assert!(!Path::new(&missing).exists());
}

#[test]
fn a_member_over_the_size_limit_is_a_reject_and_never_read() {
    let mut bytes = raw_tar(&[("000000.json", b"{}")]);
    bytes.truncate(bytes.len() - 1024); // drop the end-of-archive blocks
    let mut header = tar::Header::new_ustar();
    header.set_path("000001.opus").unwrap();
    header.set_size(MAX_INPUT_BYTES + 1);
    header.set_mode(0o644);
    header.set_cksum();
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(&[0; 4096]); // far fewer bytes than it declares
    let items = read_all(&bytes);
    // The shard then ends where its bytes do.
    assert_eq!(kinds(&items), ["too_large s.tar:000001.opus", "corrupt_shard s.tar"]);
    assert!(items[0].as_ref().unwrap_err().reason.starts_with("1024 MiB"), "{:?}", items[0]);
}
