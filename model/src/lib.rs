//! mapflow's model side: the libtorch (tch) network, its training and its decoding.
//!
//! This crate is the only one that links libtorch; `pipeline` depends on it behind its default
//! `model` feature so preprocessing-only machines can build without libtorch.
#![forbid(missing_docs)]

pub mod runtime;
