//! Reads whole committed rows back for training and evaluation: tracks with their f16 features
//! (`read_track_features`) and complete token rows (`read_token_rows`). `retokenize` reads only
//! small columns instead (`shards::read`).
//!
//! Every row is checked as it is read, so what comes back can be indexed without a panic: a
//! track's `features` blob holds exactly `channels × frames` f16 values, and a token row has one
//! residual of each kind per token. A row that breaks this is an error naming the file and row.

use std::path::Path;

use arrow::array::{
    Array, BinaryArray, Float32Array, Float64Array, Int64Array, ListArray, PrimitiveArray, RecordBatch, StringArray,
    UInt8Array, UInt16Array, UInt32Array,
};
use arrow::datatypes::{ArrowPrimitiveType, Float32Type, UInt32Type};
use operators::features::FeatureMatrix;

use super::read::{ShardReadError, column, read_batches, read_error, split_at};
use super::rows::{Split, TokenRow};

/// One stored track: its features still as stored (f16 bytes). As read by
/// [`read_track_features`], `features` holds exactly `2 × channels × frames` bytes.
#[derive(Debug, Clone)]
pub struct TrackFeatures {
    /// The audio's id.
    pub track_id: String,
    /// Its split.
    pub split: Split,
    /// Seconds of audio.
    pub duration_s: f64,
    /// Feature rows (129).
    pub channels: usize,
    /// Feature columns.
    pub frames: usize,
    /// `channels × frames` little-endian f16.
    pub features: Vec<u8>,
}

impl TrackFeatures {
    /// Feature `(channel, frame)` as f32 (mel rows in dB).
    pub fn value(&self, channel: usize, frame: usize) -> f32 {
        let at = 2 * (channel * self.frames + frame);
        half::f16::from_le_bytes([self.features[at], self.features[at + 1]]).to_f32()
    }

    /// The whole matrix as the feature extractor made it: mel rows back in power (from dB), the
    /// onset row as stored.
    pub fn matrix(&self) -> FeatureMatrix {
        let mel_rows = self.channels.saturating_sub(1);
        let data = (0..self.channels)
            .flat_map(|c| (0..self.frames).map(move |j| (c, j)))
            .map(|(c, j)| if c < mel_rows { 10f32.powf(self.value(c, j) / 10.0) } else { self.value(c, j) })
            .collect();
        FeatureMatrix { channels: self.channels, frames: self.frames, data }
    }
}

/// A list column whose items are `T`s (type checked once, for the whole column).
struct Lists<'a, T: ArrowPrimitiveType> {
    offsets: &'a [i32],
    items: &'a [T::Native],
}

impl<'a, T: ArrowPrimitiveType> Lists<'a, T> {
    fn of(batch: &'a RecordBatch, name: &str, path: &Path) -> Result<Self, ShardReadError> {
        let lists = column::<ListArray>(batch, name, path)?;
        let items = lists
            .values()
            .as_any()
            .downcast_ref::<PrimitiveArray<T>>()
            .ok_or_else(|| read_error(path, format!("column {name:?}: the list items have the wrong type")))?;
        Ok(Self { offsets: lists.value_offsets(), items: items.values() })
    }

    fn row(&self, row: usize) -> Vec<T::Native> {
        // Arrow has checked the offsets against the items when the column was read.
        self.items[self.offsets[row] as usize..self.offsets[row + 1] as usize].to_vec()
    }
}

/// Every track of a `tracks/*.parquet` file.
pub fn read_track_features(path: &Path) -> Result<Vec<TrackFeatures>, ShardReadError> {
    let mut out = Vec::new();
    for batch in read_batches(path, None)?.1 {
        let ids = column::<StringArray>(&batch, "track_id", path)?;
        let splits = column::<StringArray>(&batch, "split", path)?;
        let durations = column::<Float64Array>(&batch, "duration_s", path)?;
        let channels = column::<UInt16Array>(&batch, "channels", path)?;
        let frames = column::<UInt32Array>(&batch, "frames", path)?;
        let features = column::<BinaryArray>(&batch, "features", path)?;
        for i in 0..batch.num_rows() {
            let track = TrackFeatures {
                track_id: ids.value(i).to_owned(),
                split: split_at(splits, i, path)?,
                duration_s: durations.value(i),
                channels: usize::from(channels.value(i)),
                frames: frames.value(i) as usize,
                features: features.value(i).to_vec(),
            };
            let expected = track.channels.checked_mul(track.frames).and_then(|n| n.checked_mul(2));
            if expected != Some(track.features.len()) {
                return Err(read_error(
                    path,
                    format!(
                        "track {}: the features blob is {} bytes, but {} channels × {} frames of f16 take {}",
                        track.track_id,
                        track.features.len(),
                        track.channels,
                        track.frames,
                        expected.map_or_else(|| "more than fit in memory".to_owned(), |n| n.to_string())
                    ),
                ));
            }
            out.push(track);
        }
    }
    Ok(out)
}

/// Every row of a `tokens/<hash>/*.parquet` file (`seq` is not stored: 0).
pub fn read_token_rows(path: &Path) -> Result<Vec<TokenRow>, ShardReadError> {
    let mut out = Vec::new();
    for batch in read_batches(path, None)?.1 {
        let f64s = |name| column::<Float64Array>(&batch, name, path);
        let u32s = |name| column::<UInt32Array>(&batch, name, path);
        let floats = |name| Lists::<Float32Type>::of(&batch, name, path);
        let beatmap_ids = column::<Int64Array>(&batch, "beatmap_id", path)?;
        let set_ids = column::<Int64Array>(&batch, "beatmapset_id", path)?;
        let track_ids = column::<StringArray>(&batch, "track_id", path)?;
        let splits = column::<StringArray>(&batch, "split", path)?;
        let stars = column::<Float32Array>(&batch, "stars", path)?;
        let bins = column::<UInt8Array>(&batch, "difficulty_bin", path)?;
        let bpm = column::<Float32Array>(&batch, "bpm", path)?;
        let (starts, anchors, beats) = (f64s("window_start_ms")?, f64s("grid_anchor_ms")?, f64s("beat_ms")?);
        let tokens = Lists::<UInt32Type>::of(&batch, "tokens", path)?;
        let (rt, rx, ry) = (floats("residual_time")?, floats("residual_x")?, floats("residual_y")?);
        let (circles, sliders, spinners) = (u32s("n_circles")?, u32s("n_sliders")?, u32s("n_spinners")?);
        for i in 0..batch.num_rows() {
            let row = TokenRow {
                seq: 0,
                beatmap_id: beatmap_ids.value(i),
                beatmapset_id: set_ids.value(i),
                track_id: track_ids.value(i).to_owned(),
                split: split_at(splits, i, path)?,
                stars: stars.value(i),
                difficulty_bin: bins.value(i),
                bpm: bpm.value(i),
                window_start_ms: starts.value(i),
                grid_anchor_ms: anchors.value(i),
                beat_ms: beats.value(i),
                tokens: tokens.row(i),
                residual_time: rt.row(i),
                residual_x: rx.row(i),
                residual_y: ry.row(i),
                n_circles: circles.value(i),
                n_sliders: sliders.value(i),
                n_spinners: spinners.value(i),
            };
            for (name, residuals) in [
                ("residual_time", &row.residual_time),
                ("residual_x", &row.residual_x),
                ("residual_y", &row.residual_y),
            ] {
                if residuals.len() != row.tokens.len() {
                    return Err(read_error(
                        path,
                        format!(
                            "row {} (beatmap {}, window at {} ms): {} tokens but {} {name} values",
                            out.len(),
                            row.beatmap_id,
                            row.window_start_ms,
                            row.tokens.len(),
                            residuals.len()
                        ),
                    ));
                }
            }
            out.push(row);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::rows::{TrackRow, tokens_batch, tracks_batch};
    use crate::writer::write_parquet;

    #[test]
    fn token_rows_and_tracks_read_back_whole() {
        let dir = tempfile::tempdir().unwrap();
        let row = TokenRow::example();
        // Lists of different lengths (empty too), over three row groups.
        let rows: Vec<TokenRow> = (0..5u32)
            .map(|i| TokenRow {
                window_start_ms: 3000.0 * f64::from(i),
                tokens: (0..i).collect(),
                residual_time: vec![0.25 * i as f32; i as usize],
                residual_x: vec![-0.5; i as usize],
                residual_y: vec![0.125; i as usize],
                ..row.clone()
            })
            .collect();
        write_parquet(dir.path(), "tokens/h/c.parquet", &tokens_batch(&rows).unwrap(), 2, &[]).unwrap();
        assert_eq!(read_token_rows(&dir.path().join("tokens/h/c.parquet")).unwrap(), rows);

        let track = track();
        write_parquet(dir.path(), "tracks/c.parquet", &tracks_batch(std::slice::from_ref(&track)).unwrap(), 1, &[])
            .unwrap();
        let read = read_track_features(&dir.path().join("tracks/c.parquet")).unwrap();
        assert_eq!(read.len(), 1);
        let got = &read[0];
        assert_eq!((got.track_id.as_str(), got.split, got.duration_s), ("t3", Split::Test, 61.5));
        assert_eq!((got.channels, got.frames, &got.features), (2, 3, &track.features));
    }

    fn track() -> TrackRow {
        TrackRow { duration_s: 61.5, ..TrackRow::example(3, Split::Test) }
    }

    #[test]
    fn a_column_of_the_wrong_type_is_an_error_naming_the_file_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let strings = |v: &str| Arc::new(StringArray::from(vec![v])) as Arc<dyn Array>;
        let batch = RecordBatch::try_from_iter([
            ("track_id", strings("t")),
            ("split", strings("train")),
            ("duration_s", strings("1.5")),
        ])
        .unwrap();
        write_parquet(dir.path(), "odd.parquet", &batch, 1, &[]).unwrap();
        let error = read_track_features(&dir.path().join("odd.parquet")).unwrap_err().to_string();
        assert!(error.contains("odd.parquet") && error.contains("duration_s"), "{error}");
        let error = read_token_rows(&dir.path().join("odd.parquet")).unwrap_err().to_string();
        assert!(error.contains("odd.parquet"), "{error}");

        let stored = tracks_batch(&[track()]).unwrap();
        let split = stored.schema().index_of("split").unwrap();
        let mut columns = stored.columns().to_vec();
        columns[split] = strings("holdout");
        let batch = RecordBatch::try_new(stored.schema(), columns).unwrap();
        write_parquet(dir.path(), "split.parquet", &batch, 1, &[]).unwrap();
        let error = read_track_features(&dir.path().join("split.parquet")).unwrap_err().to_string();
        assert!(error.contains("split.parquet") && error.contains("holdout"), "{error}");
    }

    #[test]
    fn a_features_blob_of_the_wrong_length_is_an_error_naming_the_file_and_track() {
        let dir = tempfile::tempdir().unwrap();
        // 2 channels × 3 frames need 12 bytes: one frame short, and one byte long.
        for (name, bytes) in [("short.parquet", 8), ("long.parquet", 13)] {
            let mut stored = track();
            stored.features.resize(bytes, 0);
            write_parquet(dir.path(), name, &tracks_batch(&[stored]).unwrap(), 1, &[]).unwrap();
            let error = read_track_features(&dir.path().join(name)).unwrap_err().to_string();
            assert!(error.contains(name) && error.contains("track t3") && error.contains("features"), "{error}");
        }
    }

    #[test]
    fn residual_lists_shorter_than_the_tokens_are_an_error_naming_the_file_and_row() {
        let dir = tempfile::tempdir().unwrap();
        let whole = TokenRow {
            tokens: vec![1, 2, 3],
            residual_time: vec![0.0; 3],
            residual_x: vec![0.0; 3],
            residual_y: vec![0.0; 3],
            ..TokenRow::example()
        };
        for name in ["residual_time", "residual_x", "residual_y"] {
            let mut row = whole.clone();
            let list = match name {
                "residual_time" => &mut row.residual_time,
                "residual_x" => &mut row.residual_x,
                _ => &mut row.residual_y,
            };
            list.pop();
            let file = format!("{name}.parquet");
            write_parquet(dir.path(), &file, &tokens_batch(&[whole.clone(), row]).unwrap(), 1, &[]).unwrap();
            let error = read_token_rows(&dir.path().join(&file)).unwrap_err().to_string();
            assert!(error.contains(&file) && error.contains("row 1") && error.contains(name), "{error}");
        }
    }

    #[test]
    fn list_items_of_the_wrong_type_are_an_error_naming_the_file_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let row = TokenRow {
            tokens: vec![1, 2],
            residual_time: vec![0.0; 2],
            residual_x: vec![0.0; 2],
            residual_y: vec![0.0; 2],
            ..TokenRow::example()
        };
        let stored = tokens_batch(&[row]).unwrap();
        // `tokens` as lists of i64 instead of u32.
        let tokens = ListArray::from_iter_primitive::<arrow::datatypes::Int64Type, _, _>([Some([Some(1i64), Some(2)])]);
        let at = stored.schema().index_of("tokens").unwrap();
        let mut fields: Vec<_> = stored.schema().fields().iter().cloned().collect();
        fields[at] = Arc::new(arrow::datatypes::Field::new("tokens", tokens.data_type().clone(), true));
        let mut columns = stored.columns().to_vec();
        columns[at] = Arc::new(tokens);
        let batch = RecordBatch::try_new(Arc::new(arrow::datatypes::Schema::new(fields)), columns).unwrap();
        write_parquet(dir.path(), "tokens.parquet", &batch, 1, &[]).unwrap();
        let error = read_token_rows(&dir.path().join("tokens.parquet")).unwrap_err().to_string();
        assert!(
            error.contains("tokens.parquet") && error.contains("\"tokens\"") && error.contains("list items"),
            "{error}"
        );
    }
}
