//! Numbering the input: every track gets a dense logical time and a chunk.
//!
//! ```text
//! source shards (sorted) ─► tracks in member order ─► chunks of `chunk_tracks` per shard
//!   chunk g (global, dense)  covers times  g·span .. (g+1)·span      (span = chunk_tracks)
//!   track i of its chunk     gets time     g·span + i
//! ```
//! Times depend only on the input order, so chunk names, contents and output files are the
//! same for any number of workers or processes, and after a resume.

use serde::{Deserialize, Serialize};
use shards::chunks::chunk_name;

/// A chunk of consecutive tracks of one source shard: the unit of output and of commit.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ChunkId {
    /// `<source shard stem>-c<index within the shard>`, e.g. `data-000003-c0001`.
    pub name: String,
    /// The first logical time after the chunk: once the frontier reaches it, the chunk is complete.
    pub end: u64,
}

/// Assigns times and chunks to a stream of `(source shard, item)` pairs.
#[derive(Debug)]
pub struct ChunkPlan {
    span: u64,
    shard: Option<String>,
    index_in_shard: u64,
    chunk: u64,
}

impl ChunkPlan {
    /// A plan with `chunk_tracks` tracks per chunk.
    pub fn new(chunk_tracks: usize) -> Self {
        Self { span: chunk_tracks.max(1) as u64, shard: None, index_in_shard: 0, chunk: 0 }
    }

    /// The time and chunk of the next item, which comes from `shard`.
    pub fn next(&mut self, shard: &str) -> (u64, ChunkId) {
        if self.shard.as_deref() != Some(shard) {
            if self.shard.is_some() {
                self.chunk += 1;
            }
            self.shard = Some(shard.to_owned());
            self.index_in_shard = 0;
        } else if self.index_in_shard.is_multiple_of(self.span) {
            self.chunk += 1;
        }
        let within = self.index_in_shard % self.span;
        let name = chunk_name(shard, self.index_in_shard / self.span);
        self.index_in_shard += 1;
        (self.chunk * self.span + within, ChunkId { name, end: (self.chunk + 1) * self.span })
    }

    /// The shard of the last item and how many chunks it has so far (all of them once the next
    /// item is from another shard, or the source has ended).
    pub fn current_shard(&self) -> Option<(&str, u64)> {
        self.shard.as_deref().map(|shard| (shard, self.index_in_shard.div_ceil(self.span)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_dense_within_chunks_and_chunks_restart_per_shard() {
        let mut plan = ChunkPlan::new(2);
        let got: Vec<(u64, String, u64)> = ["a.tar", "a.tar", "a.tar", "b.tar", "b.tar", "b.tar", "b.tar", "c.tar"]
            .iter()
            .map(|s| {
                let (t, c) = plan.next(s);
                (t, c.name, c.end)
            })
            .collect();
        let expected = [
            (0, "a-c0000", 2),
            (1, "a-c0000", 2),
            (2, "a-c0001", 4),
            (4, "b-c0000", 6),
            (5, "b-c0000", 6),
            (6, "b-c0001", 8),
            (7, "b-c0001", 8),
            (8, "c-c0000", 10),
        ];
        let expected: Vec<(u64, String, u64)> = expected.iter().map(|(t, n, e)| (*t, n.to_string(), *e)).collect();
        assert_eq!(got, expected);
        assert_eq!(plan.current_shard(), Some(("c.tar", 1)));
        let mut plan = ChunkPlan::new(2);
        assert_eq!(plan.current_shard(), None);
        (0..4).for_each(|_| drop(plan.next("a.tar")));
        assert_eq!(plan.current_shard(), Some(("a.tar", 2)));
        plan.next("a.tar");
        assert_eq!(plan.current_shard(), Some(("a.tar", 3)));
    }
}
