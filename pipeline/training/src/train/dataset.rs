//! A preprocessed data set as training sees it: its tokenizer, its committed chunks (re-listed
//! while a `preprocess` is still committing, for `--follow`), and windows as model examples.
//!
//! ```text
//! OUT/manifest.json ─► tokenizer config (by hash), feature config check (frame rate, rows)
//! OUT/commits/*.json ─► chunks: tracks/<chunk>.parquet + tokens/<hash>/<chunk>.parquet
//! (TrackFeatures, TokenRow) ─► WindowExample (features sliced by window, silence-padded)
//! ```
//! What the network cannot take is refused when the data set is opened or a chunk read (a
//! [`DataSetError`] naming the file), not met later as a panic inside libtorch: features of
//! other than [`FEATURE_CHANNELS`] rows, tracks whose rows differ from the manifest's config.
//! The shard readers check each row's own lengths (`shards::training_rows`).

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use model::batch::{FRAMES_PER_SECOND, WindowExample, frame_at, window_features};
use model::network::FEATURE_CHANNELS;
use operators::beatmap::Difficulty;
use operators::features::FeatureConfig;
use operators::tokenizer::{Residual, Tokenizer, TokenizerConfig};

use shards::manifest::{Manifest, read_commits};
use shards::rows::TokenRow;
use shards::training_rows::{TrackFeatures, read_track_features};

/// A data set the network cannot be trained or evaluated on as it stands.
#[derive(Debug, thiserror::Error)]
pub enum DataSetError {
    /// The manifest's feature config is not one the feature extractor accepts.
    #[error("{path}: invalid feature config in the manifest: {message}")]
    FeatureConfig {
        /// The manifest.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// The features have another number of rows than the network reads.
    #[error(
        "{path}: features have {channels} rows ({n_mels} mel bands + onset); the model reads {expected} \
         ({} mel bands + onset)",
        .expected - 1
    )]
    FeatureRows {
        /// The manifest.
        path: PathBuf,
        /// `n_mels` of the feature config.
        n_mels: usize,
        /// Rows of its features.
        channels: usize,
        /// [`FEATURE_CHANNELS`].
        expected: usize,
    },
    /// A stored track has another number of rows than the manifest's feature config gives.
    #[error("{path}: track {track_id} has {channels} feature rows; the data set's feature config gives {expected}")]
    TrackRows {
        /// The tracks file.
        path: PathBuf,
        /// The track.
        track_id: String,
        /// Its rows.
        channels: usize,
        /// The config's rows.
        expected: usize,
    },
}

/// One committed chunk's files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkFiles {
    /// Chunk name.
    pub name: String,
    /// Its tracks file.
    pub tracks: PathBuf,
    /// Its token file for the training tokenizer.
    pub tokens: PathBuf,
}

/// A data set directory opened for training or evaluation.
#[derive(Debug, Clone)]
pub struct DataSet {
    root: PathBuf,
    tokenizer: Tokenizer,
    tokenizer_hash: String,
    feature_config: FeatureConfig,
    feature_config_hash: String,
    frames_per_window: usize,
}

impl DataSet {
    /// Opens `root` (its `manifest.json` must exist) with the token table `tokenizer_hash`, or
    /// the only one there is.
    pub fn open(root: &Path, tokenizer_hash: Option<&str>) -> anyhow::Result<Self> {
        let manifest = Manifest::read(root)?;
        let features: FeatureConfig = serde_json::from_value(manifest.configs.feature_config.clone())
            .with_context(|| format!("{}: unreadable feature config in the manifest", root.display()))?;
        let path = root.join("manifest.json");
        features.validate().map_err(|message| DataSetError::FeatureConfig { path: path.clone(), message })?;
        let expected = FEATURE_CHANNELS as usize;
        if features.channels() != expected {
            let (n_mels, channels) = (features.n_mels, features.channels());
            return Err(DataSetError::FeatureRows { path, n_mels, channels, expected }.into());
        }
        let fps = f64::from(features.sample_rate) / features.hop_length as f64;
        if (fps - FRAMES_PER_SECOND).abs() > 1e-9 {
            bail!("{}: features have {fps} frames/s; the model reads {FRAMES_PER_SECOND} (20 ms hop)", root.display());
        }
        let tokenizers = &manifest.configs.tokenizers;
        let hash = match tokenizer_hash {
            Some(h) => h.to_owned(),
            None if tokenizers.len() == 1 => tokenizers.keys().next().expect("one").clone(),
            None => bail!(
                "{}: several token tables ({}); choose one with --tokenizer-hash",
                root.display(),
                tokenizers.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
        };
        let config_json = tokenizers
            .get(&hash)
            .with_context(|| format!("{}: no token table {hash} in the manifest", root.display()))?;
        let config: TokenizerConfig = serde_json::from_value(config_json.clone())
            .with_context(|| format!("{}: unreadable tokenizer config {hash}", root.display()))?;
        let frames_per_window = frame_at(config.windows.window_ms) as usize;
        Ok(Self {
            root: root.to_owned(),
            tokenizer: Tokenizer::new(config).map_err(anyhow::Error::msg)?,
            tokenizer_hash: hash,
            feature_config: features,
            feature_config_hash: manifest.configs.feature_config_hash,
            frames_per_window,
        })
    }

    /// The tokenizer of the token table.
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// Its config hash.
    pub fn tokenizer_hash(&self) -> &str {
        &self.tokenizer_hash
    }

    /// The config the stored features were made with.
    pub fn feature_config(&self) -> &FeatureConfig {
        &self.feature_config
    }

    /// The hash of [`Self::feature_config`].
    pub fn feature_config_hash(&self) -> &str {
        &self.feature_config_hash
    }

    /// The data set directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Every chunk committed so far that has tracks and tokens for this tokenizer, by name.
    pub fn chunks(&self) -> anyhow::Result<Vec<ChunkFiles>> {
        Ok(read_commits(&self.root)?
            .into_iter()
            .filter_map(|c| {
                let tracks = c.tracks.as_ref()?;
                let tokens = c.tokens.get(&self.tokenizer_hash)?;
                Some(ChunkFiles {
                    tracks: self.root.join(&tracks.path),
                    tokens: self.root.join(&tokens.path),
                    name: c.chunk,
                })
            })
            .collect())
    }

    /// Every track of `chunk`'s tracks file, each checked to have the feature rows of the
    /// manifest's config (so [`Self::example`] can slice it).
    pub fn read_tracks(&self, chunk: &ChunkFiles) -> anyhow::Result<Vec<TrackFeatures>> {
        let tracks = read_track_features(&chunk.tracks)?;
        let expected = self.feature_config.channels();
        if let Some(track) = tracks.iter().find(|t| t.channels != expected) {
            return Err(DataSetError::TrackRows {
                path: chunk.tracks.clone(),
                track_id: track.track_id.clone(),
                channels: track.channels,
                expected,
            }
            .into());
        }
        Ok(tracks)
    }

    /// The example of token `row`, whose track is `track` (as [`Self::read_tracks`] gives it), with onset labels for the onset loss
    /// when `with_onsets` (they cost a detokenization per window).
    pub fn example(&self, track: &TrackFeatures, row: &TokenRow, with_onsets: bool) -> WindowExample {
        let start = frame_at(row.window_start_ms);
        let features =
            window_features(track.channels, track.frames, start, self.frames_per_window, |c, j| track.value(c, j));
        let (grid_start, beats_per_frame) = WindowExample::grid(row.window_start_ms, row.grid_anchor_ms, row.beat_ms);
        let residuals: Vec<Residual> = (0..row.tokens.len())
            .map(|i| Residual { time: row.residual_time[i], x: row.residual_x[i], y: row.residual_y[i] })
            .collect();
        WindowExample {
            features,
            grid_start,
            beats_per_frame,
            stars: row.stars,
            bpm: row.bpm,
            onsets: if with_onsets { self.onset_labels(row, &residuals) } else { Vec::new() },
            tokens: row.tokens.clone(),
            residuals,
        }
    }

    /// Per frame of `row`'s window: 1 where one of its objects starts, 0 elsewhere in the
    /// predict region, −1 outside it (its objects belong to other windows).
    fn onset_labels(&self, row: &TokenRow, residuals: &[Residual]) -> Vec<f32> {
        let window = self.tokenizer.config().windows.window_at(0, row.window_start_ms);
        let frame_ms = 1000.0 / FRAMES_PER_SECOND;
        let mut labels: Vec<f32> = (0..self.frames_per_window)
            .map(|j| if window.predicts(row.window_start_ms + j as f64 * frame_ms) { 0.0 } else { -1.0 })
            .collect();
        let objects = self
            .tokenizer
            .detokenize(&row.tokens, residuals, &row.grid_timing(), Difficulty::default().slider_multiplier, &window)
            .objects;
        for object in objects {
            let j = ((object.time_ms - row.window_start_ms) / frame_ms).round();
            if let Some(label) = usize::try_from(j as i64).ok().and_then(|j| labels.get_mut(j)) {
                *label = 1.0;
            }
        }
        labels
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use shards::manifest::{FORMAT, ManifestConfigs};
    use shards::rows::{Split, TrackRow, tracks_batch};

    /// A data set directory with only a manifest: `features` and the default tokenizer.
    fn data_set(features: &FeatureConfig) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let tokenizer = TokenizerConfig::default();
        let manifest = Manifest {
            format: FORMAT.into(),
            configs: ManifestConfigs {
                feature_config_hash: features.hash(),
                feature_config: serde_json::to_value(features).unwrap(),
                tokenizers: BTreeMap::from([(tokenizer.hash(), serde_json::to_value(&tokenizer).unwrap())]),
                split_seed: 0,
                chunk_tracks: 1,
                filter: Default::default(),
                source: None,
            },
            chunks: Vec::new(),
            tracks: 0,
            token_rows: BTreeMap::new(),
            rejects_by_kind: BTreeMap::new(),
            filtered: Default::default(),
        };
        std::fs::write(dir.path().join("manifest.json"), serde_json::to_vec(&manifest).unwrap()).unwrap();
        dir
    }

    #[test]
    fn features_of_other_than_128_mel_bands_are_refused_naming_the_manifest() {
        assert!(DataSet::open(data_set(&FeatureConfig::default()).path(), None).is_ok());
        let dir = data_set(&FeatureConfig { n_mels: 64, ..Default::default() });
        let error = DataSet::open(dir.path(), None).unwrap_err();
        assert!(
            matches!(
                error.downcast_ref::<DataSetError>(),
                Some(DataSetError::FeatureRows { n_mels: 64, channels: 65, expected: 129, .. })
            ),
            "{error}"
        );
        let message = error.to_string();
        assert!(message.contains("manifest.json") && message.contains("65 rows"), "{message}");
        // A config the extractor would refuse is refused here too (n_mels > n_fft / 2).
        let dir = data_set(&FeatureConfig { n_fft: 128, hop_length: 128, sample_rate: 6400, ..Default::default() });
        let error = DataSet::open(dir.path(), None).unwrap_err();
        assert!(matches!(error.downcast_ref::<DataSetError>(), Some(DataSetError::FeatureConfig { .. })), "{error}");
        assert!(error.to_string().contains("n_mels"), "{error}");
    }

    #[test]
    fn a_track_with_other_feature_rows_than_the_manifest_is_refused_naming_the_file() {
        let dir = data_set(&FeatureConfig::default());
        let data = DataSet::open(dir.path(), None).unwrap();
        let track = |channels: u16| TrackRow {
            seq: 0,
            track_id: format!("t{channels}"),
            origin: "x.tar:000001".into(),
            split: Split::Train,
            duration_s: 1.0,
            source_sample_rate: 22_050,
            feature_config: FeatureConfig::default().hash(),
            channels,
            frames: 2,
            features: vec![0; 4 * usize::from(channels)],
        };
        let chunk = |name: &str| ChunkFiles {
            name: name.into(),
            tracks: dir.path().join(format!("tracks/{name}.parquet")),
            tokens: dir.path().join(format!("tokens/{name}.parquet")),
        };
        for (name, rows) in [("good", vec![track(129)]), ("bad", vec![track(129), track(2)])] {
            shards::writer::write_parquet(
                dir.path(),
                &format!("tracks/{name}.parquet"),
                &tracks_batch(&rows).unwrap(),
                1,
                &[],
            )
            .unwrap();
        }
        assert_eq!(data.read_tracks(&chunk("good")).unwrap().len(), 1);
        let error = data.read_tracks(&chunk("bad")).unwrap_err();
        assert!(
            matches!(
                error.downcast_ref::<DataSetError>(),
                Some(DataSetError::TrackRows { channels: 2, expected: 129, .. })
            ),
            "{error}"
        );
        let message = error.to_string();
        assert!(message.contains("bad.parquet") && message.contains("track t2"), "{message}");
    }
}
