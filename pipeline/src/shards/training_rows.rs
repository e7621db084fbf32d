//! Reads whole committed rows back for training and evaluation: tracks with their f16 features
//! (`read_track_features`) and complete token rows (`read_token_rows`). `retokenize` reads only
//! small columns instead (`shards::read`).

use std::fs::File;
use std::path::Path;

use anyhow::Context;
use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Float32Type, Float64Type, Int64Type, UInt8Type, UInt16Type, UInt32Type};
use operators::features::FeatureMatrix;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

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

fn batches(path: &Path) -> anyhow::Result<Vec<RecordBatch>> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.build())
        .with_context(|| format!("{}: not a readable Parquet file", path.display()))?;
    reader.collect::<Result<Vec<_>, _>>().with_context(|| format!("reading {}", path.display()))
}

fn split_of(name: &str, path: &Path) -> anyhow::Result<Split> {
    serde_json::from_value(serde_json::Value::String(name.to_owned()))
        .with_context(|| format!("{}: unknown split {name:?}", path.display()))
}

fn column<'a>(batch: &'a RecordBatch, name: &str, path: &Path) -> anyhow::Result<&'a dyn Array> {
    batch.column_by_name(name).map(|c| c.as_ref()).with_context(|| format!("{}: no column {name}", path.display()))
}

/// Every track of a `tracks/*.parquet` file.
pub fn read_track_features(path: &Path) -> anyhow::Result<Vec<TrackFeatures>> {
    let mut out = Vec::new();
    for batch in batches(path)? {
        let ids = column(&batch, "track_id", path)?.as_string::<i32>();
        let splits = column(&batch, "split", path)?.as_string::<i32>();
        let durations = column(&batch, "duration_s", path)?.as_primitive::<Float64Type>();
        let channels = column(&batch, "channels", path)?.as_primitive::<UInt16Type>();
        let frames = column(&batch, "frames", path)?.as_primitive::<UInt32Type>();
        let features = column(&batch, "features", path)?.as_binary::<i32>();
        for i in 0..batch.num_rows() {
            out.push(TrackFeatures {
                track_id: ids.value(i).to_owned(),
                split: split_of(splits.value(i), path)?,
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
pub fn read_token_rows(path: &Path) -> anyhow::Result<Vec<TokenRow>> {
    let mut out = Vec::new();
    for batch in batches(path)? {
        let f64s = |name| column(&batch, name, path).map(|c| c.as_primitive::<Float64Type>());
        let u32s = |name| column(&batch, name, path).map(|c| c.as_primitive::<UInt32Type>());
        let lists = |name| column(&batch, name, path).map(|c| c.as_list::<i32>());
        let beatmap_ids = column(&batch, "beatmap_id", path)?.as_primitive::<Int64Type>();
        let set_ids = column(&batch, "beatmapset_id", path)?.as_primitive::<Int64Type>();
        let track_ids = column(&batch, "track_id", path)?.as_string::<i32>();
        let splits = column(&batch, "split", path)?.as_string::<i32>();
        let stars = column(&batch, "stars", path)?.as_primitive::<Float32Type>();
        let bins = column(&batch, "difficulty_bin", path)?.as_primitive::<UInt8Type>();
        let bpm = column(&batch, "bpm", path)?.as_primitive::<Float32Type>();
        let (starts, anchors, beats) = (f64s("window_start_ms")?, f64s("grid_anchor_ms")?, f64s("beat_ms")?);
        let (tokens, rt, rx, ry) = (lists("tokens")?, lists("residual_time")?, lists("residual_x")?, lists("residual_y")?);
        let (circles, sliders, spinners) = (u32s("n_circles")?, u32s("n_sliders")?, u32s("n_spinners")?);
        let floats = |l: &arrow::array::ListArray, i: usize| l.value(i).as_primitive::<Float32Type>().values().to_vec();
        for i in 0..batch.num_rows() {
            out.push(TokenRow {
                seq: 0,
                beatmap_id: beatmap_ids.value(i),
                beatmapset_id: set_ids.value(i),
                track_id: track_ids.value(i).to_owned(),
                split: split_of(splits.value(i), path)?,
                stars: stars.value(i),
                difficulty_bin: bins.value(i),
                bpm: bpm.value(i),
                window_start_ms: starts.value(i),
                grid_anchor_ms: anchors.value(i),
                beat_ms: beats.value(i),
                tokens: tokens.value(i).as_primitive::<UInt32Type>().values().to_vec(),
                residual_time: floats(rt, i),
                residual_x: floats(rx, i),
                residual_y: floats(ry, i),
                n_circles: circles.value(i),
                n_sliders: sliders.value(i),
                n_spinners: spinners.value(i),
            });
        }
    }
    Ok(out)
}
