//! Writes WebDataset `.tar` shards exactly as the hub lays them out.
//!
//! ```text
//!  ShardSample { key, audio, beatmaps } ──► ShardWriter ──► {key}.{opus|mp3} + {key}.json ──► .tar
//! ```
//!
//! Headers are fixed (ustar, mode 0644, uid/gid 0, no user names, a constant mtime) and members
//! go in call order, so the same samples always give a byte-identical shard.

use std::io::{self, Write};
use std::path::Path;

use serde::Serialize;

use operators::digest::sha256_hex;

/// The modification time written into every member header (2024-01-01T00:00:00Z).
pub const MEMBER_MTIME: u64 = 1_704_067_200;

/// One beatmap in a sample's JSON, with the data set's field names.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SampleBeatmap {
    /// osu! beatmap id.
    pub beatmap_id: i64,
    /// osu! beatmap set id.
    pub beatmapset_id: i64,
    /// Game mode (0 = osu!standard).
    pub mode: u8,
    /// Star rating.
    pub difficultyrating: f64,
    /// The `.osu` file's text.
    pub content: String,
    /// The other osu! API v1 fields of the beatmap, written beside these (`approved`,
    /// `submit_date`, `approved_date`, `creator_id`, `version`, …: strings, as the API writes them).
    #[serde(flatten)]
    pub api: serde_json::Map<String, serde_json::Value>,
}

/// One sample (one audio track) to write.
#[derive(Debug, Clone, Copy)]
pub struct ShardSample<'a> {
    /// The WebDataset key, e.g. `000042`.
    pub key: &'a str,
    /// Audio member extension: `opus` for the `compressed` layout, `mp3` for `original`.
    pub audio_extension: &'a str,
    /// Encoded audio.
    pub audio: &'a [u8],
    /// Audio length in seconds.
    pub audio_length: f64,
    /// The beatmaps timed to this audio.
    pub beatmaps: &'a [SampleBeatmap],
}

#[derive(Serialize)]
struct SampleJson<'a> {
    audio_hash: String,
    audio_length: f64,
    beatmaps: &'a [SampleBeatmap],
}

/// A streaming writer of one shard.
pub struct ShardWriter<W: Write> {
    tar: tar::Builder<W>,
}

impl<W: Write> ShardWriter<W> {
    /// Starts a shard written to `out`.
    pub fn new(out: W) -> Self {
        Self { tar: tar::Builder::new(out) }
    }

    /// Appends `{key}.{ext}` (the audio) then `{key}.json` with `audio_hash` = SHA-256 of the audio.
    pub fn append(&mut self, sample: &ShardSample<'_>) -> io::Result<()> {
        let json = serde_json::to_vec(&SampleJson {
            audio_hash: sha256_hex(sample.audio),
            audio_length: sample.audio_length,
            beatmaps: sample.beatmaps,
        })
        .map_err(io::Error::other)?;
        self.member(&format!("{}.{}", sample.key, sample.audio_extension), sample.audio)?;
        self.member(&format!("{}.json", sample.key), &json)
    }

    fn member(&mut self, name: &str, data: &[u8]) -> io::Result<()> {
        let mut header = tar::Header::new_ustar();
        header.set_path(name)?;
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(MEMBER_MTIME);
        header.set_entry_type(tar::EntryType::Regular);
        header.set_cksum();
        self.tar.append(&header, data)
    }

    /// Writes the end-of-archive blocks and returns the output.
    pub fn finish(self) -> io::Result<W> {
        self.tar.into_inner()
    }
}

/// Writes `samples` as the shard `path`, atomically (a temp name beside it, fsync, rename).
pub fn write_shard(path: &Path, samples: &[ShardSample<'_>]) -> io::Result<()> {
    let with_path = |e: io::Error| io::Error::new(e.kind(), format!("{}: {e}", path.display()));
    if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(with_path)?;
    }
    let tmp = operators::atomic::temp_path(path);
    let result = (|| {
        let mut writer = ShardWriter::new(io::BufWriter::new(std::fs::File::create(&tmp)?));
        for sample in samples {
            writer.append(sample)?;
        }
        writer.finish()?.into_inner().map_err(|e| e.into_error())?.sync_all()
    })();
    operators::atomic::commit(result, &tmp, path).map_err(with_path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn beatmap(id: i64) -> SampleBeatmap {
        SampleBeatmap {
            beatmap_id: id,
            beatmapset_id: 7,
            mode: 0,
            difficultyrating: 2.5,
            content: format!("osu file format v14\n[Metadata]\nBeatmapID:{id}\n"),
            api: Default::default(),
        }
    }

    #[test]
    fn shards_are_byte_identical_and_in_the_hub_layout() {
        let dir = tempfile::tempdir().unwrap();
        let maps = [beatmap(1), beatmap(2)];
        let samples = [
            ShardSample {
                key: "000000",
                audio_extension: "opus",
                audio: b"OggS fake",
                audio_length: 1.5,
                beatmaps: &maps,
            },
            ShardSample {
                key: "000001",
                audio_extension: "opus",
                audio: b"OggS other",
                audio_length: 2.0,
                beatmaps: &maps[..1],
            },
        ];
        let a = dir.path().join("a/compressed/data-000000.tar");
        let b = dir.path().join("b/compressed/data-000000.tar");
        write_shard(&a, &samples).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(1100));
        write_shard(&b, &samples).unwrap();
        let bytes = std::fs::read(&a).unwrap();
        assert_eq!(bytes, std::fs::read(&b).unwrap());
        assert_eq!(std::fs::read_dir(a.parent().unwrap()).unwrap().count(), 1, "a temp file was left behind");

        let mut archive = tar::Archive::new(&bytes[..]);
        let mut names = Vec::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let header = entry.header();
            assert_eq!(header.mtime().unwrap(), MEMBER_MTIME);
            assert_eq!(header.uid().unwrap(), 0);
            assert_eq!(header.mode().unwrap(), 0o644);
            let name = entry.path().unwrap().to_string_lossy().into_owned();
            if name.ends_with(".json") {
                let mut text = String::new();
                std::io::Read::read_to_string(&mut entry, &mut text).unwrap();
                let json: serde_json::Value = serde_json::from_str(&text).unwrap();
                if name == "000000.json" {
                    assert_eq!(json["audio_hash"], sha256_hex(b"OggS fake"));
                    assert_eq!(json["audio_length"], 1.5);
                    assert_eq!(json["beatmaps"][1]["beatmap_id"], 2);
                    assert_eq!(json["beatmaps"][1]["content"], maps[1].content.as_str());
                }
            }
            names.push(name);
        }
        assert_eq!(names, ["000000.opus", "000000.json", "000001.opus", "000001.json"]);
    }
}
