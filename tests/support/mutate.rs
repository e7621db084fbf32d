//! Byte mutations for the fuzz tests (`*/tests/fuzz.rs`): a seed file (a fixture, a real file
//! from `../shared/real/`) bent by a few random edits, or plain arbitrary bytes. Include it with
//! `#[path = "…/tests/support/mutate.rs"] mod mutate;`.
//!
//! ```text
//!  seeds ─► pick one ─► 1–6 edits (truncate, flip a bit, set a byte, splice random bytes,
//!                        delete or repeat a run, write a boundary value) ─► bytes for the decoder
//!  or    ─► arbitrary bytes
//! ```
//! A quarter of the edits land in the first KiB, where containers keep their headers and sizes; the rest
//! anywhere. Every property runs a fixed number of cases ([`config`]) and writes no regression
//! files: a failure is reported with its shrunk input, to be fixed and kept as a plain test.
#![allow(dead_code)] // shared by several test binaries; each uses part of it

use std::path::{Path, PathBuf};
use std::sync::Arc;

use proptest::prelude::*;
use proptest::test_runner::Config;

/// The fixed config of a fuzz property: `cases` cases, no regression files.
pub fn config(cases: u32) -> Config {
    Config { cases, failure_persistence: None, ..Config::default() }
}

/// Where an edit lands: `head` edits stay within the first KiB.
#[derive(Debug, Clone, Copy)]
pub struct At {
    offset: u32,
    head: bool,
}

impl At {
    /// The index in a buffer of `len` bytes (`0..=len`).
    fn index(self, len: usize) -> usize {
        let span = if self.head { len.min(1024) } else { len };
        self.offset as usize % (span + 1)
    }
}

/// Values that sit on the edges of the integer fields containers use for sizes and counts.
const BOUNDARY_VALUES: [&[u8]; 8] = [
    &[0x00],
    &[0xff],
    &[0x7f],
    &[0x80],
    &[0xff, 0xff, 0xff, 0xff],
    &[0x00, 0x00, 0x00, 0x00],
    &[0xff, 0xff, 0xff, 0x7f],
    &[0x00, 0x00, 0x00, 0x80],
];

/// One edit of a byte buffer.
#[derive(Debug, Clone)]
pub enum Mutation {
    /// Cut the buffer at a point.
    Truncate(At),
    /// Flip one bit of a byte.
    FlipBit(At, u8),
    /// Overwrite a byte.
    SetByte(At, u8),
    /// Insert random bytes.
    Splice(At, Vec<u8>),
    /// Remove a run of bytes.
    Delete(At, u16),
    /// Repeat a run of bytes in place.
    Repeat(At, u16),
    /// Overwrite with a boundary value (0, 0xff, 0x7fffffff, …).
    Boundary(At, usize),
}

fn at() -> impl Strategy<Value = At> {
    (any::<u32>(), prop::bool::weighted(0.25)).prop_map(|(offset, head)| At { offset, head })
}

/// Any one [`Mutation`].
pub fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        2 => at().prop_map(Mutation::Truncate),
        4 => (at(), 0u8..8).prop_map(|(a, bit)| Mutation::FlipBit(a, bit)),
        3 => (at(), any::<u8>()).prop_map(|(a, b)| Mutation::SetByte(a, b)),
        2 => (at(), proptest::collection::vec(any::<u8>(), 1..64)).prop_map(|(a, b)| Mutation::Splice(a, b)),
        2 => (at(), 1u16..512).prop_map(|(a, n)| Mutation::Delete(a, n)),
        1 => (at(), 1u16..512).prop_map(|(a, n)| Mutation::Repeat(a, n)),
        3 => (at(), 0..BOUNDARY_VALUES.len()).prop_map(|(a, v)| Mutation::Boundary(a, v)),
    ]
}

/// `seed` with `mutations` applied in order.
pub fn apply(seed: &[u8], mutations: &[Mutation]) -> Vec<u8> {
    let mut bytes = seed.to_vec();
    for m in mutations {
        let len = bytes.len();
        match m {
            Mutation::Truncate(a) => bytes.truncate(a.index(len)),
            Mutation::FlipBit(a, bit) if len > 0 => bytes[a.index(len - 1)] ^= 1 << bit,
            Mutation::SetByte(a, value) if len > 0 => bytes[a.index(len - 1)] = *value,
            Mutation::Splice(a, run) => {
                let i = a.index(len);
                bytes.splice(i..i, run.iter().copied());
            }
            Mutation::Delete(a, n) => {
                let i = a.index(len);
                bytes.drain(i..(i + usize::from(*n)).min(len));
            }
            Mutation::Repeat(a, n) => {
                let i = a.index(len);
                let run = bytes[i..(i + usize::from(*n)).min(len)].to_vec();
                bytes.splice(i..i, run);
            }
            Mutation::Boundary(a, v) => {
                let value = BOUNDARY_VALUES[*v];
                let i = a.index(len.saturating_sub(value.len()));
                let end = (i + value.len()).min(len);
                bytes[i..end].copy_from_slice(&value[..end - i]);
            }
            Mutation::FlipBit(..) | Mutation::SetByte(..) => {}
        }
    }
    bytes
}

/// A seed of `seeds` with 1–6 [`Mutation`]s, or (one case in ten) up to `max_arbitrary`
/// arbitrary bytes.
pub fn mutated(seeds: Vec<Vec<u8>>, max_arbitrary: usize) -> impl Strategy<Value = Vec<u8>> {
    assert!(!seeds.is_empty(), "no seeds to mutate");
    let seeds = Arc::new(seeds);
    let count = seeds.len();
    prop_oneof![
        1 => proptest::collection::vec(any::<u8>(), 0..max_arbitrary),
        9 => (0..count, proptest::collection::vec(mutation(), 1..6))
            .prop_map(move |(seed, edits)| apply(&seeds[seed], &edits)),
    ]
}

/// `../shared/real/<relative>` of the workspace at `root`, when the development machine has it
/// (the real files are never copied into the repository; see `../shared/real/README.md`).
pub fn shared_real(root: &Path, relative: &str) -> Option<PathBuf> {
    let path = root.join("../shared/real").join(relative);
    path.exists().then_some(path)
}

/// The first `limit` bytes of the file at `path` (decoding a whole song per case is too slow).
pub fn head_of(path: &Path, limit: usize) -> Vec<u8> {
    let mut bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    bytes.truncate(limit);
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_stay_in_bounds() {
        let all = [
            Mutation::Truncate(At { offset: 7, head: false }),
            Mutation::FlipBit(At { offset: u32::MAX, head: true }, 7),
            Mutation::SetByte(At { offset: 3, head: false }, 1),
            Mutation::Splice(At { offset: 100, head: false }, vec![1, 2]),
            Mutation::Delete(At { offset: 2, head: false }, 500),
            Mutation::Repeat(At { offset: 1, head: false }, 500),
            Mutation::Boundary(At { offset: 9, head: false }, 4),
        ];
        for len in [0, 1, 3, 10] {
            for m in &all {
                apply(&vec![0u8; len], std::slice::from_ref(m));
            }
        }
        assert_eq!(apply(b"abcdef", &[Mutation::Truncate(At { offset: 3, head: false })]), b"abc");
    }
}
