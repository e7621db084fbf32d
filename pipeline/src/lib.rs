//! mapflow's data engine as a library: where tracks come from, where bad inputs are recorded, and
//! the synthetic corpora the tests and the demo run on.
//!
//! ```text
//!  sources (shards dir | hf:// hub | songs:)──► TrackRecord ──► dataflow (decode, features, tokens)
//!        └──────────────► Reject ──► rejects::RejectLog (rejects.jsonl)
//!  synth: render ► encode (Opus/MP3/Vorbis) ► WebDataset .tar in the hub layout ──► sources
//! ```
#![forbid(missing_docs)]

pub mod rejects;
pub mod sources;
pub mod synth;
