//! `ChunkGate`: the credits between the preprocess input and the training reader of
//! `mapflow run`, which give one process end-to-end backpressure.
//!
//! ```text
//!  source reader ──admit(chunk)──► [ N credits ] ◄──consumed(chunk)── training reader
//!   (waits while N chunks are      chunks admitted,                   (first read of a chunk)
//!    admitted and not yet read)    not yet read
//!  chunk writer ──committed(chunk)──► wakes the reader; a chunk without tracks is consumed here
//!  trainer done ──stop()──► admit fails: the input ends at a chunk boundary
//!  preprocess done ──producer_finished()──► the reader stops waiting for new chunks
//! ```
//! A slow trainer holds the producer at `max_chunks_ahead` chunks ahead of what it has read
//! (disk and memory stay bounded), a fast one reads each new chunk as soon as it commits.
//! Chunks committed by an earlier run were never admitted and take no credit. Every wait is
//! timed: how long the producer was held back, how long the reader waited for a commit.

use std::collections::BTreeSet;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde::Serialize;

/// Why the producer may admit no more chunks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the chunk gate is closed: {0}")]
pub struct GateClosed(pub String);

/// What the gate saw, for the run's summary.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct GateStats {
    /// Credits: chunks the producer may have admitted and not yet seen read.
    pub max_chunks_ahead: usize,
    /// Chunks admitted.
    pub admitted: u64,
    /// Admitted chunks the reader read (or that committed with nothing to read).
    pub consumed: u64,
    /// Chunks committed while the gate was open (an earlier run's chunks not included).
    pub committed: u64,
    /// The most chunks that were ever admitted and not yet read at once.
    pub peak_ahead: usize,
    /// Seconds the producer waited for a credit.
    pub producer_held_seconds: f64,
    /// Admissions that had to wait.
    pub producer_waits: u64,
    /// Seconds the training side waited for a commit.
    pub consumer_wait_seconds: f64,
    /// Why the producer was refused a chunk (training ended, or a failure), if it was: the
    /// source was then not read to its end.
    pub stopped: Option<String>,
}

#[derive(Debug, Default)]
struct GateState {
    capacity: usize,
    /// Admitted and not yet consumed.
    ahead: BTreeSet<String>,
    /// Bumped by every change a waiting reader may care about (a commit, the end).
    changes: u64,
    producing: bool,
    producer_waiting: bool,
    /// Why no more chunks are admitted.
    closed: Option<String>,
    failure: Option<String>,
    stats: GateStats,
}

/// The gate: cheap to clone, shared by the preprocess thread and the trainer's threads.
#[derive(Debug, Clone)]
pub struct ChunkGate {
    shared: Arc<(Mutex<GateState>, Condvar)>,
}

impl ChunkGate {
    /// A gate that lets the producer run `max_chunks_ahead` (at least 1) chunks ahead of the reader.
    pub fn new(max_chunks_ahead: usize) -> Self {
        let capacity = max_chunks_ahead.max(1);
        let state = GateState {
            capacity,
            producing: true,
            stats: GateStats { max_chunks_ahead: capacity, ..GateStats::default() },
            ..GateState::default()
        };
        Self { shared: Arc::new((Mutex::new(state), Condvar::new())) }
    }

    fn state(&self) -> MutexGuard<'_, GateState> {
        self.shared.0.lock().expect("the gate's lock is never poisoned")
    }

    fn changed(&self, mut state: MutexGuard<'_, GateState>) {
        state.changes += 1;
        drop(state);
        self.shared.1.notify_all();
    }

    /// Producer: waits for a credit, then admits `chunk`; fails once the gate is stopped.
    pub fn admit(&self, chunk: &str) -> Result<(), GateClosed> {
        let mut state = self.state();
        let started = Instant::now();
        let mut waited = false;
        while state.closed.is_none() && state.ahead.len() >= state.capacity {
            waited = true;
            state.producer_waiting = true;
            state = self.shared.1.wait(state).expect("the gate's lock is never poisoned");
        }
        state.producer_waiting = false;
        if waited {
            state.stats.producer_waits += 1;
            state.stats.producer_held_seconds += started.elapsed().as_secs_f64();
        }
        if let Some(reason) = state.closed.clone() {
            state.stats.stopped = Some(reason.clone());
            return Err(GateClosed(reason));
        }
        state.ahead.insert(chunk.to_owned());
        state.stats.admitted += 1;
        state.stats.peak_ahead = state.stats.peak_ahead.max(state.ahead.len());
        Ok(())
    }

    /// Producer: `chunk` is committed. One with nothing to train on (`has_tracks` false: every
    /// track was rejected) is consumed now, since the reader never lists it.
    pub fn committed(&self, chunk: &str, has_tracks: bool) {
        let mut state = self.state();
        state.stats.committed += 1;
        if !has_tracks && state.ahead.remove(chunk) {
            state.stats.consumed += 1;
        }
        self.changed(state);
    }

    /// Producer: a chunk could not be committed (or the preprocess failed); the run ends with
    /// this error and admission stops.
    pub fn fail(&self, reason: String) {
        let mut state = self.state();
        state.failure.get_or_insert(reason.clone());
        state.closed.get_or_insert(reason);
        self.changed(state);
    }

    /// Producer: no more chunks will be committed (the preprocess returned).
    pub fn producer_finished(&self) {
        let mut state = self.state();
        state.producing = false;
        self.changed(state);
    }

    /// Consumer: the reader has read `chunk` once; its credit (if it took one) is returned.
    pub fn consumed(&self, chunk: &str) {
        let mut state = self.state();
        if state.ahead.remove(chunk) {
            state.stats.consumed += 1;
            drop(state);
            self.shared.1.notify_all();
        }
    }

    /// Consumer: training ended; the producer admits nothing more (it stops at a chunk
    /// boundary, so every admitted chunk is completed and committed). After the producer has
    /// finished this changes nothing.
    pub fn stop(&self, reason: &str) {
        let mut state = self.state();
        state.closed.get_or_insert_with(|| reason.to_owned());
        self.changed(state);
    }

    /// Whether new chunks may still come.
    pub fn producing(&self) -> bool {
        self.state().producing
    }

    /// Whether the producer is waiting for a credit now (it cannot commit more until the reader
    /// reads).
    pub fn producer_waiting(&self) -> bool {
        self.state().producer_waiting
    }

    /// The producer's failure, if it failed.
    pub fn failure(&self) -> Option<String> {
        self.state().failure.clone()
    }

    /// A counter that moves whenever a chunk commits or the producer ends.
    pub fn changes(&self) -> u64 {
        self.state().changes
    }

    /// Consumer: waits until [`changes`](Self::changes) moves past `seen` (or `timeout` passes,
    /// or the producer has finished); returns the counter. The wait is counted in the stats.
    pub fn wait_for_change(&self, seen: u64, timeout: Duration) -> u64 {
        let started = Instant::now();
        let state = self.state();
        let (mut state, _) = self
            .shared
            .1
            .wait_timeout_while(state, timeout, |s| s.changes == seen && s.producing)
            .expect("the gate's lock is never poisoned");
        state.stats.consumer_wait_seconds += started.elapsed().as_secs_f64();
        state.changes
    }

    /// What the gate saw so far.
    pub fn stats(&self) -> GateStats {
        self.state().stats.clone()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// Waits up to a second for `admitted` to reach `n`.
    fn reaches(admitted: &AtomicUsize, n: usize) -> bool {
        let deadline = Instant::now() + Duration::from_secs(1);
        while Instant::now() < deadline {
            if admitted.load(Ordering::SeqCst) >= n {
                return true;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        false
    }

    #[test]
    fn the_producer_blocks_until_the_consumer_returns_credits() {
        let gate = ChunkGate::new(2);
        let admitted = Arc::new(AtomicUsize::new(0));
        let producer = {
            let (gate, admitted) = (gate.clone(), Arc::clone(&admitted));
            std::thread::spawn(move || {
                for i in 0..5 {
                    if gate.admit(&format!("c{i}")).is_err() {
                        return i;
                    }
                    admitted.fetch_add(1, Ordering::SeqCst);
                }
                5
            })
        };
        // Two credits: the producer admits two chunks, then waits for the consumer.
        assert!(reaches(&admitted, 2));
        std::thread::sleep(Duration::from_millis(150));
        assert_eq!(admitted.load(Ordering::SeqCst), 2, "admitted past the credits while nothing was read");
        assert!(gate.producer_waiting());
        // A commit wakes readers but returns no credit; reading a chunk does, once.
        gate.committed("c0", true);
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(admitted.load(Ordering::SeqCst), 2);
        gate.consumed("c0");
        gate.consumed("c0");
        assert!(reaches(&admitted, 3));
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(admitted.load(Ordering::SeqCst), 3, "a chunk read twice returned two credits");
        // An earlier run's chunk was never admitted: reading it returns nothing.
        gate.consumed("old-c0000");
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(admitted.load(Ordering::SeqCst), 3);
        // A chunk that committed without tracks is never read: its commit returns the credit.
        gate.committed("c1", false);
        assert!(reaches(&admitted, 4));
        // The trainer is done: the waiting producer is released with an error.
        gate.stop("training ended");
        assert_eq!(producer.join().unwrap(), 4);
        let stats = gate.stats();
        assert_eq!((stats.admitted, stats.consumed, stats.peak_ahead, stats.max_chunks_ahead), (4, 2, 2, 2));
        assert!(stats.producer_waits >= 3 && stats.producer_held_seconds > 0.2, "{stats:?}");
        assert_eq!(stats.stopped.as_deref(), Some("training ended"));
    }

    #[test]
    fn readers_wake_on_commits_and_when_the_producer_ends() {
        let gate = ChunkGate::new(1);
        let seen = gate.changes();
        let waiter = {
            let gate = gate.clone();
            std::thread::spawn(move || gate.wait_for_change(seen, Duration::from_secs(5)))
        };
        std::thread::sleep(Duration::from_millis(30));
        gate.committed("c0", true);
        assert_eq!(waiter.join().unwrap(), seen + 1);
        let started = Instant::now();
        gate.producer_finished();
        assert!(!gate.producing());
        assert_eq!(gate.wait_for_change(gate.changes(), Duration::from_secs(5)), seen + 2);
        assert!(started.elapsed() < Duration::from_secs(1), "no wait once the producer is done");
        gate.fail("chunk c3 not committed".into());
        assert_eq!(gate.failure().as_deref(), Some("chunk c3 not committed"));
        assert!(gate.admit("c4").is_err());
    }
}
