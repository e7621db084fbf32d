//! Commit records (one per finished chunk) and `manifest.json`, their deterministic merge.
//!
//! ```text
//! chunk done ─► tracks + tokens Parquet (atomic) ─► commits/<chunk>.json (atomic)
//! run start and end ─► manifest.json = sorted merge of commits/*.json + configs
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::writer::ShardFile;
use crate::filter::{BeatmapFilter, FilteredCounts};
use crate::rejects::Reject;

/// Everything one finished chunk produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommitRecord {
    /// The chunk's name (`<source shard>-c<index>`).
    pub chunk: String,
    /// Its `tracks/` file (absent when every track of the chunk was rejected).
    pub tracks: Option<ShardFile>,
    /// Its `beatmaps/` file (the tokenized beatmaps, for later tokenizer configs); absent when
    /// every track was rejected, or in outputs written before the table existed.
    #[serde(default)]
    pub beatmaps_file: Option<ShardFile>,
    /// Its `tokens/<hash>/` file per tokenizer config hash.
    pub tokens: BTreeMap<String, ShardFile>,
    /// What was skipped in it.
    pub rejects: Vec<Reject>,
    /// Seconds of audio featurized.
    pub audio_seconds: f64,
    /// Beatmaps tokenized.
    pub beatmaps: u64,
    /// Beatmaps left out by the output's filter (`configs.filter`), by filter: not rejects.
    #[serde(default)]
    pub filtered: FilteredCounts,
}

/// Directory of commit records.
pub const COMMITS_DIR: &str = "commits";

/// Path of `chunk`'s commit record.
fn commit_path(out: &Path, chunk: &str) -> std::path::PathBuf {
    out.join(COMMITS_DIR).join(format!("{chunk}.json"))
}

impl CommitRecord {
    /// Writes this record atomically: from now on the chunk is done.
    pub fn commit(&self, out: &Path) -> anyhow::Result<()> {
        let path = commit_path(out, &self.chunk);
        let dir = path.parent().expect("has a parent");
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        operators::atomic::write(&path, &serde_json::to_vec_pretty(self)?)
            .with_context(|| format!("committing {}", path.display()))
    }

    /// Reads `chunk`'s commit record.
    pub fn read(out: &Path, chunk: &str) -> anyhow::Result<CommitRecord> {
        read_json_file(&commit_path(out, chunk), "commit record")
    }

    /// Removes `chunk`'s commit record (if any): from now on the chunk is not part of the output.
    pub fn remove(out: &Path, chunk: &str) -> anyhow::Result<()> {
        let path = commit_path(out, chunk);
        Ok(operators::atomic::remove(&path)?)
    }

    /// Whether `chunk` was committed by an earlier run.
    pub fn is_committed(out: &Path, chunk: &str) -> bool {
        commit_path(out, chunk).is_file()
    }
}

/// Reads and parses the JSON file at `path`; `what` names it in errors (`commit record`).
fn read_json_file<T: serde::de::DeserializeOwned>(path: &Path, what: &str) -> anyhow::Result<T> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {what} {}", path.display()))?;
    serde_json::from_slice(&bytes).with_context(|| format!("parsing {what} {}", path.display()))
}

/// Reads and parses every `*.json` file in `dir` (none when `dir` does not exist); `what` names
/// the files in errors (`commit record`).
pub fn read_json_files<T: serde::de::DeserializeOwned>(dir: &Path, what: &str) -> anyhow::Result<Vec<T>> {
    let mut parsed = Vec::new();
    if dir.is_dir() {
        for path in super::entries_of(dir)? {
            if path.extension().is_some_and(|e| e == "json") {
                parsed.push(read_json_file(&path, what)?);
            }
        }
    }
    Ok(parsed)
}

/// Reads every commit record under `out`, sorted by chunk name.
pub fn read_commits(out: &Path) -> anyhow::Result<Vec<CommitRecord>> {
    let mut records: Vec<CommitRecord> = read_json_files(&out.join(COMMITS_DIR), "commit record")?;
    records.sort_by(|a, b| a.chunk.cmp(&b.chunk));
    Ok(records)
}

/// The configs a data set was made with (stored in the manifest, with their hashes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestConfigs {
    /// Feature config hash.
    pub feature_config_hash: String,
    /// The feature config itself.
    pub feature_config: serde_json::Value,
    /// Tokenizer configs by hash.
    pub tokenizers: BTreeMap<String, serde_json::Value>,
    /// Seed of the train/val/test assignment.
    pub split_seed: u64,
    /// Tracks per chunk.
    pub chunk_tracks: usize,
    /// Which beatmaps the output holds (`--status`, `--years`, `--stars`, `--modes`).
    pub filter: BeatmapFilter,
    /// The hub data set and commit the output was read from; absent for local sources (and in
    /// outputs written before it was recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<SourceRevision>,
}

/// A hub data set config pinned to one commit: what a hub output was read from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceRevision {
    /// `owner/name`, e.g. `project-riz/osu-beatmaps`.
    pub repo: String,
    /// The config (the folder of shards), `compressed` or `original`.
    pub config: String,
    /// The commit sha every listing and download used.
    pub sha: String,
}

impl std::fmt::Display for SourceRevision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "hf://{}/{} at commit {}", self.repo, self.config, self.sha)
    }
}

/// `manifest.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Layout version.
    pub format: String,
    /// The configs.
    pub configs: ManifestConfigs,
    /// Every committed chunk, sorted by name.
    pub chunks: Vec<CommitRecord>,
    /// Tracks written.
    pub tracks: u64,
    /// Token rows written, per tokenizer hash.
    pub token_rows: BTreeMap<String, u64>,
    /// Rejects, per kind.
    pub rejects_by_kind: BTreeMap<String, u64>,
    /// Beatmaps left out by `configs.filter`, per filter.
    pub filtered: FilteredCounts,
}

/// The manifest's layout version. `/2`: tracks are split by song (the normalised artist and
/// title of their maps), no longer by audio file, so that a song uploaded in several sets is in
/// one split; the `beatmaps` table keeps the data set's metadata, and the manifest the beatmap
/// filter. `/1` outputs are refused ([`Manifest::read`]), as their splits may not be.
pub const FORMAT: &str = "mapflow-shards/2";

/// The layout version before [`FORMAT`].
const FORMAT_SPLIT_BY_AUDIO: &str = "mapflow-shards/1";

impl Manifest {
    /// Merges the commit records under `out` into `manifest.json` and `rejects.jsonl`
    /// (both atomic and deterministic: sorted by chunk).
    pub fn write_merged(out: &Path, configs: &ManifestConfigs) -> anyhow::Result<Manifest> {
        let chunks = read_commits(out)?;
        let mut token_rows = BTreeMap::new();
        let mut rejects_by_kind = BTreeMap::new();
        let mut rejects = Vec::new();
        let mut filtered = FilteredCounts::default();
        for chunk in &chunks {
            filtered.add(&chunk.filtered);
            for (hash, file) in &chunk.tokens {
                *token_rows.entry(hash.clone()).or_insert(0) += file.rows;
            }
            for reject in &chunk.rejects {
                *rejects_by_kind.entry(reject.kind.clone()).or_insert(0) += 1;
                rejects.extend(serde_json::to_vec(reject)?);
                rejects.push(b'\n');
            }
        }
        let manifest = Manifest {
            format: FORMAT.into(),
            configs: configs.clone(),
            tracks: chunks.iter().filter_map(|c| c.tracks.as_ref()).map(|t| t.rows).sum(),
            chunks,
            token_rows,
            rejects_by_kind,
            filtered,
        };
        for (name, bytes) in [("rejects.jsonl", rejects), ("manifest.json", serde_json::to_vec_pretty(&manifest)?)] {
            let path = out.join(name);
            operators::atomic::write(&path, &bytes).with_context(|| format!("writing {}", path.display()))?;
        }
        Ok(manifest)
    }

    /// Reads `out/manifest.json`; one of another layout version than [`FORMAT`] is refused,
    /// saying why (its version is read first: an older manifest lacks fields of this one).
    pub fn read(out: &Path) -> anyhow::Result<Manifest> {
        /// The one field every layout version has.
        #[derive(Deserialize)]
        struct Versioned {
            format: String,
        }
        let path = out.join("manifest.json");
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let Versioned { format } =
            serde_json::from_slice(&bytes).with_context(|| format!("parsing {}", path.display()))?;
        if format != FORMAT {
            let why = if format == FORMAT_SPLIT_BY_AUDIO {
                " (since mapflow-shards/2 tracks are split by song, not by audio file: in this output one song uploaded in several sets may be in two splits; and its beatmaps table lacks the data set's metadata)"
            } else {
                ""
            };
            anyhow::bail!(
                "{}: shard format {format}, this mapflow reads {FORMAT}{why}; preprocess the source again into another --output",
                path.display(),
            );
        }
        serde_json::from_slice(&bytes).with_context(|| format!("parsing {}", path.display()))
    }
}
