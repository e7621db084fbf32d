//! mapflow's model side: the libtorch (tch) network, its training and its decoding.
//!
//! ```text
//! WindowExample ─► batch::collate ─► network::Mapper ─► trainer (loss, AdamW, schedule, average)
//!                                          └──────────► generate (cached, sampled decoding)
//! checkpoint: safetensors weights + optimizer + JSON record (configs with hashes)
//! ```
//! This crate is the only one that links libtorch; `pipeline` depends on it behind its default
//! `model` feature so preprocessing-only machines can build without libtorch.
#![forbid(missing_docs)]

pub mod average;
pub mod batch;
pub mod checkpoint;
pub mod config;
pub mod generate;
pub mod network;
pub mod optim;
pub mod runtime;
pub mod trainer;
