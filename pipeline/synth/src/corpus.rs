//! `mapflow synth`: a small corpus in the hub's exact tar layout, built from the bundled fixture
//! beatmaps, with audio rendered from each map so that onsets sit where the mapper clicked.
//!
//! ```text
//! fixture map ─► excerpt (variant v: another stretch of the song, mirrored when v is odd)
//!             ─► .osu text (our writer) + rendered audio (hits on objects, tones on sliders,
//!                background on the beat grid) ─► Opus | MP3 | Vorbis ─► data-NNNNNN.tar
//! ```
//! Song `i` uses fixture `i mod k` and variant `i div k`, so any number of distinct songs can be
//! made; everything is a pure function of (songs, seed, layout). A variant after the first is
//! titled `<title> (variant v)`: a song of its own, whose split is its own (splits go by artist
//! and title). Each beatmap carries osu! API v1 metadata as the data set's do ([`api_metadata`]:
//! statuses and years that differ from song to song), so the filters of `preprocess` have
//! something to choose from.

use std::path::{Path, PathBuf};

use anyhow::Context;
use operators::beatmap::write::to_osu_string;
use operators::beatmap::{
    Beatmap, GreenLine, HitObject, ObjectKind, PLAYFIELD_WIDTH, RedLine, TimingModel, parse_beatmap, star_rating,
};
use serde::Serialize;

use super::SplitMix64;
use super::encode::{AudioFormat, encode};
use super::render::{AudioEvent, BeatGrid, EventKind, RenderSpec, render_track};
use super::webdataset::{SampleBeatmap, ShardSample, write_shard};

/// The bundled osu!standard fixture maps (tests/data/NOTICE.md: MIT, from ppy/osu and rosu-pp).
pub const FIXTURE_MAPS: [(&str, &str); 7] = [
    ("renatus", include_str!("../../../tests/data/beatmaps/Soleily - Renatus (Gamu) [Insane].osu")),
    ("kozato", include_str!("../../../tests/data/beatmaps/Kozato snow - Rengetsu Ouka (_Kiva) [Yuki YukI].osu")),
    ("1124896", include_str!("../../../tests/data/beatmaps/1124896.osu")),
    ("1341554", include_str!("../../../tests/data/beatmaps/1341554.osu")),
    ("2785319", include_str!("../../../tests/data/beatmaps/rosupp-2785319.osu")),
    ("diffcalc", include_str!("../../../tests/data/beatmaps/diffcalc-test.osu")),
    ("renatus-quick", include_str!("../../../tests/data/beatmaps/renatus-quick-insane.osu")),
];

/// An osu!taiko map, added to the first song so that a run always sees a wrong-mode beatmap.
const TAIKO_MAP: &str = include_str!("../../../tests/data/beatmaps/rosupp-1028484.osu");

/// Which of the data set's two configs to imitate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Layout {
    /// `compressed/data-NNNNNN.tar`, `{key}.opus`: 64 kbps mono Opus.
    Compressed,
    /// `original/data-NNNNNN.tar`, `{key}.mp3` holding MP3 or Ogg Vorbis (as the data set does).
    Original,
}

/// What to make.
#[derive(Debug, Clone, clap::Args)]
pub struct CorpusSpec {
    /// Number of songs.
    #[arg(long, default_value_t = 8)]
    pub songs: usize,
    /// Songs per tar shard.
    #[arg(long, default_value_t = 4)]
    pub songs_per_shard: usize,
    /// Longest song excerpt, in seconds.
    #[arg(long, default_value_t = 45.0)]
    pub seconds: f64,
    /// Seed of the renders.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Data set layout.
    #[arg(long, value_enum, default_value_t = Layout::Compressed)]
    pub layout: Layout,
    /// Also write bad inputs: a track of undecodable audio and an unparsable beatmap.
    #[arg(long)]
    pub bad_inputs: bool,
    /// Draw songs only from these fixture maps (indices 0–6, comma-separated; default: all),
    /// e.g. to hold some maps out of a training corpus.
    #[arg(long, value_delimiter = ',')]
    pub fixtures: Vec<usize>,
    /// Spread of the songs' tempos: each song is time-stretched by a seeded factor between
    /// 1 / (1 + spread) and 1 + spread (0: as mapped), its map with it, so a corpus from a few
    /// fixture maps covers many tempos.
    #[arg(long, default_value_t = 0.0)]
    pub tempo_spread: f64,
}

impl CorpusSpec {
    /// The `render_fixture_song` index of song `song`: fixture `fixtures[song mod n]`, excerpt
    /// variant `song div n`.
    fn render_index(&self, song: usize) -> usize {
        match self.fixtures.len() {
            0 => song,
            n => self.fixtures[song % n] % FIXTURE_MAPS.len() + FIXTURE_MAPS.len() * (song / n),
        }
    }

    /// The time-stretch of song `song`: log-uniform within the tempo spread, seeded.
    fn stretch(&self, song: usize) -> f64 {
        let reach = (1.0 + self.tempo_spread.max(0.0)).ln();
        let unit =
            (SplitMix64::new(self.seed ^ 0x7465_6d70_6f00 ^ song as u64).next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        (reach * (2.0 * unit - 1.0)).exp()
    }
}

/// What was written.
#[derive(Debug, Clone, Serialize)]
pub struct CorpusSummary {
    /// The shard files.
    pub shards: Vec<PathBuf>,
    /// Songs (tracks) written.
    pub songs: usize,
    /// Beatmaps written (all modes, bad ones included).
    pub beatmaps: usize,
    /// Seconds of audio.
    pub audio_seconds: f64,
}

/// Milliseconds of silence before the first object of an excerpt.
const LEAD_IN_MS: f64 = 1_500.0;
/// Milliseconds of audio after the last object.
const TAIL_MS: f64 = 2_000.0;
/// Sample rate of the rendered audio (the data set's originals are mostly 44.1 kHz).
pub const RENDER_RATE: u32 = 44_100;

/// The span `[start, start + len)` of `map`, moved to begin `LEAD_IN_MS` into the song, every
/// time after the lead-in multiplied by `stretch` (beat lengths and slider spans too: the same map
/// at another tempo), and mirrored horizontally when `mirror`.
fn excerpt(map: &Beatmap, start_ms: f64, len_ms: f64, mirror: bool, stretch: f64) -> Beatmap {
    let moved = |t: f64| LEAD_IN_MS + (t - start_ms) * stretch;
    let end_ms = start_ms + len_ms;
    let flip = |x: f32| if mirror { PLAYFIELD_WIDTH - x } else { x };
    let objects: Vec<HitObject> = map
        .objects
        .iter()
        .filter(|o| o.time_ms >= start_ms && o.end_time_ms() < end_ms)
        .map(|o| {
            let mut o = o.clone();
            o.time_ms = moved(o.time_ms);
            o.pos.x = flip(o.pos.x);
            match &mut o.kind {
                ObjectKind::Slider(slider) => {
                    slider.span_ms *= stretch;
                    for p in &mut slider.path {
                        p.pos.x = flip(p.pos.x);
                    }
                }
                ObjectKind::Spinner { duration_ms } => *duration_ms *= stretch,
                ObjectKind::Circle => {}
            }
            o
        })
        .collect();
    // Keep the timing lines in force at `start` (moved with everything else) and those after it.
    let red = map.timing.red_lines();
    let first_red = red.iter().rposition(|l| l.time_ms <= start_ms).unwrap_or(0);
    let red: Vec<RedLine> = red[first_red..]
        .iter()
        .map(|l| RedLine { time_ms: moved(l.time_ms), beat_len_ms: l.beat_len_ms * stretch, ..*l })
        .collect();
    let green = map.timing.green_lines();
    let first_green = green.iter().rposition(|l| l.time_ms <= start_ms).unwrap_or(0);
    let green: Vec<GreenLine> =
        green.get(first_green..).unwrap_or(&[]).iter().map(|l| GreenLine { time_ms: moved(l.time_ms), ..*l }).collect();
    Beatmap { timing: TimingModel::new(red, green), objects, ..map.clone() }
}

/// The audio events of `map`: a hit per circle, head and tail of each slider, spinner starts.
fn events(map: &Beatmap) -> Vec<AudioEvent> {
    let mut events = Vec::new();
    for o in &map.objects {
        match &o.kind {
            ObjectKind::Circle => events.push(AudioEvent { time_ms: o.time_ms, kind: EventKind::Hit }),
            ObjectKind::Slider(_) => {
                events.push(AudioEvent { time_ms: o.time_ms, kind: EventKind::SliderStart });
                events.push(AudioEvent { time_ms: o.end_time_ms(), kind: EventKind::SliderEnd });
            }
            ObjectKind::Spinner { .. } => events.push(AudioEvent { time_ms: o.time_ms, kind: EventKind::Spinner }),
        }
    }
    events
}

/// One song of the corpus.
struct Song {
    audio: Vec<u8>,
    extension: &'static str,
    seconds: f64,
    beatmaps: Vec<SampleBeatmap>,
}

/// A fixture excerpt rendered as audio, with the beat grid its background was rendered on: the
/// ground truth of `mapflow bench tempo`.
#[derive(Debug, Clone)]
pub struct RenderedSong {
    /// `{fixture}-v{variant}`.
    pub name: String,
    /// The excerpt, stretched like the audio.
    pub map: Beatmap,
    /// Mono PCM at [`RENDER_RATE`].
    pub pcm: Vec<f32>,
    /// The true beat grid: its offset is a downbeat, the first beat of a 4-beat bar.
    pub grid: BeatGrid,
}

/// Song `index` of a corpus of `seconds`-long excerpts (fixture `index mod k`, variant
/// `index div k`), with every time after the lead-in multiplied by `stretch` (1 = as mapped;
/// 1.25 = 20 % slower): the map and the audio alike.
pub fn render_fixture_song(index: usize, seconds: f64, seed: u64, stretch: f64) -> anyhow::Result<RenderedSong> {
    let (name, text) = FIXTURE_MAPS[index % FIXTURE_MAPS.len()];
    let variant = index / FIXTURE_MAPS.len();
    let base = parse_beatmap(name, text).with_context(|| format!("bundled fixture {name}"))?;
    let first = base.objects.first().map_or(0.0, |o| o.time_ms);
    let last = base.objects.iter().map(HitObject::end_time_ms).fold(first, f64::max);
    let len_ms = ((seconds * 1000.0 - LEAD_IN_MS - TAIL_MS) / stretch).max(1_000.0);
    // Variant v starts 20 s further into the song, wrapping around its mapped span.
    let span = (last - first - len_ms).max(1.0);
    let start = first + (variant as f64 * 20_000.0) % span;
    let map = excerpt(&base, start, len_ms, variant % 2 == 1, stretch);
    let song_ms = map.objects.iter().map(HitObject::end_time_ms).fold(LEAD_IN_MS, f64::max) + TAIL_MS;
    let red = map.timing.red_lines().first().copied();
    let grid = red.map_or(BeatGrid { offset_ms: 0.0, beat_length_ms: 0.0 }, |r| BeatGrid {
        offset_ms: r.time_ms,
        beat_length_ms: r.beat_len_ms,
    });
    let seed = SplitMix64::new(seed ^ (index as u64).wrapping_mul(0x9e37_79b9)).next_u64();
    let pcm = render_track(&RenderSpec {
        sample_rate: RENDER_RATE,
        length_ms: song_ms,
        beat_grid: grid,
        events: events(&map),
        seed,
    });
    Ok(RenderedSong { name: format!("{name}-v{variant}"), map, pcm, grid })
}

/// The ranked statuses of the songs' beatmaps in turn (API v1 `approved`): ranked, approved,
/// loved, graveyard.
const SYNTH_STATUSES: [&str; 4] = ["1", "2", "4", "-2"];

/// The osu! API v1 fields of song `index`'s beatmap `map` (the data set's shape, every value a
/// string): ranked, approved, loved, graveyard for `index` mod 4 = 0, 1, 2, 3, submitted in
/// 2007 + 3·index mod 19 (so 2007–2025), ranked, approved or loved that year (graveyard maps
/// have no `approved_date`), by creator 1, with the map's difficulty name, artist and title.
pub fn api_metadata(index: usize, map: &Beatmap) -> serde_json::Map<String, serde_json::Value> {
    use serde_json::Value;
    let status = SYNTH_STATUSES[index % SYNTH_STATUSES.len()];
    let year = 2007 + (3 * index) % 19;
    let approved_date = if status == "-2" { Value::Null } else { format!("{year}-09-01 12:00:00").into() };
    [
        ("approved", status.into()),
        ("submit_date", format!("{year}-03-14 12:00:00").into()),
        ("approved_date", approved_date),
        ("last_update", format!("{year}-08-01 12:00:00").into()),
        ("creator", "mapflow-synth".into()),
        ("creator_id", "1".into()),
        ("version", map.metadata.version.clone().into()),
        ("artist", map.metadata.artist.clone().into()),
        ("title", map.metadata.title.clone().into()),
    ]
    .into_iter()
    .map(|(name, value): (&str, Value)| (name.to_owned(), value))
    .collect()
}

fn make_song(index: usize, spec: &CorpusSpec) -> anyhow::Result<Song> {
    let render_index = spec.render_index(index);
    let (name, _) = FIXTURE_MAPS[render_index % FIXTURE_MAPS.len()];
    let RenderedSong { mut map, pcm, .. } =
        render_fixture_song(render_index, spec.seconds, spec.seed, spec.stretch(index))?;
    let variant = render_index / FIXTURE_MAPS.len();
    if variant > 0 && !map.metadata.title.is_empty() {
        map.metadata.title = format!("{} (variant {variant})", map.metadata.title);
    }
    let (format, extension) = match (spec.layout, index % 2) {
        (Layout::Compressed, _) => (AudioFormat::Opus, "opus"),
        (Layout::Original, 0) => (AudioFormat::Mp3, "mp3"),
        (Layout::Original, _) => (AudioFormat::Vorbis, "mp3"),
    };
    let audio = encode(format, &format!("song {index}"), &pcm, RENDER_RATE)?;
    let content = to_osu_string(&map, &format!("mapflow-synth seed={} song={index}", spec.seed))?;
    let stars = star_rating(name, &content)?;
    let set_id = 900_000 + index as i64;
    let mut beatmaps = vec![SampleBeatmap {
        beatmap_id: set_id * 10,
        beatmapset_id: set_id,
        mode: 0,
        difficultyrating: stars,
        content,
        api: api_metadata(index, &map),
    }];
    if index == 0 {
        beatmaps.push(SampleBeatmap {
            beatmap_id: set_id * 10 + 1,
            beatmapset_id: set_id,
            mode: 1,
            difficultyrating: 0.0,
            content: TAIKO_MAP.to_owned(),
            api: api_metadata(index, &map),
        });
    }
    Ok(Song { audio, extension, seconds: pcm.len() as f64 / f64::from(RENDER_RATE), beatmaps })
}

/// Writes the corpus under `out` (`out/compressed/` or `out/original/`).
pub fn write_corpus(out: &Path, spec: &CorpusSpec) -> anyhow::Result<CorpusSummary> {
    let folder = out.join(match spec.layout {
        Layout::Compressed => "compressed",
        Layout::Original => "original",
    });
    std::fs::create_dir_all(&folder).with_context(|| format!("creating {}", folder.display()))?;
    let mut songs: Vec<Song> = (0..spec.songs).map(|i| make_song(i, spec)).collect::<anyhow::Result<_>>()?;
    if spec.bad_inputs {
        let mut rng = SplitMix64::new(spec.seed);
        let noise: Vec<u8> = (0..20_000).map(|_| rng.next_u64() as u8).collect();
        let garbage = SampleBeatmap {
            beatmap_id: 1,
            beatmapset_id: 1,
            mode: 0,
            difficultyrating: 0.0,
            content: "not an .osu file".into(),
            api: Default::default(),
        };
        songs.push(Song { audio: noise, extension: "opus", seconds: 1.0, beatmaps: vec![garbage.clone()] });
        if let Some(first) = songs.first_mut() {
            first.beatmaps.push(SampleBeatmap { beatmap_id: 2, ..garbage });
        }
    }
    let per_shard = spec.songs_per_shard.max(1);
    let mut summary = CorpusSummary { shards: Vec::new(), songs: songs.len(), beatmaps: 0, audio_seconds: 0.0 };
    for (shard_index, group) in songs.chunks(per_shard).enumerate() {
        let keys: Vec<String> = (0..group.len()).map(|i| format!("{:06}", shard_index * per_shard + i)).collect();
        let samples: Vec<ShardSample<'_>> = group
            .iter()
            .zip(&keys)
            .map(|(song, key)| ShardSample {
                key,
                audio_extension: song.extension,
                audio: &song.audio,
                audio_length: song.seconds,
                beatmaps: &song.beatmaps,
            })
            .collect();
        let path = folder.join(format!("data-{shard_index:06}.tar"));
        write_shard(&path, &samples).with_context(|| format!("writing {}", path.display()))?;
        summary.shards.push(path);
        summary.beatmaps += group.iter().map(|s| s.beatmaps.len()).sum::<usize>();
        summary.audio_seconds += group.iter().map(|s| s.seconds).sum::<f64>();
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::find_onsets;

    #[test]
    fn a_stretched_song_keeps_its_map_on_its_audio() {
        let plain = render_fixture_song(1, 20.0, 1, 1.0).unwrap();
        let slow = render_fixture_song(1, 20.0, 1, 1.25).unwrap();
        let beat = |song: &RenderedSong| song.map.timing.red_lines()[0].beat_len_ms;
        assert!((beat(&slow) / beat(&plain) - 1.25).abs() < 1e-9);
        assert_eq!(slow.grid.beat_length_ms, beat(&slow));
        let seconds = slow.pcm.len() as f64 / f64::from(RENDER_RATE);
        assert!((15.0..=21.0).contains(&seconds), "{seconds} s");
        // Every circle of the stretched map starts a hit in the stretched audio, to the sample.
        let onsets = find_onsets(&slow.pcm, RENDER_RATE, 0.2, 30.0);
        let circles: Vec<f64> =
            slow.map.objects.iter().filter(|o| matches!(o.kind, ObjectKind::Circle)).map(|o| o.time_ms).collect();
        assert!(circles.len() > 10);
        for ms in circles {
            let at = (ms * f64::from(RENDER_RATE) / 1000.0).round() as usize;
            assert!(onsets.iter().any(|&s| s.abs_diff(at) <= 1), "no hit at {ms} ms");
        }
    }

    #[test]
    fn tempo_spread_stretches_songs_within_its_range() {
        let spec = CorpusSpec {
            songs: 50,
            songs_per_shard: 8,
            seconds: 10.0,
            seed: 1,
            layout: Layout::Compressed,
            bad_inputs: false,
            fixtures: Vec::new(),
            tempo_spread: 0.25,
        };
        let stretches: Vec<f64> = (0..50).map(|i| spec.stretch(i)).collect();
        assert!(stretches.iter().all(|s| (0.8..=1.25).contains(s)), "{stretches:?}");
        assert!(stretches.iter().any(|&s| s < 0.9) && stretches.iter().any(|&s| s > 1.1), "{stretches:?}");
        assert_eq!(CorpusSpec { tempo_spread: 0.0, ..spec.clone() }.stretch(3), 1.0);
    }
}
