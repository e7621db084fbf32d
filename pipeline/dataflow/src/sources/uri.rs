//! The `--source` argument: which [`TrackSource`](super::TrackSource) to open.
//!
//! ```text
//!  "DIR"                                            ──► SourceUri::Shards(DIR)
//!  "hf://project-riz/osu-beatmaps/compressed?shards=0..4&revision=main" ──► SourceUri::Hub(HubSpec)
//!  "hf://datasets/project-riz/osu-beatmaps@main/compressed?shards=0..4"  ──► the same (huggingface_hub's form)
//!  "songs:PATH"                                     ──► SourceUri::Songs(PATH)
//! ```

use std::ops::Range;
use std::path::PathBuf;
use std::str::FromStr;

use thiserror::Error;

/// The largest shard index a `shards=` range may name (its end included): far more shards than
/// any hub data set has, and small enough that `END + 1` and the range's length never overflow.
pub const MAX_SHARD_INDEX: usize = 1_000_000;

/// A parsed `--source` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceUri {
    /// A local directory of WebDataset `.tar` shards.
    Shards(PathBuf),
    /// Shards of a Hugging Face data set.
    Hub(HubSpec),
    /// An osu! `Songs` folder, one beatmap set folder, a directory of `.osz` files or one `.osz`.
    Songs(PathBuf),
}

/// Which shards of which hub data set: the `hf://` form of [`SourceUri`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubSpec {
    /// Repository owner, e.g. `project-riz`.
    pub owner: String,
    /// Repository name, e.g. `osu-beatmaps`.
    pub name: String,
    /// Data set config: the folder holding the shards, `compressed` or `original`.
    pub config: String,
    /// Indices into the config's shards sorted by name (`0..4`: the first four); all when `None`.
    /// Both ends at most [`MAX_SHARD_INDEX`].
    pub shards: Option<Range<usize>>,
    /// Branch, tag or commit; the hub's default branch when `None`.
    pub revision: Option<String>,
}

impl std::fmt::Display for HubSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "hf://{}/{}/{}", self.owner, self.name, self.config)?;
        let mut sep = '?';
        if let Some(r) = &self.shards {
            write!(f, "{sep}shards={}..{}", r.start, r.end)?;
            sep = '&';
        }
        if let Some(rev) = &self.revision {
            write!(f, "{sep}revision={rev}")?;
        }
        Ok(())
    }
}

/// Why a `--source` value could not be parsed; names the value.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("source `{input}`: {reason}")]
pub struct UriError {
    /// The value as given.
    pub input: String,
    /// What is wrong with it.
    pub reason: String,
}

impl FromStr for SourceUri {
    type Err = UriError;

    fn from_str(input: &str) -> Result<Self, UriError> {
        let err = |reason: &str| UriError { input: input.to_owned(), reason: reason.to_owned() };
        if let Some(rest) = input.strip_prefix("hf://") {
            return parse_hub(rest).map(SourceUri::Hub).map_err(|reason| err(&reason));
        }
        if let Some(path) = input.strip_prefix("songs:") {
            if path.is_empty() {
                return Err(err("`songs:` needs a path"));
            }
            return Ok(SourceUri::Songs(PathBuf::from(path)));
        }
        if input.contains("://") {
            return Err(err("unknown scheme: use a directory, `hf://OWNER/NAME/CONFIG` or `songs:PATH`"));
        }
        if input.is_empty() {
            return Err(err("empty source"));
        }
        Ok(SourceUri::Shards(PathBuf::from(input)))
    }
}

/// What the `hf://` forms look like, for errors.
const HUB_FORMS: &str = "expected hf://OWNER/NAME/CONFIG or hf://datasets/OWNER/NAME[@REVISION]/CONFIG";

fn parse_hub(rest: &str) -> Result<HubSpec, String> {
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let parts: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    // `huggingface_hub`'s file-system form names the repository type and puts the revision
    // (with `/` written `%2F`, as in `refs%2Fpr%2F1`) after the name.
    let (owner, name, config, at_revision) = match parts[..] {
        ["datasets", owner, name_at, config] => match name_at.split_once('@') {
            Some((name, revision)) => (owner, name, config, Some(revision.replace("%2F", "/").replace("%2f", "/"))),
            None => (owner, name_at, config, None),
        },
        ["models" | "spaces", ..] => return Err("only data sets (hf://datasets/...) hold shards".into()),
        ["datasets", _, _] => return Err(format!("no config (the folder of shards): {HUB_FORMS}")),
        [owner, name, config] => (owner, name, config, None),
        _ => return Err(HUB_FORMS.into()),
    };
    if [owner, name, config].iter().any(|p| p.is_empty() || *p == "." || *p == ".." || p.contains('@')) {
        return Err(HUB_FORMS.into());
    }
    if at_revision.as_deref() == Some("") {
        return Err("empty revision after `@`".into());
    }
    let mut spec =
        HubSpec { owner: owner.into(), name: name.into(), config: config.into(), shards: None, revision: at_revision };
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').ok_or_else(|| format!("`{pair}` is not KEY=VALUE"))?;
        match key {
            "shards" => spec.shards = Some(parse_range(value)?),
            "revision" if spec.revision.is_some() => return Err("two revisions: `@REVISION` and `revision=`".into()),
            "revision" if !value.is_empty() => spec.revision = Some(value.into()),
            "revision" => return Err("empty revision".into()),
            other => return Err(format!("unknown option `{other}` (known: shards, revision)")),
        }
    }
    Ok(spec)
}

/// `A..B` (B excluded), `A..` (to the end is not allowed: the range must be explicit) or `N`.
fn parse_range(value: &str) -> Result<Range<usize>, String> {
    let bad = || format!("shards=`{value}`: expected START..END (END excluded) or one index");
    let index = |s: &str| -> Result<usize, String> {
        let n: usize = s.parse().map_err(|_| bad())?;
        if n > MAX_SHARD_INDEX {
            return Err(format!("shards=`{value}`: index {n} is above the largest allowed, {MAX_SHARD_INDEX}"));
        }
        Ok(n)
    };
    let range = match value.split_once("..") {
        Some((a, b)) => index(a)?..index(b)?,
        None => {
            let n = index(value)?;
            n..n + 1
        }
    };
    if range.is_empty() {
        return Err(format!("shards=`{value}` selects no shard"));
    }
    Ok(range)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_forms() {
        assert_eq!("data/shards".parse(), Ok(SourceUri::Shards("data/shards".into())));
        assert_eq!("songs:/home/me/osu!/Songs".parse(), Ok(SourceUri::Songs("/home/me/osu!/Songs".into())));
        let hub: SourceUri = "hf://project-riz/osu-beatmaps/compressed?shards=0..4&revision=main".parse().unwrap();
        let SourceUri::Hub(spec) = hub else { panic!("not a hub uri") };
        assert_eq!(spec.owner, "project-riz");
        assert_eq!(spec.name, "osu-beatmaps");
        assert_eq!(spec.config, "compressed");
        assert_eq!(spec.shards, Some(0..4));
        assert_eq!(spec.revision.as_deref(), Some("main"));
        assert_eq!(spec.to_string(), "hf://project-riz/osu-beatmaps/compressed?shards=0..4&revision=main");
        let plain: SourceUri = "hf://project-riz/osu-beatmaps/original".parse().unwrap();
        assert_eq!(
            plain,
            SourceUri::Hub(HubSpec {
                owner: "project-riz".into(),
                name: "osu-beatmaps".into(),
                config: "original".into(),
                shards: None,
                revision: None
            })
        );
        let one: SourceUri = "hf://a/b/c?shards=7".parse().unwrap();
        assert!(matches!(one, SourceUri::Hub(HubSpec { shards: Some(r), .. }) if r == (7..8)));
    }

    #[test]
    fn parses_the_huggingface_hub_file_system_form() {
        let today: SourceUri = "hf://project-riz/osu-beatmaps/compressed?shards=2..5&revision=v1.0".parse().unwrap();
        for form in [
            "hf://datasets/project-riz/osu-beatmaps@v1.0/compressed?shards=2..5",
            "hf://datasets/project-riz/osu-beatmaps@v1.0/compressed/?shards=2..5",
            "hf://datasets/project-riz/osu-beatmaps/compressed?shards=2..5&revision=v1.0",
        ] {
            assert_eq!(form.parse::<SourceUri>(), Ok(today.clone()), "{form}");
        }
        let pr: SourceUri = "hf://datasets/project-riz/osu-beatmaps@refs%2Fpr%2F3/original".parse().unwrap();
        let SourceUri::Hub(spec) = pr else { panic!("not a hub uri") };
        assert_eq!(
            (spec.revision.as_deref(), spec.config.as_str(), spec.shards),
            (Some("refs/pr/3"), "original", None)
        );
        let main: SourceUri = "hf://datasets/project-riz/osu-beatmaps/compressed".parse().unwrap();
        assert!(matches!(main, SourceUri::Hub(HubSpec { revision: None, .. })));
        for bad in [
            "hf://datasets/project-riz/osu-beatmaps@/compressed",
            "hf://datasets/project-riz/osu-beatmaps@main/compressed?revision=main",
            "hf://datasets/project-riz/osu-beatmaps@main",
            "hf://models/openai/whisper/x",
            "hf://datasets/a/b@c/d/e",
            "hf://a@b/c/d",
            "hf://datasets/project-riz/osu-beatmaps",
        ] {
            let err = bad.parse::<SourceUri>().unwrap_err();
            assert_eq!(err.input, bad);
        }
    }

    #[test]
    fn rejects_malformed_values_naming_them() {
        for bad in [
            "",
            "songs:",
            "s3://bucket/x",
            "hf://project-riz/osu-beatmaps",
            "hf://a/b/c/d",
            "hf://a/../c",
            "hf://a/b/c?shards=4..2",
            "hf://a/b/c?shards=x",
            "hf://a/b/c?split=train",
            "hf://a/b/c?revision",
            // `N` means N..N+1: this one overflowed.
            "hf://a/b/c?shards=18446744073709551615",
            "hf://a/b/c?shards=0..18446744073709551615",
            "hf://a/b/c?shards=1000001",
            "hf://a/b/c?shards=99999999999999999999999",
        ] {
            let err = bad.parse::<SourceUri>().unwrap_err();
            assert_eq!(err.input, bad);
            assert!(err.to_string().starts_with(&format!("source `{bad}`")), "{err}");
        }
        for too_large in ["18446744073709551615", "0..18446744073709551615", "1000001", "0..1000001"] {
            let err = format!("hf://a/b/c?shards={too_large}").parse::<SourceUri>().unwrap_err().to_string();
            assert!(err.contains("shards=") && err.contains("1000000"), "{err}");
        }
        let top: SourceUri = format!("hf://a/b/c?shards={MAX_SHARD_INDEX}").parse().unwrap();
        assert!(matches!(top, SourceUri::Hub(HubSpec { shards: Some(r), .. }) if r.len() == 1));
    }
}
