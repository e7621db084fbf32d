//! Reading committed shards back: only the columns asked for (never `tracks.features`), so
//! `retokenize` touches kilobytes per chunk, not the spectrograms.
//!
//! ```text
//! tracks/<chunk>.parquet   ─► projection (track_id, split, duration_s) ─► StoredTrack per row
//! beatmaps/<chunk>.parquet ─► every column (the metadata's nullable)    ─► BeatmapRow per row
//! ```
//! The typed column access here (a missing or wrong-typed column is an error naming the file)
//! serves `training_rows` too, which reads whole rows.

use std::fs::File;
use std::path::{Path, PathBuf};

use arrow::array::{Array, Float64Array, Int8Array, Int64Array, RecordBatch, StringArray, UInt8Array, UInt32Array};
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatchReader;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::rows::{BeatmapMetadata, BeatmapRow, Split};

/// A shard that could not be read back.
#[derive(Debug, thiserror::Error)]
#[error("reading {}: {message}", path.display())]
pub struct ShardReadError {
    /// The file.
    pub path: PathBuf,
    /// What went wrong.
    pub message: String,
}

/// A [`ShardReadError`] for `path`.
pub(crate) fn read_error(path: &Path, message: impl ToString) -> ShardReadError {
    ShardReadError { path: path.to_owned(), message: message.to_string() }
}

/// Reads the Parquet file at `path` in its row groups' batches: only the named top-level
/// `columns`, or every column when `None`.
pub(crate) fn read_batches(
    path: &Path,
    columns: Option<&[&str]>,
) -> Result<(SchemaRef, Vec<RecordBatch>), ShardReadError> {
    let file = File::open(path).map_err(|e| read_error(path, e))?;
    let mut builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| read_error(path, e))?;
    if let Some(columns) = columns {
        let schema = builder.schema().clone();
        let mut indices = Vec::with_capacity(columns.len());
        for name in columns {
            indices.push(schema.index_of(name).map_err(|_| read_error(path, format!("no column {name:?}")))?);
        }
        let mask = ProjectionMask::roots(builder.parquet_schema(), indices);
        builder = builder.with_projection(mask);
    }
    let reader = builder.build().map_err(|e| read_error(path, e))?;
    let schema = reader.schema();
    let batches = reader.collect::<Result<Vec<_>, _>>().map_err(|e| read_error(path, e))?;
    Ok((schema, batches))
}

/// Reads the named top-level `columns` of the Parquet file at `path` as one batch.
pub fn read_columns(path: &Path, columns: &[&str]) -> Result<RecordBatch, ShardReadError> {
    let (schema, batches) = read_batches(path, Some(columns))?;
    arrow::compute::concat_batches(&schema, &batches).map_err(|e| read_error(path, e))
}

/// The column `name` of `batch` as an `A`; an error naming `path` if it is missing or not an `A`.
pub(crate) fn column<'a, A: Array + 'static>(
    batch: &'a RecordBatch,
    name: &str,
    path: &Path,
) -> Result<&'a A, ShardReadError> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<A>())
        .ok_or_else(|| read_error(path, format!("column {name:?} is missing or has the wrong type")))
}

/// The split stored in `row` of `splits`; an error naming `path` for an unknown name.
pub(crate) fn split_at(splits: &StringArray, row: usize, path: &Path) -> Result<Split, ShardReadError> {
    Split::from_stored(splits.value(row))
        .ok_or_else(|| read_error(path, format!("row {row}: unknown split {:?}", splits.value(row))))
}

/// One `tracks` row as token rows need it (no features).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredTrack {
    /// The track id.
    pub track_id: String,
    /// Its split.
    pub split: Split,
    /// Seconds of audio.
    pub duration_s: f64,
}

/// The tracks of a `tracks/*.parquet` file, in row order, without their features.
pub fn read_tracks(path: &Path) -> Result<Vec<StoredTrack>, ShardReadError> {
    let batch = read_columns(path, &["track_id", "split", "duration_s"])?;
    let ids = column::<StringArray>(&batch, "track_id", path)?;
    let splits = column::<StringArray>(&batch, "split", path)?;
    let durations = column::<Float64Array>(&batch, "duration_s", path)?;
    (0..batch.num_rows())
        .map(|row| {
            Ok(StoredTrack {
                track_id: ids.value(row).to_owned(),
                split: split_at(splits, row, path)?,
                duration_s: durations.value(row),
            })
        })
        .collect()
}

/// Every row of a `beatmaps/*.parquet` file, in row order.
pub fn read_beatmaps(path: &Path) -> Result<Vec<BeatmapRow>, ShardReadError> {
    let names = [
        "track_row",
        "track_id",
        "split",
        "beatmap_id",
        "beatmapset_id",
        "name",
        "stars",
        "osu_text",
        "mode",
        "status",
        "submit_date",
        "approved_date",
        "last_update",
        "creator",
        "creator_id",
        "version",
        "difficultyrating",
        "metadata_json",
    ];
    let batch = read_columns(path, &names)?;
    let track_rows = column::<UInt32Array>(&batch, "track_row", path)?;
    let track_ids = column::<StringArray>(&batch, "track_id", path)?;
    let splits = column::<StringArray>(&batch, "split", path)?;
    let beatmap_ids = column::<Int64Array>(&batch, "beatmap_id", path)?;
    let set_ids = column::<Int64Array>(&batch, "beatmapset_id", path)?;
    let beatmap_names = column::<StringArray>(&batch, "name", path)?;
    let stars = column::<Float64Array>(&batch, "stars", path)?;
    let texts = column::<StringArray>(&batch, "osu_text", path)?;
    let modes = column::<UInt8Array>(&batch, "mode", path)?;
    let statuses = column::<Int8Array>(&batch, "status", path)?;
    let text = |name: &str| column::<StringArray>(&batch, name, path);
    let (submitted, approved, updated) = (text("submit_date")?, text("approved_date")?, text("last_update")?);
    let (creators, versions, others) = (text("creator")?, text("version")?, text("metadata_json")?);
    let creator_ids = column::<Int64Array>(&batch, "creator_id", path)?;
    let ratings = column::<Float64Array>(&batch, "difficultyrating", path)?;
    let string_at = |column: &StringArray, row: usize| column.is_valid(row).then(|| column.value(row).to_owned());
    (0..batch.num_rows())
        .map(|row| {
            Ok(BeatmapRow {
                track_row: track_rows.value(row),
                track_id: track_ids.value(row).to_owned(),
                split: split_at(splits, row, path)?,
                beatmap_id: beatmap_ids.value(row),
                beatmapset_id: set_ids.value(row),
                name: beatmap_names.value(row).to_owned(),
                stars: stars.value(row),
                osu_text: texts.value(row).to_owned(),
                mode: modes.value(row),
                metadata: BeatmapMetadata {
                    status: statuses.is_valid(row).then(|| statuses.value(row)),
                    submit_date: string_at(submitted, row),
                    approved_date: string_at(approved, row),
                    last_update: string_at(updated, row),
                    creator: string_at(creators, row),
                    creator_id: creator_ids.is_valid(row).then(|| creator_ids.value(row)),
                    version: string_at(versions, row),
                    difficultyrating: ratings.is_valid(row).then(|| ratings.value(row)),
                    other_json: string_at(others, row),
                },
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rows::{TrackRow, beatmaps_batch, tracks_batch};
    use crate::writer::write_parquet;

    #[test]
    fn written_rows_read_back_and_tracks_without_features() {
        let dir = tempfile::tempdir().unwrap();
        let track = TrackRow::example;
        let tracks = [track(0, Split::Train), track(1, Split::Test)];
        write_parquet(dir.path(), "tracks/c.parquet", &tracks_batch(&tracks).unwrap(), 1, &[]).unwrap();
        let read = read_tracks(&dir.path().join("tracks/c.parquet")).unwrap();
        let want: Vec<StoredTrack> = tracks
            .iter()
            .map(|t| StoredTrack { track_id: t.track_id.clone(), split: t.split, duration_s: t.duration_s })
            .collect();
        assert_eq!(read, want);

        let beatmap = BeatmapRow {
            track_row: 1,
            track_id: "t1".into(),
            split: Split::Test,
            beatmap_id: 42,
            beatmapset_id: 7,
            name: "x.tar:000001#beatmap-42".into(),
            stars: 4.123_456_789_012_345,
            osu_text: "osu file format v14\n".into(),
            mode: 0,
            metadata: BeatmapMetadata {
                status: Some(-2),
                submit_date: Some("2013-05-24 02:11:22".into()),
                approved_date: None,
                last_update: Some("2014-01-01 00:00:00".into()),
                creator: Some("Gamu".into()),
                creator_id: Some(8),
                version: Some("Insane".into()),
                difficultyrating: Some(5.1),
                other_json: Some(r#"{"bpm":"182"}"#.into()),
            },
        };
        // Metadata round-trips, and a source without any (a Songs folder) stores nulls.
        let rows = vec![
            beatmap.clone(),
            BeatmapRow { track_row: 0, beatmap_id: 0, metadata: BeatmapMetadata::default(), ..beatmap },
        ];
        write_parquet(dir.path(), "beatmaps/c.parquet", &beatmaps_batch(&rows).unwrap(), 1, &[]).unwrap();
        assert_eq!(read_beatmaps(&dir.path().join("beatmaps/c.parquet")).unwrap(), rows, "stars are exact");
    }

    #[test]
    fn a_missing_file_or_column_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("tracks/none.parquet");
        assert!(read_tracks(&missing).unwrap_err().to_string().contains("none.parquet"));
        let rows = [BeatmapRow {
            track_row: 0,
            track_id: "t".into(),
            split: Split::Val,
            beatmap_id: 1,
            beatmapset_id: 1,
            name: "n".into(),
            stars: 1.0,
            osu_text: String::new(),
            mode: 0,
            metadata: BeatmapMetadata::default(),
        }];
        write_parquet(dir.path(), "b.parquet", &beatmaps_batch(&rows).unwrap(), 1, &[]).unwrap();
        let error = read_tracks(&dir.path().join("b.parquet")).unwrap_err().to_string();
        assert!(error.contains("b.parquet") && error.contains("duration_s"), "{error}");
    }
}
