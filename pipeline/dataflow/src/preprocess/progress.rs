//! Progress of a preprocess run: an indicatif bar on a terminal, plain-text lines otherwise,
//! and the final JSON summary.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

use shards::filter::FilteredCounts;
use shards::manifest::{CommitRecord, Manifest};

/// Live counters (this process; commit counters are global on process 0).
#[derive(Debug)]
pub struct Progress {
    bar: ProgressBar,
    started: Instant,
    last_line: Mutex<Instant>,
    read: AtomicU64,
    resumed: AtomicU64,
    bytes: AtomicU64,
    chunks: AtomicU64,
    tracks: AtomicU64,
    beatmaps: AtomicU64,
    windows: AtomicU64,
    rejects: AtomicU64,
    filtered: Mutex<FilteredCounts>,
    audio_ms: AtomicU64,
    source_error: Mutex<Option<String>>,
    chunk_failures: Mutex<Vec<String>>,
}

/// What a run did, printed as JSON at the end.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Summary {
    /// Tracks read from the source in this run.
    pub tracks_read: u64,
    /// Tracks skipped because their chunk was committed by an earlier run.
    pub tracks_resumed: u64,
    /// Source bytes read.
    pub bytes_read: u64,
    /// Chunks committed in this run.
    pub chunks_committed: u64,
    /// Tracks featurized in this run.
    pub tracks: u64,
    /// Beatmaps tokenized in this run.
    pub beatmaps: u64,
    /// Token rows written in this run (all tokenizers).
    pub windows: u64,
    /// Rejects in this run.
    pub rejects: u64,
    /// Beatmaps the filter left out in this run, by filter (not rejects).
    #[serde(default)]
    pub filtered: FilteredCounts,
    /// Seconds of audio featurized in this run.
    pub audio_seconds: f64,
    /// Wall time.
    pub wall_seconds: f64,
    /// Audio seconds per wall second.
    pub x_realtime: f64,
    /// Tracks per wall second.
    pub tracks_per_second: f64,
    /// Whole-dataset totals from the manifest (process 0 only).
    pub dataset: Option<DatasetTotals>,
    /// Why the source stopped early, if it did.
    pub source_error: Option<String>,
    /// Chunks that could not be written or recorded (disk full, permissions), with the error:
    /// they are not committed, and a rerun redoes them.
    #[serde(default)]
    pub chunk_failures: Vec<String>,
    /// Peak resident memory of this process (Linux `VmHWM`), in MiB.
    pub peak_rss_mib: Option<f64>,
    /// Audio decodes this process started (resumed chunks decode nothing).
    #[serde(default)]
    pub audio_decodes: u64,
    /// CPU time of this process during the run, all threads, in seconds.
    #[serde(default)]
    pub cpu_seconds: f64,
    /// The part of `cpu_seconds` its decode threads spent decoding, resampling, featurizing
    /// and encoding the `tracks` rows; the rest is reading, tokenizing, encoding the other
    /// tables, writing shards, and the dataflow itself.
    #[serde(default)]
    pub decode_cpu_seconds: f64,
}

/// CPU time spent during a run.
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuTimes {
    /// The whole process, every thread.
    pub process: Duration,
    /// The decode threads.
    pub decode: Duration,
}

/// Peak resident set size of this process in MiB, from `/proc/self/status` (Linux only).
pub fn peak_rss_mib() -> Option<f64> {
    status_mib("VmHWM:")
}

/// Resident set size of this process now, in MiB (Linux only).
pub fn rss_mib() -> Option<f64> {
    status_mib("VmRSS:")
}

/// A kB field of `/proc/self/status`, in MiB.
fn status_mib(field: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Totals of the merged manifest.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct DatasetTotals {
    /// Committed chunks.
    pub chunks: usize,
    /// Tracks.
    pub tracks: u64,
    /// Token rows per tokenizer hash.
    pub token_rows: BTreeMap<String, u64>,
    /// Rejects by kind.
    pub rejects_by_kind: BTreeMap<String, u64>,
    /// Beatmaps the filter left out, by filter.
    #[serde(default)]
    pub filtered: FilteredCounts,
}

/// Seconds between plain-text progress lines when stderr is not a terminal.
const PLAIN_LINE_EVERY: Duration = Duration::from_secs(10);

impl Progress {
    /// Counters, with a visible bar when `visible` (hidden bars still count).
    pub fn new(visible: bool) -> Self {
        let bar = if visible { ProgressBar::new_spinner() } else { ProgressBar::hidden() };
        if !visible {
            bar.set_draw_target(ProgressDrawTarget::hidden());
        }
        bar.set_style(ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}").expect("a valid template"));
        bar.enable_steady_tick(Duration::from_millis(200));
        Self {
            bar,
            started: Instant::now(),
            last_line: Mutex::new(Instant::now()),
            read: AtomicU64::new(0),
            resumed: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            chunks: AtomicU64::new(0),
            tracks: AtomicU64::new(0),
            beatmaps: AtomicU64::new(0),
            windows: AtomicU64::new(0),
            rejects: AtomicU64::new(0),
            filtered: Mutex::default(),
            audio_ms: AtomicU64::new(0),
            source_error: Mutex::new(None),
            chunk_failures: Mutex::default(),
        }
    }

    /// A track was read from the source (`bytes` of audio).
    pub fn track_read(&self, bytes: usize) {
        self.read.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
        self.refresh();
    }

    /// A track was skipped: its chunk is already committed.
    pub fn track_resumed(&self) {
        self.resumed.fetch_add(1, Ordering::Relaxed);
    }

    /// The source failed; the run ends with this error.
    pub fn source_failed(&self, message: &str) {
        log::error!("source: {message}");
        *self.source_error.lock().expect("not poisoned") = Some(message.to_owned());
    }

    /// A chunk could not be written or its commit not recorded; the run ends with an error.
    pub fn chunk_failed(&self, chunk: &str, error: &anyhow::Error) {
        let message = format!("chunk {chunk} was not committed: {error:#}");
        self.bar.suspend(|| log::error!("{message}"));
        self.chunk_failures.lock().expect("not poisoned").push(message);
    }

    /// A chunk was committed (on worker 0, for every process).
    pub fn chunk_committed(&self, record: &CommitRecord) {
        self.chunks.fetch_add(1, Ordering::Relaxed);
        self.tracks.fetch_add(record.tracks.as_ref().map_or(0, |t| t.rows), Ordering::Relaxed);
        self.beatmaps.fetch_add(record.beatmaps, Ordering::Relaxed);
        self.windows.fetch_add(record.tokens.values().map(|f| f.rows).sum(), Ordering::Relaxed);
        self.rejects.fetch_add(record.rejects.len() as u64, Ordering::Relaxed);
        self.filtered.lock().expect("not poisoned").add(&record.filtered);
        self.audio_ms.fetch_add((record.audio_seconds * 1000.0) as u64, Ordering::Relaxed);
        for reject in &record.rejects {
            self.bar.suspend(|| log::warn!("rejected [{}/{}] {}", reject.stage, reject.kind, reject.reason));
        }
        self.refresh();
    }

    fn message(&self) -> String {
        let secs = self.started.elapsed().as_secs_f64().max(1e-9);
        let tracks = self.tracks.load(Ordering::Relaxed);
        let audio = self.audio_ms.load(Ordering::Relaxed) as f64 / 1000.0;
        format!(
            "read {} | done {tracks} tracks ({:.1}/s, {:.0}x real time) | {} beatmaps ({:.1}/s) | {} windows ({:.0}/s) | {:.1} MB in | {} rejects | {} chunks",
            self.read.load(Ordering::Relaxed),
            tracks as f64 / secs,
            audio / secs,
            self.beatmaps.load(Ordering::Relaxed),
            self.beatmaps.load(Ordering::Relaxed) as f64 / secs,
            self.windows.load(Ordering::Relaxed),
            self.windows.load(Ordering::Relaxed) as f64 / secs,
            self.bytes.load(Ordering::Relaxed) as f64 / 1e6,
            self.rejects.load(Ordering::Relaxed),
            self.chunks.load(Ordering::Relaxed),
        )
    }

    fn refresh(&self) {
        if self.bar.is_hidden() {
            let mut last = self.last_line.lock().expect("not poisoned");
            if last.elapsed() >= PLAIN_LINE_EVERY {
                *last = Instant::now();
                log::info!("progress: {}", self.message());
            }
        } else {
            self.bar.set_message(self.message());
        }
    }

    /// Ends the bar and builds the summary.
    pub fn finish(&self, manifest: Option<&Manifest>, wall: Duration, cpu: CpuTimes) -> Summary {
        self.bar.finish_and_clear();
        let secs = wall.as_secs_f64().max(1e-9);
        let tracks = self.tracks.load(Ordering::Relaxed);
        let audio_seconds = self.audio_ms.load(Ordering::Relaxed) as f64 / 1000.0;
        Summary {
            tracks_read: self.read.load(Ordering::Relaxed),
            tracks_resumed: self.resumed.load(Ordering::Relaxed),
            bytes_read: self.bytes.load(Ordering::Relaxed),
            chunks_committed: self.chunks.load(Ordering::Relaxed),
            tracks,
            beatmaps: self.beatmaps.load(Ordering::Relaxed),
            windows: self.windows.load(Ordering::Relaxed),
            rejects: self.rejects.load(Ordering::Relaxed),
            filtered: *self.filtered.lock().expect("not poisoned"),
            audio_seconds,
            wall_seconds: secs,
            x_realtime: audio_seconds / secs,
            tracks_per_second: tracks as f64 / secs,
            dataset: manifest.map(|m| DatasetTotals {
                chunks: m.chunks.len(),
                tracks: m.tracks,
                token_rows: m.token_rows.clone(),
                rejects_by_kind: m.rejects_by_kind.clone(),
                filtered: m.filtered,
            }),
            source_error: self.source_error.lock().expect("not poisoned").clone(),
            chunk_failures: self.chunk_failures.lock().expect("not poisoned").clone(),
            peak_rss_mib: peak_rss_mib(),
            audio_decodes: operators::audio::decode_count(),
            cpu_seconds: cpu.process.as_secs_f64(),
            decode_cpu_seconds: cpu.decode.as_secs_f64(),
        }
    }
}
