//! (temporary until the sources branch lands) Track records.
use serde::{Deserialize, Serialize};
use crate::shards::manifest::Reject;

/// One audio track with every beatmap timed to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrackRecord {
    /// Origin.
    pub origin: String,
    /// Track id.
    pub track_id: String,
    /// Audio name.
    pub audio_name: String,
    /// Bytes.
    pub audio: Vec<u8>,
    /// Declared length.
    pub audio_length: Option<f64>,
    /// Beatmaps.
    pub beatmaps: Vec<BeatmapRecord>,
}

/// One beatmap.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BeatmapRecord {
    /// Id.
    pub beatmap_id: i64,
    /// Set id.
    pub beatmapset_id: i64,
    /// Mode.
    pub mode: Option<u8>,
    /// Stars.
    pub stars: Option<f64>,
    /// Text.
    pub osu_text: String,
    /// Name.
    pub name: String,
}

/// An item with its source shard.
#[derive(Debug)]
pub struct SourceEntry {
    /// Shard name.
    pub shard: String,
    /// The item.
    pub item: Result<TrackRecord, Reject>,
}
