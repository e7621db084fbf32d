//! What flows through the preprocess dataflow, and the pure work done at each stage.
//!
//! ```text
//! SourceItem ─► filter (modes, status, years) ─► parse + rate ─► filter (stars) ─┬─► featurize ─► tokenize ─► ChunkItem* ─► chunk writer
//!            └──────────────────────── Stages::process (a decode thread) ─────────┴─ every beatmap filtered out: not decoded
//! ```
//! The beatmap filter ([`BeatmapFilter`]) runs before the audio is decoded: a track none of whose
//! beatmaps is kept costs no decode and has no `tracks` row (its beatmaps are counted as
//! filtered). The split is decided by the song, from every beatmap the track has, kept or not,
//! so that it never depends on the filter.

use operators::audio::{AudioError, DecodeOptions};
use operators::features::{FeatureConfig, FeatureExtractor};
use operators::featurize::{AudioInput, featurize};
use serde::{Deserialize, Serialize};

use super::plan::ChunkId;
use super::tokenize::{PreparedBeatmap, TokenizerStage, window_rows};
use crate::panic::catch_panic;
use crate::sources::osu_header::song_key;
use crate::sources::{BeatmapRecord, TrackRecord};
use shards::filter::{BeatmapFilter, FilteredCounts};
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
    /// Beatmaps of a track the filter left out (not rejects).
    Filtered(FilteredCounts),
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

/// The configured work: the beatmap filter, feature extraction and every tokenizer.
#[derive(Debug)]
pub struct Stages {
    /// Which beatmaps are kept.
    pub filter: BeatmapFilter,
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
    /// The stages of `filter`, `features` and `tokenizers`, default decode limits.
    pub fn new(
        filter: BeatmapFilter,
        features: &FeatureConfig,
        tokenizers: Vec<TokenizerStage>,
        split_seed: u64,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            filter,
            extractor: FeatureExtractor::new(features.clone()).map_err(anyhow::Error::msg)?,
            feature_hash: features.hash(),
            tokenizers,
            split_seed,
            decode: DecodeOptions::default().resampling_to(features.sample_rate),
        })
    }

    /// All the work on one track (on a decode thread): filters its beatmaps, parses and rates
    /// those kept, decodes and featurizes the track if any is left, encodes its `tracks` row, and
    /// tokenizes each kept beatmap with every tokenizer; what the chunk writer receives of it.
    pub fn process(&self, item: SourceItem) -> Vec<ChunkItem> {
        let SourceItem { seq, chunk, payload } = item;
        let item = |part| ChunkItem { seq, chunk: chunk.clone(), part };
        let track = match payload {
            Ok(track) => track,
            Err(reject) => return vec![item(ChunkPart::Reject(reject))],
        };
        let mut parts = Vec::new();
        let key = song_key(track.beatmaps.iter().map(|b| b.osu_text.as_str()), &track.track_id);
        let had_beatmaps = !track.beatmaps.is_empty();
        let TrackRecord { origin, track_id, audio_name, audio, beatmaps, .. } = track;
        let (filtered, kept) = self.select(beatmaps);
        if filtered.total() > 0 {
            parts.push(item(ChunkPart::Filtered(filtered)));
        }
        if had_beatmaps && kept.is_empty() {
            return parts;
        }
        let featurized = catch_panic(&origin, "featurize", || {
            self.featurize_track(seq, &key, FetchedAudio { origin: &origin, track_id, audio_name, audio })
        });
        let row = match featurized {
            Ok(row) => row,
            Err(reject) => {
                parts.push(item(ChunkPart::Reject(reject)));
                return parts;
            }
        };
        for (beatmap, prepared) in kept {
            let tokenized = prepared.and_then(|prepared| {
                let ids = (beatmap.beatmap_id, beatmap.beatmapset_id);
                catch_panic(&beatmap.name, "tokenize", || {
                    Ok(window_rows(&self.tokenizers, (&row).into(), ids, &prepared))
                })
                .map(|rows| (prepared, rows))
            });
            match tokenized {
                Ok((prepared, rows)) => {
                    parts.extend(rows.into_iter().map(|(hash, r)| item(ChunkPart::Tokens(hash, r))));
                    parts.push(item(ChunkPart::Beatmap(BeatmapRow {
                        track_row: 0,
                        track_id: row.track_id.clone(),
                        split: row.split,
                        beatmap_id: beatmap.beatmap_id,
                        beatmapset_id: beatmap.beatmapset_id,
                        name: beatmap.name.clone(),
                        stars: prepared.stars(),
                        mode: beatmap.effective_mode(),
                        osu_text: beatmap.osu_text,
                        metadata: beatmap.metadata,
                    })));
                }
                Err(reject) => parts.push(item(ChunkPart::Reject(reject))),
            }
        }
        parts.push(item(ChunkPart::Track(row)));
        parts
    }

    /// The beatmaps the filter keeps, in input order, each parsed and rated (or why it could not
    /// be), and the count of those it left out: by mode, status and year before parsing, by
    /// the stars rosu-pp gives after.
    fn select(&self, beatmaps: Vec<BeatmapRecord>) -> (FilteredCounts, Vec<KeptBeatmap>) {
        let mut filtered = FilteredCounts::default();
        let mut kept = Vec::with_capacity(beatmaps.len());
        for beatmap in beatmaps {
            if let Some(reason) = self.filter.before_rating(beatmap.effective_mode(), &beatmap.metadata) {
                filtered.count(reason);
                continue;
            }
            let prepared = catch_panic(&beatmap.name, "tokenize", || PreparedBeatmap::prepare(&beatmap));
            match prepared.as_ref().ok().and_then(|p| self.filter.on_stars(p.stars())) {
                Some(reason) => filtered.count(reason),
                None => kept.push((beatmap, prepared)),
            }
        }
        (filtered, kept)
    }

    /// Decode, resample and features of one track (the `tracks` row at time `seq`, in the split
    /// of the song keyed `key`).
    fn featurize_track(&self, seq: u64, key: &str, fetched: FetchedAudio<'_>) -> Result<EncodedTrack, Reject> {
        let FetchedAudio { origin, track_id, audio_name, audio } = fetched;
        let name = format!("{origin} ({audio_name})");
        let song = featurize(AudioInput::Bytes(&name, audio), &self.extractor, &self.decode).map_err(|e| {
            let stage = if matches!(e, AudioError::Resample { .. }) { "resample" } else { "decode" };
            Reject::new(origin, stage, e.kind(), e.to_string())
        })?;
        let row = TrackRow {
            seq,
            split: Split::of(key, self.split_seed),
            track_id,
            origin: origin.to_owned(),
            duration_s: song.audio.seconds(),
            source_sample_rate: song.source_rate,
            feature_config: self.feature_hash.clone(),
            channels: song.stored.channels as u16,
            frames: song.stored.frames as u32,
            features: song.stored.bytes,
        };
        Ok(row.encode())
    }
}

/// A beatmap the filter kept, parsed and rated (or why it could not be).
type KeptBeatmap = (BeatmapRecord, Result<PreparedBeatmap, Reject>);

/// A track's audio as its source gave it, to be decoded.
struct FetchedAudio<'a> {
    origin: &'a str,
    track_id: String,
    audio_name: String,
    audio: Vec<u8>,
}
