//! The scaling ceiling `mapflow bench pipeline` measures the dataflow against: the same work of
//! its decode threads (decode + resample + features, encoding the `tracks` row, tokenizing the
//! beatmaps with the default tokenizer) on the same tracks, on `n` plain threads that share
//! nothing but a work counter — no dataflow, no writes. Its 2-thread / 1-thread ratio is what
//! this machine gives perfectly parallel work of this kind; the dataflow can only lose against it.
//!
//! ```text
//! source ─► every track in memory (untimed) ─► [timed] n threads: next index ─► Stages::process
//! ```
//! It also times the decoding alone on one thread: the codec's own speed on this machine, which
//! no per-worker throughput can exceed; and each track's own time, from which
//! [`Pass::split_bound`] gives the ratio that the tracks' uneven lengths allow at best.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use operators::audio;
use operators::features::FeatureConfig;
use operators::tokenizer::TokenizerConfig;

use dataflow::preprocess::plan::ChunkPlan;
use dataflow::preprocess::stages::{SourceItem, Stages};
use dataflow::preprocess::tokenize::TokenizerStage;
use dataflow::preprocess::{OpenContext, SourceOpener};

/// Tracks read from a source, ready to process.
pub struct Tracks {
    items: Vec<SourceItem>,
    stages: Stages,
}

impl Tracks {
    /// Reads every track of the source into memory, with `features`' extractor and the default
    /// tokenizer ready.
    pub fn read(open_source: SourceOpener, features: &FeatureConfig) -> anyhow::Result<Self> {
        let mut plan = ChunkPlan::new(1);
        let items = open_source(&OpenContext { chunk_tracks: 1, output: None })?
            .map(|entry| {
                let (seq, chunk) = plan.next(&entry.shard);
                SourceItem { seq, chunk, payload: entry.item }
            })
            .collect();
        let tokenizer = TokenizerStage::new(TokenizerConfig::default()).map_err(anyhow::Error::msg)?;
        Ok(Self { items, stages: Stages::new(Default::default(), features, vec![tokenizer], 0)? })
    }

    /// Processes every track on `threads` threads (a track that fails to decode costs what its
    /// failure costs, as in the dataflow).
    pub fn process_on(&self, threads: usize) -> Pass {
        self.time_on(threads, |item| {
            std::hint::black_box(self.stages.process(item.clone()));
        })
    }

    /// Only decodes every track (as the dataflow does: at the feature rate's native decode rate,
    /// see [`audio::DecodeOptions::target_rate`]), on one thread.
    pub fn decode_alone(&self) -> Pass {
        self.time_on(1, |item| {
            if let Ok(track) = &item.payload {
                let decoded = audio::decode_bytes(&track.audio_name, track.audio.clone(), &self.stages.decode);
                std::hint::black_box(decoded.map(|d| d.audio.samples.len()).ok());
            }
        })
    }

    /// Times `work` on every track, on `threads` threads taking the next track in turn.
    fn time_on(&self, threads: usize, work: impl Fn(&SourceItem) + Sync) -> Pass {
        let next = AtomicUsize::new(0);
        let started = Instant::now();
        let mut timed: Vec<(usize, Duration)> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads.max(1))
                .map(|_| {
                    scope.spawn(|| {
                        let mut timed = Vec::new();
                        loop {
                            let index = next.fetch_add(1, Ordering::Relaxed);
                            let Some(item) = self.items.get(index) else { break };
                            let start = Instant::now();
                            work(item);
                            timed.push((index, start.elapsed()));
                        }
                        timed
                    })
                })
                .collect();
            handles.into_iter().flat_map(|h| h.join().expect("a baseline thread panicked")).collect()
        });
        let wall = started.elapsed();
        timed.sort_unstable_by_key(|&(index, _)| index);
        Pass { wall, tracks: timed.into_iter().map(|(_, time)| time).collect() }
    }
}

/// One timed pass over the tracks.
#[derive(Debug, Clone, PartialEq)]
pub struct Pass {
    /// Wall time of the whole pass.
    pub wall: Duration,
    /// Each track's own time, in input order.
    pub tracks: Vec<Duration>,
}

impl Pass {
    /// How much faster than one thread `threads` threads could finish these tracks if each ran
    /// a track as fast as it took here and took the next one in input order whenever it became
    /// free (as the dataflow's decode threads do): `threads` for many tracks of equal length,
    /// less when the lengths cannot be dealt out evenly — eight songs of which seven last a
    /// minute and one 13 s give two threads at best 1.79×.
    pub fn split_bound(&self, threads: usize) -> f64 {
        let mut free_at = vec![Duration::ZERO; threads.max(1)];
        for &time in &self.tracks {
            let first_free = free_at.iter_mut().min().expect("at least one thread");
            *first_free += time;
        }
        let makespan = free_at.into_iter().max().unwrap_or_default();
        if makespan.is_zero() {
            return 1.0;
        }
        self.tracks.iter().sum::<Duration>().as_secs_f64() / makespan.as_secs_f64()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pass(seconds: &[u64]) -> Pass {
        Pass { wall: Duration::ZERO, tracks: seconds.iter().map(|&s| Duration::from_secs(s)).collect() }
    }

    #[test]
    fn split_bound_is_what_dealing_tracks_in_order_to_the_first_free_thread_allows() {
        assert_eq!(pass(&[60; 8]).split_bound(2), 2.0);
        assert_eq!(pass(&[60; 7]).split_bound(2), 7.0 / 4.0);
        assert_eq!(pass(&[60]).split_bound(2), 1.0);
        assert_eq!(pass(&[]).split_bound(2), 1.0);
        assert_eq!(pass(&[60, 20, 20, 20]).split_bound(2), 2.0);
        // In input order, not the best order: 10 | 10 then 20 lands on either.
        assert_eq!(pass(&[10, 10, 20]).split_bound(2), 40.0 / 30.0);
        // The 8-song bench corpus's lengths, rounded to seconds.
        let synth = pass(&[60, 57, 59, 60, 60, 60, 13, 60]).split_bound(2);
        assert!((synth - 1.79).abs() < 0.005, "{synth}");
        assert_eq!(pass(&[60; 7]).split_bound(1), 1.0);
    }
}
