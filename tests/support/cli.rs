//! Running the `mapflow` binary from the CLI tests. Include it with
//! `#[path = "support/cli.rs"] mod cli;`.
#![allow(dead_code)] // shared by several test binaries; each uses part of it

use std::process::Command;

/// The `mapflow` binary of this build.
pub fn mapflow() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mapflow"))
}

/// Runs `cmd`, asserts it succeeded, returns its stdout.
pub fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// Runs `cmd`, asserts it failed, returns its stderr.
pub fn run_err(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(!out.status.success(), "{cmd:?} should fail");
    String::from_utf8(out.stderr).unwrap()
}
