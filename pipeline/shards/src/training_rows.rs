//! Reads whole committed rows back for training and evaluation: tracks with their f16 features
//! (`read_track_features`) and complete token rows (`read_token_rows`). `retokenize` reads only
//! small columns instead (`shards::read`).

use std::path::Path;

use arrow::array::{
    Array, BinaryArray, Float32Array, Float64Array, Int64Array, ListArray, PrimitiveArray, RecordBatch, StringArray,
    UInt8Array, UInt16Array, UInt32Array,
};
use arrow::datatypes::{ArrowPrimitiveType, Float32Type, UInt32Type};
use operators::features::FeatureMatrix;

use super::read::{ShardReadError, column, read_batches, read_error, split_at};
use super::rows::{Split, TokenRow};

/// One stored track: its features still as stored (f16 bytes).
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
            out.push(TrackFeatures {
                track_id: ids.value(i).to_owned(),
                split: split_at(splits, i, path)?,
                duration_s: durations.value(i),
                channels: usize::from(channels.value(i)),
                frames: frames.value(i) as usize,
                features: features.value(i).to_vec(),
            });
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
            out.push(TokenRow {
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
            });
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
