//! `mapflow-workbench`: the commands that need the model (libtorch) or the test tools, which
//! `mapflow` hands over to it — the demo, training, generation, evaluation, synthetic corpora,
//! previews, and the benchmarks with their baselines.
//!
//! ```text
//!  commands: demo │ train │ run │ generate │ eval │ info │ synth │ preview
//!       └─► training (model), dataflow, shards, synth, preview, operators
//!  bench:    features │ pipeline │ tempo │ retokenize │ train │ run │ generate │ learn
//!       └─► each against a baseline timed in the same run (baseline.rs: plain threads)
//! ```
#![forbid(missing_docs)]

pub mod bench;
pub mod commands;
