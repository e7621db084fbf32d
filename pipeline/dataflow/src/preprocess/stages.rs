//! What flows through the preprocess dataflow, and the pure work done at each stage.
//!
//! ```text
//! SourceItem ─featurize─► FeaturizedTrack ─tokenize─► ChunkItem* ─► chunk writer
//!            └──────────── Stages::process (a decode thread) ───────┘
//! ```

use operators::audio::{AudioError, DecodeOptions};
use operators::features::{FeatureConfig, FeatureExtractor};
use operators::featurize::{AudioInput, featurize};
use serde::{Deserialize, Serialize};

use super::plan::ChunkId;
use super::tokenize::{PreparedBeatmap, TokenizerStage, window_rows};
use crate::panic::catch_panic;
use crate::sources::osu_header::song_key;
use crate::sources::{BeatmapRecord, TrackRecord};
use shards::rejects::Reject;
use shards::rows::{BeatmapRow, EncodedTrack, Split, TokenRow, TrackRow};

/// One input item at its logical time.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SourceItem {
    /// Logical time (see `plan`).
    pub seq: u64,
    /// The chunk it belongs to.
    pub chunk: ChunkId,
    /// A track, or something the source could not read.
    pub payload: Result<TrackRecord, Reject>,
}

impl SourceItem {
    /// Which worker featurizes it: tracks are dealt round-robin by their logical time, which is
    /// dense within a chunk, so `n` consecutive tracks land on `n` different workers (a hash of
    /// the track id can give one worker most of the tracks in flight while the other idles).
    /// The output does not depend on it: chunks are assembled and sorted by time downstream.
    pub fn route(&self) -> u64 {
        self.seq
    }
}

/// A track after decoding and featurizing, with its beatmaps still to tokenize.
struct FeaturizedTrack {
    seq: u64,
    chunk: ChunkId,
    /// The `tracks` row and the beatmaps, or why the track was skipped.
    result: Result<(EncodedTrack, Vec<BeatmapRecord>), Reject>,
}

/// What the chunk writer receives.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ChunkPart {
    /// A `tracks` row.
    Track(EncodedTrack),
    /// A `tokens` row for the tokenizer config with this hash.
    Tokens(String, TokenRow),
    /// A skipped input.
    Reject(Reject),
    /// A tokenized beatmap, for the `beatmaps` table (`track_row` is set when the chunk is written).
    Beatmap(BeatmapRow),
}

/// A part of a chunk's output.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChunkItem {
    /// Logical time of the track it came from.
    pub seq: u64,
    /// The chunk.
    pub chunk: ChunkId,
    /// The payload.
    pub part: ChunkPart,
}

/// The configured work: feature extraction and every tokenizer.
#[derive(Debug)]
pub struct Stages {
    /// The feature extractor.
    pub extractor: FeatureExtractor,
    /// Its config hash.
    pub feature_hash: String,
    /// Tokenizers, in config-hash order.
    pub tokenizers: Vec<TokenizerStage>,
    /// Seed of the split assignment.
    pub split_seed: u64,
    /// Decode limits, and the feature rate as the decoders' target.
    pub decode: DecodeOptions,
}

impl Stages {
    /// The stages of `features` and `tokenizers`, default decode limits.
    pub fn new(features: &FeatureConfig, tokenizers: Vec<TokenizerStage>, split_seed: u64) -> anyhow::Result<Self> {
        Ok(Self {
            extractor: FeatureExtractor::new(features.clone()).map_err(anyhow::Error::msg)?,
            feature_hash: features.hash(),
            tokenizers,
            split_seed,
            decode: DecodeOptions::default().resampling_to(features.sample_rate),
        })
    }

    /// All the work on one track (on a decode thread): decodes and featurizes it, encodes its
    /// `tracks` row, and tokenizes each of its beatmaps with every tokenizer; what the chunk
    /// writer receives of it.
    pub fn process(&self, item: SourceItem) -> Vec<ChunkItem> {
        let mut parts = Vec::new();
        self.tokenize(self.featurize(item), &mut parts);
        parts
    }

    fn featurize(&self, item: SourceItem) -> FeaturizedTrack {
        let SourceItem { seq, chunk, payload } = item;
        let result = payload.and_then(|track| {
            let origin = track.origin.clone();
            catch_panic(&origin, "featurize", || self.featurize_track(seq, track))
        });
        FeaturizedTrack { seq, chunk, result }
    }

    /// Decode, resample and features of one track (the `tracks` row at time `seq`).
    fn featurize_track(&self, seq: u64, track: TrackRecord) -> Result<(EncodedTrack, Vec<BeatmapRecord>), Reject> {
        let TrackRecord { origin, track_id, audio_name, audio, beatmaps, .. } = track;
        let key = song_key(beatmaps.iter().map(|b| b.osu_text.as_str()), &track_id);
        let name = format!("{origin} ({audio_name})");
        let song = featurize(AudioInput::Bytes(&name, audio), &self.extractor, &self.decode).map_err(|e| {
            let stage = if matches!(e, AudioError::Resample { .. }) { "resample" } else { "decode" };
            Reject::new(origin.clone(), stage, e.kind(), e.to_string())
        })?;
        let row = TrackRow {
            seq,
            split: Split::of(&key, self.split_seed),
            track_id,
            origin,
            duration_s: song.audio.seconds(),
            source_sample_rate: song.source_rate,
            feature_config: self.feature_hash.clone(),
            channels: song.stored.channels as u16,
            frames: song.stored.frames as u32,
            features: song.stored.bytes,
        };
        Ok((row.encode(), beatmaps))
    }

    /// Tokenizes every beatmap of a featurized track with every tokenizer.
    fn tokenize(&self, track: FeaturizedTrack, out: &mut Vec<ChunkItem>) {
        let FeaturizedTrack { seq, chunk, result } = track;
        let item = |part| ChunkItem { seq, chunk: chunk.clone(), part };
        match result {
            Err(reject) => out.push(item(ChunkPart::Reject(reject))),
            Ok((row, beatmaps)) => {
                for beatmap in beatmaps {
                    let ids = (beatmap.beatmap_id, beatmap.beatmapset_id);
                    let prepared = catch_panic(&beatmap.name, "tokenize", || {
                        let prepared = PreparedBeatmap::prepare(&beatmap)?;
                        let rows = window_rows(&self.tokenizers, (&row).into(), ids, &prepared);
                        Ok((prepared, rows))
                    });
                    match prepared {
                        Ok((prepared, rows)) => {
                            out.extend(rows.into_iter().map(|(hash, r)| item(ChunkPart::Tokens(hash, r))));
                            out.push(item(ChunkPart::Beatmap(BeatmapRow {
                                track_row: 0,
                                track_id: row.track_id.clone(),
                                split: row.split,
                                beatmap_id: beatmap.beatmap_id,
                                beatmapset_id: beatmap.beatmapset_id,
                                name: beatmap.name,
                                stars: prepared.stars(),
                                osu_text: beatmap.osu_text,
                            })));
                        }
                        Err(reject) => out.push(item(ChunkPart::Reject(reject))),
                    }
                }
                out.push(item(ChunkPart::Track(row)));
            }
        }
    }
}
