//! The compact records the retokenize dataflow arranges: references to rows of committed
//! shards, never their payload (no spectrogram, no `.osu` text is held in an arrangement).
//!
//! ```text
//! commits/<chunk>.json ─► tracks/<chunk>.parquet   (track_id, split, duration_s) ─► TrackRef per row
//!                     └─► beatmaps/<chunk>.parquet (track_row)                   ─► BeatmapRef per row
//! manifest / --tokenizer ─► ConfigRef (hash + JSON)
//! ```

use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::preprocess::tokenize::{TokenizerStage, TrackFacts};
use shards::manifest::read_commits;
use shards::read::{read_columns, read_tracks};
use shards::rows::Split;

/// A track, by reference: its row in `tracks/<chunk>.parquet` and what token rows take from it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TrackRef {
    /// Its chunk.
    pub chunk: String,
    /// Its row in the chunk's `tracks` file (rows are in input order).
    pub row: u32,
    /// The track id.
    pub track_id: String,
    /// Its split.
    pub split: Split,
    /// Seconds of audio, as `f64` bits (collections need `Ord`).
    pub duration_bits: u64,
}

impl TrackRef {
    /// The facts token rows take from this track; the row stands in for the input time (both
    /// order the chunk's tracks the same way, and only the order is used).
    pub fn facts(&self) -> TrackFacts<'_> {
        TrackFacts {
            seq: u64::from(self.row),
            track_id: &self.track_id,
            split: self.split,
            duration_s: f64::from_bits(self.duration_bits),
        }
    }
}

/// A beatmap, by reference: its row in `beatmaps/<chunk>.parquet` and its track's row.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct BeatmapRef {
    /// Its chunk.
    pub chunk: String,
    /// Its row in the chunk's `beatmaps` file.
    pub row: u32,
    /// The row of its track in the chunk's `tracks` file.
    pub track_row: u32,
}

/// A tokenizer config in the set: its hash and its JSON (from which any worker rebuilds it).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ConfigRef {
    /// The config hash (names `tokens/<hash>/`).
    pub hash: String,
    /// The config as JSON.
    pub json: String,
}

impl ConfigRef {
    /// The reference of a ready tokenizer.
    pub fn of(stage: &TokenizerStage) -> Self {
        Self { hash: stage.hash().to_owned(), json: stage.config_json().to_string() }
    }

    /// Rebuilds the tokenizer.
    pub fn stage(&self) -> Result<TokenizerStage, String> {
        let json: serde_json::Value =
            serde_json::from_str(&self.json).map_err(|e| format!("tokenizer config {}: {e}", self.hash))?;
        TokenizerStage::from_recorded(&self.hash, &json)
    }
}

/// A beatmap joined with its track.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TimedBeatmap {
    /// The track (first, so sorting orders by track row).
    pub track: TrackRef,
    /// The beatmap's row in the chunk's `beatmaps` file.
    pub row: u32,
}

/// Everything one token shard (one chunk, any config) is made from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ChunkJob {
    /// The chunk.
    pub chunk: String,
    /// Its beatmaps with their tracks, by (track row, beatmap row): the order preprocess
    /// tokenized them in.
    pub beatmaps: Vec<TimedBeatmap>,
}

/// The committed corpus of an output directory, as references.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct CorpusRefs {
    /// Every track of every committed chunk.
    pub tracks: Vec<TrackRef>,
    /// Every stored beatmap.
    pub beatmaps: Vec<BeatmapRef>,
    /// Chunks with tracks.
    pub chunks: usize,
}

/// Reads the references of every committed chunk of `out` (two narrow column reads per chunk).
pub fn load_corpus(out: &Path) -> anyhow::Result<CorpusRefs> {
    let mut refs = CorpusRefs::default();
    for record in read_commits(out)? {
        let Some(tracks) = &record.tracks else { continue };
        let Some(beatmaps) = &record.beatmaps_file else {
            anyhow::bail!(
                "{}: chunk {} has no beatmaps/ table (written by an older mapflow); preprocess into a new directory to retokenize",
                out.display(),
                record.chunk
            );
        };
        refs.chunks += 1;
        for (row, track) in read_tracks(&out.join(&tracks.path))?.into_iter().enumerate() {
            refs.tracks.push(TrackRef {
                chunk: record.chunk.clone(),
                row: row as u32,
                track_id: track.track_id,
                split: track.split,
                duration_bits: track.duration_s.to_bits(),
            });
        }
        let path = out.join(&beatmaps.path);
        let batch = read_columns(&path, &["track_row"])?;
        let track_rows = batch
            .column(0)
            .as_any()
            .downcast_ref::<arrow::array::UInt32Array>()
            .with_context(|| format!("{}: track_row is not u32", path.display()))?;
        refs.beatmaps.extend(track_rows.values().iter().enumerate().map(|(row, &track_row)| BeatmapRef {
            chunk: record.chunk.clone(),
            row: row as u32,
            track_row,
        }));
    }
    Ok(refs)
}
