//! `kill -9` at random points of a run, then the same command again (shared by the CLI tests).
//! Include it with `#[path = "support/kill.rs"] mod kill;`.
//!
//! ```text
//!  span = how long the uninterrupted run took
//!  spawn ─► sleep a random fraction of span ─► SIGKILL   (repeated `kills` times; a run that
//!  spawn ─► sleep …                         ─► SIGKILL    ends before its kill just ends)
//!  the caller then runs the command to the end and compares its output with the uninterrupted one
//! ```
//! The points come from a seed printed on stderr (shown when the test fails); set
//! `MAPFLOW_KILL_SEED` to replay a failure's points.
#![allow(dead_code)] // shared by several test binaries; each uses part of it

use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Random kill points from a seed (splitmix64: no dependency for a handful of numbers).
pub struct KillPoints {
    seed: u64,
    state: u64,
}

impl KillPoints {
    /// Points from `MAPFLOW_KILL_SEED`, or from the clock; the seed is printed on stderr.
    pub fn new(what: &str) -> Self {
        let seed = std::env::var("MAPFLOW_KILL_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64));
        eprintln!("{what}: kill points from MAPFLOW_KILL_SEED={seed}");
        Self { seed, state: seed }
    }

    /// The seed (for assertion messages).
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// A uniform fraction in [0, 1).
    fn fraction(&mut self) -> f64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) as f64 / (u64::MAX as f64 + 1.0)
    }

    /// Runs `command()` `kills` times, each killed with SIGKILL after a random part of `span`
    /// (or left to end, when it ends first); returns the delays, for messages. `command` is
    /// called before each start, so it can choose between a fresh start and `--resume`.
    pub fn kill_repeatedly(
        &mut self,
        kills: usize,
        span: Duration,
        mut command: impl FnMut() -> Command,
    ) -> Vec<Duration> {
        let mut delays = Vec::with_capacity(kills);
        for _ in 0..kills {
            let delay = span.mul_f64(self.fraction());
            let mut child =
                command().stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("starting the command to kill");
            let started = Instant::now();
            while started.elapsed() < delay && child.try_wait().expect("polling the child").is_none() {
                std::thread::sleep(Duration::from_millis(2));
            }
            // SIGKILL; a child that has already exited is simply reaped.
            let _ = child.kill();
            child.wait().expect("reaping the killed child");
            delays.push(delay);
        }
        delays
    }
}

/// How long `command` takes to run to the end (asserting it succeeds), and its stdout.
pub fn timed(command: &mut Command) -> (Duration, String) {
    let started = Instant::now();
    let out = command.output().expect("running the command");
    assert!(out.status.success(), "{command:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    (started.elapsed(), String::from_utf8(out.stdout).expect("utf-8 stdout"))
}
