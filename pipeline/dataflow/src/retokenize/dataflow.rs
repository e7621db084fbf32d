//! The token shards as a differential collection of (tokenizer configs × chunks).
//!
//! ```text
//!  tracks   ((chunk,row) → TrackRef)   ──arrange──┐
//!  beatmaps ((chunk,track_row) → BeatmapRef) ─arrange─┴─join─► TimedBeatmap ─┐
//!  tracks ─► (chunk, Track) ─────────────────────────────────────────────────┴─reduce(chunk)─► ChunkJob
//!  ChunkJob ─► (partition(chunk) → job) ──arrange──┐
//!  configs ─► (p → config) for every p ──arrange───┴─join─► (ConfigRef, ChunkJob): one token shard
//! ```
//! Only references are arranged (see `refs`). Configs are replicated to [`PARTITIONS`] keys so
//! the config × chunk cross join spreads over every worker instead of one. Removing a config is
//! a retraction: its shards leave the collection with diff −1; a new chunk enters with +1 for
//! every config; a chunk whose beatmaps or tracks change is retracted and re-inserted.

use std::hash::{Hash, Hasher};

use differential_dataflow::VecCollection;

use super::refs::{BeatmapRef, ChunkJob, ConfigRef, TimedBeatmap, TrackRef};

/// Keys the config × chunk join is spread over.
pub const PARTITIONS: u64 = 64;

/// A stable hash (the same on every process).
pub fn stable_hash(value: &impl Hash) -> u64 {
    let mut hasher = std::hash::DefaultHasher::new();
    value.hash(&mut hasher);
    hasher.finish()
}

/// What a chunk is made of, before it becomes a job.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
enum Member {
    /// A track (makes the chunk exist even when none of its beatmaps was tokenizable).
    Track,
    /// A beatmap with its track.
    Beatmap(TimedBeatmap),
}

/// The collection of token shards: one `(config, job)` per config and chunk with tracks.
pub fn token_shards<'scope>(
    configs: VecCollection<'scope, u64, ConfigRef>,
    tracks: VecCollection<'scope, u64, TrackRef>,
    beatmaps: VecCollection<'scope, u64, BeatmapRef>,
) -> VecCollection<'scope, u64, (ConfigRef, ChunkJob)> {
    let tracks_by_row = tracks.clone().map(|t| ((t.chunk.clone(), t.row), t)).arrange_by_key_named("Arrange: tracks");
    let timed = beatmaps
        .map(|b| ((b.chunk.clone(), b.track_row), b.row))
        .arrange_by_key_named("Arrange: beatmaps")
        .join_core(tracks_by_row, |(chunk, _), row, track| {
            Some((chunk.clone(), Member::Beatmap(TimedBeatmap { track: track.clone(), row: *row })))
        });
    let jobs = tracks
        .map(|t| (t.chunk, Member::Track))
        .concat(timed)
        .reduce_named("ChunkJobs", |chunk: &String, members: &[(&Member, isize)], out: &mut Vec<(ChunkJob, isize)>| {
            // Members arrive sorted, so beatmaps are by (track row, beatmap row).
            let beatmaps = members
                .iter()
                .filter_map(|(m, _)| match m {
                    Member::Beatmap(b) => Some(b.clone()),
                    Member::Track => None,
                })
                .collect();
            out.push((ChunkJob { chunk: chunk.clone(), beatmaps }, 1));
        })
        .map(|(chunk, job)| (stable_hash(&chunk) % PARTITIONS, job))
        .arrange_by_key_named("Arrange: chunk jobs");
    configs
        .flat_map(|c| (0..PARTITIONS).map(move |p| (p, c.clone())))
        .arrange_by_key_named("Arrange: configs")
        .join_core(jobs, |_, config, job| Some((config.clone(), job.clone())))
}

#[cfg(test)]
mod tests {
    //! Oracle test in differential's style: at every round, the accumulated output equals a
    //! from-scratch computation over the accumulated inputs.

    use std::collections::BTreeMap;

    use differential_dataflow::input::Input;
    use timely::dataflow::operators::capture::{Capture, Extract};

    use super::*;
    use shards::rows::Split;

    fn track(chunk: &str, row: u32) -> TrackRef {
        TrackRef {
            chunk: chunk.into(),
            row,
            track_id: format!("{chunk}/{row}"),
            split: Split::Train,
            duration_bits: (row as f64).to_bits(),
        }
    }

    fn beatmap(chunk: &str, row: u32, track_row: u32) -> BeatmapRef {
        BeatmapRef { chunk: chunk.into(), row, track_row }
    }

    fn config(name: &str) -> ConfigRef {
        ConfigRef { hash: name.into(), json: "{}".into() }
    }

    /// The expected shards over the accumulated inputs, recomputed from scratch.
    fn from_scratch(
        configs: &[ConfigRef],
        tracks: &[TrackRef],
        beatmaps: &[BeatmapRef],
    ) -> BTreeMap<(ConfigRef, ChunkJob), isize> {
        let mut chunks: BTreeMap<String, Vec<TimedBeatmap>> = BTreeMap::new();
        for t in tracks {
            chunks.entry(t.chunk.clone()).or_default();
        }
        for b in beatmaps {
            if let Some(t) = tracks.iter().find(|t| t.chunk == b.chunk && t.row == b.track_row) {
                chunks.get_mut(&b.chunk).expect("has a track").push(TimedBeatmap { track: t.clone(), row: b.row });
            }
        }
        let mut expected = BTreeMap::new();
        for c in configs {
            for (chunk, beatmaps) in &chunks {
                let mut beatmaps = beatmaps.clone();
                beatmaps.sort();
                expected.insert((c.clone(), ChunkJob { chunk: chunk.clone(), beatmaps }), 1);
            }
        }
        expected
    }

    /// One round's input updates: configs with their diffs, tracks and beatmaps added.
    type Round = (Vec<(ConfigRef, isize)>, Vec<TrackRef>, Vec<BeatmapRef>);

    enum Change {
        AddConfig(&'static str),
        DropConfig(&'static str),
        AddChunk(&'static str, u32, Vec<(u32, u32)>),
        AddBeatmap(&'static str, u32, u32),
    }

    #[test]
    fn incremental_shards_equal_a_from_scratch_recomputation_at_every_round() {
        use Change::*;
        let rounds: Vec<Vec<Change>> = vec![
            vec![AddConfig("a"), AddChunk("c0", 2, vec![(0, 0), (1, 0), (2, 1)])],
            vec![AddConfig("b")],
            vec![AddChunk("c1", 1, vec![]), AddChunk("c2", 3, vec![(0, 2)])],
            vec![DropConfig("a"), AddConfig("c")],
            vec![AddBeatmap("c1", 0, 0), AddConfig("a")],
            vec![DropConfig("b"), DropConfig("c"), DropConfig("a")],
            vec![AddConfig("b")],
        ];
        // The accumulated inputs after each round, and the changes to feed.
        let (mut configs, mut tracks, mut beatmaps) = (Vec::new(), Vec::new(), Vec::new());
        let mut expected = Vec::new();
        let mut feed: Vec<Round> = Vec::new();
        for round in &rounds {
            let mut step: Round = (Vec::new(), Vec::new(), Vec::new());
            for change in round {
                match change {
                    AddConfig(c) => {
                        configs.push(config(c));
                        step.0.push((config(c), 1));
                    }
                    DropConfig(c) => {
                        configs.retain(|x| x.hash != *c);
                        step.0.push((config(c), -1));
                    }
                    AddChunk(chunk, n, maps) => {
                        step.1.extend((0..*n).map(|r| track(chunk, r)));
                        step.2.extend(maps.iter().map(|&(row, track_row)| beatmap(chunk, row, track_row)));
                    }
                    AddBeatmap(chunk, row, track_row) => step.2.push(beatmap(chunk, *row, *track_row)),
                }
            }
            tracks.extend(step.1.iter().cloned());
            beatmaps.extend(step.2.iter().cloned());
            expected.push(from_scratch(&configs, &tracks, &beatmaps));
            feed.push(step);
        }

        let captured = timely::example(move |scope| {
            let (mut config_in, configs) = scope.new_collection::<ConfigRef, isize>();
            let (mut track_in, tracks) = scope.new_collection::<TrackRef, isize>();
            let (mut beatmap_in, beatmaps) = scope.new_collection::<BeatmapRef, isize>();
            let out = token_shards(configs, tracks, beatmaps).inner.capture();
            for (round, (configs, tracks, beatmaps)) in feed.into_iter().enumerate() {
                for (c, diff) in configs {
                    config_in.update(c, diff);
                }
                tracks.into_iter().for_each(|t| track_in.insert(t));
                beatmaps.into_iter().for_each(|b| beatmap_in.insert(b));
                let next = round as u64 + 1;
                config_in.advance_to(next);
                track_in.advance_to(next);
                beatmap_in.advance_to(next);
            }
            out
        });
        let updates: Vec<((ConfigRef, ChunkJob), u64, isize)> =
            captured.extract().into_iter().flat_map(|(_, batch)| batch).collect();
        for (round, want) in expected.iter().enumerate() {
            let mut got: BTreeMap<(ConfigRef, ChunkJob), isize> = BTreeMap::new();
            for (shard, time, diff) in &updates {
                if *time <= round as u64 {
                    *got.entry(shard.clone()).or_default() += diff;
                }
            }
            got.retain(|_, d| *d != 0);
            assert_eq!(&got, want, "round {round}");
        }
        // A dropped config's shards were retracted: the last rounds emit −1 for every chunk of "a".
        let retracted = updates.iter().filter(|((c, _), t, d)| c.hash == "a" && *t == 5 && *d == -1).count();
        assert_eq!(retracted, 3, "config a is dropped from 3 chunks in round 5");
    }
}
