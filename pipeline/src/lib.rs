//! mapflow's data engine as a library: where tracks come from, the timely dataflow that turns
//! them into Parquet shards, and the synthetic corpora the tests and the demo run on.
//!
//! ```text
//!  sources (shards dir | hf:// hub | songs:) ──► TrackRecord ──► preprocess (timely dataflow:
//!        └──► Reject ─────────────────────────────┐             decode, features, tokens)
//!                                                  ▼                       │
//!                                     rejects.jsonl ◄── shards (Parquet + manifest) ◄┘
//!  synth: render ► encode (Opus/MP3/Vorbis) ► WebDataset .tar in the hub layout ──► sources
//!      └─► tempo_eval: rendered songs of known BPM/offset ► operators::tempo ► accuracy
//!  preview: .osu (+ onset envelope) ► PNG timeline + playfield
//!  train: shards ► reader thread ► bounded channel ► libtorch trainer ► checkpoints
//!  run: preprocess ⇄ gate (credits per chunk) ⇄ train, in one process
//! ```
#![forbid(missing_docs)]

#[cfg(feature = "model")]
pub mod evaluate;
pub mod featurize;
pub mod gate;
#[cfg(feature = "model")]
pub mod generate;
pub mod preprocess;
pub mod preview;
pub mod rejects;
pub mod retokenize;
#[cfg(feature = "model")]
pub mod run;
pub mod shards;
pub mod sources;
pub mod synth;
pub mod tempo_eval;
#[cfg(feature = "model")]
pub mod train;
