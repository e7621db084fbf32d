//! A player's osu! `Songs` folder, or `.osz` archives: beatmap sets as the game stores them.
//!
//! ```text
//!  songs:PATH ──► sets: PATH itself if it holds .osu files, then its sub-folders and *.osz (sorted)
//!    set ──► each .osu ──► AudioFilename (osu_header) ──► safe relative path? ──► group by audio
//!        └─► one TrackRecord per audio file (track_id = SHA-256 of its bytes) with its beatmaps
//!  sets ──► groups of consecutive sets (groups.rs): the source shards `preprocess` chunks by
//! ```
//!
//! Paths taken from files never leave their set: an `AudioFilename` with `..`, a root or a drive,
//! a symlink pointing out of the folder, and `.osz` members named `../x` or `/x` (zip-slip) are
//! rejects of kind `unsafe_path`. Nothing is extracted to disk. Names match case-insensitively,
//! as on the Windows file systems the game was made for, and `\` counts as a separator.

use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

pub mod groups;

pub use self::groups::SetGroup;
use self::groups::{SetId, group_sets};
use super::osu_header::read_header;
use super::{
    BeatmapRecord, ChannelSource, MAX_INPUT_BYTES, STAGE_READ, SourceEntry, TrackRecord, spawn_reader, too_large,
};
use operators::digest::sha256_hex;
use shards::rejects::Reject;

/// One beatmap set: a folder or an `.osz` archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BeatmapSet {
    /// A folder holding `.osu` files and their audio.
    Folder(PathBuf),
    /// A zip archive of a set.
    Osz(PathBuf),
}

/// Tracks of a Songs folder or of `.osz` files, read on a background thread.
#[derive(Debug)]
pub struct SongsSource {
    sets: Vec<BeatmapSet>,
    /// What was read, tagged with the index of its set.
    tracks: ChannelSource<(usize, Result<TrackRecord, Reject>)>,
}

impl SongsSource {
    /// Finds the sets under `path` (itself a set folder or `.osz`, or a folder of them) and starts
    /// reading them, `capacity` tracks ahead.
    pub fn open(path: &Path, capacity: usize) -> Result<Self, Reject> {
        let sets = find_sets(path)?;
        let todo = sets.clone();
        let tracks = spawn_reader("songs-reader", capacity, move |emitter| {
            for (index, set) in todo.iter().enumerate() {
                if !read_set(set, &mut |item| emitter.emit((index, item))) {
                    return;
                }
            }
        })?;
        Ok(Self { sets, tracks })
    }

    /// The sets found, in reading order.
    pub fn sets(&self) -> &[BeatmapSet] {
        &self.sets
    }

    /// The sets in groups of `mean` on average ([`groups::group_sets`]), and the source's items,
    /// each with its set's group as its shard.
    pub fn grouped(self, mean: usize) -> (Vec<SetGroup>, impl Iterator<Item = SourceEntry> + Send) {
        let ids: Vec<SetId> = self.sets.iter().map(BeatmapSet::id).collect();
        let groups = group_sets(&ids, mean);
        let group_of_set: Vec<String> =
            groups.iter().flat_map(|g| std::iter::repeat_n(g.group.clone(), g.sets.len())).collect();
        let entries = self.tracks.map(move |(set, item)| SourceEntry { shard: group_of_set[set].clone(), item });
        (groups, entries)
    }
}

impl BeatmapSet {
    /// The folder's or archive's file name, and the fingerprint of its files: their paths within
    /// the set and sizes (sub-folders that are sets of their own left out), or the archive's size.
    pub fn id(&self) -> SetId {
        let (BeatmapSet::Folder(path) | BeatmapSet::Osz(path)) = self;
        let name = path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
        let mut fingerprint = name.clone();
        match self {
            BeatmapSet::Osz(path) => {
                let size = std::fs::metadata(path).map_or(0, |m| m.len());
                fingerprint.push_str(&format!("\n{size}"));
            }
            BeatmapSet::Folder(dir) => {
                for (file, size) in files_with_sizes(dir, dir) {
                    fingerprint.push_str(&format!("\n{file} {size}"));
                }
            }
        }
        SetId { name, fingerprint }
    }
}

/// The files under `dir` as (`/`-separated path relative to `set`, size), sorted; folders holding
/// `.osu` files below the set's own are left out, and what cannot be read counts as absent.
fn files_with_sizes(set: &Path, dir: &Path) -> Vec<(String, u64)> {
    let mut files = Vec::new();
    for path in sorted_entries(dir).unwrap_or_default() {
        if path.is_dir() {
            if !holds_osu(&path).unwrap_or(false) {
                files.extend(files_with_sizes(set, &path));
            }
        } else if let Ok(meta) = std::fs::metadata(&path) {
            let relative = path.strip_prefix(set).unwrap_or(&path).to_string_lossy().replace('\\', "/");
            files.push((relative, meta.len()));
        }
    }
    files
}

impl Iterator for SongsSource {
    type Item = Result<TrackRecord, Reject>;

    fn next(&mut self) -> Option<Self::Item> {
        self.tracks.next().map(|(_, item)| item)
    }
}

fn has_extension(path: &Path, ext: &str) -> bool {
    path.extension().is_some_and(|e| e.eq_ignore_ascii_case(ext))
}

fn sorted_entries(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut paths = std::fs::read_dir(dir)?.map(|e| e.map(|e| e.path())).collect::<Result<Vec<_>, _>>()?;
    paths.sort();
    Ok(paths)
}

/// Whether `dir` holds `.osu` files: is a set folder.
fn holds_osu(dir: &Path) -> std::io::Result<bool> {
    Ok(sorted_entries(dir)?.iter().any(|p| p.is_file() && has_extension(p, "osu")))
}

fn find_sets(path: &Path) -> Result<Vec<BeatmapSet>, Reject> {
    let io_reject = |e: std::io::Error| Reject::new(path.display().to_string(), STAGE_READ, "io", e.to_string());
    if path.is_file() && has_extension(path, "osz") {
        return Ok(vec![BeatmapSet::Osz(path.to_owned())]);
    }
    let mut sets = Vec::new();
    if holds_osu(path).map_err(io_reject)? {
        sets.push(BeatmapSet::Folder(path.to_owned()));
    }
    for child in sorted_entries(path).map_err(io_reject)? {
        if child.is_dir() && holds_osu(&child).unwrap_or(false) {
            sets.push(BeatmapSet::Folder(child));
        } else if child.is_file() && has_extension(&child, "osz") {
            sets.push(BeatmapSet::Osz(child));
        }
    }
    if sets.is_empty() {
        return Err(Reject::new(
            path.display().to_string(),
            STAGE_READ,
            "no_beatmaps",
            "no .osu set folder or .osz file here",
        ));
    }
    Ok(sets)
}

/// `AudioFilename` (or a zip member name) as a `/`-separated path inside its set, or why not.
pub fn safe_relative_path(value: &str) -> Result<String, String> {
    let unified = value.replace('\\', "/");
    if unified.starts_with('/') || unified.contains(':') {
        return Err(format!("`{value}` is an absolute path"));
    }
    let mut parts = Vec::new();
    for part in unified.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err(format!("`{value}` climbs out of its folder")),
            p => parts.push(p),
        }
    }
    if parts.is_empty() {
        return Err(format!("`{value}` names no file"));
    }
    Ok(parts.join("/"))
}

/// The files of one set, behind the two storage forms.
trait SetFiles {
    /// A name for messages.
    fn label(&self) -> String;
    /// The `.osu` files as (name, bytes), sorted by name, plus rejects of unreadable ones.
    fn osu_files(&mut self) -> (Vec<(String, Vec<u8>)>, Vec<Reject>);
    /// The file at the safe relative `path` (case-insensitive), as (actual name, bytes).
    fn read(&mut self, path: &str) -> Result<Option<(String, Vec<u8>)>, Reject>;
}

/// Reads one set, calling `emit` per track or reject; false once `emit` is.
pub(crate) fn read_set(set: &BeatmapSet, emit: &mut dyn FnMut(Result<TrackRecord, Reject>) -> bool) -> bool {
    match set {
        BeatmapSet::Folder(dir) => read_files(&mut FolderSet { dir: dir.clone() }, emit),
        BeatmapSet::Osz(path) => match OszSet::open(path) {
            Ok(mut osz) => read_files(&mut osz, emit),
            Err(reject) => emit(Err(reject)),
        },
    }
}

/// Beatmaps sharing one audio file.
struct AudioGroup {
    audio_path: String,
    osu_names: Vec<String>,
    beatmaps: Vec<BeatmapRecord>,
}

fn read_files(set: &mut dyn SetFiles, emit: &mut dyn FnMut(Result<TrackRecord, Reject>) -> bool) -> bool {
    let label = set.label();
    let (osu_files, read_rejects) = set.osu_files();
    if !read_rejects.into_iter().all(|r| emit(Err(r))) {
        return false;
    }
    let mut groups: Vec<AudioGroup> = Vec::new();
    let mut by_audio: HashMap<String, usize> = HashMap::new();
    for (osu_name, bytes) in osu_files {
        let name = format!("{label}:{osu_name}");
        let reject = |kind: &'static str, reason: String| Reject::new(name.clone(), STAGE_READ, kind, reason);
        let text = match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(e) => {
                if !emit(Err(reject("not_utf8", format!("the .osu file is not UTF-8: {e}")))) {
                    return false;
                }
                continue;
            }
        };
        let header = read_header(&text);
        let audio = match header.audio_filename.as_deref().map(safe_relative_path) {
            Some(Ok(audio)) => audio,
            Some(Err(why)) => {
                if !emit(Err(reject("unsafe_path", format!("AudioFilename {why}")))) {
                    return false;
                }
                continue;
            }
            None => {
                if !emit(Err(reject("no_audio_filename", "no AudioFilename in [General]".into()))) {
                    return false;
                }
                continue;
            }
        };
        let record = BeatmapRecord {
            beatmap_id: header.beatmap_id.unwrap_or(0),
            beatmapset_id: header.beatmapset_id.unwrap_or(0),
            mode: header.mode,
            metadata: Default::default(),
            osu_text: text,
            name,
        };
        let index = *by_audio.entry(audio.to_lowercase()).or_insert_with(|| {
            groups.push(AudioGroup { audio_path: audio.clone(), osu_names: Vec::new(), beatmaps: Vec::new() });
            groups.len() - 1
        });
        groups[index].osu_names.push(osu_name);
        groups[index].beatmaps.push(record);
    }
    for group in groups {
        let item = match set.read(&group.audio_path) {
            Ok(Some((audio_name, audio))) => Ok(TrackRecord {
                origin: format!("{label}:{audio_name}"),
                track_id: sha256_hex(&audio),
                audio_name,
                audio,
                audio_length: None,
                beatmaps: group.beatmaps,
            }),
            Ok(None) => Err(Reject::new(
                format!("{label}:{}", group.audio_path),
                STAGE_READ,
                "missing_audio",
                format!("audio file `{}` named by {} is not in the set", group.audio_path, group.osu_names.join(", ")),
            )),
            Err(reject) => Err(reject),
        };
        if !emit(item) {
            return false;
        }
    }
    true
}

/// A set stored as a folder.
struct FolderSet {
    dir: PathBuf,
}

impl SetFiles for FolderSet {
    fn label(&self) -> String {
        self.dir.display().to_string()
    }

    fn osu_files(&mut self) -> (Vec<(String, Vec<u8>)>, Vec<Reject>) {
        let mut files = Vec::new();
        let mut rejects = Vec::new();
        let entries = match sorted_entries(&self.dir) {
            Ok(entries) => entries,
            Err(e) => return (files, vec![Reject::new(self.label(), STAGE_READ, "io", e.to_string())]),
        };
        for path in entries.into_iter().filter(|p| p.is_file() && has_extension(p, "osu")) {
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            match std::fs::read(&path) {
                Ok(bytes) => files.push((name, bytes)),
                Err(e) => rejects.push(Reject::new(path.display().to_string(), STAGE_READ, "io", e.to_string())),
            }
        }
        (files, rejects)
    }

    fn read(&mut self, path: &str) -> Result<Option<(String, Vec<u8>)>, Reject> {
        let origin = format!("{}:{path}", self.label());
        let io = |e: std::io::Error| Reject::new(origin.clone(), STAGE_READ, "io", e.to_string());
        let mut current = self.dir.clone();
        for part in path.split('/') {
            let exact = current.join(part);
            current = if exact.exists() {
                exact
            } else {
                let wanted = part.to_lowercase();
                let entries = match std::fs::read_dir(&current) {
                    Ok(entries) => entries,
                    Err(_) => return Ok(None),
                };
                let found = entries
                    .filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().to_lowercase() == wanted))
                    .min();
                match found {
                    Some(found) => found,
                    None => return Ok(None),
                }
            };
        }
        if !current.is_file() {
            return Ok(None);
        }
        // A symlink may still point out of the set.
        let root = self.dir.canonicalize().map_err(io)?;
        if !current.canonicalize().map_err(io)?.starts_with(&root) {
            return Err(Reject::new(
                origin,
                STAGE_READ,
                "unsafe_path",
                format!("`{path}` links out of the set folder"),
            ));
        }
        let name = current.strip_prefix(&self.dir).unwrap_or(&current).to_string_lossy().replace('\\', "/");
        let size = std::fs::metadata(&current).map_err(io)?.len();
        if size > MAX_INPUT_BYTES {
            return Err(too_large(origin, size));
        }
        Ok(Some((name, std::fs::read(&current).map_err(io)?)))
    }
}

/// A set stored as an `.osz` (zip) archive.
struct OszSet {
    path: PathBuf,
    archive: zip::ZipArchive<File>,
    /// Safe member names (with `/`), with their index in the archive.
    members: Vec<(String, usize)>,
    /// Rejects of members whose names escape the archive.
    unsafe_members: Vec<Reject>,
}

impl OszSet {
    fn open(path: &Path) -> Result<Self, Reject> {
        let label = path.display().to_string();
        let bad = |reason: String| Reject::new(label.clone(), STAGE_READ, "bad_archive", reason);
        let file = File::open(path).map_err(|e| Reject::new(label.clone(), STAGE_READ, "io", e.to_string()))?;
        let mut archive = zip::ZipArchive::new(file).map_err(|e| bad(format!("not a readable .osz (zip): {e}")))?;
        let mut members = Vec::new();
        let mut unsafe_members = Vec::new();
        for index in 0..archive.len() {
            let entry = archive.by_index_raw(index).map_err(|e| bad(format!("member #{index}: {e}")))?;
            if entry.is_dir() {
                continue;
            }
            let raw = match entry.name() {
                Ok(name) => name.into_owned(),
                Err(e) => {
                    unsafe_members.push(Reject::new(
                        format!("{label}:#{index}"),
                        STAGE_READ,
                        "unsafe_path",
                        format!("member name unreadable: {e}"),
                    ));
                    continue;
                }
            };
            match (entry.enclosed_name().is_some(), safe_relative_path(&raw)) {
                (true, Ok(name)) => members.push((name, index)),
                (_, Err(why)) => unsafe_members.push(Reject::new(
                    format!("{label}:{raw}"),
                    STAGE_READ,
                    "unsafe_path",
                    format!("member {why}"),
                )),
                (false, Ok(_)) => unsafe_members.push(Reject::new(
                    format!("{label}:{raw}"),
                    STAGE_READ,
                    "unsafe_path",
                    format!("member `{raw}` escapes the archive"),
                )),
            }
        }
        members.sort();
        Ok(Self { path: path.to_owned(), archive, members, unsafe_members })
    }

    fn member_bytes(&mut self, name: &str, index: usize) -> Result<Vec<u8>, Reject> {
        let origin = format!("{}:{name}", self.label());
        let bad = |reason: String| Reject::new(origin.clone(), STAGE_READ, "bad_archive", reason);
        let entry = self.archive.by_index(index).map_err(|e| bad(e.to_string()))?;
        if entry.size() > MAX_INPUT_BYTES {
            return Err(too_large(origin, entry.size()));
        }
        let mut bytes = Vec::with_capacity(entry.size().min(64 << 20) as usize);
        // Never more than the declared size, whatever the compressed stream holds.
        let declared = entry.size();
        entry.take(declared).read_to_end(&mut bytes).map_err(|e| bad(format!("unreadable member: {e}")))?;
        Ok(bytes)
    }
}

impl SetFiles for OszSet {
    fn label(&self) -> String {
        self.path.display().to_string()
    }

    fn osu_files(&mut self) -> (Vec<(String, Vec<u8>)>, Vec<Reject>) {
        let mut rejects = std::mem::take(&mut self.unsafe_members);
        let mut files = Vec::new();
        let osu: Vec<(String, usize)> =
            self.members.iter().filter(|(n, _)| n.to_lowercase().ends_with(".osu")).cloned().collect();
        for (name, index) in osu {
            match self.member_bytes(&name, index) {
                Ok(bytes) => files.push((name, bytes)),
                Err(reject) => rejects.push(reject),
            }
        }
        (files, rejects)
    }

    fn read(&mut self, path: &str) -> Result<Option<(String, Vec<u8>)>, Reject> {
        let wanted = path.to_lowercase();
        let found = self
            .members
            .iter()
            .find(|(n, _)| n == path)
            .or_else(|| self.members.iter().find(|(n, _)| n.to_lowercase() == wanted))
            .cloned();
        match found {
            Some((name, index)) => Ok(Some((name.clone(), self.member_bytes(&name, index)?))),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests;
