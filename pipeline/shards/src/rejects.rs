//! Inputs that could not be used: one [`Reject`] per bad shard, track or beatmap. A run goes on
//! after each one; they are kept in the commit record of the chunk they belong to and merged,
//! sorted, into `rejects.jsonl` (so a resumed run writes the same file as an uninterrupted one).
//!
//! ```text
//!  sources / decode / tokenize ──Reject──► chunk writer ──► commits/<chunk>.json
//!                                                └──► manifest merge ──► rejects.jsonl + counts
//! ```

use serde::{Deserialize, Serialize};

/// Something that could not be used, and why.
///
/// `stage` and `kind` are short stable names (`"read"`, `"missing_json"`) for counting and
/// filtering; `reason` is the human message and `origin` names the input it came from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Reject {
    /// The input: a shard (`data-000003.tar`), a track (`data-000003.tar:000042`), a beatmap,
    /// a Songs folder path or an `.osz` member.
    pub origin: String,
    /// The pipeline stage that gave up (`download`, `read`, `decode`, `beatmap`, ...).
    pub stage: String,
    /// The category of the problem, the key the run summary counts by.
    pub kind: String,
    /// What went wrong, for people.
    pub reason: String,
}

/// Kinds of reject that say nothing about the input itself, only about this attempt to read it
/// (the network, the disk, permissions): a later run may well read it.
const RETRYABLE_KINDS: [&str; 2] = ["download_failed", "io"];

impl Reject {
    /// A reject of `origin` at `stage`, of category `kind`, because of `reason`.
    pub fn new(origin: impl Into<String>, stage: &str, kind: &str, reason: impl Into<String>) -> Self {
        Self { origin: origin.into(), stage: stage.to_owned(), kind: kind.to_owned(), reason: reason.into() }
    }

    /// Whether a later run may read the input (its kind is `download_failed` or `io`): such a
    /// reject is not committed with its chunk, which a rerun then redoes.
    pub fn is_retryable(&self) -> bool {
        RETRYABLE_KINDS.contains(&self.kind.as_str())
    }
}

impl std::fmt::Display for Reject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {} ({}/{})", self.origin, self.reason, self.stage, self.kind)
    }
}

impl std::error::Error for Reject {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reject_is_one_json_line_naming_its_input() {
        let r = Reject::new("Songs/1 A - B/x.osu", "read", "unsafe_path", "AudioFilename `../a.mp3`\nescapes");
        let line = serde_json::to_string(&r).unwrap();
        assert!(!line.contains('\n'));
        assert_eq!(serde_json::from_str::<Reject>(&line).unwrap(), r);
        assert!(r.to_string().starts_with("Songs/1 A - B/x.osu: "));
    }
}
