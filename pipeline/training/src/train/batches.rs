//! The reader thread: streams the training windows of committed chunks, in a seeded order,
//! into batches sent through a bounded channel — a slow trainer blocks the reader (memory stays
//! at `capacity` batches), a fast one finds batches ready.
//!
//! ```text
//! epoch e: chunks (re-listed each epoch) shuffled by (seed, e)
//!   chunk: tokens rows (train split, curriculum stage of the batch being filled) shuffled
//!          ─► pending ─► every batch_size rows: features sliced from the chunk's tracks
//!          ─► bounded channel ─► trainer
//!   following a producer: after each chunk, chunks committed since are read next
//!          (fresh data first); the first read of a chunk returns its gate credit
//! ```
//! Batch `n` depends only on the data, the seed and `n`, so `--resume` at step `n` replays
//! the order without loading features for the skipped batches (not when following a
//! producer: then the order depends on when chunks commit).
//!
//! The reader's errors reach the trainer through [`BatchStream::next_batch`]; so does a panic
//! of the reader thread, with its message and the file it was reading.

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context;
use crossbeam::channel::{Receiver, Sender, bounded};
use model::batch::WindowExample;
use model::config::TrainingConfig;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use super::dataset::{ChunkFiles, DataSet};
use dataflow::gate::ChunkGate;
use shards::rows::{Split, TokenRow};
use shards::training_rows::{TrackFeatures, read_token_rows};

/// Batches the reader may have ready ahead of the trainer.
pub const DEFAULT_CAPACITY: usize = 4;

/// Loaded chunks kept for rows still waiting in a partial batch.
const CHUNK_CACHE: usize = 4;

/// How often `--follow` looks for new commits (with a gate: the longest wait between looks).
const FOLLOW_POLL: Duration = Duration::from_millis(500);

/// Where new chunks come from while training.
#[derive(Debug, Clone, Default)]
pub enum Follow {
    /// Only the chunks committed when each epoch starts; none is an error (`mapflow train`).
    #[default]
    No,
    /// A `preprocess` in another process may still commit: look for commits every
    /// [`FOLLOW_POLL`], forever (`mapflow train --follow`).
    Polling,
    /// `mapflow run`'s producer in this process: woken by its commits, credits returned on
    /// each chunk's first read; following ends when the producer has finished.
    Gate(ChunkGate),
}

/// What a follower has seen of the commits: the gate's change counter, or the last look.
#[derive(Debug, Clone, Copy)]
pub struct CommitWatch {
    changes: u64,
    looked: Instant,
}

impl Follow {
    /// Whether new chunks may still come. Asked before listing chunks, so a listing made after
    /// it said `false` holds every chunk there will be.
    pub fn active(&self) -> bool {
        match self {
            Follow::No => false,
            Follow::Polling => true,
            Follow::Gate(gate) => gate.producing(),
        }
    }

    /// What has been seen now.
    pub fn watch(&self) -> CommitWatch {
        let changes = match self {
            Follow::Gate(gate) => gate.changes(),
            _ => 0,
        };
        CommitWatch { changes, looked: Instant::now() }
    }

    /// Whether chunks may have been committed since `watch` (which is moved on if so).
    pub fn news(&self, watch: &mut CommitWatch) -> bool {
        let news = match self {
            Follow::No => false,
            Follow::Polling => watch.looked.elapsed() >= FOLLOW_POLL,
            Follow::Gate(gate) => gate.changes() != watch.changes,
        };
        if news {
            *watch = self.watch();
        }
        news
    }

    /// Waits for a commit after `watch` (at most [`FOLLOW_POLL`]); returns the new watch.
    pub fn wait(&self, watch: CommitWatch) -> CommitWatch {
        match self {
            Follow::No => {}
            Follow::Polling => std::thread::sleep(FOLLOW_POLL),
            Follow::Gate(gate) => {
                gate.wait_for_change(watch.changes, FOLLOW_POLL);
            }
        }
        self.watch()
    }

    /// The reader has read `chunk` (the first read returns the chunk's credit).
    fn consumed(&self, chunk: &str) {
        if let Follow::Gate(gate) = self {
            gate.consumed(chunk);
        }
    }

    /// Why training must stop early: the producer failed.
    pub fn failure(&self) -> Option<String> {
        match self {
            Follow::Gate(gate) => gate.failure(),
            _ => None,
        }
    }
}

/// One batch of training windows.
#[derive(Debug)]
pub struct TrainBatch {
    /// Its number in the stream (= the step it is meant for).
    pub number: u64,
    /// The windows.
    pub examples: Vec<WindowExample>,
}

/// What the reader needs to know.
#[derive(Debug, Clone)]
pub struct ReaderPlan {
    /// The training recipe (batch size, seed, curriculum).
    pub training: TrainingConfig,
    /// First batch to send (earlier ones are replayed without features).
    pub start_batch: u64,
    /// Where new chunks come from: while following, read new commits as they come and wait
    /// while there is nothing to train on.
    pub follow: Follow,
    /// Batches buffered in the channel.
    pub capacity: usize,
    /// Splits trained on (normally just `train`).
    pub splits: Vec<Split>,
}

/// The file the reader thread is reading now, kept where a panic of the thread leaves it
/// readable (the lock is never held while reading).
#[derive(Debug, Clone, Default)]
struct ReadingNow(Arc<Mutex<Option<PathBuf>>>);

impl ReadingNow {
    /// The reader is now reading `path`.
    fn set(&self, path: &Path) {
        let mut now = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if now.as_deref() != Some(path) {
            *now = Some(path.to_owned());
        }
    }

    /// The file last set, if any.
    fn get(&self) -> Option<PathBuf> {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }
}

/// The running reader: a receiver of batches and the thread's handle.
#[derive(Debug)]
pub struct BatchStream {
    receiver: Option<Receiver<TrainBatch>>,
    stop: Arc<AtomicBool>,
    reading: ReadingNow,
    handle: Option<JoinHandle<anyhow::Result<()>>>,
}

impl BatchStream {
    /// Starts the reader thread.
    pub fn spawn(data: DataSet, plan: ReaderPlan) -> Self {
        let capacity = plan.capacity;
        Self::start(capacity, move |sender, stop, reading| Reader::new(data, plan, sender, stop, reading).run())
    }

    /// Starts `read` on the reader thread with a channel of `capacity` batches, the stop flag
    /// and where to say which file it reads.
    fn start(
        capacity: usize,
        read: impl FnOnce(Sender<TrainBatch>, Arc<AtomicBool>, ReadingNow) -> anyhow::Result<()> + Send + 'static,
    ) -> Self {
        let (sender, receiver) = bounded(capacity.max(1));
        let stop = Arc::new(AtomicBool::new(false));
        let reading = ReadingNow::default();
        let (flag, now) = (Arc::clone(&stop), reading.clone());
        let handle = std::thread::Builder::new()
            .name("batch-reader".into())
            .spawn(move || read(sender, flag, now))
            .expect("spawning the batch reader");
        Self { receiver: Some(receiver), stop, reading, handle: Some(handle) }
    }

    /// The next batch; an error if the reader failed, panicked (its message and the file it
    /// was reading) or ran out of data.
    pub fn next_batch(&mut self) -> anyhow::Result<TrainBatch> {
        let received = self.receiver.as_ref().expect("open until dropped").recv();
        match received {
            Ok(batch) => Ok(batch),
            Err(_) => match self.handle.take().map(|h| h.join()) {
                Some(Ok(Err(e))) => Err(e),
                Some(Err(payload)) => Err(anyhow::anyhow!(self.panicked(payload.as_ref()))),
                _ => anyhow::bail!("the batch reader stopped"),
            },
        }
    }

    /// How the reader's panic with `payload` is reported.
    fn panicked(&self, payload: &(dyn std::any::Any + Send)) -> String {
        let message = dataflow::panic::panic_message(payload);
        match self.reading.get() {
            Some(path) => format!("the batch reader panicked reading {}: {message}", path.display()),
            None => format!("the batch reader panicked: {message}"),
        }
    }
}

impl Drop for BatchStream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.receiver.take(); // unblocks a reader waiting on a full channel
        if let Some(Err(payload)) = self.handle.take().map(|h| h.join()) {
            // Training has ended for another reason; the panic must still be told.
            log::error!("{}", self.panicked(payload.as_ref()));
        }
    }
}

/// A seed from a chunk's name (stable across runs and machines).
fn name_seed(name: &str) -> u64 {
    use sha2::{Digest, Sha256};
    u64::from_le_bytes(Sha256::digest(name.as_bytes())[..8].try_into().expect("8 bytes"))
}

type ChunkTracks = Arc<HashMap<String, TrackFeatures>>;

struct Reader {
    data: DataSet,
    plan: ReaderPlan,
    sender: Sender<TrainBatch>,
    stop: Arc<AtomicBool>,
    reading: ReadingNow,
    loaded: VecDeque<(String, ChunkTracks)>,
    pending: Vec<(ChunkFiles, TokenRow)>,
    next_batch: u64,
}

impl Reader {
    fn new(
        data: DataSet,
        plan: ReaderPlan,
        sender: Sender<TrainBatch>,
        stop: Arc<AtomicBool>,
        reading: ReadingNow,
    ) -> Self {
        Self { data, plan, sender, stop, reading, loaded: VecDeque::new(), pending: Vec::new(), next_batch: 0 }
    }

    fn run(mut self) -> anyhow::Result<()> {
        let follow = self.plan.follow.clone();
        let mut watch = follow.watch();
        let mut epoch = 0u64;
        loop {
            if self.stop.load(Ordering::Relaxed) {
                return Ok(());
            }
            let following = follow.active();
            let mut chunks = self.data.chunks()?;
            if chunks.is_empty() {
                if !following {
                    anyhow::bail!("{}: no committed chunks with training tokens", self.data.root().display());
                }
                watch = follow.wait(watch);
                continue;
            }
            chunks.shuffle(&mut ChaCha8Rng::seed_from_u64(
                self.plan.training.seed ^ epoch.wrapping_mul(0xA076_1D64_78BD_642F),
            ));
            let mut listed: HashSet<String> = chunks.iter().map(|c| c.name.clone()).collect();
            let mut queue = VecDeque::from(chunks);
            let mut admitted = 0;
            while let Some(chunk) = queue.pop_front() {
                let name = chunk.name.clone();
                match self.feed_chunk(chunk, epoch)? {
                    Some(rows) => admitted += rows,
                    None => return Ok(()),
                }
                follow.consumed(&name);
                if following && follow.news(&mut watch) {
                    // Chunks committed since the epoch began come next, in name order.
                    let fresh: Vec<ChunkFiles> =
                        self.data.chunks()?.into_iter().filter(|c| !listed.contains(&c.name)).collect();
                    for chunk in fresh.into_iter().rev() {
                        listed.insert(chunk.name.clone());
                        queue.push_front(chunk);
                    }
                }
            }
            if admitted == 0 {
                if !following {
                    anyhow::bail!(
                        "{}: no training windows (splits trained on, curriculum stage)",
                        self.data.root().display()
                    );
                }
                // Nothing to train on yet: wait for a commit instead of re-reading the same chunks.
                watch = follow.wait(watch);
            }
            epoch += 1;
        }
    }

    /// Adds `chunk`'s admitted rows, sending every full batch: how many rows were admitted, or
    /// `None` once the trainer is gone.
    fn feed_chunk(&mut self, chunk: ChunkFiles, epoch: u64) -> anyhow::Result<Option<usize>> {
        self.reading.set(&chunk.tokens);
        let mut rows = read_token_rows(&chunk.tokens)?;
        rows.retain(|r| self.plan.splits.contains(&r.split));
        let seed = self.plan.training.seed ^ epoch.rotate_left(32) ^ name_seed(&chunk.name);
        rows.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
        let mut admitted = 0;
        for row in rows {
            if self.stop.load(Ordering::Relaxed) {
                return Ok(None);
            }
            if !self.plan.training.stage_at(self.next_batch).admits(row.n_sliders, row.n_spinners) {
                continue;
            }
            admitted += 1;
            self.pending.push((chunk.clone(), row));
            if self.pending.len() == self.plan.training.batch_size && !self.flush()? {
                return Ok(None);
            }
        }
        Ok(Some(admitted))
    }

    /// Sends (or, before the start batch, skips) the pending batch.
    fn flush(&mut self) -> anyhow::Result<bool> {
        let number = self.next_batch;
        self.next_batch += 1;
        let pending = std::mem::take(&mut self.pending);
        if number < self.plan.start_batch {
            return Ok(true);
        }
        let mut examples = Vec::with_capacity(pending.len());
        let with_onsets = self.plan.training.onset_weight > 0.0;
        for (chunk, row) in &pending {
            let tracks = self.tracks_of(chunk)?;
            let track = tracks.get(&row.track_id).with_context(|| {
                format!("{}: track {} of beatmap {} is missing", chunk.tracks.display(), row.track_id, row.beatmap_id)
            })?;
            self.reading.set(&chunk.tracks);
            examples.push(self.data.example(track, row, with_onsets));
        }
        Ok(self.sender.send(TrainBatch { number, examples }).is_ok())
    }

    fn tracks_of(&mut self, chunk: &ChunkFiles) -> anyhow::Result<ChunkTracks> {
        if let Some((_, tracks)) = self.loaded.iter().find(|(name, _)| *name == chunk.name) {
            return Ok(Arc::clone(tracks));
        }
        self.reading.set(&chunk.tracks);
        let tracks: ChunkTracks =
            Arc::new(self.data.read_tracks(chunk)?.into_iter().map(|t| (t.track_id.clone(), t)).collect());
        if self.loaded.len() == CHUNK_CACHE {
            self.loaded.pop_front();
        }
        self.loaded.push_back((chunk.name.clone(), Arc::clone(&tracks)));
        Ok(tracks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panicking_reader_is_reported_with_its_message_and_file() {
        let mut stream = BatchStream::start(1, |_, _, reading| {
            reading.set(Path::new("out/tracks/c000001.parquet"));
            panic!("index out of bounds: the len is 8 but the index is 9");
        });
        let error = stream.next_batch().unwrap_err().to_string();
        assert!(
            error.contains("panicked")
                && error.contains("index out of bounds: the len is 8")
                && error.contains("out/tracks/c000001.parquet"),
            "{error}"
        );
        // Before reading any file, the message alone.
        let mut stream = BatchStream::start(1, |_, _, _| panic!("at {}", "start"));
        assert_eq!(stream.next_batch().unwrap_err().to_string(), "the batch reader panicked: at start");
        // A reader's error is passed on as it is.
        let mut stream = BatchStream::start(1, |_, _, _| anyhow::bail!("c.parquet: bad"));
        assert_eq!(stream.next_batch().unwrap_err().to_string(), "c.parquet: bad");
    }
}
