//! The scaling ceiling `mapflow bench pipeline` measures the dataflow against: the same decode +
//! resample + features work on the same tracks, on `n` plain threads that share nothing but a
//! work counter — no dataflow, no tokenizing, no writes. Its 2-thread / 1-thread ratio is what
//! this machine gives perfectly parallel work of this kind; the dataflow can only lose against it.
//!
//! ```text
//! source ─► every track in memory (untimed) ─► [timed] n threads: next index ─► Stages::featurize
//! ```
//! It also times the decoding alone on one thread: the codec's own speed on this machine, which
//! no per-worker throughput can exceed.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use operators::audio;
use operators::features::FeatureConfig;

use super::SourceOpener;
use super::plan::ChunkPlan;
use super::stages::{SourceItem, Stages};

/// Tracks read from a source, ready to featurize.
pub struct Tracks {
    items: Vec<SourceItem>,
    stages: Stages,
}

impl Tracks {
    /// Reads every track of the source into memory, with `features`' extractor ready.
    pub fn read(open_source: SourceOpener, features: &FeatureConfig) -> anyhow::Result<Self> {
        let mut plan = ChunkPlan::new(1);
        let items = open_source()?
            .map(|entry| {
                let (seq, chunk) = plan.next(&entry.shard);
                SourceItem { seq, chunk, payload: entry.item }
            })
            .collect();
        Ok(Self { items, stages: Stages::new(features, Vec::new(), 0)? })
    }

    /// Wall time to featurize every track on `threads` threads (a track that fails to decode
    /// costs what its failure costs, as in the dataflow).
    pub fn featurize_on(&self, threads: usize) -> Duration {
        self.time_on(threads, |item| {
            std::hint::black_box(self.stages.featurize(item.clone()));
        })
    }

    /// Wall time to only decode every track (as the dataflow does: at the feature rate's native
    /// decode rate, see [`audio::DecodeOptions::target_rate`]) on one thread.
    pub fn decode_alone(&self) -> Duration {
        self.time_on(1, |item| {
            if let Ok(track) = &item.payload {
                let decoded = audio::decode_bytes(&track.audio_name, track.audio.clone(), &self.stages.decode);
                std::hint::black_box(decoded.map(|d| d.audio.samples.len()).ok());
            }
        })
    }

    /// Wall time of `work` on every track, on `threads` threads taking the next track in turn.
    fn time_on(&self, threads: usize, work: impl Fn(&SourceItem) + Sync) -> Duration {
        let next = AtomicUsize::new(0);
        let started = Instant::now();
        std::thread::scope(|scope| {
            for _ in 0..threads.max(1) {
                scope.spawn(|| {
                    while let Some(item) = self.items.get(next.fetch_add(1, Ordering::Relaxed)) {
                        work(item);
                    }
                });
            }
        });
        started.elapsed()
    }
}
