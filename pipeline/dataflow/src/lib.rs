//! mapflow's data engine: where tracks come from, the timely dataflow that turns them into
//! Parquet shards, and the differential dataflow that retokenizes shards without decoding audio.
//!
//! ```text
//!  sources (WebDataset tars | hf:// hub | songs:) ──► TrackRecord ──► preprocess (timely:
//!        └──► Reject ──────────────────────────────┐            decode, features, tokens)
//!                                                   ▼                       │
//!                                  rejects.jsonl ◄── shards (Parquet + manifest) ◄┘
//!  retokenize: shards' beatmaps table ⇄ configs (differential) ─► tokens/<new hash>/
//!  gate: per-chunk credits between a preprocess and the trainer that reads it (`mapflow run`)
//! ```
#![forbid(missing_docs)]

pub mod gate;
pub mod panic;
pub mod preprocess;
pub mod retokenize;
pub mod sources;
