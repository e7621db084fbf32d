//! One module per subcommand `mapflow` runs itself (the others are `mapflow-workbench`'s), and
//! the config loading they share with the workbench.

pub mod features;
pub mod inspect;
pub mod preprocess;
pub mod retokenize;
pub mod tokenize;

use std::path::Path;

use anyhow::Context;
use operators::features::FeatureConfig;

/// Loads tokenizer presets (TOML), each validated and ready to run.
pub fn load_tokenizers(
    paths: &[std::path::PathBuf],
) -> anyhow::Result<Vec<dataflow::preprocess::tokenize::TokenizerStage>> {
    paths
        .iter()
        .map(|path| {
            let config = operators::tokenizer::TokenizerConfig::from_toml_file(path)
                .with_context(|| format!("loading tokenizer config {}", path.display()))?;
            dataflow::preprocess::tokenize::TokenizerStage::new(config)
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
