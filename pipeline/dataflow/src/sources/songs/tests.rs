use std::io::Write;

use super::*;

fn osu(audio: &str, id: i64) -> String {
    format!(
        "osu file format v14\r\n\r\n[General]\r\nAudioFilename: {audio}\r\nMode: 0\r\n\r\n[Metadata]\r\nBeatmapID:{id}\r\nBeatmapSetID:77\r\n\r\n[HitObjects]\r\n"
    )
}

fn write_osz(path: &Path, members: &[(&str, &[u8])]) {
    let mut zip = zip::ZipWriter::new(File::create(path).unwrap());
    for (name, data) in members {
        zip.start_file(*name, zip::write::SimpleFileOptions::default()).unwrap();
        zip.write_all(data).unwrap();
    }
    zip.finish().unwrap();
}

fn collect(path: &Path) -> Vec<Result<TrackRecord, Reject>> {
    SongsSource::open(path, 2).unwrap().collect()
}

fn summary(items: &[Result<TrackRecord, Reject>], root: &Path) -> Vec<String> {
    let strip = |s: &str| s.replace(&root.display().to_string(), "ROOT");
    items
        .iter()
        .map(|i| match i {
            Ok(t) => format!(
                "track {} [{}]",
                strip(&t.origin),
                t.beatmaps.iter().map(|b| b.beatmap_id.to_string()).collect::<Vec<_>>().join(",")
            ),
            Err(r) => format!("{} {}", r.kind, strip(&r.origin)),
        })
        .collect()
}

#[test]
fn safe_relative_paths() {
    assert_eq!(safe_relative_path("audio.mp3").unwrap(), "audio.mp3");
    assert_eq!(safe_relative_path("./sub\\Audio.ogg").unwrap(), "sub/Audio.ogg");
    for bad in ["../a.mp3", "sub/../../a.mp3", "/etc/passwd", "\\\\server\\a.mp3", "C:\\a.mp3", "", "./"] {
        assert!(safe_relative_path(bad).is_err(), "{bad}");
    }
}

#[test]
fn a_songs_folder_groups_beatmaps_by_audio() {
    let root = tempfile::tempdir().unwrap();
    let set = root.path().join("123 Artist - Title");
    std::fs::create_dir_all(set.join("sub")).unwrap();
    std::fs::write(set.join("a [Easy].osu"), osu("Audio.MP3", 1)).unwrap();
    std::fs::write(set.join("b [Hard].osu"), osu("audio.mp3", 2)).unwrap();
    std::fs::write(set.join("c [Other].osu"), osu("sub\\other.ogg", 3)).unwrap();
    std::fs::write(set.join("d [Evil].osu"), osu("../../secret.mp3", 4)).unwrap();
    std::fs::write(set.join("e [None].osu"), "osu file format v14\n[General]\nMode: 0\n").unwrap();
    std::fs::write(set.join("f [Gone].osu"), osu("gone.mp3", 6)).unwrap();
    std::fs::write(set.join("g [Bytes].osu"), b"\xff\xfe[General]").unwrap();
    std::fs::write(set.join("audio.mp3"), b"main audio").unwrap();
    std::fs::write(set.join("sub/other.ogg"), b"other audio").unwrap();
    std::fs::write(root.path().join("secret.mp3"), b"outside").unwrap();
    // Not a set: no .osu inside.
    std::fs::create_dir_all(root.path().join("empty")).unwrap();

    let source = SongsSource::open(root.path(), 1).unwrap();
    assert_eq!(source.sets(), [BeatmapSet::Folder(set.clone())]);
    let items: Vec<_> = source.collect();
    assert_eq!(
        summary(&items, root.path()),
        [
            "unsafe_path ROOT/123 Artist - Title:d [Evil].osu",
            "no_audio_filename ROOT/123 Artist - Title:e [None].osu",
            "not_utf8 ROOT/123 Artist - Title:g [Bytes].osu",
            "track ROOT/123 Artist - Title:audio.mp3 [1,2]",
            "track ROOT/123 Artist - Title:sub/other.ogg [3]",
            "missing_audio ROOT/123 Artist - Title:gone.mp3",
        ]
    );
    let Ok(track) = &items[3] else { unreachable!() };
    assert_eq!(track.audio, b"main audio");
    assert_eq!(track.track_id, sha256_hex(b"main audio"));
    assert_eq!(track.beatmaps[0].beatmapset_id, 77);
    assert_eq!(track.beatmaps[0].mode, Some(0));
    assert!(track.beatmaps[1].osu_text.contains("BeatmapID:2"));
}

#[cfg(unix)]
#[test]
fn a_symlink_out_of_the_set_is_rejected() {
    let root = tempfile::tempdir().unwrap();
    let set = root.path().join("set");
    std::fs::create_dir_all(&set).unwrap();
    std::fs::write(root.path().join("outside.mp3"), b"x").unwrap();
    std::os::unix::fs::symlink(root.path().join("outside.mp3"), set.join("audio.mp3")).unwrap();
    std::fs::write(set.join("a.osu"), osu("audio.mp3", 1)).unwrap();
    assert_eq!(summary(&collect(&set), root.path()), ["unsafe_path ROOT/set:audio.mp3"]);
}

#[test]
fn osz_archives_with_zip_slip_and_missing_audio() {
    let root = tempfile::tempdir().unwrap();
    write_osz(
        &root.path().join("1 good.osz"),
        &[("x [Hard].osu", osu("song.ogg", 11).as_bytes()), ("Song.ogg", b"ogg bytes"), ("bg.jpg", b"jpg")],
    );
    write_osz(
        &root.path().join("2 slip.osz"),
        &[
            ("../../evil.osu", osu("song.ogg", 21).as_bytes()),
            ("/abs.osu", b"x"),
            ("ok.osu", osu("song.ogg", 22).as_bytes()),
            ("song.ogg", b"s"),
        ],
    );
    write_osz(
        &root.path().join("3 noaudio.osz"),
        &[("a.osu", osu("missing.mp3", 31).as_bytes()), ("b.osu", osu("MISSING.mp3", 32).as_bytes())],
    );
    std::fs::write(root.path().join("4 broken.osz"), b"PK not really a zip").unwrap();

    assert_eq!(
        summary(&collect(root.path()), root.path()),
        [
            "track ROOT/1 good.osz:Song.ogg [11]",
            "unsafe_path ROOT/2 slip.osz:../../evil.osu",
            "unsafe_path ROOT/2 slip.osz:/abs.osu",
            "track ROOT/2 slip.osz:song.ogg [22]",
            "missing_audio ROOT/3 noaudio.osz:missing.mp3",
            "bad_archive ROOT/4 broken.osz",
        ]
    );
    // One .osz given directly.
    let one = collect(&root.path().join("1 good.osz"));
    let Ok(track) = &one[0] else { unreachable!() };
    assert_eq!((track.audio_name.as_str(), track.audio.as_slice()), ("Song.ogg", &b"ogg bytes"[..]));
}

#[test]
fn nothing_to_read_is_an_error_naming_the_path() {
    let root = tempfile::tempdir().unwrap();
    let err = SongsSource::open(root.path(), 1).unwrap_err();
    assert_eq!((err.kind.as_str(), err.origin), ("no_beatmaps", root.path().display().to_string()));
}

/// Sets the uncompressed size that `member`'s local and central zip headers declare.
fn declare_member_size(osz: &Path, member: &str, size: u32) {
    let mut bytes = std::fs::read(osz).unwrap();
    // (signature, offset of the uncompressed size, offset of the name length, header length)
    for (signature, size_at, name_len_at, header_len) in [(b"PK\x03\x04", 22, 26, 30), (b"PK\x01\x02", 24, 28, 46)] {
        let at = (0..bytes.len() - header_len)
            .find(|&i| {
                let name_len = u16::from_le_bytes([bytes[i + name_len_at], bytes[i + name_len_at + 1]]) as usize;
                &bytes[i..i + 4] == signature
                    && bytes[i + header_len..].starts_with(member.as_bytes())
                    && name_len == member.len()
            })
            .unwrap();
        bytes[at + size_at..at + size_at + 4].copy_from_slice(&size.to_le_bytes());
    }
    std::fs::write(osz, bytes).unwrap();
}

#[test]
fn inputs_over_the_size_limit_are_rejected_unread() {
    let root = tempfile::tempdir().unwrap();
    let over = MAX_INPUT_BYTES + 1;
    // A set folder whose audio file is over the limit (sparse: nothing is written to disk).
    let set = root.path().join("1 big folder");
    std::fs::create_dir_all(&set).unwrap();
    std::fs::write(set.join("a.osu"), osu("big.mp3", 1)).unwrap();
    File::create(set.join("big.mp3")).unwrap().set_len(over).unwrap();
    // An .osz whose audio member declares more than the limit (a zip bomb's headers).
    let osz = root.path().join("2 bomb.osz");
    write_osz(&osz, &[("b.osu", osu("big.mp3", 2).as_bytes()), ("big.mp3", b"tiny")]);
    declare_member_size(&osz, "big.mp3", u32::try_from(over).unwrap());
    let items = collect(root.path());
    assert_eq!(
        summary(&items, root.path()),
        ["too_large ROOT/1 big folder:big.mp3", "too_large ROOT/2 bomb.osz:big.mp3"]
    );
    for item in &items {
        let Err(reject) = item else { unreachable!() };
        assert!(reject.reason.contains("1024 MiB, more than the 1024 MiB"), "{reject}");
    }
}
