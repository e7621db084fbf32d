//! The few `.osu` header fields a source needs before full parsing (which happens in
//! `operators`): which audio file a map uses, its ids, its mode and its song.
//!
//! ```text
//!  .osu text ──► [General] AudioFilename, Mode ; [Metadata] Title, Artist, BeatmapID, BeatmapSetID ──► OsuHeader
//!  the track's maps ──► song_key: "song:<artist> - <title>" (normalised), else the audio hash ──► its split
//! ```

/// Header fields of one `.osu` file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OsuHeader {
    /// `AudioFilename:` as written (trimmed), relative to the set folder.
    pub audio_filename: Option<String>,
    /// `Mode:` from `[General]`, when present and a number 0..=3.
    pub mode: Option<u8>,
    /// `BeatmapID:` from `[Metadata]` (v10+ files), when a number.
    pub beatmap_id: Option<i64>,
    /// `BeatmapSetID:` from `[Metadata]`, when a number.
    pub beatmapset_id: Option<i64>,
    /// `Artist:` (romanised) from `[Metadata]`, when not empty.
    pub artist: Option<String>,
    /// `Title:` (romanised) from `[Metadata]`, when not empty.
    pub title: Option<String>,
}

/// The key a track's split is decided by, so that every upload of one song (other rips, other
/// audio files, other sets) lands in one split: `song:<artist> - <title>` from the first of its
/// `.osu` texts (in input order) that names both an artist and a title (romanised, `Artist:` and
/// `Title:`), each normalised by [`normalise_song_field`]; the audio's `track_id` when none does
/// (a title alone is too little: many songs are called `Intro`).
pub fn song_key<'a>(osu_texts: impl IntoIterator<Item = &'a str>, track_id: &str) -> String {
    for text in osu_texts {
        let header = read_header(text);
        let artist = normalise_song_field(header.artist.as_deref().unwrap_or(""));
        let title = normalise_song_field(header.title.as_deref().unwrap_or(""));
        if !artist.is_empty() && !title.is_empty() {
            return format!("song:{artist} - {title}");
        }
    }
    track_id.to_owned()
}

/// A song field as split keys compare it: lower case, every run of characters that are not
/// letters or digits (spaces, punctuation, symbols) one space, none at either end. So
/// `"Renatus (TV Size)"` and `"renatus - tv size"` are one title; words and scripts are kept,
/// so `Renatus` and `レナトス` are not.
pub fn normalise_song_field(value: &str) -> String {
    value
        .split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Reads the header fields from `text`, stopping at the first section after `[Metadata]`.
pub fn read_header(text: &str) -> OsuHeader {
    let mut header = OsuHeader::default();
    let mut section = "";
    for line in text.lines() {
        let line = line.trim_start_matches('\u{feff}').trim();
        if line.starts_with('[') && line.ends_with(']') {
            if section == "Metadata" {
                break;
            }
            section = &line[1..line.len() - 1];
            continue;
        }
        let Some((key, value)) = line.split_once(':') else { continue };
        let value = value.trim();
        match (section, key.trim()) {
            ("General", "AudioFilename") if !value.is_empty() => header.audio_filename = Some(value.to_owned()),
            ("General", "Mode") => header.mode = value.parse().ok().filter(|m| *m <= 3),
            ("Metadata", "BeatmapID") => header.beatmap_id = value.parse().ok(),
            ("Metadata", "BeatmapSetID") => header.beatmapset_id = value.parse().ok(),
            ("Metadata", "Artist") if !value.is_empty() => header.artist = Some(value.to_owned()),
            ("Metadata", "Title") if !value.is_empty() => header.title = Some(value.to_owned()),
            _ => {}
        }
    }
    header
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_fields_with_bom_crlf_and_spacing() {
        let text = "\u{feff}osu file format v14\r\n\r\n[General]\r\nAudioFilename:  my song.mp3 \r\nAudioLeadIn: 0\r\n\
                    Mode: 0\r\n\r\n[Editor]\r\nBookmarks: 1,2\r\n[Metadata]\r\nTitle:AudioFilename: no\r\n\
                    BeatmapID:123\r\nBeatmapSetID:45\r\n\r\n[HitObjects]\r\n256,192,1000,1,0\r\n";
        assert_eq!(
            read_header(text),
            OsuHeader {
                audio_filename: Some("my song.mp3".into()),
                mode: Some(0),
                beatmap_id: Some(123),
                beatmapset_id: Some(45),
                artist: None,
                title: Some("AudioFilename: no".into()),
            }
        );
    }

    #[test]
    fn uploads_of_one_song_share_a_key_and_maps_without_a_song_fall_back_to_the_audio() {
        let map =
            |artist: &str, title: &str| format!("osu file format v14\n[Metadata]\nTitle:{title}\nArtist:{artist}\n");
        let a = map("Soleily", "Renatus (TV Size)");
        let b = map("  SOLEILY ", "renatus - tv   size!");
        assert_eq!(song_key([a.as_str()], "hash-a"), "song:soleily - renatus tv size");
        assert_eq!(song_key([a.as_str()], "hash-a"), song_key([b.as_str()], "hash-b"));
        assert_ne!(
            song_key([map("Soleily", "Renatus").as_str()], "h"),
            song_key([map("Soleily", "レナトス").as_str()], "h")
        );
        let bare = "osu file format v14\n[Metadata]\nBeatmapID:1\nTitle:Renatus\n";
        assert_eq!(
            song_key([bare, a.as_str()], "hash-a"),
            "song:soleily - renatus tv size",
            "the first map naming both artist and title"
        );
        assert_eq!(song_key([bare], "hash-c"), "hash-c");
        assert_eq!(song_key(std::iter::empty::<&str>(), "hash-d"), "hash-d");
        assert_eq!(normalise_song_field("Ünïcode—Title"), "ünïcode title");
    }

    #[test]
    fn missing_or_odd_fields_are_none() {
        let h = read_header("osu file format v5\n[General]\nMode: 9\n[Metadata]\nBeatmapID:-\n");
        assert_eq!(h, OsuHeader::default());
        // AudioFilename outside [General] does not count.
        assert_eq!(read_header("[Events]\nAudioFilename: a.mp3\n").audio_filename, None);
    }
}
