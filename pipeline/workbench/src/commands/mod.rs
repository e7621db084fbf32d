//! One module per `mapflow-workbench` subcommand.

pub mod demo;
pub mod eval;
pub mod generate;
pub mod info;
pub mod preview;
pub mod run;
pub mod synth;
pub mod train;
