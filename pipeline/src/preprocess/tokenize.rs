//! SCAFFOLD (not committed): replaced by the tokenizer integration.
use crate::shards::manifest::Reject;
use crate::shards::rows::{TokenRow, TrackRow};
use crate::sources::BeatmapRecord;

/// A tokenizer.
#[derive(Debug, Clone)]
pub struct TokenizerStage { hash: String }
impl TokenizerStage {
    /// Hash.
    pub fn hash(&self) -> &str { &self.hash }
    /// Config.
    pub fn config_json(&self) -> serde_json::Value { serde_json::Value::Null }
}
/// Tokenize.
pub fn tokenize_beatmap(_t: &[TokenizerStage], _track: &TrackRow, b: &BeatmapRecord) -> Result<Vec<(String, TokenRow)>, Reject> {
    Err(Reject { origin: b.name.clone(), stage: "tokenize".into(), kind: "scaffold".into(), reason: "scaffold".into() })
}
