//! mapflow's pure, synchronous building blocks: no threads, no dataflow, no libtorch.
//!
//! ```text
//! audio ──► features ──────────────────────────┐
//!                                              ├─► (pipeline: windows, tokens, shards)
//! beatmaps ──► tokenizer ◄──► .osu writer      │
//!                  └─► metrics ◄───────────────┤
//!                                tempo (BPM, offset) ◄──┘
//! ```
#![forbid(missing_docs)]

pub mod atomic;
pub mod audio;
pub mod beatmap;
pub mod digest;
pub mod features;
pub mod featurize;
pub mod metrics;
pub mod npy;
pub mod onset_map;
pub mod stars_fit;
mod stats;
pub mod tempo;
pub mod tokenizer;

#[cfg(test)]
pub(crate) mod testdata;
