//! One module per `mapflow` subcommand.

pub mod demo;
#[cfg(feature = "model")]
pub mod eval;
pub mod features;
#[cfg(feature = "model")]
pub mod generate;
#[cfg(feature = "model")]
pub mod info;
pub mod inspect;
pub mod preprocess;
pub mod preview;
pub mod retokenize;
#[cfg(feature = "model")]
pub mod run;
pub mod synth;
pub mod tokenize;
#[cfg(feature = "model")]
pub mod train;

use std::path::Path;

use anyhow::Context;
use operators::features::FeatureConfig;

/// Loads tokenizer presets (TOML), each validated and ready to run.
pub fn load_tokenizers(
    paths: &[std::path::PathBuf],
) -> anyhow::Result<Vec<pipeline::preprocess::tokenize::TokenizerStage>> {
    paths
        .iter()
        .map(|path| {
            let config = operators::tokenizer::TokenizerConfig::from_toml_file(path)
                .with_context(|| format!("loading tokenizer config {}", path.display()))?;
            pipeline::preprocess::tokenize::TokenizerStage::new(config)
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
        })
        .collect()
}

/// Loads a feature preset, or the built-in default (= `configs/features/default.toml`).
pub fn load_feature_config(path: Option<&Path>) -> anyhow::Result<FeatureConfig> {
    match path {
        Some(path) => FeatureConfig::from_toml_file(path).context("loading the feature config"),
        None => Ok(FeatureConfig::default()),
    }
}
