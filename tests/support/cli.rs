//! Running the built binaries from the CLI tests. Include it with
//! `#[path = "support/cli.rs"] mod cli;`.
//!
//! The tests are the root package's, which has no binaries of its own: the first call builds
//! `mapflow` (package `pipeline`) and `mapflow-workbench` (package `workbench`) with the profile
//! these tests were built with, so they never run a stale binary, and finds them in that
//! profile's target folder.
#![allow(dead_code)] // shared by several test binaries; each uses part of it

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The `mapflow` binary of this build.
pub fn mapflow() -> Command {
    Command::new(binary("mapflow"))
}

/// The path of one of the workspace's binaries, built and up to date.
pub fn binary(name: &str) -> PathBuf {
    binaries().join(format!("{name}{}", std::env::consts::EXE_SUFFIX))
}

/// The profile's folder (`target/debug`), once its binaries are built.
fn binaries() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        // This test runs as target/<profile>/deps/<name>-<hash>.
        let exe = std::env::current_exe().expect("the test binary's path");
        let dir = exe.parent().and_then(Path::parent).expect("target/<profile>/deps/").to_owned();
        let profile = match dir.file_name().and_then(|n| n.to_str()) {
            Some("debug") | None => "dev".to_owned(),
            Some(other) => other.to_owned(),
        };
        let status = Command::new(env!("CARGO"))
            .args(["build", "--quiet", "--bins", "-p", "pipeline", "-p", "workbench", "--profile", &profile])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("running cargo build");
        assert!(status.success(), "cargo build of the binaries failed");
        dir
    })
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
