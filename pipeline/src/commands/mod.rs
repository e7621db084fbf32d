//! One module per `mapflow` subcommand.

pub mod demo;
pub mod features;
pub mod preprocess;
pub mod preview;
pub mod synth;
pub mod inspect;
pub mod tokenize;
#[cfg(feature = "model")]
pub mod eval;
#[cfg(feature = "model")]
pub mod generate;
#[cfg(feature = "model")]
pub mod info;
#[cfg(feature = "model")]
pub mod train;

use std::path::Path;

use anyhow::Context;
use operators::features::FeatureConfig;

/// Loads a feature preset, or the built-in default (= `configs/features/default.toml`).
pub fn load_feature_config(path: Option<&Path>) -> anyhow::Result<FeatureConfig> {
    match path {
        Some(path) => FeatureConfig::from_toml_file(path).context("loading the feature config"),
        None => Ok(FeatureConfig::default()),
    }
}
