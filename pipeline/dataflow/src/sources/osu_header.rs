//! The few `.osu` header fields a source needs before full parsing (which happens in
//! `operators`): which audio file a map uses, its ids and its mode.
//!
//! ```text
//!  .osu text ──► [General] AudioFilename, Mode ; [Metadata] BeatmapID, BeatmapSetID ──► OsuHeader
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
                beatmapset_id: Some(45)
            }
        );
    }

    #[test]
    fn missing_or_odd_fields_are_none() {
        let h = read_header("osu file format v5\n[General]\nMode: 9\n[Metadata]\nBeatmapID:-\n");
        assert_eq!(h, OsuHeader::default());
        // AudioFilename outside [General] does not count.
        assert_eq!(read_header("[Events]\nAudioFilename: a.mp3\n").audio_filename, None);
    }
}
