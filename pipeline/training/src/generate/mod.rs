//! `mapflow generate`: an audio file in, a beatmap out.
//!
//! ```text
//! audio ─► operators::featurize (decode, resample, mel + onset, stored as the shards store it)
//!       ─► timing: given BPM/offset, or estimated from the onset envelope
//!       ─► windows tiling the song ─► model (batches of up to 64 windows, KV cache, seeded)
//!       ─► detokenize on the song's grid ─► predict regions merged ─► snapped, cleaned
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
use operators::beatmap::{Beatmap, Difficulty, Metadata, ObjectCounts, TimingModel, star_rating};
use operators::features::{FeatureConfig, FeatureExtractor};
use operators::featurize::{AudioInput, featurize};
use operators::tempo::{TempoConfig, TempoEstimate, TempoInput, estimate_tempo};
use operators::tokenizer::merge_predict_regions;
use serde::Serialize;
use tch::Device;

/// Shortest song worth mapping, seconds.
pub const MIN_SECONDS: f64 = 2.0;

/// Onset strength below which a song counts as silent (the envelope's maximum).
const SILENCE_ONSET: f32 = 1e-3;

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    /// The song.
    pub audio: PathBuf,
    /// A run directory (its `best`) or a checkpoint file.
    pub checkpoint: PathBuf,
    /// Requested star rating.
    pub stars: f64,
    /// BPM and offset (ms of a downbeat), if known; else estimated.
    pub timing: Option<(f64, f64)>,
    /// Sampling.
    pub sampling: SamplingOptions,
    /// Where the model runs.
    pub device: Device,
}

/// What was generated, as printed (and with `--json`).
#[derive(Debug, Clone, Serialize)]
pub struct GenerateReport {
    /// BPM used.
    pub bpm: f64,
    /// Offset of the first red line, ms.
    pub offset_ms: f64,
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
    /// Wall seconds of the whole generation.
    pub seconds: f64,
    /// Seconds of audio.
    pub audio_seconds: f64,
    /// Windows decoded.
    pub windows: usize,
    /// Sampling seed.
    pub seed: u64,
}

/// A generated map.
#[derive(Debug, Clone)]
pub struct Generated {
    /// The map.
    pub map: Beatmap,
    /// Its `.osu` text.
    pub osu_text: String,
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

/// A decoded song: the features as the model saw them in training (mel dB, f16-rounded,
/// row-major) and, when asked for, its estimated beat grid.
pub struct Song {
    /// `[129, frames]`.
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
        values: song.stored.values(),
        channels: song.stored.channels,
        frames: song.stored.frames,
        seconds,
        tempo,
    })
}

/// Generates a map for `options.audio`.
pub fn generate_map(options: &GenerateOptions) -> anyhow::Result<Generated> {
    let started = Instant::now();
    let loaded = load_model(&options.checkpoint, options.device)?;
    let tokenizer = &loaded.tokenizer;
    let song = read_song(&options.audio, options.timing.is_none())?;
    let estimate = song.tempo;
    let (bpm, offset_ms) = match (options.timing, estimate) {
        (Some(given), _) => given,
        (None, Some(e)) => (e.bpm, e.offset_ms),
        (None, None) => unreachable!("read_song estimates when no timing is given"),
    };
    if !(bpm.is_finite() && (20.0..=1000.0).contains(&bpm)) {
        bail!("{}: BPM {bpm} is out of range (20–1000)", options.audio.display());
    }
    let timing = TimingModel::constant(offset_ms, bpm);
    let song_ms = song.seconds * 1000.0;
    let windows = tokenizer.config().windows.windows(song_ms, None);
    let frames = frame_at(tokenizer.config().windows.window_ms) as usize;
    let examples: Vec<WindowExample> = windows
        .iter()
        .map(|w| {
            let grid = tokenizer.grid(&timing, w);
            let start = frame_at(w.start_ms);
            let (grid_start, beats_per_frame) = WindowExample::grid(w.start_ms, grid.anchor_ms, grid.beat_ms);
            WindowExample {
                features: window_features(song.channels, song.frames, start, frames, |c, j| {
                    song.values[c * song.frames + j]
                }),
                grid_start,
                beats_per_frame,
                stars: options.stars as f32,
                bpm: bpm as f32,
                tokens: Vec::new(),
                residuals: Vec::new(),
                onsets: Vec::new(),
            }
        })
        .collect();
    let decoded = generate(&loaded.net, tokenizer, &examples, 0, &options.sampling, options.device);
    let objects = merge_predict_regions(windows.iter().zip(&decoded).map(|(w, d)| {
        (*w, tokenizer.detokenize(&d.tokens, &d.residuals, &timing, Difficulty::default().slider_multiplier, w).objects)
    }));
    let objects = cleanup::clean(objects, &timing, song_ms);
    if objects.is_empty() {
        bail!("{}: the model placed no objects (try another --seed or --stars)", options.audio.display());
    }
    let stem = options.audio.file_stem().and_then(|s| s.to_str()).unwrap_or("song").to_owned();
    let tags = read_tags(&options.audio);
    let map = Beatmap {
        name: stem.clone(),
        metadata: Metadata {
            title: tags.title.unwrap_or(stem),
            artist: tags.artist.unwrap_or_else(|| "Unknown".into()),
            creator: "mapflow".into(),
            version: format!("mapflow {:.1}*", options.stars),
            tags: "mapflow generated".into(),
            audio_file: audio_file_name(&options.audio),
        },
        difficulty: Difficulty::default(),
        timing,
        objects,
    };
    let provenance = format!(
        "model={} tokenizer={} seed={} temperature={} top_p={} stars={:.2} bpm={:.2}",
        loaded.record.model_hash,
        loaded.record.tokenizer_hash,
        options.sampling.seed,
        options.sampling.temperature,
        options.sampling.top_p,
        options.stars,
        bpm
    );
    let osu_text = to_osu_string(&map, &provenance)?;
    let stars_achieved = star_rating(&map.name, &osu_text)?;
    let counts = ObjectCounts::of(&map.objects);
    let report = GenerateReport {
        bpm,
        offset_ms,
        timing_source: if estimate.is_some() { "estimated" } else { "given" },
        timing_confidence: estimate.as_ref().map(|e| e.confidence),
        timing_low_confidence: estimate.as_ref().is_some_and(|e| e.low_confidence),
        objects: map.objects.len(),
        counts,
        stars_requested: options.stars,
        stars_achieved,
        seconds: started.elapsed().as_secs_f64(),
        audio_seconds: song.seconds,
        windows: windows.len(),
        seed: options.sampling.seed,
    };
    Ok(Generated { map, osu_text, report })
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

/// Writes `generated` to `out`: `.osz` (map + audio) or `.osu`, atomically.
pub fn write_output(generated: &Generated, audio: &Path, out: &Path) -> anyhow::Result<()> {
    let is_osz = out.extension().is_some_and(|e| e.eq_ignore_ascii_case("osz"));
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    if !is_osz {
        return operators::atomic::write(out, generated.osu_text.as_bytes())
            .with_context(|| format!("writing {}", out.display()));
    }
    let bytes = std::fs::read(audio).with_context(|| format!("reading {}", audio.display()))?;
    let m = &generated.map.metadata;
    let osu_name = portable_file_name(&format!("{} - {} (mapflow) [{}].osu", m.artist, m.title, m.version));
    let tmp = operators::atomic::temp_path(out);
    let written =
        write_osz(&tmp, &osu_name, &generated.osu_text, Some((&m.audio_file, &bytes))).map_err(std::io::Error::other);
    operators::atomic::commit(written, &tmp, out).with_context(|| format!("writing {}", out.display()))
}

#[cfg(test)]
mod tests {
    use super::portable_file_name;

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
