//! `mapflow`, the command users run. It does the preprocessing path itself — `preprocess`,
//! `retokenize`, `features`, `inspect`, `tokenize` — without loading libtorch, and hands every
//! other command to `mapflow-workbench` (the `workbench` crate), the binary beside it that links
//! the model.
//!
//! ```text
//!  mapflow preprocess | retokenize | features | inspect | tokenize ─► commands (this crate)
//!  mapflow demo | train | run | generate | eval | info | synth | preview | bench
//!        └─► exec mapflow-workbench <same arguments> ─► workbench::commands, workbench::bench
//! ```
#![forbid(missing_docs)]

pub mod cli;
pub mod commands;
