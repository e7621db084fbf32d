//! `mapflow generate`: an audio file in, a beatmap out.
//!
//! ```text
//! audio ─► operators::featurize (decode, resample, mel + onset, stored as the shards store it)
//!       ─► timing: given BPM/offset, or estimated from the onset envelope
//!       ─► method model: windows tiling the song ─► model (batches of up to 64 windows, KV
//!          cache, seeded) ─► detokenize on the song's grid ─► predict regions merged ─► cleaned
//!       ─► method onsets: operators::onset_map (onset peaks on the grid, thinned to the stars)
//!       ─► .osu v14 (rosu-map) ─► stars achieved (rosu-pp) ─► .osu / .osz (with the audio)
//! ```

mod cleanup;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use model::batch::{WindowExample, frame_at, window_features};
use model::checkpoint::{LoadedModel, load_for_inference};
use model::generate::{SamplingOptions, generate};
use operators::audio::{DecodeOptions, read_tags};
use operators::beatmap::write::{to_osu_string, write_osz};
use operators::beatmap::{Beatmap, Difficulty, HitObject, Metadata, ObjectCounts, TimingModel, star_rating};
use operators::features::{FeatureConfig, FeatureExtractor, FeatureMatrix};
use operators::featurize::{AudioInput, featurize};
use operators::onset_map::{OnsetMapInput, OnsetMapOptions, generate_onset_map};
use operators::stars_fit::fit_stars;
use operators::tempo::{TempoConfig, TempoEstimate, TempoInput, TempoSection, estimate_tempo};
use operators::tokenizer::merge_predict_regions;
use serde::Serialize;
use tch::Device;

/// Shortest song worth mapping, seconds.
pub const MIN_SECONDS: f64 = 2.0;

/// The closed loop stops once the model's map is this close to the requested stars.
const STARS_TOLERANCE: f64 = 0.1;

/// Onset strength below which a song counts as silent (the envelope's maximum).
const SILENCE_ONSET: f32 = 1e-3;

/// What places the objects.
#[derive(Debug, Clone)]
pub enum Method {
    /// The trained model of a checkpoint.
    Model {
        /// A run directory (its `best`) or a checkpoint file.
        checkpoint: PathBuf,
        /// Sampling.
        sampling: SamplingOptions,
        /// Where the model runs.
        device: Device,
    },
    /// The non-learned generator ([`operators::onset_map`]): onset peaks on the beat grid,
    /// thinned to the requested stars; no checkpoint.
    Onsets {
        /// Seed of its flow's choices.
        seed: u64,
    },
}

impl Method {
    fn seed(&self) -> u64 {
        match self {
            Method::Model { sampling, .. } => sampling.seed,
            Method::Onsets { seed } => *seed,
        }
    }
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    /// The song.
    pub audio: PathBuf,
    /// Requested star ratings: one difficulty each (more than one makes a spread).
    pub stars: Vec<f64>,
    /// BPM and offset (ms of a downbeat), if known; else estimated.
    pub timing: Option<(f64, f64)>,
    /// What places the objects.
    pub method: Method,
}

/// Why generation gave no map where the inputs were fine: the one outcome a caller may treat
/// as soft (an undertrained model); every other failure is an error of the inputs or the run.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    /// The model's tokens decoded to no object.
    #[error("{audio}: the model placed no objects (try another --seed or --stars)")]
    NoObjects {
        /// The song.
        audio: String,
    },
}

/// What was generated, as printed (and with `--json`).
#[derive(Debug, Clone, Serialize)]
pub struct GenerateReport {
    /// `model` or `onsets`.
    pub method: &'static str,
    /// BPM used.
    pub bpm: f64,
    /// Offset of the first red line, ms.
    pub offset_ms: f64,
    /// Every red line written (one unless the tempo changes or the beat shifts).
    pub red_lines: Vec<TempoSection>,
    /// `given` or `estimated`.
    pub timing_source: &'static str,
    /// The estimator's confidence (0–1), when estimated.
    pub timing_confidence: Option<f64>,
    /// Whether the estimate is doubtful (variable tempo, weak beat).
    pub timing_low_confidence: bool,
    /// Objects written.
    pub objects: usize,
    /// Object counts by kind.
    pub counts: ObjectCounts,
    /// Requested star rating.
    pub stars_requested: f64,
    /// Star rating of the written map (rosu-pp).
    pub stars_achieved: f64,
    /// Star rating of the placed objects before the closed loop steered them (the model's own;
    /// for `onsets`, its search's first map).
    pub stars_unsteered: f64,
    /// Maps rated by the closed loop towards the requested stars.
    pub stars_tries: usize,
    /// Wall seconds of the whole generation.
    pub seconds: f64,
    /// Seconds of audio.
    pub audio_seconds: f64,
    /// Windows decoded by the model (0 for `onsets`).
    pub windows: usize,
    /// Sampling (or flow) seed.
    pub seed: u64,
}

/// A generated map.
#[derive(Debug, Clone)]
pub struct Generated {
    /// The map.
    pub map: Beatmap,
    /// Its `.osu` text.
    pub osu_text: String,
    /// What made it, as the `.osu` records it.
    pub provenance: String,
    /// The report.
    pub report: GenerateReport,
}

/// Loads a checkpoint (with its tokenizer) and checks it fits this build's feature extractor.
pub fn load_model(checkpoint: &Path, device: Device) -> anyhow::Result<LoadedModel> {
    let loaded = load_for_inference(checkpoint, device)?;
    let features = FeatureConfig::default().hash();
    if loaded.record.feature_config != features {
        bail!(
            "{}: trained on features {}, but generation extracts the default features {features}",
            checkpoint.display(),
            loaded.record.feature_config
        );
    }
    Ok(loaded)
}

/// A decoded song: its features as extracted and as the model saw them in training (mel dB,
/// f16-rounded, row-major) and, when asked for, its estimated beat grid.
pub struct Song {
    /// The file.
    pub audio: PathBuf,
    /// `[129, frames]`: mel power, then onset strength.
    pub features: FeatureMatrix,
    /// `[129, frames]` as stored in shards.
    pub values: Vec<f32>,
    /// Rows.
    pub channels: usize,
    /// Columns.
    pub frames: usize,
    /// Seconds of audio.
    pub seconds: f64,
    /// The tempo estimate (when requested).
    pub tempo: Option<TempoEstimate>,
}

/// Decodes and featurizes `audio` (and estimates its tempo if `estimate`); errors for
/// unreadable, too short or silent files.
pub fn read_song(audio: &Path, estimate: bool) -> anyhow::Result<Song> {
    let config = FeatureConfig::default();
    let extractor = FeatureExtractor::new(config.clone()).map_err(anyhow::Error::msg)?;
    let song = featurize(AudioInput::File(audio), &extractor, &DecodeOptions::default())
        .with_context(|| format!("{}: cannot read the audio", audio.display()))?;
    let seconds = song.audio.seconds();
    if seconds < MIN_SECONDS {
        bail!("{}: {seconds:.2} s of audio is too short to map (at least {MIN_SECONDS} s)", audio.display());
    }
    let features = &song.features;
    if features.onset().iter().copied().fold(0.0, f32::max) < SILENCE_ONSET {
        bail!("{}: the audio is silent (no onsets)", audio.display());
    }
    let name = audio.display().to_string();
    let tempo = estimate
        .then(|| {
            let input =
                TempoInput { name: &name, features, feature_config: &config, samples: Some(&song.audio.samples) };
            estimate_tempo(&input, &TempoConfig::default())
        })
        .transpose()?;
    Ok(Song {
        audio: audio.to_owned(),
        values: song.stored.values(),
        channels: song.stored.channels,
        frames: song.stored.frames,
        features: song.features,
        seconds,
        tempo,
    })
}

/// What places the objects, ready to run: the model loaded once for many songs.
pub enum Mapper<'a> {
    /// A loaded model.
    Model {
        /// The network and its tokenizer.
        loaded: &'a LoadedModel,
        /// Sampling.
        sampling: &'a SamplingOptions,
        /// Where it runs.
        device: Device,
    },
    /// The onset generator.
    Onsets {
        /// Seed of its flow.
        seed: u64,
    },
}

impl Mapper<'_> {
    /// `model` or `onsets`, as reports name it.
    pub fn name(&self) -> &'static str {
        match self {
            Mapper::Model { .. } => "model",
            Mapper::Onsets { .. } => "onsets",
        }
    }
}

/// Generates one map of `options.audio` per requested star rating, in the order asked: the song
/// decoded, featurized and timed once, the model loaded once, every difficulty on the same
/// timing. A spread's difficulties are named as osu! names them (Easy … Expert+); each report's
/// `seconds` counts the whole run up to that map.
pub fn generate_maps(options: &GenerateOptions) -> anyhow::Result<Vec<Generated>> {
    let started = Instant::now();
    if options.stars.is_empty() {
        bail!("{}: no star rating requested", options.audio.display());
    }
    let loaded = match &options.method {
        Method::Model { checkpoint, device, .. } => Some(load_model(checkpoint, *device)?),
        Method::Onsets { .. } => None,
    };
    let mapper = match (&options.method, &loaded) {
        (Method::Model { sampling, device, .. }, Some(loaded)) => Mapper::Model { loaded, sampling, device: *device },
        _ => Mapper::Onsets { seed: options.method.seed() },
    };
    let song = read_song(&options.audio, options.timing.is_none())?;
    let mut maps = Vec::with_capacity(options.stars.len());
    for &stars in &options.stars {
        let mut generated = map_song(&song, stars, options.timing, &mapper)?;
        generated.report.seconds = started.elapsed().as_secs_f64();
        maps.push(generated);
    }
    if maps.len() > 1 {
        let names = spread_names(&options.stars);
        for (generated, name) in maps.iter_mut().zip(names) {
            generated.map.metadata.version = name;
            generated.osu_text = to_osu_string(&generated.map, &generated.provenance)?;
        }
    }
    Ok(maps)
}

/// osu!'s names for difficulties of these star ratings (Easy < 2, Normal < 2.7, Hard < 4,
/// Insane < 5.3, Expert < 6.5, Expert+), made unique by the rating where two share one.
pub fn spread_names(stars: &[f64]) -> Vec<String> {
    let base = |s: f64| match s {
        s if s < 2.0 => "Easy",
        s if s < 2.7 => "Normal",
        s if s < 4.0 => "Hard",
        s if s < 5.3 => "Insane",
        s if s < 6.5 => "Expert",
        _ => "Expert+",
    };
    stars
        .iter()
        .map(|&s| {
            let name = base(s);
            if stars.iter().filter(|&&t| base(t) == name).count() > 1 {
                format!("{name} {s:.1}")
            } else {
                name.to_owned()
            }
        })
        .collect()
}

/// Maps a read song at `stars`, on the `timing` given (BPM, offset ms) or else the song's
/// estimate; the report's `seconds` counts this step only.
pub fn map_song(song: &Song, stars: f64, timing: Option<(f64, f64)>, mapper: &Mapper<'_>) -> anyhow::Result<Generated> {
    let started = Instant::now();
    let audio = &song.audio;
    let estimate = if timing.is_some() { None } else { song.tempo.as_ref() };
    let (timing, bpm, offset_ms) = match (timing, estimate) {
        (Some((bpm, offset_ms)), _) => (TimingModel::constant(offset_ms, bpm), bpm, offset_ms),
        (None, Some(e)) => (e.timing(), e.bpm, e.offset_ms),
        (None, None) => bail!("{}: no timing given and none estimated", audio.display()),
    };
    for red in timing.red_lines() {
        let bpm = 60_000.0 / red.beat_len_ms;
        if !(bpm.is_finite() && (20.0..=1000.0).contains(&bpm)) {
            bail!("{}: BPM {bpm} is out of range (20–1000)", audio.display());
        }
    }
    let (objects, difficulty, windows, provenance, seed, steering) = match mapper {
        Mapper::Model { loaded, sampling, device } => {
            let (objects, windows) = model_objects(song, stars, &timing, loaded, sampling, *device);
            if objects.is_empty() {
                return Err(GenerateError::NoObjects { audio: audio.display().to_string() }.into());
            }
            // The closed loop: the model's rhythm kept, its spacing and density steered to the
            // requested stars with rosu-pp rating each try.
            let placed = Beatmap {
                name: audio.display().to_string(),
                metadata: Metadata::default(),
                difficulty: Difficulty::default(),
                timing: timing.clone(),
                objects,
            };
            let (steered, fit) = fit_stars(&placed, stars, STARS_TOLERANCE)?;
            let provenance = format!(
                "method=model model={} tokenizer={} seed={} temperature={} top_p={} stars={stars:.2} bpm={bpm:.2} \
                 spacing={:.3} density={:.3}",
                loaded.record.model_hash,
                loaded.record.tokenizer_hash,
                sampling.seed,
                sampling.temperature,
                sampling.top_p,
                fit.spacing,
                fit.density,
            );
            (steered.objects, steered.difficulty, windows, provenance, sampling.seed, (fit.stars_before, fit.tries))
        }
        Mapper::Onsets { seed } => {
            let name = audio.display().to_string();
            let input = OnsetMapInput {
                name: &name,
                features: &song.features,
                feature_config: &FeatureConfig::default(),
                timing: &timing,
            };
            let made = generate_onset_map(&input, &OnsetMapOptions { stars, seed: *seed })?;
            let provenance = format!("method=onsets seed={seed} stars={stars:.2} bpm={bpm:.2}");
            let steering = (made.report.first_stars, made.report.tries);
            (made.beatmap.objects, made.beatmap.difficulty, 0, provenance, *seed, steering)
        }
    };
    let stem = audio.file_stem().and_then(|s| s.to_str()).unwrap_or("song").to_owned();
    let tags = read_tags(audio);
    // The difficulty name: `mapflow 4.0*` for the model, `onsets 4.0*` for the baseline.
    let method = match mapper {
        Mapper::Model { .. } => "mapflow",
        Mapper::Onsets { .. } => "onsets",
    };
    let map = Beatmap {
        name: stem.clone(),
        metadata: Metadata {
            title: tags.title.unwrap_or(stem),
            artist: tags.artist.unwrap_or_else(|| "Unknown".into()),
            creator: "mapflow".into(),
            version: format!("{method} {stars:.1}*"),
            tags: format!("mapflow generated {method}"),
            audio_file: audio_file_name(audio),
        },
        difficulty,
        timing,
        objects,
    };
    let osu_text = to_osu_string(&map, &provenance)?;
    let stars_achieved = star_rating(&map.name, &osu_text)?;
    let counts = ObjectCounts::of(&map.objects);
    let report = GenerateReport {
        method: mapper.name(),
        bpm,
        offset_ms,
        red_lines: map
            .timing
            .red_lines()
            .iter()
            .map(|r| TempoSection { time_ms: r.time_ms, bpm: 60_000.0 / r.beat_len_ms })
            .collect(),
        timing_source: if estimate.is_some() { "estimated" } else { "given" },
        timing_confidence: estimate.as_ref().map(|e| e.confidence),
        timing_low_confidence: estimate.as_ref().is_some_and(|e| e.low_confidence),
        objects: map.objects.len(),
        counts,
        stars_requested: stars,
        stars_achieved,
        stars_unsteered: steering.0,
        stars_tries: steering.1,
        seconds: started.elapsed().as_secs_f64(),
        audio_seconds: song.seconds,
        windows,
        seed,
    };
    Ok(Generated { map, osu_text, provenance, report })
}

/// The model's objects for `song` on `timing`, cleaned, and the number of windows decoded.
fn model_objects(
    song: &Song,
    stars: f64,
    timing: &TimingModel,
    loaded: &LoadedModel,
    sampling: &SamplingOptions,
    device: Device,
) -> (Vec<HitObject>, usize) {
    let tokenizer = &loaded.tokenizer;
    let song_ms = song.seconds * 1000.0;
    let bpm = timing.main_bpm(0.0, song_ms);
    let windows = tokenizer.config().windows.windows(song_ms, None);
    let frames = frame_at(tokenizer.config().windows.window_ms) as usize;
    let examples: Vec<WindowExample> = windows
        .iter()
        .map(|w| {
            let grid = tokenizer.grid(timing, w);
            let start = frame_at(w.start_ms);
            let (grid_start, beats_per_frame) = WindowExample::grid(w.start_ms, grid.anchor_ms, grid.beat_ms);
            WindowExample {
                features: window_features(song.channels, song.frames, start, frames, |c, j| {
                    song.values[c * song.frames + j]
                }),
                grid_start,
                beats_per_frame,
                stars: stars as f32,
                bpm: bpm as f32,
                tokens: Vec::new(),
                residuals: Vec::new(),
                onsets: Vec::new(),
            }
        })
        .collect();
    let decoded = generate(&loaded.net, tokenizer, &examples, 0, sampling, device);
    let objects = merge_predict_regions(windows.iter().zip(&decoded).map(|(w, d)| {
        (*w, tokenizer.detokenize(&d.tokens, &d.residuals, timing, Difficulty::default().slider_multiplier, w).objects)
    }));
    (cleanup::clean(objects, timing, song_ms), windows.len())
}

/// The audio's file name as the map refers to it.
fn audio_file_name(audio: &Path) -> String {
    audio.file_name().and_then(|n| n.to_str()).unwrap_or("audio.mp3").to_owned()
}

/// `name` with every character that Windows forbids in a file name (`<>:"/\|?*` and controls)
/// replaced by `_`, so the `.osz` unpacks on every system (the difficulty name `mapflow 4.0*`
/// keeps its star inside the map).
fn portable_file_name(name: &str) -> String {
    name.chars().map(|c| if c.is_control() || "<>:\"/\\|?*".contains(c) { '_' } else { c }).collect()
}

/// Writes `maps` to `out`, atomically: `.osz` (every map + the audio) or `.osu` (one map).
pub fn write_output(maps: &[Generated], audio: &Path, out: &Path) -> anyhow::Result<()> {
    let is_osz = out.extension().is_some_and(|e| e.eq_ignore_ascii_case("osz"));
    let Some(first) = maps.first() else { bail!("{}: no map to write", out.display()) };
    if !is_osz && maps.len() > 1 {
        bail!("{}: {} difficulties need an .osz (one .osu holds one)", out.display(), maps.len());
    }
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    if !is_osz {
        return operators::atomic::write(out, first.osu_text.as_bytes())
            .with_context(|| format!("writing {}", out.display()));
    }
    let bytes = std::fs::read(audio).with_context(|| format!("reading {}", audio.display()))?;
    let files: Vec<(String, &str)> = maps
        .iter()
        .map(|g| {
            let m = &g.map.metadata;
            (
                portable_file_name(&format!("{} - {} (mapflow) [{}].osu", m.artist, m.title, m.version)),
                g.osu_text.as_str(),
            )
        })
        .collect();
    let tmp = operators::atomic::temp_path(out);
    let written =
        write_osz(&tmp, &files, Some((&first.map.metadata.audio_file, &bytes))).map_err(std::io::Error::other);
    operators::atomic::commit(written, &tmp, out).with_context(|| format!("writing {}", out.display()))
}

#[cfg(test)]
mod tests {
    use super::{portable_file_name, spread_names};

    #[test]
    fn a_spread_is_named_as_osu_names_difficulties() {
        assert_eq!(spread_names(&[2.0, 3.5, 5.0, 6.5]), ["Normal", "Hard", "Insane", "Expert+"]);
        assert_eq!(spread_names(&[1.2, 4.1, 4.9, 7.0]), ["Easy", "Insane 4.1", "Insane 4.9", "Expert+"]);
    }

    #[test]
    fn file_names_in_an_osz_unpack_on_windows() {
        assert_eq!(
            portable_file_name("AC/DC - What? \"Live\" (mapflow) [mapflow 4.0*].osu"),
            "AC_DC - What_ _Live_ (mapflow) [mapflow 4.0_].osu"
        );
        assert_eq!(portable_file_name("a:b|c<d>e\\f\tg.osu"), "a_b_c_d_e_f_g.osu");
        assert_eq!(portable_file_name("Ünïcode – fine [Insane].osu"), "Ünïcode – fine [Insane].osu");
    }
}
