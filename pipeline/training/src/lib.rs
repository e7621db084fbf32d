//! mapflow's model at work (over the `model` crate, which links libtorch): training from
//! preprocessed shards or a live preprocess, evaluation, and map generation.
//!
//! ```text
//!  train:      shards ─► reader thread ─► bounded channel ─► trainer ─► checkpoints, metrics.jsonl
//!  streaming:  preprocess ⇄ gate (a credit per chunk) ⇄ train, in one process (`mapflow run`)
//!  evaluate:   checkpoint + a split of the shards ─► free-running vs teacher-forced scores
//!  generate:   song ─► features + tempo ─► cached, sampled decoding ─► .osu / .osz
//! ```
#![forbid(missing_docs)]

pub mod evaluate;
pub mod generate;
pub mod streaming;
pub mod train;
