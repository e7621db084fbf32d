//! Title and artist from an audio file's tags (ID3, Vorbis comments, MP4 atoms), best effort.

use std::fs::File;
use std::path::Path;

use symphonia::core::formats::FormatOptions;
use symphonia::core::formats::probe::Hint;
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::{MetadataOptions, StandardTag};

/// The tags a beatmap's `[Metadata]` takes from its song.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SongTags {
    /// Track title.
    pub title: Option<String>,
    /// Artist.
    pub artist: Option<String>,
}

/// Reads `path`'s title and artist; missing tags (or an unreadable file) give `None`s.
pub fn read_tags(path: &Path) -> SongTags {
    let mut tags = SongTags::default();
    let Ok(file) = File::open(path) else { return tags };
    let stream = MediaSourceStream::new(Box::new(file), Default::default());
    let Ok(mut format) = symphonia::default::get_probe().probe(
        &Hint::new(),
        stream,
        FormatOptions::default(),
        MetadataOptions::default(),
    ) else {
        return tags;
    };
    let mut metadata = format.metadata();
    let Some(revision) = metadata.skip_to_latest() else { return tags };
    let all = revision.media.tags.iter().chain(revision.per_track.iter().flat_map(|t| t.metadata.tags.iter()));
    for tag in all {
        let text = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
        match &tag.std {
            Some(StandardTag::TrackTitle(v)) if tags.title.is_none() => tags.title = text(v),
            Some(StandardTag::Artist(v)) if tags.artist.is_none() => tags.artist = text(v),
            _ => {}
        }
    }
    tags
}
