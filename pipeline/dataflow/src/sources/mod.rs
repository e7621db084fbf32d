//! Where tracks come from: one [`TrackSource`] trait, three implementations.
//!
//! ```text
//!  DIR ─────────────────────────────► webdataset::LocalShards ┐
//!  hf://owner/name/config?shards=a..b ► hub::HubShards ─────┼─► TrackSource: Iterator<Item =
//!  songs:PATH (Songs folder / .osz) ─► songs::SongsSource ──┘     Result<TrackRecord, Reject>>
//!                                                                   └─► dataflow input
//! ```
//!
//! Every source reads on its own background thread and hands tracks over a bounded channel, so
//! file and network I/O never block the dataflow worker that pulls from it, and at most
//! `capacity` tracks wait in memory. A [`Reject`] is something that could not be read (a corrupt
//! shard, a track without metadata, a path escaping its folder); the source goes on after it.
//! Dropping the source stops its threads at the next hand-over.

pub mod hub;
pub mod osu_header;
pub mod songs;
pub mod uri;
pub mod webdataset;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crossbeam::channel::{Receiver, Sender};

use shards::rejects::Reject;
use shards::rows::BeatmapMetadata;

pub use uri::SourceUri;

/// Stage name of rejects raised while fetching shards.
pub const STAGE_DOWNLOAD: &str = "download";
/// Stage name of rejects raised while reading shards, folders and archives.
pub const STAGE_READ: &str = "read";

/// Default number of tracks a source reads ahead of its consumer.
pub const DEFAULT_CAPACITY: usize = 4;

/// The largest member or file a source reads (1 GiB): above any song the decoder accepts (an
/// hour of CD-quality WAV is ~635 MB), and low enough that a zip bomb or a stray disk image is a
/// `too_large` reject rather than the end of the process.
pub const MAX_INPUT_BYTES: u64 = 1 << 30;

/// The reject of an input of `bytes` bytes, over [`MAX_INPUT_BYTES`].
pub(crate) fn too_large(origin: String, bytes: u64) -> Reject {
    let reason = format!("{} MiB, more than the {} MiB an input may have", bytes >> 20, MAX_INPUT_BYTES >> 20);
    Reject::new(origin, STAGE_READ, "too_large", reason)
}

/// One audio track with every beatmap timed to it: the unit the pipeline decodes once.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TrackRecord {
    /// Where it came from, for messages: `data-000003.tar:000042` or `Songs/123 A - B:audio.mp3`.
    pub origin: String,
    /// The data set's `audio_hash`, or the SHA-256 (lower-case hex) of `audio` when absent.
    pub track_id: String,
    /// The audio member or file name (its extension is not to be trusted).
    pub audio_name: String,
    /// The encoded audio bytes, container unknown until sniffed.
    pub audio: Vec<u8>,
    /// Length in seconds as declared by the metadata (`audio_length`), when there is one.
    pub audio_length: Option<f64>,
    /// The beatmaps using this audio, in input order.
    pub beatmaps: Vec<BeatmapRecord>,
}

/// One beatmap (one `.osu` difficulty) of a track.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BeatmapRecord {
    /// osu! beatmap id; 0 when the `.osu` file states none (unsubmitted maps).
    pub beatmap_id: i64,
    /// osu! beatmap set id; 0 when unknown.
    pub beatmapset_id: i64,
    /// Game mode (0 osu!standard, 1 taiko, 2 catch, 3 mania) when stated.
    pub mode: Option<u8>,
    /// The data set's metadata of the beatmap (status, dates, creator, version, the API's
    /// stars, other fields); empty for sources without any (Songs folders, `.osz` files).
    pub metadata: BeatmapMetadata,
    /// The `.osu` file's text.
    pub osu_text: String,
    /// A name for messages: the `.osu` file name or `data-000003.tar:000042#beatmap-123`.
    pub name: String,
}

/// A stream of tracks, with the inputs that could not be read as `Err`.
///
/// Implemented by every `Iterator` of that item that can move to a dataflow thread.
pub trait TrackSource: Iterator<Item = Result<TrackRecord, Reject>> + Send {}

impl<T: Iterator<Item = Result<TrackRecord, Reject>> + Send> TrackSource for T {}

impl BeatmapRecord {
    /// The game mode filters and tokenizers go by: the metadata's, else the `.osu` file's
    /// `Mode:` (0, osu!standard, when it has none, as osu! reads it).
    pub fn effective_mode(&self) -> u8 {
        self.mode.or_else(|| osu_header::read_header(&self.osu_text).mode).unwrap_or(0)
    }
}

/// Options common to the sources the URI parser can open.
#[derive(Debug, Clone, Default)]
pub struct SourceOptions {
    /// Options of `hf://` sources (cache, endpoint, keeping shards).
    pub hub: hub::HubOptions,
    /// Tracks read ahead of the consumer; 0 means [`DEFAULT_CAPACITY`].
    pub capacity: usize,
}

/// Opens the source `uri` names. Errors that stop the whole source (a missing directory, a hub
/// that cannot be listed) come back here; per-input problems come out of the iterator.
pub fn open(uri: &SourceUri, options: &SourceOptions) -> Result<Box<dyn TrackSource>, Reject> {
    let capacity = options.read_ahead();
    Ok(match uri {
        SourceUri::Shards(dir) => Box::new(webdataset::LocalShards::open(dir, capacity)?),
        SourceUri::Hub(spec) => Box::new(hub::HubShards::open(spec.clone(), options.hub.clone(), capacity)?),
        SourceUri::Songs(path) => Box::new(songs::SongsSource::open(path, capacity)?),
    })
}

impl SourceOptions {
    /// Tracks read ahead: `capacity`, or [`DEFAULT_CAPACITY`] when it is 0.
    fn read_ahead(&self) -> usize {
        if self.capacity == 0 { DEFAULT_CAPACITY } else { self.capacity }
    }
}

/// A source item with the source shard it belongs to (the unit `preprocess` chunks and names
/// its output by).
#[derive(Debug)]
pub struct SourceEntry {
    /// The shard: a `.tar` name for shard and hub sources, a group of sets
    /// ([`songs::SetGroup`]) for a Songs folder.
    pub shard: String,
    /// The track, or what could not be read.
    pub item: Result<TrackRecord, Reject>,
}

/// An opened source as `preprocess` reads it: its items tagged with their shards.
pub struct Entries {
    /// The items.
    pub entries: Box<dyn Iterator<Item = SourceEntry> + Send>,
    /// A Songs folder's groups of sets, which are its shards; `None` for other sources.
    pub set_groups: Option<Vec<songs::SetGroup>>,
}

/// Opens the source `uri` names ([`open`]) with every item tagged with its shard; a Songs
/// folder's sets are grouped `sets_per_group` on average.
pub fn open_entries(uri: &SourceUri, options: &SourceOptions, sets_per_group: usize) -> Result<Entries, Reject> {
    if let SourceUri::Songs(path) = uri {
        let (groups, entries) = songs::SongsSource::open(path, options.read_ahead())?.grouped(sets_per_group);
        return Ok(Entries { entries: Box::new(entries), set_groups: Some(groups) });
    }
    let entries = open(uri, options)?.map(|item| {
        let origin = match &item {
            Ok(track) => track.origin.as_str(),
            Err(reject) => reject.origin.as_str(),
        };
        SourceEntry { shard: shard_of_origin(origin).to_owned(), item }
    });
    Ok(Entries { entries: Box::new(entries), set_groups: None })
}

/// `data-000003.tar` of `data-000003.tar:000042#beatmap-7` or `hf://o/n/compressed/data-000003.tar`.
fn shard_of_origin(origin: &str) -> &str {
    let shard = origin.find(".tar").map_or(origin, |i| &origin[..i + 4]);
    shard.rsplit('/').next().unwrap_or(shard)
}

/// The consumer side of a background reader: a bounded channel of tracks and rejects (or of
/// other items, such as tracks tagged with their set).
#[derive(Debug)]
pub struct ChannelSource<T = Result<TrackRecord, Reject>> {
    items: Receiver<T>,
    /// Set once the reader has returned: a channel closed without it means the reader panicked.
    finished: Arc<AtomicBool>,
    name: String,
}

impl<T> Iterator for ChannelSource<T> {
    type Item = T;

    /// The next item; panics if the reader died in the middle, so the rest of the source is not
    /// taken for read (the preprocess then reports a source error: rerun to resume).
    fn next(&mut self) -> Option<Self::Item> {
        match self.items.recv() {
            Ok(item) => Some(item),
            Err(_) if self.finished.load(Ordering::Acquire) => None,
            Err(_) => panic!("{}: the reader thread panicked; the rest of the source was not read", self.name),
        }
    }
}

/// Where a background reader puts what it read; `emit` returns false once the consumer is gone.
pub(crate) struct Emitter<T = Result<TrackRecord, Reject>> {
    items: Sender<T>,
}

impl<T> Emitter<T> {
    /// Hands `item` over, waiting while the channel is full. False when nobody listens any more.
    pub(crate) fn emit(&self, item: T) -> bool {
        self.items.send(item).is_ok()
    }
}

/// Runs `read` on a new thread named `name`, feeding a channel of `capacity` items.
pub(crate) fn spawn_reader<T: Send + 'static>(
    name: &str,
    capacity: usize,
    read: impl FnOnce(&Emitter<T>) + Send + 'static,
) -> Result<ChannelSource<T>, Reject> {
    let (tx, rx) = crossbeam::channel::bounded(capacity.max(1));
    let finished = Arc::new(AtomicBool::new(false));
    let reader_finished = Arc::clone(&finished);
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            let emitter = Emitter { items: tx };
            read(&emitter);
            reader_finished.store(true, Ordering::Release);
        })
        .map_err(|e| Reject::new(name, STAGE_READ, "io", format!("cannot start the reader thread: {e}")))?;
    Ok(ChannelSource { items: rx, finished, name: name.to_owned() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_are_named_by_their_tar() {
        assert_eq!(shard_of_origin("data-000003.tar:000042#beatmap-7"), "data-000003.tar");
        assert_eq!(shard_of_origin("hf://o/n/compressed/data-000003.tar"), "data-000003.tar");
        assert_eq!(shard_of_origin("/some/dir"), "dir");
    }

    #[test]
    fn open_dispatches_on_the_uri() {
        use synth::webdataset::{SampleBeatmap, ShardSample, write_shard};
        let dir = tempfile::tempdir().unwrap();
        let maps = [SampleBeatmap {
            beatmap_id: 5,
            beatmapset_id: 6,
            mode: 0,
            difficultyrating: 1.0,
            content: "osu".into(),
            api: Default::default(),
        }];
        let sample =
            ShardSample { key: "000000", audio_extension: "mp3", audio: b"ID3", audio_length: 1.0, beatmaps: &maps };
        write_shard(&dir.path().join("original/data-000000.tar"), &[sample]).unwrap();
        let uri: SourceUri = dir.path().display().to_string().parse().unwrap();
        let tracks: Vec<_> = open(&uri, &SourceOptions::default()).unwrap().collect();
        assert_eq!(tracks.len(), 1);
        assert_eq!(tracks[0].as_ref().unwrap().beatmaps[0].beatmap_id, 5);

        let set = dir.path().join("songs/1 set");
        std::fs::create_dir_all(&set).unwrap();
        std::fs::write(set.join("a.osu"), "[General]\nAudioFilename: a.mp3\n[Metadata]\nBeatmapID:9\n").unwrap();
        std::fs::write(set.join("a.mp3"), b"mp3").unwrap();
        let uri: SourceUri = format!("songs:{}", dir.path().join("songs").display()).parse().unwrap();
        let tracks: Vec<_> = open(&uri, &SourceOptions::default()).unwrap().collect();
        assert_eq!(tracks.len(), 1);
        assert_eq!(tracks[0].as_ref().unwrap().beatmaps[0].beatmap_id, 9);

        // Nothing listens on port 9 of 127.0.0.1: listing fails, naming the source.
        let options = SourceOptions {
            hub: hub::HubOptions {
                endpoint: Some("http://127.0.0.1:9".into()),
                cache_dir: Some(dir.path().join("cache")),
                retry_max_attempts: Some(0),
                read_timeout: None,
                download_attempts: Some(1),
                keep_shards: false,
                skip: Default::default(),
            },
            capacity: 1,
        };
        let uri: SourceUri = "hf://project-riz/osu-beatmaps/compressed".parse().unwrap();
        let err = open(&uri, &options).err().unwrap();
        assert_eq!(
            (err.origin.as_str(), err.stage.as_str(), err.kind.as_str()),
            ("hf://project-riz/osu-beatmaps/compressed", STAGE_DOWNLOAD, "hub_error")
        );
        // The reason says why (the cause underneath the request), and names the URL once.
        assert!(err.reason.contains("(os error "), "the OS error underneath: {err}");
        assert_eq!(err.reason.matches("http://127.0.0.1:9/api/datasets").count(), 1, "{err}");
    }

    #[test]
    fn a_reader_that_panics_does_not_look_like_the_end_of_the_source() {
        let mut source = spawn_reader("panicky", 4, |emitter: &Emitter| {
            emitter.emit(Err(Reject::new("x", STAGE_READ, "io", "first")));
            panic!("a bug in a reader");
        })
        .unwrap();
        assert!(source.next().unwrap().is_err(), "what was read before comes through");
        let rest = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| source.next()));
        let message = *rest.unwrap_err().downcast::<String>().unwrap();
        assert!(message.contains("panicky: the reader thread panicked"), "{message}");

        let mut finished = spawn_reader("fine", 4, |emitter: &Emitter| {
            emitter.emit(Err(Reject::new("x", STAGE_READ, "io", "only")));
        })
        .unwrap();
        assert!(finished.next().is_some());
        assert!(finished.next().is_none(), "a reader that returns ends the source");
    }

    #[test]
    fn dropping_the_consumer_stops_the_reader() {
        let (done_tx, done_rx) = crossbeam::channel::bounded(1);
        let source = spawn_reader("test", 1, move |emitter: &Emitter| {
            let mut sent = 0;
            while emitter.emit(Err(Reject::new("x", STAGE_READ, "io", "again"))) {
                sent += 1;
            }
            done_tx.send(sent).unwrap();
        })
        .unwrap();
        let mut source = source;
        assert!(source.next().unwrap().is_err());
        drop(source);
        let sent = done_rx.recv_timeout(std::time::Duration::from_secs(5)).unwrap();
        assert!(sent <= 2, "bounded: the reader ran {sent} items ahead");
    }
}
