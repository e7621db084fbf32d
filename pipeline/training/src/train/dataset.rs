//! A preprocessed data set as training sees it: its tokenizer, its committed chunks (re-listed
//! while a `preprocess` is still committing, for `--follow`), and windows as model examples.
//!
//! ```text
//! OUT/manifest.json ─► tokenizer config (by hash), feature config check
//! OUT/commits/*.json ─► chunks: tracks/<chunk>.parquet + tokens/<hash>/<chunk>.parquet
//! (TrackFeatures, TokenRow) ─► WindowExample (features sliced by window, silence-padded)
//! ```

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use model::batch::{FRAMES_PER_SECOND, WindowExample, frame_at, window_features};
use operators::beatmap::Difficulty;
use operators::features::FeatureConfig;
use operators::tokenizer::{Residual, Tokenizer, TokenizerConfig};

use shards::manifest::{Manifest, read_commits};
use shards::rows::TokenRow;
use shards::training_rows::TrackFeatures;

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

    /// The example of token `row`, whose track is `track`, with onset labels for the onset loss
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
