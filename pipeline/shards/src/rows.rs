//! The rows of the three tables (`tracks`, `tokens`, `beatmaps`) and their Arrow schemas.
//!
//! `tracks`: `track_id, origin, split, duration_s, source_sample_rate, feature_config, channels,
//! frames, features` — `features` is `channels × frames` little-endian IEEE half floats, row-major:
//! rows `0..n_mels` hold the mel spectrogram in dB (`10·log10(max(power, 1e-10))`, no top-db
//! clip), the last row the onset strength. numpy: `np.frombuffer(b, '<f2').reshape(channels, frames)`.
//!
//! `tokens`: one row per beatmap window, found with its features by `(track_id, window_start_ms)`.
//!
//! `beatmaps`: one row per tokenized beatmap: `track_row` (its track's row in the chunk's
//! `tracks` file), ids, split, exact stars and the `.osu` text — what `retokenize` reads
//! instead of the source, so a new tokenizer config costs no audio decode — and the data set's
//! metadata of the beatmap ([`BeatmapMetadata`]: nullable columns, null where the source has
//! none, as a Songs folder).

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BinaryArray, Float32Array, Float64Array, Int8Array, Int64Array, ListBuilder, PrimitiveBuilder,
    RecordBatch, StringArray, UInt8Array, UInt16Array, UInt32Array,
};
use arrow::datatypes::{ArrowPrimitiveType, DataType, Field, Float32Type, Schema, SchemaRef, UInt32Type};
use serde::{Deserialize, Serialize};

use super::writer::EncodedRowGroups;

/// Which split a track belongs to, decided by its song (`preprocess` hashes the normalised artist
/// and title of its maps, else its audio hash), so that no song is in two splits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// 80 %.
    Train,
    /// 10 %.
    Val,
    /// 10 %.
    Test,
}

impl Split {
    /// The split of the song keyed `key` under `seed`: a hash decides, 8/1/1 out of 10.
    pub fn of(key: &str, seed: u64) -> Split {
        use sha2::{Digest, Sha256};
        let digest = Sha256::new().chain_update(seed.to_le_bytes()).chain_update(key.as_bytes()).finalize();
        match u64::from_le_bytes(digest[..8].try_into().expect("8 bytes")) % 10 {
            0..=7 => Split::Train,
            8 => Split::Val,
            _ => Split::Test,
        }
    }

    /// The split named `name` as stored (`train`, `val`, `test`).
    pub fn from_stored(name: &str) -> Option<Split> {
        [Split::Train, Split::Val, Split::Test].into_iter().find(|s| s.as_str() == name)
    }

    /// Lower-case name as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Val => "val",
            Split::Test => "test",
        }
    }
}

/// One audio track with its features.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrackRow {
    /// Position in the input (orders rows inside a chunk).
    pub seq: u64,
    /// The audio's hash (the data set's `audio_hash`, else sha256 of the bytes).
    pub track_id: String,
    /// Where it came from (`shard.tar:key`, a folder path).
    pub origin: String,
    /// Its split.
    pub split: Split,
    /// Seconds of audio.
    pub duration_s: f64,
    /// The sample rate before resampling.
    pub source_sample_rate: u32,
    /// Hash of the feature config.
    pub feature_config: String,
    /// Rows of the feature matrix.
    pub channels: u16,
    /// Columns of the feature matrix.
    pub frames: u32,
    /// `channels × frames` f16 little-endian bytes (see the module docs).
    pub features: Vec<u8>,
}

impl TrackRow {
    /// Encodes the row as a Parquet row group of the `tracks` table, here and now (see
    /// [`EncodedTrack`]).
    pub fn encode(self) -> EncodedTrack {
        let row_group = tracks_batch(std::slice::from_ref(&self))
            .map_err(anyhow::Error::from)
            .and_then(|batch| EncodedRowGroups::encode(&batch, 1))
            .map_err(|e| format!("encoding the tracks row of {}: {e:#}", self.origin));
        EncodedTrack {
            seq: self.seq,
            track_id: self.track_id,
            split: self.split,
            duration_s: self.duration_s,
            row_group,
        }
    }
}

/// A `tracks` row on its way to the chunk writer: what the other stages need of it, and the row
/// itself already encoded by the decode thread that made it, so compressing the features (most
/// of the writing work) does not hold up a dataflow worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EncodedTrack {
    /// Position in the input (orders rows inside a chunk).
    pub seq: u64,
    /// The audio's hash.
    pub track_id: String,
    /// Its split.
    pub split: Split,
    /// Seconds of audio.
    pub duration_s: f64,
    /// The row as one row group, or why it could not be encoded (the chunk then fails to write).
    pub row_group: Result<EncodedRowGroups, String>,
}

/// One beatmap window with its tokens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenRow {
    /// Position of the track in the input (orders rows inside a chunk).
    pub seq: u64,
    /// Beatmap id.
    pub beatmap_id: i64,
    /// Beatmap set id.
    pub beatmapset_id: i64,
    /// The track the window's features come from.
    pub track_id: String,
    /// The track's split.
    pub split: Split,
    /// Star rating (rosu-pp, NoMod).
    pub stars: f32,
    /// Difficulty bin of the stars.
    pub difficulty_bin: u8,
    /// Main BPM of the map.
    pub bpm: f32,
    /// Window start in ms from the song start.
    pub window_start_ms: f64,
    /// The window's beat-grid anchor, ms (see `operators::tokenizer::WindowGrid`).
    pub grid_anchor_ms: f64,
    /// Beat length at the anchor, ms.
    pub beat_ms: f64,
    /// Token ids.
    pub tokens: Vec<u32>,
    /// Time residual per token.
    pub residual_time: Vec<f32>,
    /// X residual per token.
    pub residual_x: Vec<f32>,
    /// Y residual per token.
    pub residual_y: Vec<f32>,
    /// Circles in the predict region.
    pub n_circles: u32,
    /// Sliders in the predict region.
    pub n_sliders: u32,
    /// Spinners in the predict region.
    pub n_spinners: u32,
}

/// One tokenized beatmap, as stored for later tokenizer configs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BeatmapRow {
    /// Row of its track in the chunk's `tracks` file.
    pub track_row: u32,
    /// Its track.
    pub track_id: String,
    /// The track's split.
    pub split: Split,
    /// Beatmap id.
    pub beatmap_id: i64,
    /// Beatmap set id.
    pub beatmapset_id: i64,
    /// The name the beatmap had in the source (used in messages).
    pub name: String,
    /// Star rating (rosu-pp, NoMod), exact.
    pub stars: f64,
    /// The `.osu` file's text.
    pub osu_text: String,
    /// Game mode (0 osu!standard; the metadata's, else the `.osu` file's).
    pub mode: u8,
    /// What the data set says of the beatmap besides.
    pub metadata: BeatmapMetadata,
}

/// A beatmap's metadata in the data set (the osu! API v1 `get_beatmaps` fields), each `None`
/// where the source has none: a Songs folder or `.osz` has no API metadata at all.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BeatmapMetadata {
    /// `approved`: -2 graveyard, -1 WIP, 0 pending, 1 ranked, 2 approved, 3 qualified, 4 loved.
    pub status: Option<i8>,
    /// `submit_date`, as the API writes it (`2013-05-24 02:11:22`, UTC).
    pub submit_date: Option<String>,
    /// `approved_date` (when it got its status; none for graveyard, WIP and pending maps).
    pub approved_date: Option<String>,
    /// `last_update`.
    pub last_update: Option<String>,
    /// `creator`: the mapper's name.
    pub creator: Option<String>,
    /// `creator_id`.
    pub creator_id: Option<i64>,
    /// `version`: the difficulty's name.
    pub version: Option<String>,
    /// `difficultyrating`: the API's star rating (the `stars` column is recomputed).
    pub difficultyrating: Option<f64>,
    /// Every other field of the beatmap's metadata (`artist`, `title`, `bpm`, `total_length`,
    /// …) as one JSON object, as given; `None` when there is none.
    pub other_json: Option<String>,
}

impl BeatmapMetadata {
    /// The year `--years` looks at: of `approved_date`, else of `submit_date` (the first four
    /// characters, which a source checks are a year).
    pub fn year(&self) -> Option<i32> {
        let date = self.approved_date.as_deref().or(self.submit_date.as_deref())?;
        date.get(..4)?.parse().ok()
    }
}

impl TokenRow {
    /// The window's beat grid as a one-line timing model (what its TIME tokens count in).
    pub fn grid_timing(&self) -> operators::beatmap::TimingModel {
        operators::beatmap::TimingModel::constant(self.grid_anchor_ms, 60_000.0 / self.beat_ms)
    }
}

/// Schema of `tracks/*.parquet`.
pub fn tracks_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("track_id", DataType::Utf8, false),
        Field::new("origin", DataType::Utf8, false),
        Field::new("split", DataType::Utf8, false),
        Field::new("duration_s", DataType::Float64, false),
        Field::new("source_sample_rate", DataType::UInt32, false),
        Field::new("feature_config", DataType::Utf8, false),
        Field::new("channels", DataType::UInt16, false),
        Field::new("frames", DataType::UInt32, false),
        Field::new("features", DataType::Binary, false),
    ]))
}

/// Schema of `tokens/<hash>/*.parquet`.
pub fn tokens_schema() -> SchemaRef {
    let list = |item: DataType| DataType::List(Arc::new(Field::new("item", item, true)));
    Arc::new(Schema::new(vec![
        Field::new("beatmap_id", DataType::Int64, false),
        Field::new("beatmapset_id", DataType::Int64, false),
        Field::new("track_id", DataType::Utf8, false),
        Field::new("split", DataType::Utf8, false),
        Field::new("stars", DataType::Float32, false),
        Field::new("difficulty_bin", DataType::UInt8, false),
        Field::new("bpm", DataType::Float32, false),
        Field::new("window_start_ms", DataType::Float64, false),
        Field::new("grid_anchor_ms", DataType::Float64, false),
        Field::new("beat_ms", DataType::Float64, false),
        Field::new("tokens", list(DataType::UInt32), false),
        Field::new("residual_time", list(DataType::Float32), false),
        Field::new("residual_x", list(DataType::Float32), false),
        Field::new("residual_y", list(DataType::Float32), false),
        Field::new("n_circles", DataType::UInt32, false),
        Field::new("n_sliders", DataType::UInt32, false),
        Field::new("n_spinners", DataType::UInt32, false),
    ]))
}

/// Schema of `beatmaps/*.parquet`.
pub fn beatmaps_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("track_row", DataType::UInt32, false),
        Field::new("track_id", DataType::Utf8, false),
        Field::new("split", DataType::Utf8, false),
        Field::new("beatmap_id", DataType::Int64, false),
        Field::new("beatmapset_id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, false),
        Field::new("stars", DataType::Float64, false),
        Field::new("osu_text", DataType::Utf8, false),
        Field::new("mode", DataType::UInt8, false),
        Field::new("status", DataType::Int8, true),
        Field::new("submit_date", DataType::Utf8, true),
        Field::new("approved_date", DataType::Utf8, true),
        Field::new("last_update", DataType::Utf8, true),
        Field::new("creator", DataType::Utf8, true),
        Field::new("creator_id", DataType::Int64, true),
        Field::new("version", DataType::Utf8, true),
        Field::new("difficultyrating", DataType::Float64, true),
        Field::new("metadata_json", DataType::Utf8, true),
    ]))
}

fn strings<'a>(values: impl Iterator<Item = &'a str>) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(values))
}

/// A nullable string column.
fn optional_strings<'a>(values: impl Iterator<Item = Option<&'a str>>) -> ArrayRef {
    Arc::new(values.collect::<StringArray>())
}

/// Builds the `tracks` batch of `rows` (in the given order).
pub fn tracks_batch(rows: &[TrackRow]) -> arrow::error::Result<RecordBatch> {
    RecordBatch::try_new(
        tracks_schema(),
        vec![
            strings(rows.iter().map(|r| r.track_id.as_str())),
            strings(rows.iter().map(|r| r.origin.as_str())),
            strings(rows.iter().map(|r| r.split.as_str())),
            Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.duration_s))),
            Arc::new(UInt32Array::from_iter_values(rows.iter().map(|r| r.source_sample_rate))),
            strings(rows.iter().map(|r| r.feature_config.as_str())),
            Arc::new(UInt16Array::from_iter_values(rows.iter().map(|r| r.channels))),
            Arc::new(UInt32Array::from_iter_values(rows.iter().map(|r| r.frames))),
            Arc::new(BinaryArray::from_iter_values(rows.iter().map(|r| r.features.as_slice()))),
        ],
    )
}

/// Builds the `beatmaps` batch of `rows` (in the given order).
pub fn beatmaps_batch(rows: &[BeatmapRow]) -> arrow::error::Result<RecordBatch> {
    RecordBatch::try_new(
        beatmaps_schema(),
        vec![
            Arc::new(UInt32Array::from_iter_values(rows.iter().map(|r| r.track_row))),
            strings(rows.iter().map(|r| r.track_id.as_str())),
            strings(rows.iter().map(|r| r.split.as_str())),
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.beatmap_id))),
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.beatmapset_id))),
            strings(rows.iter().map(|r| r.name.as_str())),
            Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.stars))),
            strings(rows.iter().map(|r| r.osu_text.as_str())),
            Arc::new(UInt8Array::from_iter_values(rows.iter().map(|r| r.mode))),
            Arc::new(rows.iter().map(|r| r.metadata.status).collect::<Int8Array>()),
            optional_strings(rows.iter().map(|r| r.metadata.submit_date.as_deref())),
            optional_strings(rows.iter().map(|r| r.metadata.approved_date.as_deref())),
            optional_strings(rows.iter().map(|r| r.metadata.last_update.as_deref())),
            optional_strings(rows.iter().map(|r| r.metadata.creator.as_deref())),
            Arc::new(rows.iter().map(|r| r.metadata.creator_id).collect::<Int64Array>()),
            optional_strings(rows.iter().map(|r| r.metadata.version.as_deref())),
            Arc::new(rows.iter().map(|r| r.metadata.difficultyrating).collect::<Float64Array>()),
            optional_strings(rows.iter().map(|r| r.metadata.other_json.as_deref())),
        ],
    )
}

/// A `list<T>` column from one `Vec` per row.
fn lists<'a, T: ArrowPrimitiveType>(lists: impl Iterator<Item = &'a Vec<T::Native>>) -> ArrayRef {
    let mut builder = ListBuilder::new(PrimitiveBuilder::<T>::new());
    for list in lists {
        builder.values().append_slice(list);
        builder.append(true);
    }
    Arc::new(builder.finish())
}

/// Builds the `tokens` batch of `rows` (in the given order).
pub fn tokens_batch(rows: &[TokenRow]) -> arrow::error::Result<RecordBatch> {
    RecordBatch::try_new(
        tokens_schema(),
        vec![
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.beatmap_id))),
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.beatmapset_id))),
            strings(rows.iter().map(|r| r.track_id.as_str())),
            strings(rows.iter().map(|r| r.split.as_str())),
            Arc::new(Float32Array::from_iter_values(rows.iter().map(|r| r.stars))),
            Arc::new(UInt8Array::from_iter_values(rows.iter().map(|r| r.difficulty_bin))),
            Arc::new(Float32Array::from_iter_values(rows.iter().map(|r| r.bpm))),
            Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.window_start_ms))),
            Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.grid_anchor_ms))),
            Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.beat_ms))),
            lists::<UInt32Type>(rows.iter().map(|r| &r.tokens)),
            lists::<Float32Type>(rows.iter().map(|r| &r.residual_time)),
            lists::<Float32Type>(rows.iter().map(|r| &r.residual_x)),
            lists::<Float32Type>(rows.iter().map(|r| &r.residual_y)),
            Arc::new(UInt32Array::from_iter_values(rows.iter().map(|r| r.n_circles))),
            Arc::new(UInt32Array::from_iter_values(rows.iter().map(|r| r.n_sliders))),
            Arc::new(UInt32Array::from_iter_values(rows.iter().map(|r| r.n_spinners))),
        ],
    )
}

#[cfg(any(test, feature = "examples"))]
impl TrackRow {
    /// A small row for tests: track `t{seq}`, 2 × 3 features whose bytes count up from `seq`.
    pub fn example(seq: u64, split: Split) -> TrackRow {
        TrackRow {
            seq,
            track_id: format!("t{seq}"),
            origin: "x.tar:000001".into(),
            split,
            duration_s: 1.5 + seq as f64,
            source_sample_rate: 48_000,
            feature_config: "f00".into(),
            channels: 2,
            frames: 3,
            features: (0..12).map(|b| b + seq as u8).collect(),
        }
    }
}

#[cfg(any(test, feature = "examples"))]
impl TokenRow {
    /// A window row for tests (track `t1`, beatmap 42), with empty token lists.
    pub fn example() -> TokenRow {
        TokenRow {
            seq: 0,
            beatmap_id: 42,
            beatmapset_id: 7,
            track_id: "t1".into(),
            split: Split::Val,
            stars: 5.25,
            difficulty_bin: 3,
            bpm: 174.0,
            window_start_ms: 3000.0,
            grid_anchor_ms: 2950.5,
            beat_ms: 344.8,
            tokens: Vec::new(),
            residual_time: Vec::new(),
            residual_x: Vec::new(),
            residual_y: Vec::new(),
            n_circles: 1,
            n_sliders: 0,
            n_spinners: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_are_stable_and_roughly_80_10_10() {
        let mut counts = [0usize; 3];
        for i in 0..10_000 {
            counts[Split::of(&format!("track-{i}"), 7) as usize] += 1;
        }
        assert!((7_700..8_300).contains(&counts[0]), "{counts:?}");
        assert!((800..1_200).contains(&counts[1]) && (800..1_200).contains(&counts[2]), "{counts:?}");
        assert_eq!(Split::of("abc", 7), Split::of("abc", 7));
    }
}
