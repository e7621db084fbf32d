//! Shards of a Hugging Face data set (`project-riz/osu-beatmaps`), fetched with `hf-hub` one
//! shard ahead of the reader and deleted once read.
//!
//! ```text
//!  list_tree(config/) ──► data-000000.tar, data-000001.tar, ... (sorted, ?shards=a..b)
//!  downloader thread: download_file(N+1) ──rendezvous channel (holds 0)──► reader thread:
//!      read_shard(N) ──bounded channel──► HubShards::next()      then delete shard N
//! ```
//!
//! The rendezvous channel lets the downloader finish shard N+1 while shard N is read, and no
//! more: at most two shards are on disk at once. Files land in the hub cache (`cache_dir`, else
//! `HF_HUB_CACHE` / `HF_HOME/hub`) and are removed (blob and snapshot link) after reading unless
//! `keep_shards` is set. The token comes from `HF_TOKEN` (or `HF_TOKEN_PATH`), read by `hf-hub`
//! itself; nothing here touches or logs it. A shard that fails to download is a reject, and the
//! next one is tried.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use hf_hub::repository::RepoTreeEntry;
use hf_hub::{HFClient, HFClientSync, HFError, HFRepositorySync, RepoTypeDataset};

use super::uri::HubSpec;
use super::webdataset::read_shard_file;
use super::{ChannelSource, STAGE_DOWNLOAD, TrackRecord, spawn_reader};
use shards::rejects::Reject;

/// How to reach the hub and what to keep.
#[derive(Debug, Clone, Default)]
pub struct HubOptions {
    /// The hub cache folder; `hf-hub`'s default (`HF_HUB_CACHE`, else `HF_HOME/hub`) when `None`.
    pub cache_dir: Option<PathBuf>,
    /// The hub URL; `HF_ENDPOINT`, else `https://huggingface.co`, when `None`.
    pub endpoint: Option<String>,
    /// Keep shards in the cache after reading them (default: delete, so disk use stays bounded).
    pub keep_shards: bool,
    /// Retries of transient HTTP failures; `hf-hub`'s default (5) when `None`.
    pub retry_max_attempts: Option<usize>,
    /// Shards not to download (by file name, `data-000003.tar`): the output has all their chunks.
    pub skip: BTreeSet<String>,
}

/// Tracks of a hub data set's shards, downloaded one ahead and read on background threads.
#[derive(Debug)]
pub struct HubShards {
    shards: Vec<String>,
    tracks: ChannelSource,
}

/// A shard on disk, or why it is not.
type Fetched = Result<(String, PathBuf), Reject>;

impl HubShards {
    /// Lists the shards `spec` selects and starts fetching and reading them, `capacity` tracks
    /// ahead. Errors: the client cannot be built, the listing fails, or the range selects nothing.
    pub fn open(spec: HubSpec, options: HubOptions, capacity: usize) -> Result<Self, Reject> {
        let origin = spec.to_string();
        let fail = |kind: &'static str, reason: String| Reject::new(origin.clone(), STAGE_DOWNLOAD, kind, reason);
        let mut builder = HFClient::builder();
        if let Some(endpoint) = &options.endpoint {
            builder = builder.endpoint(endpoint.clone());
        }
        if let Some(dir) = &options.cache_dir {
            builder = builder.cache_dir(dir.clone());
        }
        if let Some(n) = options.retry_max_attempts {
            builder = builder.retry_max_attempts(n);
        }
        let client: HFClientSync = builder.build_sync().map_err(|e| fail("hub_error", format!("hub client: {e}")))?;
        let repo = client.dataset(spec.owner.clone(), spec.name.clone());
        let mut shards = list_shards(&repo, &spec).map_err(|e| fail("hub_error", e))?;
        let listed = shards.len();
        shards.retain(|shard| !options.skip.contains(shard.rsplit('/').next().unwrap_or(shard)));
        if shards.len() < listed {
            log::info!("{origin}: {} of {listed} shards are done in the output: not downloaded", listed - shards.len());
        }

        let (fetched_tx, fetched_rx) = crossbeam::channel::bounded::<Fetched>(0);
        let to_fetch = shards.clone();
        let revision = spec.revision.clone();
        let hub = format!("hf://{}/{}", spec.owner, spec.name);
        let keep = options.keep_shards;
        std::thread::Builder::new()
            .name("hub-downloader".into())
            .spawn(move || {
                for shard in to_fetch {
                    log::info!("{hub}: downloading {shard}");
                    let fetched = repo
                        .download_file()
                        .filename(shard.clone())
                        .maybe_revision(revision.clone())
                        .send()
                        .map(|local| (shard.clone(), local))
                        .map_err(|e| {
                            Reject::new(format!("{hub}/{shard}"), STAGE_DOWNLOAD, "download_failed", describe(&e))
                        });
                    if let Err(unsent) = fetched_tx.send(fetched) {
                        // The reader is gone: do not leave the shard just fetched behind.
                        if let Ok((_, local)) = unsent.into_inner()
                            && !keep
                        {
                            remove_cached(&local);
                        }
                        return;
                    }
                }
            })
            .map_err(|e| fail("io", format!("cannot start the downloader thread: {e}")))?;

        let tracks = spawn_reader("hub-reader", capacity, move |emitter| {
            for fetched in fetched_rx {
                let (shard, local) = match fetched {
                    Ok(ok) => ok,
                    Err(reject) => {
                        if emitter.emit(Err(reject)) {
                            continue;
                        }
                        return;
                    }
                };
                let go_on = read_shard_file(&local, &shard, &mut |item| emitter.emit(item));
                if !keep {
                    remove_cached(&local);
                }
                if !go_on {
                    return;
                }
            }
        })?;
        Ok(Self { shards, tracks })
    }

    /// The repository paths of the selected shards, in reading order.
    pub fn shards(&self) -> &[String] {
        &self.shards
    }
}

impl Iterator for HubShards {
    type Item = Result<TrackRecord, Reject>;

    fn next(&mut self) -> Option<Self::Item> {
        self.tracks.next()
    }
}

/// `{config}/*.tar` in the repository tree, sorted, cut to `spec.shards`.
/// A hub error with its causes, each once: a failed request says what failed underneath (`Connection
/// refused`), and names its URL once (`hf-hub` appends the URL `reqwest` already names).
fn describe(error: &HFError) -> String {
    let (mut text, mut cause) = match error {
        HFError::Request { source, .. } => (format!("HTTP request error: {source}"), std::error::Error::source(source)),
        other => (other.to_string(), std::error::Error::source(other)),
    };
    while let Some(inner) = cause {
        let inner_text = inner.to_string();
        if !text.contains(&inner_text) {
            text = format!("{text}: {inner_text}");
        }
        cause = inner.source();
    }
    text
}

fn list_shards(repo: &HFRepositorySync<RepoTypeDataset>, spec: &HubSpec) -> Result<Vec<String>, String> {
    let tree = repo
        .list_tree()
        .path_in_repo(spec.config.clone())
        .recursive(true)
        .maybe_revision(spec.revision.clone())
        .send()
        .map_err(|e| format!("cannot list `{}/`: {}", spec.config, describe(&e)))?;
    let prefix = format!("{}/", spec.config);
    let mut shards: Vec<String> = tree
        .into_iter()
        .filter_map(|entry| match entry {
            RepoTreeEntry::File { path, .. } => Some(path),
            RepoTreeEntry::Directory { .. } => None,
        })
        .filter(|path| path.strip_prefix(&prefix).is_some_and(|name| !name.contains('/') && name.ends_with(".tar")))
        .collect();
    shards.sort();
    if shards.is_empty() {
        return Err(format!("no .tar shard under `{prefix}`"));
    }
    if let Some(range) = &spec.shards {
        if range.end > shards.len() {
            return Err(format!(
                "shards={}..{} asks for more than the {} shards under `{prefix}`",
                range.start,
                range.end,
                shards.len()
            ));
        }
        shards = shards[range.clone()].to_vec();
    }
    Ok(shards)
}

/// Deletes a downloaded shard: the cache blob and the snapshot link to it.
fn remove_cached(local: &Path) {
    let blob = std::fs::canonicalize(local).ok();
    for path in [Some(local.to_owned()), blob].into_iter().flatten() {
        if let Err(e) = std::fs::remove_file(&path)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            log::warn!("{}: cannot delete the finished shard: {e}", path.display());
        }
    }
}
