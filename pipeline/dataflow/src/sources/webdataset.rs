//! WebDataset `.tar` shards in the hub layout, read as a stream of members.
//!
//! ```text
//!  DIR/{*.tar | compressed/*.tar | original/*.tar}  (sorted by name)
//!    └─► tar members in order: 000042.opus 000042.json 000043.opus 000043.json ...
//!          └─► group consecutive members by key ─► audio + JSON ─► TrackRecord  (or Reject)
//! ```
//!
//! A sample's members share a key (the member path up to the first `.` of its file name) and sit
//! next to each other, so only one sample is held in memory. The audio member is `{key}.opus`
//! (`compressed`) or `{key}.mp3` (`original`, which may really hold MP3, Ogg or WAV; the decoder
//! sniffs). The JSON member holds `audio_hash`, `audio_length` and `beatmaps[]` (`beatmap_id`,
//! `beatmapset_id`, `mode`, `content` = the `.osu` text, and the rest of the osu! API v1
//! `get_beatmaps` fields: `approved`, `submit_date`, `approved_date`, `creator_id`, `version`,
//! `difficultyrating`, …, kept as the beatmap's [`BeatmapMetadata`]); numbers given as strings
//! (as the API writes them) are accepted. A corrupt or truncated shard is one reject, and
//! reading goes on with the next shard.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::{BeatmapRecord, ChannelSource, MAX_INPUT_BYTES, STAGE_READ, TrackRecord, spawn_reader, too_large};
use operators::digest::sha256_hex;
use shards::rejects::Reject;
use shards::rows::BeatmapMetadata;

/// Extensions of audio members (the data set uses `opus` and `mp3`).
const AUDIO_EXTENSIONS: [&str; 6] = ["opus", "mp3", "ogg", "wav", "flac", "m4a"];

/// Config folders looked into, in order, when DIR itself holds no `.tar` file.
const CONFIG_FOLDERS: [&str; 2] = ["compressed", "original"];

/// Tracks of the `.tar` shards in a local directory, read on a background thread.
#[derive(Debug)]
pub struct LocalShards {
    shards: Vec<PathBuf>,
    tracks: ChannelSource,
}

impl LocalShards {
    /// Lists the shards under `dir` (its `*.tar` files, else those of `dir/compressed`, else
    /// `dir/original`; sorted by name) and starts reading them, `capacity` tracks ahead.
    pub fn open(dir: &Path, capacity: usize) -> Result<Self, Reject> {
        let shards = list_shards(dir)?;
        let paths = shards.clone();
        let root = dir.to_path_buf();
        let tracks = spawn_reader("shard-reader", capacity, move |emitter| {
            for path in &paths {
                // Shards are named relative to the source directory (`compressed/data-000003.tar`,
                // as in the hub repo), so outputs do not depend on where the corpus lives.
                let label = path.strip_prefix(&root).unwrap_or(path).display().to_string();
                if !read_shard_file(path, &label, &mut |item| emitter.emit(item)) {
                    return;
                }
            }
        })?;
        Ok(Self { shards, tracks })
    }

    /// The shard files, in reading order.
    pub fn shards(&self) -> &[PathBuf] {
        &self.shards
    }
}

impl Iterator for LocalShards {
    type Item = Result<TrackRecord, Reject>;

    fn next(&mut self) -> Option<Self::Item> {
        self.tracks.next()
    }
}

fn list_shards(dir: &Path) -> Result<Vec<PathBuf>, Reject> {
    let io_reject = |e: std::io::Error| Reject::new(dir.display().to_string(), STAGE_READ, "io", e.to_string());
    let tars_in = |d: &Path| -> Result<Vec<PathBuf>, Reject> {
        let mut found = Vec::new();
        for entry in std::fs::read_dir(d).map_err(io_reject)? {
            let path = entry.map_err(io_reject)?.path();
            if path.is_file() && path.extension().is_some_and(|e| e == "tar") {
                found.push(path);
            }
        }
        found.sort();
        Ok(found)
    };
    let direct = tars_in(dir)?;
    if !direct.is_empty() {
        return Ok(direct);
    }
    for config in CONFIG_FOLDERS {
        let sub = dir.join(config);
        if sub.is_dir() {
            let found = tars_in(&sub)?;
            if !found.is_empty() {
                return Ok(found);
            }
        }
    }
    Err(Reject::new(
        dir.display().to_string(),
        STAGE_READ,
        "no_shards",
        "no .tar shard in the directory nor in its compressed/ or original/ folder",
    ))
}

/// Reads the shard at `path`, calling `emit` per track or reject; `label` names the shard in
/// messages. Returns false as soon as `emit` does (the consumer is gone).
pub(crate) fn read_shard_file(
    path: &Path,
    label: &str,
    emit: &mut dyn FnMut(Result<TrackRecord, Reject>) -> bool,
) -> bool {
    match File::open(path) {
        Ok(file) => read_shard(BufReader::with_capacity(1 << 20, file), label, emit),
        Err(e) => emit(Err(Reject::new(label, STAGE_READ, "io", format!("cannot open shard: {e}")))),
    }
}

/// Reads a shard from `reader` as a stream, calling `emit` per track or reject in tar order;
/// `label` names the shard in messages. Returns false as soon as `emit` does (the consumer is
/// gone). A corrupt or truncated tar ends the shard with one `corrupt_shard` reject (after the
/// sample in hand, if it was complete).
pub fn read_shard<R: Read>(reader: R, label: &str, emit: &mut dyn FnMut(Result<TrackRecord, Reject>) -> bool) -> bool {
    let mut archive = tar::Archive::new(reader);
    let entries = match archive.entries() {
        Ok(entries) => entries,
        Err(e) => return give_up(None, label, format!("unreadable tar: {e}"), emit),
    };
    let mut sample: Option<Sample> = None;
    for entry in entries {
        let mut entry = match entry {
            Ok(entry) => entry,
            Err(e) => {
                return give_up(sample, label, format!("unreadable tar (skipping the rest of the shard): {e}"), emit);
            }
        };
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let member = entry.path().map(|p| p.to_string_lossy().into_owned()).unwrap_or_default();
        let declared = entry.size();
        if declared > MAX_INPUT_BYTES {
            // Not read: the archive skips its bytes.
            if !emit(Err(too_large(format!("{label}:{member}"), declared))) {
                return false;
            }
            continue;
        }
        let mut bytes = Vec::with_capacity(declared.min(64 << 20) as usize);
        if let Err(e) = entry.read_to_end(&mut bytes) {
            let reason = format!("member `{member}` unreadable (skipping the rest of the shard): {e}");
            return give_up(sample, label, reason, emit);
        }
        if bytes.len() as u64 != declared {
            let reason = format!("truncated: member `{member}` has {} of its {declared} bytes", bytes.len());
            return give_up(sample, label, reason, emit);
        }
        let (key, extension) = split_member(&member);
        if sample.as_ref().is_none_or(|s| s.key != key) {
            if let Some(done) = sample.take()
                && !done.finish(label, emit)
            {
                return false;
            }
            sample = Some(Sample { key: key.to_owned(), audio: None, json: None });
        }
        let Some(current) = sample.as_mut() else { continue };
        let slot_taken = if extension == "json" {
            current.json.replace(bytes).is_some()
        } else if AUDIO_EXTENSIONS.contains(&extension.to_ascii_lowercase().as_str()) {
            current.audio.replace((member.clone(), bytes)).is_some()
        } else {
            log::debug!("{label}: ignoring member `{member}`");
            false
        };
        if slot_taken {
            let origin = format!("{label}:{key}");
            let reason = format!("member `{member}` repeats a part of the sample; the last one is used");
            if !emit(Err(Reject::new(origin, STAGE_READ, "duplicate_member", reason))) {
                return false;
            }
        }
    }
    match sample {
        Some(done) => done.finish(label, emit),
        None => true,
    }
}

/// Ends a shard that cannot be read further: the sample in hand is kept if all its members were
/// read, then the shard's reject. False when the consumer is gone.
fn give_up(
    sample: Option<Sample>,
    label: &str,
    reason: String,
    emit: &mut dyn FnMut(Result<TrackRecord, Reject>) -> bool,
) -> bool {
    if let Some(done) = sample.filter(|s| s.audio.is_some() && s.json.is_some())
        && !done.finish(label, emit)
    {
        return false;
    }
    emit(Err(Reject::new(label, STAGE_READ, "corrupt_shard", reason)))
}

/// `dir/000042.opus` → (`dir/000042`, `opus`): WebDataset's key is everything before the first
/// dot of the file name; the member's kind is its last extension (`a.b.json` is JSON).
fn split_member(member: &str) -> (&str, &str) {
    let name_start = member.rfind('/').map_or(0, |i| i + 1);
    let name = &member[name_start..];
    match (name.find('.'), name.rfind('.')) {
        (Some(first), Some(last)) => (&member[..name_start + first], &name[last + 1..]),
        _ => (member, ""),
    }
}

/// The members of one sample seen so far.
struct Sample {
    key: String,
    audio: Option<(String, Vec<u8>)>,
    json: Option<Vec<u8>>,
}

impl Sample {
    fn finish(self, label: &str, emit: &mut dyn FnMut(Result<TrackRecord, Reject>) -> bool) -> bool {
        let origin = format!("{label}:{}", self.key);
        match (self.audio, self.json) {
            (Some((audio_name, audio)), Some(json)) => {
                let (track, beatmap_rejects) = match parse_track(&origin, audio_name, audio, &json) {
                    Ok(parsed) => parsed,
                    Err(reject) => return emit(Err(reject)),
                };
                beatmap_rejects.into_iter().all(|r| emit(Err(r))) && emit(Ok(track))
            }
            (Some(_), None) => {
                emit(Err(Reject::new(origin, STAGE_READ, "missing_json", "audio member without a .json member")))
            }
            (None, Some(_)) => {
                emit(Err(Reject::new(origin, STAGE_READ, "missing_audio", "a .json member without an audio member")))
            }
            (None, None) => true,
        }
    }
}

/// Parses a sample's JSON into a track; beatmap entries that cannot be used come back as rejects.
fn parse_track(
    origin: &str,
    audio_name: String,
    audio: Vec<u8>,
    json: &[u8],
) -> Result<(TrackRecord, Vec<Reject>), Reject> {
    let bad_json = |reason: String| Reject::new(origin, STAGE_READ, "bad_json", reason);
    let meta: Map<String, Value> =
        serde_json::from_slice(json).map_err(|e| bad_json(format!("metadata is not a JSON object: {e}")))?;
    let beatmaps = meta
        .get("beatmaps")
        .and_then(Value::as_array)
        .ok_or_else(|| bad_json("metadata has no `beatmaps` array".into()))?;
    let track_id = match meta.get("audio_hash") {
        None | Some(Value::Null) => sha256_hex(&audio),
        Some(Value::String(h)) if !h.is_empty() => h.to_ascii_lowercase(),
        Some(other) => return Err(bad_json(format!("`audio_hash` is not a hash string: {other}"))),
    };
    let audio_length = meta.get("audio_length").and_then(loose_f64);
    let mut records = Vec::with_capacity(beatmaps.len());
    let mut rejects = Vec::new();
    for (index, entry) in beatmaps.iter().enumerate() {
        match parse_beatmap(origin, index, entry) {
            Ok(record) => records.push(record),
            Err(reject) => rejects.push(reject),
        }
    }
    let track = TrackRecord { origin: origin.to_owned(), track_id, audio_name, audio, audio_length, beatmaps: records };
    Ok((track, rejects))
}

fn parse_beatmap(origin: &str, index: usize, entry: &Value) -> Result<BeatmapRecord, Reject> {
    let id = entry.get("beatmap_id").and_then(loose_i64);
    let name = match id {
        Some(id) => format!("{origin}#beatmap-{id}"),
        None => format!("{origin}#beatmaps[{index}]"),
    };
    let bad = |reason: &str| Reject::new(name.clone(), STAGE_READ, "bad_json", reason);
    let id = id.ok_or_else(|| bad("no integer `beatmap_id`"))?;
    let set_id = entry.get("beatmapset_id").and_then(loose_i64).ok_or_else(|| bad("no integer `beatmapset_id`"))?;
    let mode = match entry.get("mode") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            loose_i64(v)
                .and_then(|m| u8::try_from(m).ok())
                .filter(|m| *m <= 3)
                .ok_or_else(|| bad("`mode` is not 0..=3"))?,
        ),
    };
    let osu_text =
        entry.get("content").and_then(Value::as_str).ok_or_else(|| bad("no `content` string (.osu text)"))?;
    let metadata = match entry.as_object() {
        Some(fields) => parse_metadata(fields).map_err(|reason| bad(&reason))?,
        None => BeatmapMetadata::default(),
    };
    Ok(BeatmapRecord { beatmap_id: id, beatmapset_id: set_id, mode, metadata, osu_text: osu_text.to_owned(), name })
}

/// Fields of a beatmap entry that have their own place in a [`BeatmapRecord`].
const RECORD_FIELDS: [&str; 4] = ["beatmap_id", "beatmapset_id", "mode", "content"];

/// The metadata of a beatmap entry. The fields the filters read must be what the API writes, or
/// the beatmap is a `bad_json` reject saying which (`approved`: an integer -2..4; `submit_date`,
/// `approved_date`: `YYYY-MM-DD…`); null, absent or an empty date is unknown. The other typed
/// fields are kept when they have their type; a value without it, and every field without a
/// column, goes to `other_json` as given.
fn parse_metadata(fields: &Map<String, Value>) -> Result<BeatmapMetadata, String> {
    let given = |name: &str| fields.get(name).filter(|v| !v.is_null());
    let status = match given("approved") {
        None => None,
        Some(v) => Some(
            loose_i64(v)
                .filter(|s| (-2..=4).contains(s))
                .map(|s| s as i8)
                .ok_or_else(|| format!("`approved` is {v}, not a status -2..4"))?,
        ),
    };
    let date = |name: &str| -> Result<Option<String>, String> {
        match given(name) {
            None => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) if is_date(s.trim()) => Ok(Some(s.trim().to_owned())),
            Some(v) => Err(format!("`{name}` is {v}, not a date YYYY-MM-DD[ hh:mm:ss]")),
        }
    };
    let (submit_date, approved_date) = (date("submit_date")?, date("approved_date")?);
    let text = |name: &str| match given(name) {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let metadata = BeatmapMetadata {
        status,
        submit_date,
        approved_date,
        last_update: text("last_update"),
        creator: text("creator"),
        creator_id: given("creator_id").and_then(loose_i64),
        version: text("version"),
        difficultyrating: given("difficultyrating").and_then(loose_f64),
        other_json: None,
    };
    let stored = |name: &str| match name {
        "approved" | "submit_date" | "approved_date" => true,
        "last_update" => metadata.last_update.is_some(),
        "creator" => metadata.creator.is_some(),
        "creator_id" => metadata.creator_id.is_some(),
        "version" => metadata.version.is_some(),
        "difficultyrating" => metadata.difficultyrating.is_some(),
        other => RECORD_FIELDS.contains(&other),
    };
    let others: Map<String, Value> =
        fields.iter().filter(|(name, _)| !stored(name)).map(|(name, value)| (name.clone(), value.clone())).collect();
    let other_json = (!others.is_empty()).then(|| Value::Object(others).to_string());
    Ok(BeatmapMetadata { other_json, ..metadata })
}

/// Whether `s` starts with a calendar date `YYYY-MM-DD` (month 1–12, day 1–31), as the API's
/// dates (`2013-05-24 02:11:22`) do.
fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |range: std::ops::Range<usize>| b.get(range.clone()).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    let number = |range: std::ops::Range<usize>| s[range].parse::<u32>().unwrap_or(0);
    digits(0..4)
        && b.get(4) == Some(&b'-')
        && digits(5..7)
        && b.get(7) == Some(&b'-')
        && digits(8..10)
        && (1..=12).contains(&number(5..7))
        && (1..=31).contains(&number(8..10))
        && b.get(10).is_none_or(|c| matches!(c, b' ' | b'T'))
}

/// An integer given as a JSON number or a numeric string.
fn loose_i64(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A float given as a JSON number or a numeric string.
fn loose_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
