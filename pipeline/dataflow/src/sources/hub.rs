//! Shards of a Hugging Face data set (`project-riz/osu-beatmaps`), pinned to one commit, fetched
//! with `hf-hub` one shard ahead of the reader, checked against the tree listing, and deleted
//! once read.
//!
//! ```text
//!  revision (main) ──info──► commit sha ──tree API at the sha (paged)──► data-000000.tar {size, sha256}, ...
//!  downloader thread: download_file(N+1 @ sha) ─ verify size + sha256 ─rendezvous channel (holds 0)─►
//!  reader thread: read_shard(N) ──bounded channel──► HubShards::next()      then delete shard N
//! ```
//!
//! The revision is resolved once, when the source opens: the listing and every download use the
//! commit sha, so a run never mixes two revisions however long it takes. Every download is
//! checked against the size and SHA-256 (`lfs.oid`) the tree API lists for it before it is read:
//! `hf-hub` 1.0 does not check the status of its file GET, so an error page (403, 5xx) would
//! otherwise be taken for the shard. A download that fails or does not match is a retryable
//! `download_failed` reject once `download_attempts` tries have failed (its chunk is not
//! committed, so a rerun downloads it again); what each attempt left in the cache (the blob, a
//! `.incomplete` file) is deleted, and the next shard is tried.
//!
//! The rendezvous channel lets the downloader finish shard N+1 while shard N is read, and no
//! more: at most two shards are on disk at once. Files land in the hub cache (`cache_dir`, else
//! `HF_HUB_CACHE` / `HF_HOME/hub`) and are removed (blob and snapshot link) after reading unless
//! `keep_shards` is set. The token comes from `HF_TOKEN` (or `HF_TOKEN_PATH`, or the stored token
//! file), resolved by `hf-hub`'s rules; it is sent as the `Authorization` header only, never logged.

use std::collections::BTreeSet;
use std::io::Read;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hf_hub::{HFClient, HFClientSync, HFError, HFRepositorySync, RepoTypeDataset};
use sha2::{Digest, Sha256};
use thiserror::Error;

use super::uri::HubSpec;
use super::webdataset::read_shard_file;
use super::{ChannelSource, STAGE_DOWNLOAD, TrackRecord, spawn_reader};
use shards::done::{PinnedSource, ShardContent};
use shards::manifest::SourceRevision;
use shards::rejects::Reject;

/// How long a download may wait for its next bytes before it fails as stalled, by default.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(60);

/// Attempts at downloading one shard (a failure or a mismatch is tried again) by default.
pub const DEFAULT_DOWNLOAD_ATTEMPTS: usize = 3;

/// The wait before the second attempt at a shard; it doubles before each further one.
const FIRST_RETRY_DELAY: Duration = Duration::from_secs(2);

/// How long connecting to the hub or its CDN may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// How long the tree listing (one page) may take, whatever [`HubOptions::read_timeout`] is.
const LISTING_TIMEOUT: Duration = Duration::from_secs(120);

/// Pages of the tree listing followed at most: far more than a data set of shards has, so a
/// server that links pages in a circle ends the listing with an error.
const MAX_TREE_PAGES: usize = 10_000;

/// How to reach the hub and what to keep.
#[derive(Debug, Clone, Default)]
pub struct HubOptions {
    /// The hub cache folder; `hf-hub`'s default (`HF_HUB_CACHE`, else `HF_HOME/hub`) when `None`.
    pub cache_dir: Option<PathBuf>,
    /// The hub URL; `HF_ENDPOINT`, else `https://huggingface.co`, when `None`.
    pub endpoint: Option<String>,
    /// Keep shards in the cache after reading them (default: delete, so disk use stays bounded).
    pub keep_shards: bool,
    /// Retries of transient HTTP failures; `hf-hub`'s default when `None`.
    pub retry_max_attempts: Option<usize>,
    /// Longest wait for the next bytes of a response before the download fails as stalled;
    /// [`DEFAULT_READ_TIMEOUT`] when `None`.
    pub read_timeout: Option<Duration>,
    /// Attempts at each shard before it is a `download_failed` reject (a failed or mismatching
    /// download is deleted and fetched again, after 2 s, 4 s, ...); [`DEFAULT_DOWNLOAD_ATTEMPTS`]
    /// when `None`, at least 1.
    pub download_attempts: Option<usize>,
    /// Shards not to download (by file name, `data-000003.tar`): the output has all their chunks.
    pub skip: BTreeSet<String>,
}

/// One shard as the tree API lists it at the pinned commit: what its download must be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedShard {
    /// Its path in the repository, `compressed/data-000003.tar`.
    pub path: String,
    /// Its size in bytes.
    pub size: u64,
    /// The SHA-256 of its content (lower-case hex, the tree's `lfs.oid`); `None` for a file
    /// stored in git itself rather than LFS, which is checked by size only.
    pub sha256: Option<String>,
    /// The git object id the tree lists (for a non-LFS file, the name of its cache blob).
    pub oid: String,
}

impl ListedShard {
    /// The file name, `data-000003.tar`: how the output names the shard.
    pub fn name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or(&self.path)
    }

    /// The name `hf-hub` gives the shard's blob in its cache: the ETag the hub answers, which
    /// is the SHA-256 for LFS files and the git oid for the others.
    fn blob_name(&self) -> &str {
        self.sha256.as_deref().unwrap_or(&self.oid)
    }
}

/// A data set config's shards at one commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubListing {
    /// The commit the revision resolved to, which every download uses.
    pub sha: String,
    /// Every shard of the config, sorted by path.
    pub shards: Vec<ListedShard>,
    /// The indices into `shards` the source's `?shards=` selects (all of them without one).
    pub selected: Range<usize>,
}

/// Tracks of a hub data set's shards, downloaded one ahead and read on background threads.
#[derive(Debug)]
pub struct HubShards {
    listing: HubListing,
    tracks: ChannelSource,
}

/// A shard on disk, or why it is not.
type Fetched = Result<(String, PathBuf), Reject>;

/// The hub as this source talks to it: `hf-hub` for the revision and the downloads, plain
/// HTTP for the tree listing.
struct Hub {
    repo: HFRepositorySync<RepoTypeDataset>,
    /// Attempts at each shard, at least 1.
    attempts: usize,
    /// The repository's folder in the cache, `CACHE/datasets--OWNER--NAME`.
    cache_folder: PathBuf,
    listing_http: reqwest::blocking::Client,
    endpoint: String,
    token: Option<String>,
}

impl Hub {
    fn connect(spec: &HubSpec, options: &HubOptions) -> Result<Self, String> {
        let token = resolve_token();
        let user_agent = format!("mapflow/{}; hf-hub/1", env!("CARGO_PKG_VERSION"));
        // `hf-hub` takes this client as it is: the user agent is ours to set.
        let downloads = reqwest::Client::builder()
            .user_agent(user_agent.clone())
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(options.read_timeout.unwrap_or(DEFAULT_READ_TIMEOUT))
            .build()
            .map_err(|e| format!("hub client: {}", describe_chain(&e)))?;
        let mut builder = HFClient::builder().client(downloads);
        if let Some(endpoint) = &options.endpoint {
            builder = builder.endpoint(endpoint.clone());
        }
        if let Some(dir) = &options.cache_dir {
            builder = builder.cache_dir(dir.clone());
        }
        if let Some(n) = options.retry_max_attempts {
            builder = builder.retry_max_attempts(n);
        }
        if let Some(token) = &token {
            builder = builder.token(token.clone());
        }
        let client = builder.build().map_err(|e| format!("hub client: {}", describe(&e)))?;
        let cache_folder = client.cache_dir().join(format!("datasets--{}--{}", spec.owner, spec.name));
        let endpoint = client.endpoint().to_owned();
        let client = HFClientSync::from_inner(client).map_err(|e| format!("hub client: {}", describe(&e)))?;
        let listing_http = reqwest::blocking::Client::builder()
            .user_agent(user_agent)
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(LISTING_TIMEOUT)
            .build()
            .map_err(|e| format!("hub client: {}", describe_chain(&e)))?;
        Ok(Self {
            repo: client.dataset(spec.owner.clone(), spec.name.clone()),
            attempts: options.download_attempts.unwrap_or(DEFAULT_DOWNLOAD_ATTEMPTS).max(1),
            cache_folder,
            listing_http,
            endpoint,
            token,
        })
    }

    /// The commit `revision` (the default branch when `None`) points at now.
    fn resolve(&self, revision: Option<&str>) -> Result<String, String> {
        let asked = revision.unwrap_or("main");
        let info = self
            .repo
            .info()
            .maybe_revision(revision.map(str::to_owned))
            .send()
            .map_err(|e| format!("cannot resolve revision `{asked}`: {}", describe(&e)))?;
        info.sha.ok_or_else(|| format!("the hub names no commit for revision `{asked}`"))
    }

    /// `{config}/*.tar` in the tree at `sha`, sorted, and the range `spec.shards` selects.
    fn list(&self, spec: &HubSpec, sha: &str) -> Result<(Vec<ListedShard>, Range<usize>), String> {
        let prefix = format!("{}/", spec.config);
        let mut url = format!(
            "{}/api/datasets/{}/{}/tree/{sha}/{}?recursive=true",
            self.endpoint, spec.owner, spec.name, spec.config
        );
        let cannot = |reason: String| format!("cannot list `{prefix}` at {sha}: {reason}");
        let mut shards = Vec::new();
        for _ in 0..MAX_TREE_PAGES {
            let mut request = self.listing_http.get(&url);
            if let Some(token) = &self.token {
                request = request.bearer_auth(token);
            }
            let response = request.send().map_err(|e| cannot(describe_chain(&e)))?;
            let status = response.status();
            let next = next_page(response.headers());
            let body = response.bytes().map_err(|e| cannot(describe_chain(&e)))?;
            if !status.is_success() {
                let text = String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
                return Err(cannot(format!("HTTP {status} from {url}: {text}")));
            }
            shards.extend(
                tree_page_shards(&body, &prefix)
                    .map_err(|e| cannot(format!("the tree page {url} is not a listing: {e}")))?,
            );
            match next {
                Some(next) => url = next,
                None => return select(shards, spec, &prefix),
            }
        }
        Err(cannot(format!("more than {MAX_TREE_PAGES} pages")))
    }

    /// Downloads `shard` at `sha` and checks it against the listing; on failure deletes what
    /// the attempt left in the cache.
    fn fetch(&self, shard: &ListedShard, sha: &str, origin: &str) -> Result<PathBuf, Reject> {
        let (mut attempt, mut delay) = (1, FIRST_RETRY_DELAY);
        loop {
            match self.fetch_once(shard, sha, origin) {
                Err(reject) if attempt < self.attempts => {
                    log::warn!("{reject}; attempt {attempt} of {}, trying again in {delay:?}", self.attempts);
                    std::thread::sleep(delay);
                    attempt += 1;
                    delay *= 2;
                }
                Err(mut reject) if self.attempts > 1 => {
                    reject.reason = format!("{} (after {} attempts)", reject.reason, self.attempts);
                    return Err(reject);
                }
                done => return done,
            }
        }
    }

    /// One attempt of [`Hub::fetch`].
    fn fetch_once(&self, shard: &ListedShard, sha: &str, origin: &str) -> Result<PathBuf, Reject> {
        let fail = |reason: String| Reject::new(origin, STAGE_DOWNLOAD, "download_failed", reason);
        let local = match self.repo.download_file().filename(shard.path.clone()).revision(sha.to_owned()).send() {
            Ok(local) => local,
            Err(e) => {
                self.remove_partial(shard);
                return Err(fail(describe(&e)));
            }
        };
        match verify(&local, shard) {
            Ok(()) => Ok(local),
            Err(mismatch) => {
                remove_cached(&local);
                self.remove_partial(shard);
                Err(fail(format!("{mismatch} (the download was deleted; rerun to fetch it again)")))
            }
        }
    }

    /// Deletes the `.incomplete` file an interrupted download of `shard` leaves in the cache.
    fn remove_partial(&self, shard: &ListedShard) {
        let partial = self.cache_folder.join("blobs").join(format!("{}.incomplete", shard.blob_name()));
        remove_file(&partial, "a partial download");
    }
}

/// One entry of a tree API page, as the hub writes it (`hf-hub` 1.0's own type drops `lfs.oid`).
#[derive(Debug, serde::Deserialize)]
struct TreeEntry {
    #[serde(rename = "type")]
    kind: String,
    path: String,
    #[serde(default)]
    size: u64,
    #[serde(default)]
    oid: String,
    #[serde(default)]
    lfs: Option<TreeLfs>,
}

/// The `lfs` object of a tree entry.
#[derive(Debug, serde::Deserialize)]
struct TreeLfs {
    oid: String,
    size: u64,
}

impl TreeEntry {
    /// This entry as a shard, if it is a `.tar` file directly under `prefix`; an error naming
    /// it when its ids cannot be used: its `oid` (a cache blob's name) is not hex, or its
    /// `lfs.oid` is not a SHA-256 (no download could match it).
    fn shard_under(self, prefix: &str) -> Option<Result<ListedShard, String>> {
        let name = self.path.strip_prefix(prefix)?;
        if self.kind != "file" || name.contains('/') || !name.ends_with(".tar") {
            return None;
        }
        let hex = |id: &str| !id.is_empty() && id.bytes().all(|b| b.is_ascii_hexdigit());
        if !hex(&self.oid) {
            return Some(Err(format!("{}: oid {:?} is not a hex object id", self.path, self.oid)));
        }
        let (size, sha256) = match self.lfs {
            Some(lfs) if lfs.oid.len() != 64 || !hex(&lfs.oid) => {
                return Some(Err(format!("{}: lfs.oid {:?} is not a SHA-256", self.path, lfs.oid)));
            }
            Some(lfs) => (lfs.size, Some(lfs.oid.to_ascii_lowercase())),
            None => (self.size, None),
        };
        Some(Ok(ListedShard { path: self.path, size, sha256, oid: self.oid }))
    }
}

/// The shards one page of the tree API lists directly under `prefix` (`compressed/`), in page
/// order; an error saying why when the page is not a listing.
pub fn tree_page_shards(body: &[u8], prefix: &str) -> Result<Vec<ListedShard>, String> {
    let entries: Vec<TreeEntry> = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    entries.into_iter().filter_map(|entry| entry.shard_under(prefix)).collect()
}

/// The URL of a `Link: <URL>; rel="next"` header, if the response has one.
fn next_page(headers: &reqwest::header::HeaderMap) -> Option<String> {
    headers.get_all(reqwest::header::LINK).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).find_map(
        |link| {
            let (target, params) = link.split_once(';')?;
            params
                .split(';')
                .any(|p| matches!(p.trim(), "rel=\"next\"" | "rel=next"))
                .then(|| target.trim().trim_start_matches('<').trim_end_matches('>').to_owned())
        },
    )
}

/// The listed shards sorted, and the range of them `spec.shards` selects.
fn select(
    mut shards: Vec<ListedShard>,
    spec: &HubSpec,
    prefix: &str,
) -> Result<(Vec<ListedShard>, Range<usize>), String> {
    shards.sort_by(|a, b| a.path.cmp(&b.path));
    shards.dedup_by(|a, b| a.path == b.path);
    if shards.is_empty() {
        return Err(format!("no .tar shard under `{prefix}`"));
    }
    let range = spec.shards.clone().unwrap_or(0..shards.len());
    if range.end > shards.len() {
        return Err(format!(
            "shards={}..{} asks for more than the {} shards under `{prefix}`",
            range.start,
            range.end,
            shards.len()
        ));
    }
    Ok((shards, range))
}

impl HubListing {
    /// Resolves `spec`'s revision to a commit and lists the shards it selects there.
    /// Errors (a `hub_error` reject naming `spec`): the client cannot be built, the revision
    /// does not resolve, the listing fails, or the range selects nothing.
    pub fn fetch(spec: &HubSpec, options: &HubOptions) -> Result<Self, Reject> {
        let hub = Hub::connect(spec, options).map_err(|e| listing_error(spec, e))?;
        Self::fetch_from(&hub, spec).map_err(|e| listing_error(spec, e))
    }

    fn fetch_from(hub: &Hub, spec: &HubSpec) -> Result<Self, String> {
        let sha = hub.resolve(spec.revision.as_deref())?;
        let (shards, selected) = hub.list(spec, &sha)?;
        Ok(Self { sha, shards, selected })
    }

    /// The shards the source reads, in reading order.
    pub fn selected(&self) -> &[ListedShard] {
        &self.shards[self.selected.clone()]
    }

    /// `spec` pinned to this listing's commit: the source a run opens, so that it reads what
    /// was listed here however long it runs.
    pub fn pinned_spec(&self, spec: &HubSpec) -> HubSpec {
        HubSpec { revision: Some(self.sha.clone()), ..spec.clone() }
    }

    /// What the output records of this source: the data set, config and commit, and the content
    /// of every shard of the config there.
    pub fn pinned_source(&self, spec: &HubSpec) -> PinnedSource {
        PinnedSource {
            revision: SourceRevision {
                repo: format!("{}/{}", spec.owner, spec.name),
                config: spec.config.clone(),
                sha: self.sha.clone(),
            },
            shards: self
                .shards
                .iter()
                .map(|s| (s.name().to_owned(), ShardContent { size: s.size, sha256: s.sha256.clone() }))
                .collect(),
        }
    }
}

/// What a run of a listing would download, and the disk it would hold at most: `--plan`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadPlan {
    /// The selected shards in reading order, each with whether the output has it done already
    /// (then it is not downloaded).
    pub shards: Vec<(ListedShard, bool)>,
    /// Bytes to download: the shards not done.
    pub download_bytes: u64,
    /// The most bytes of shards in the cache at once: two consecutive shards (one being read,
    /// the next downloaded meanwhile), or all of them when they are kept.
    pub max_disk_bytes: u64,
}

impl HubListing {
    /// The plan of reading this listing's selected shards but those in `done`, keeping the
    /// downloads (`keep_shards`) or deleting each once read.
    pub fn plan(&self, done: &BTreeSet<String>, keep_shards: bool) -> DownloadPlan {
        let shards: Vec<(ListedShard, bool)> =
            self.selected().iter().map(|s| (s.clone(), done.contains(s.name()))).collect();
        let sizes: Vec<u64> = shards.iter().filter(|(_, done)| !done).map(|(s, _)| s.size).collect();
        let download_bytes = sizes.iter().sum();
        let max_disk_bytes = if keep_shards || sizes.len() < 2 {
            download_bytes
        } else {
            sizes.windows(2).map(|pair| pair[0] + pair[1]).max().unwrap_or(0)
        };
        DownloadPlan { shards, download_bytes, max_disk_bytes }
    }
}

fn listing_error(spec: &HubSpec, reason: String) -> Reject {
    Reject::new(spec.to_string(), STAGE_DOWNLOAD, "hub_error", reason)
}

impl HubShards {
    /// Resolves the revision, lists the shards `spec` selects at that commit and starts fetching
    /// and reading them, `capacity` tracks ahead. Errors: see [`HubListing::fetch`].
    pub fn open(spec: HubSpec, options: HubOptions, capacity: usize) -> Result<Self, Reject> {
        let origin = spec.to_string();
        let hub = Hub::connect(&spec, &options).map_err(|e| listing_error(&spec, e))?;
        let listing = HubListing::fetch_from(&hub, &spec).map_err(|e| listing_error(&spec, e))?;
        log::info!("{origin}: revision {} is commit {}", spec.revision.as_deref().unwrap_or("main"), listing.sha);
        let selected = listing.selected();
        let to_fetch: Vec<ListedShard> =
            selected.iter().filter(|shard| !options.skip.contains(shard.name())).cloned().collect();
        if to_fetch.len() < selected.len() {
            log::info!(
                "{origin}: {} of {} shards are done in the output: not downloaded",
                selected.len() - to_fetch.len(),
                selected.len()
            );
        }

        let (fetched_tx, fetched_rx) = crossbeam::channel::bounded::<Fetched>(0);
        let sha = listing.sha.clone();
        let repo_uri = format!("hf://{}/{}", spec.owner, spec.name);
        let keep = options.keep_shards;
        std::thread::Builder::new()
            .name("hub-downloader".into())
            .spawn(move || {
                for shard in to_fetch {
                    log::info!("{repo_uri}: downloading {} ({} MB)", shard.path, shard.size / 1_000_000);
                    let origin = format!("{repo_uri}/{}", shard.path);
                    let fetched = hub.fetch(&shard, &sha, &origin).map(|local| (shard.path.clone(), local));
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
            .map_err(|e| {
                Reject::new(origin.clone(), STAGE_DOWNLOAD, "io", format!("cannot start the downloader thread: {e}"))
            })?;

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
        Ok(Self { listing, tracks })
    }

    /// The selected shards as listed at the pinned commit, in reading order (those skipped as
    /// done included).
    pub fn shards(&self) -> &[ListedShard] {
        self.listing.selected()
    }

    /// The commit every listing and download of this source uses.
    pub fn sha(&self) -> &str {
        &self.listing.sha
    }
}

impl Iterator for HubShards {
    type Item = Result<TrackRecord, Reject>;

    fn next(&mut self) -> Option<Self::Item> {
        self.tracks.next()
    }
}

/// How a downloaded shard differs from what the tree lists for it.
#[derive(Debug, Error)]
pub enum VerifyError {
    /// The file has another size: a cut download, or an error page saved as the shard.
    #[error("{path}: the download has {got} bytes, the tree lists {listed}{start}")]
    Size {
        /// The shard's repository path.
        path: String,
        /// Bytes on disk.
        got: u64,
        /// Bytes listed.
        listed: u64,
        /// ` (it starts: …)` when the file is short text, such as an error page; else empty.
        start: String,
    },
    /// The file has the listed size but other content.
    #[error("{path}: the download has SHA-256 {got}, the tree lists {listed}")]
    Digest {
        /// The shard's repository path.
        path: String,
        /// SHA-256 of the bytes on disk.
        got: String,
        /// SHA-256 listed (`lfs.oid`).
        listed: String,
    },
    /// The file cannot be read.
    #[error("{path}: cannot read the download {file}: {source}")]
    Io {
        /// The shard's repository path.
        path: String,
        /// The file on disk.
        file: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
}

/// Checks the file at `local` against `listed`: size first, then SHA-256 when listed.
pub fn verify(local: &Path, listed: &ListedShard) -> Result<(), VerifyError> {
    let io = |source| VerifyError::Io { path: listed.path.clone(), file: local.to_owned(), source };
    let got = std::fs::metadata(local).map_err(io)?.len();
    if got != listed.size {
        return Err(VerifyError::Size {
            path: listed.path.clone(),
            got,
            listed: listed.size,
            start: text_start(local),
        });
    }
    let Some(expected) = &listed.sha256 else {
        return Ok(());
    };
    let mut file = std::fs::File::open(local).map_err(io)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buffer).map_err(io)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    let digest = hex::encode(hasher.finalize());
    if &digest != expected {
        return Err(VerifyError::Digest { path: listed.path.clone(), got: digest, listed: expected.clone() });
    }
    Ok(())
}

/// ` (it starts: "…")` for a short text file (an error page saved as the shard), else empty.
fn text_start(local: &Path) -> String {
    const MAX_PAGE: u64 = 64 << 10;
    if std::fs::metadata(local).map_or(true, |m| m.len() > MAX_PAGE) {
        return String::new();
    }
    match std::fs::read(local).ok().and_then(|bytes| String::from_utf8(bytes).ok()) {
        Some(text) if !text.trim().is_empty() => {
            let start: String = text.trim().chars().take(120).collect();
            format!(" (it starts: {start:?})")
        }
        _ => String::new(),
    }
}

/// A hub error with its causes, each once: a failed request says what failed underneath (`Connection
/// refused`), and names its URL once (`hf-hub` appends the URL `reqwest` already names).
fn describe(error: &HFError) -> String {
    match error {
        HFError::Request { source, .. } => format!("HTTP request error: {}", describe_chain(source)),
        other => describe_chain(other),
    }
}

/// An error and each of its causes not already in the text, joined by `: `.
fn describe_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        let inner_text = inner.to_string();
        if !text.contains(&inner_text) {
            text = format!("{text}: {inner_text}");
        }
        cause = inner.source();
    }
    text
}

/// The hub token by `hf-hub`'s rules: none when `HF_HUB_DISABLE_IMPLICIT_TOKEN` is set, else
/// `HF_TOKEN`, else the file `HF_TOKEN_PATH` names, else `HF_HOME/token`
/// (`HF_HOME` defaulting to `~/.cache/huggingface`).
fn resolve_token() -> Option<String> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    if var("HF_HUB_DISABLE_IMPLICIT_TOKEN").is_some() {
        return None;
    }
    if let Some(token) = var("HF_TOKEN") {
        return Some(token);
    }
    let from_file =
        |path: PathBuf| std::fs::read_to_string(path).ok().map(|t| t.trim().to_owned()).filter(|t| !t.is_empty());
    if let Some(token) = var("HF_TOKEN_PATH").and_then(|path| from_file(PathBuf::from(path))) {
        return Some(token);
    }
    let home = var("HF_HOME").map(PathBuf::from).or_else(|| {
        var("XDG_CACHE_HOME")
            .map(|cache| PathBuf::from(cache).join("huggingface"))
            .or_else(|| var("HOME").map(|home| PathBuf::from(home).join(".cache/huggingface")))
    })?;
    from_file(home.join("token"))
}

/// Deletes a downloaded shard: the cache blob and the snapshot link to it.
fn remove_cached(local: &Path) {
    let blob = std::fs::canonicalize(local).ok();
    for path in [Some(local.to_owned()), blob].into_iter().flatten() {
        remove_file(&path, "the downloaded shard");
    }
}

/// Deletes `path` if it exists; `what` names it in the warning when that fails.
fn remove_file(path: &Path, what: &str) {
    if let Err(e) = std::fs::remove_file(path)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        log::warn!("{}: cannot delete {what}: {e}", path.display());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(content: &[u8]) -> ListedShard {
        ListedShard {
            path: "compressed/data-000000.tar".into(),
            size: content.len() as u64,
            sha256: Some(hex::encode(Sha256::digest(content))),
            oid: "0".repeat(40),
        }
    }

    #[test]
    fn a_download_must_have_the_listed_size_and_digest() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("blob");
        let shard = listed(b"the shard's bytes");
        std::fs::write(&file, b"the shard's bytes").unwrap();
        verify(&file, &shard).unwrap();

        std::fs::write(&file, br#"{"error":"Access denied"}"#).unwrap();
        let page = verify(&file, &shard).unwrap_err().to_string();
        assert!(page.contains("25 bytes, the tree lists 17") && page.contains("Access denied"), "{page}");

        std::fs::write(&file, b"the shard's bytez").unwrap();
        let corrupt = verify(&file, &shard).unwrap_err();
        assert!(matches!(&corrupt, VerifyError::Digest { listed, .. } if listed == shard.sha256.as_ref().unwrap()));

        let unlisted = ListedShard { sha256: None, ..shard.clone() };
        verify(&file, &unlisted).expect("without a listed digest the size is what is checked");
        let missing = verify(&dir.path().join("gone"), &shard).unwrap_err();
        assert!(matches!(missing, VerifyError::Io { .. }), "{missing}");
    }

    #[test]
    fn tree_entries_become_shards_under_the_config_only() {
        let digest = "ABCDEF".repeat(10) + "ABCD";
        let page = format!(
            r#"[{{"type":"directory","oid":"d","size":0,"path":"compressed"}},
                {{"type":"file","oid":"aa","size":134,"path":"compressed/data-000001.tar",
                 "lfs":{{"oid":"{digest}","size":1070000000,"pointerSize":134}},"xetHash":"x"}},
                {{"type":"file","oid":"bb","size":12,"path":"compressed/data-000000.tar"}},
                {{"type":"file","oid":"cc","size":9,"path":"compressed/sub/data-000002.tar"}},
                {{"type":"file","oid":"dd","size":9,"path":"compressed/README.md"}}]"#
        );
        let shards = tree_page_shards(page.as_bytes(), "compressed/").unwrap();
        let lower = digest.to_ascii_lowercase();
        assert_eq!(
            shards,
            [
                ListedShard {
                    path: "compressed/data-000001.tar".into(),
                    size: 1_070_000_000,
                    sha256: Some(lower.clone()),
                    oid: "aa".into()
                },
                ListedShard { path: "compressed/data-000000.tar".into(), size: 12, sha256: None, oid: "bb".into() },
            ]
        );
        assert_eq!(shards[0].blob_name(), lower);
        assert_eq!(shards[1].blob_name(), "bb");
        // Ids a cache blob cannot be named by, or a download cannot match: the page is refused,
        // naming the shard.
        for (oid, lfs) in [("", None), ("../x", None), ("aa", Some("ABCDEF")), ("aa", Some("../../etc"))] {
            let lfs = lfs.map_or(String::new(), |o| format!(r#","lfs":{{"oid":"{o}","size":9,"pointerSize":134}}"#));
            let page =
                format!(r#"[{{"type":"file","oid":"{oid}","size":9,"path":"compressed/data-000003.tar"{lfs}}}]"#);
            let error = tree_page_shards(page.as_bytes(), "compressed/").unwrap_err();
            assert!(error.starts_with("compressed/data-000003.tar: "), "{error}");
        }
    }

    #[test]
    fn a_plan_downloads_what_is_not_done_and_holds_two_shards_at_most() {
        let shard = |n: usize, size: u64| ListedShard {
            path: format!("compressed/data-{n:06}.tar"),
            size,
            sha256: None,
            oid: n.to_string(),
        };
        let listing = HubListing {
            sha: "s".into(),
            shards: vec![shard(0, 10), shard(1, 30), shard(2, 5), shard(3, 25), shard(4, 100)],
            selected: 0..4,
        };
        let done: BTreeSet<String> = ["data-000002.tar".to_owned()].into();
        let plan = listing.plan(&done, false);
        let marks: Vec<(usize, bool)> = plan.shards.iter().map(|(s, d)| (s.size as usize, *d)).collect();
        assert_eq!(marks, [(10, false), (30, false), (5, true), (25, false)], "shard 4 is not selected");
        assert_eq!(plan.download_bytes, 65);
        assert_eq!(plan.max_disk_bytes, 55, "shards 1 and 3 follow each other once 2 is skipped");
        assert_eq!(listing.plan(&done, true).max_disk_bytes, 65, "kept: all of them");
        let all_done: BTreeSet<String> = (0..4).map(|n| format!("data-{n:06}.tar")).collect();
        assert_eq!(listing.plan(&all_done, false).max_disk_bytes, 0);
    }

    #[test]
    fn the_next_page_comes_from_the_link_header() {
        let mut headers = reqwest::header::HeaderMap::new();
        assert_eq!(next_page(&headers), None);
        headers.insert(
            reqwest::header::LINK,
            r#"<https://h/api/prev>; rel="prev", <https://h/api/datasets/o/n/tree/s/c?recursive=true&cursor=x>; rel="next""#
                .parse()
                .unwrap(),
        );
        assert_eq!(next_page(&headers).as_deref(), Some("https://h/api/datasets/o/n/tree/s/c?recursive=true&cursor=x"));
    }
}
