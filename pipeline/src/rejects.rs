//! Inputs that could not be used: one [`Reject`] per bad shard, track or beatmap, appended to
//! `rejects.jsonl` by a [`RejectLog`] so that a run goes on and still says what it skipped.
//!
//! ```text
//!  sources / decode / tokenize ──Reject──► RejectLog ──► rejects.jsonl (one JSON object a line)
//!                                              └──► counts by kind (for the run summary)
//! ```
//!
//! The file is append-only and flushed after every line, so a crash loses at most the line being
//! written; reopening it drops such a torn last line and recounts what is there.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

/// Something that could not be used, and why.
///
/// `stage` and `kind` are short stable names (`"read"`, `"missing_json"`) for counting and
/// filtering; `reason` is the human message and `origin` names the input it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reject {
    /// The input: a shard (`data-000003.tar`), a track (`data-000003.tar:000042`), a beatmap,
    /// a Songs folder path or an `.osz` member.
    pub origin: String,
    /// The pipeline stage that gave up (`download`, `read`, `decode`, `tokenize`, ...).
    pub stage: &'static str,
    /// The category of the problem, the key the run summary counts by.
    pub kind: &'static str,
    /// What went wrong, for people.
    pub reason: String,
}

impl Reject {
    /// A reject of `origin` at `stage`, of category `kind`, because of `reason`.
    pub fn new(origin: impl Into<String>, stage: &'static str, kind: &'static str, reason: impl Into<String>) -> Self {
        Self { origin: origin.into(), stage, kind, reason: reason.into() }
    }
}

impl std::fmt::Display for Reject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {} ({}/{})", self.origin, self.reason, self.stage, self.kind)
    }
}

impl std::error::Error for Reject {}

/// The append-only `rejects.jsonl` writer with counts by kind.
#[derive(Debug)]
pub struct RejectLog {
    path: PathBuf,
    file: File,
    counts: BTreeMap<String, u64>,
}

impl RejectLog {
    /// Opens (or creates) `path` for appending. Lines already there are counted, so a resumed run
    /// reports totals over the whole file; a torn last line (a crash mid-write) is cut off.
    pub fn open(path: &Path) -> io::Result<Self> {
        let with_path = |e: io::Error| io::Error::new(e.kind(), format!("{}: {e}", path.display()));
        let mut file =
            OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path).map_err(with_path)?;
        let mut existing = Vec::new();
        file.read_to_end(&mut existing).map_err(with_path)?;
        let complete = existing.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        if complete < existing.len() {
            file.set_len(complete as u64).map_err(with_path)?;
        }
        file.seek(SeekFrom::Start(complete as u64)).map_err(with_path)?;
        let mut counts = BTreeMap::new();
        for (number, line) in existing[..complete].split(|&b| b == b'\n').enumerate() {
            if line.is_empty() {
                continue;
            }
            let value: serde_json::Value = serde_json::from_slice(line).map_err(|e| {
                io::Error::new(io::ErrorKind::InvalidData, format!("{}:{}: {e}", path.display(), number + 1))
            })?;
            let kind = value.get("kind").and_then(|k| k.as_str()).unwrap_or("unknown");
            *counts.entry(kind.to_owned()).or_insert(0) += 1;
        }
        Ok(Self { path: path.to_owned(), file, counts })
    }

    /// Appends `reject` as one line and flushes it to the file.
    pub fn record(&mut self, reject: &Reject) -> io::Result<()> {
        let mut line = serde_json::to_vec(reject).map_err(io::Error::other)?;
        line.push(b'\n');
        // One write call per line: a crash leaves whole lines plus at most one torn tail.
        self.file
            .write_all(&line)
            .and_then(|()| self.file.flush())
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", self.path.display())))?;
        *self.counts.entry(reject.kind.to_owned()).or_insert(0) += 1;
        Ok(())
    }

    /// Rejects so far (including those found in the file when it was opened), by kind.
    pub fn counts(&self) -> &BTreeMap<String, u64> {
        &self.counts
    }

    /// All rejects so far.
    pub fn total(&self) -> u64 {
        self.counts.values().sum()
    }

    /// The file being written.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_json_objects_and_counted_by_kind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rejects.jsonl");
        let mut log = RejectLog::open(&path).unwrap();
        assert_eq!(log.path(), path);
        log.record(&Reject::new("a.tar", "read", "corrupt_shard", "bad checksum")).unwrap();
        log.record(&Reject::new("a.tar:000001", "read", "missing_json", "no \"json\"\nmember")).unwrap();
        log.record(&Reject::new("a.tar:000002", "read", "missing_json", "no json")).unwrap();
        // Flushed per line: readable while the writer is still open.
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[1]["origin"], "a.tar:000001");
        assert_eq!(lines[1]["stage"], "read");
        assert_eq!(lines[1]["kind"], "missing_json");
        assert_eq!(lines[1]["reason"], "no \"json\"\nmember");
        assert_eq!(log.counts().get("missing_json"), Some(&2));
        assert_eq!(log.counts().get("corrupt_shard"), Some(&1));
        assert_eq!(log.total(), 3);
    }

    #[test]
    fn reopening_appends_recounts_and_drops_a_torn_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rejects.jsonl");
        {
            let mut log = RejectLog::open(&path).unwrap();
            log.record(&Reject::new("x", "decode", "undecodable_audio", "garbage")).unwrap();
        }
        // Simulate a crash in the middle of the second line.
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(br#"{"origin":"y","sta"#).unwrap();
        drop(f);
        let mut log = RejectLog::open(&path).unwrap();
        assert_eq!(log.total(), 1);
        log.record(&Reject::new("z", "read", "bad_json", "eof")).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 2);
        assert!(text.lines().all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()));
        assert_eq!(log.counts().get("bad_json"), Some(&1));
    }

    #[test]
    fn display_names_the_origin() {
        let r = Reject::new("Songs/1 A - B/x.osu", "read", "unsafe_path", "AudioFilename `../a.mp3` escapes");
        assert_eq!(r.to_string(), "Songs/1 A - B/x.osu: AudioFilename `../a.mp3` escapes (read/unsafe_path)");
    }
}
