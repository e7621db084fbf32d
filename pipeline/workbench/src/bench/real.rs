//! `mapflow bench real`: generation on real songs scored against their human maps — the
//! evidence for the model, the onset baseline and the tempo estimator (renders only check
//! regressions).
//!
//! ```text
//! --sets DIR ─► set folders ─► osu!standard difficulties (≥ --min-objects), duplicates dropped
//!            ─► per song: featurize + estimate tempo once
//!            ─► per difficulty, at its human star rating, estimated timing:
//!                 onsets baseline ─┐
//!                 model (--checkpoint, or trained here with --train) ─┴─► scored vs the human map
//!            ─► per-difficulty table, per-song tempo, summary (--json: all of it)
//! ```
//! Songs in `--sets` are read in place, never copied. With `--train DIR --minutes M`, the tiny
//! model is first trained for M minutes on the sets of DIR (a fresh `mapflow preprocess` of
//! `songs:DIR`), which must share no song with `--sets`: the split is by song.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use model::checkpoint::LoadedModel;
use model::config::ModelConfig;
use model::generate::SamplingOptions;
use operators::beatmap::{Beatmap, BeatmapError, parse_beatmap, star_rating};
use operators::digest::sha256_hex;
use operators::metrics::grid::{GRID_TOLERANCE_MS, GridAgreement, beats_between, timing_agreement};
use operators::metrics::{MapScores, PooledF1, score_map};
use serde::Serialize;
use training::generate::{GenerateError, Mapper, Song, load_model, map_song, read_song};

/// Arguments of `mapflow bench real`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Folder of osu! sets (each a folder with its audio and `.osu` files), read in place.
    #[arg(long, default_value = "../shared/real/sets")]
    sets: PathBuf,
    /// A training run (its best checkpoint) or checkpoint file to score beside the baseline.
    #[arg(long, conflicts_with = "train")]
    checkpoint: Option<PathBuf>,
    /// Train the tiny model first on the sets of this folder (no song shared with --sets).
    #[arg(long)]
    train: Option<PathBuf>,
    /// Minutes of training with --train.
    #[arg(long, default_value_t = 15.0, requires = "train")]
    minutes: f64,
    /// Difficulties with fewer human objects are skipped.
    #[arg(long, default_value_t = 50)]
    min_objects: usize,
    /// Score at most this many difficulties (in folder order).
    #[arg(long)]
    limit: Option<usize>,
    /// Seed of the onset baseline's flow and the model's sampling.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Print one JSON object instead of the tables.
    #[arg(long)]
    json: bool,
}

/// A human difficulty to score against.
struct Difficulty {
    set: String,
    file: String,
    song_key: String,
    audio: PathBuf,
    map: Beatmap,
    stars: f64,
}

/// One method's map for one difficulty.
#[derive(Debug, Clone, Serialize)]
struct MethodScore {
    objects: usize,
    stars: f64,
    rhythm_f1_50ms: f64,
    rhythm_f1_10ms: f64,
    hit_f1: f64,
    /// Why there is no map (the model placed nothing), if so.
    failure: Option<String>,
    #[serde(skip)]
    scores: Option<MapScores>,
}

/// One scored difficulty.
#[derive(Debug, Clone, Serialize)]
struct DifficultyRow {
    set: String,
    file: String,
    version: String,
    human_objects: usize,
    human_stars: f64,
    red_lines: usize,
    methods: BTreeMap<&'static str, MethodScore>,
}

/// The tempo estimate of one song against its human first red line.
#[derive(Debug, Clone, Serialize)]
struct SongTempo {
    song: String,
    audio: String,
    /// Every difficulty of the song has one BPM.
    single_bpm: bool,
    human_bpm: f64,
    human_offset_ms: f64,
    estimated_bpm: f64,
    estimated_offset_ms: f64,
    /// Within 0.5 BPM.
    bpm_ok: bool,
    /// `estimated / human` is near 2, 1/2, 3/2 or 2/3.
    octave_error: bool,
    /// Estimated − human offset, folded into half a beat either side (only with `bpm_ok`).
    offset_error_ms: Option<f64>,
    /// Red lines of the human map.
    human_red_lines: usize,
    /// Red lines estimated.
    estimated_red_lines: usize,
    /// The estimated grid against every human beat from the first object to the last.
    grid: Option<GridAgreement>,
}

/// A difficulty not scored, and why.
#[derive(Debug, Clone, Serialize)]
struct Skipped {
    file: String,
    reason: String,
}

/// One method's figures over every difficulty.
#[derive(Debug, Clone, Default, Serialize)]
struct MethodSummary {
    difficulties: usize,
    /// Mean over difficulties of the per-map F1 (a map without objects scores 0).
    mean_rhythm_f1_50ms: f64,
    mean_rhythm_f1_10ms: f64,
    mean_hit_f1: f64,
    /// Pooled over every object of every map.
    pooled_rhythm_f1_50ms: f64,
    /// Maps without objects where the human map has some.
    empty_maps: usize,
    /// Mean |achieved − requested| stars over the maps made.
    mean_star_error: f64,
    /// Median of generated / human objects.
    median_object_ratio: f64,
}

/// The tempo figures over the songs.
#[derive(Debug, Clone, Default, Serialize)]
struct TempoSummary {
    songs: usize,
    single_bpm_songs: usize,
    /// Of the single-BPM songs.
    bpm_within_0_5: usize,
    /// Of the single-BPM songs (offset folded mod a beat).
    offset_within_10ms: usize,
    octave_errors: usize,
    /// Median signed offset error of the single-BPM songs with the right BPM, ms.
    median_offset_error_ms: Option<f64>,
    /// The grid over the whole song, by how many red lines the human map has.
    grid: Vec<GridSummary>,
}

/// Grid agreement over a group of songs.
#[derive(Debug, Clone, Default, Serialize)]
struct GridSummary {
    /// Which songs: human red lines `1`, `2–4`, `5+`, or `all`.
    red_lines: &'static str,
    songs: usize,
    /// Mean share of the duration within 10 ms.
    mean_within_10ms: f64,
    /// Songs with ≥ 90 % of the duration within 10 ms.
    songs_at_90pct: usize,
    /// Median of the songs' time-weighted relative BPM errors.
    median_bpm_error: f64,
    /// Median of the songs' median beat-phase errors (ms).
    median_phase_error_ms: f64,
}

/// Everything the benchmark measured.
#[derive(Debug, Clone, Serialize)]
struct Report {
    sets: String,
    model: Option<String>,
    difficulties: Vec<DifficultyRow>,
    songs: Vec<SongTempo>,
    skipped: Vec<Skipped>,
    summary: BTreeMap<&'static str, MethodSummary>,
    tempo: TempoSummary,
}

/// `artist - title`, lowercased with runs of non-alphanumerics as one space: the key two copies
/// of one song share across sets.
fn song_key(map: &Beatmap) -> String {
    let raw = format!("{} - {}", map.metadata.artist, map.metadata.title).to_lowercase();
    raw.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).collect::<Vec<_>>().join(" ")
}

/// The set folders under `dir`, sorted.
fn set_folders(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).with_context(|| {
        format!(
            "{}: no such folder of osu! sets: this benchmark reads real songs with human maps \
             (../shared/real/sets on the development machine; any osu! Songs folder works)",
            dir.display()
        )
    })?;
    let mut folders: Vec<PathBuf> = entries.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.is_dir()).collect();
    folders.sort();
    Ok(folders)
}

/// The `.osu` files of one set folder, sorted.
fn osu_files(set: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(set)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("osu")))
        .collect();
    files.sort();
    files
}

/// The osu!standard difficulties under `dir` with at least `min_objects` objects and their
/// audio present; others are listed in `skipped` with the reason (other modes silently: they
/// are not candidates). The same `.osu` content in two sets is scored once.
fn difficulties(dir: &Path, min_objects: usize, skipped: &mut Vec<Skipped>) -> anyhow::Result<Vec<Difficulty>> {
    let mut seen = HashMap::new();
    let mut found = Vec::new();
    for set in set_folders(dir)? {
        let set_name = set.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        for path in osu_files(&set) {
            let file = format!("{set_name}/{}", path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default());
            let mut skip = |reason: String| skipped.push(Skipped { file: file.clone(), reason });
            let bytes = match std::fs::read(&path) {
                Ok(bytes) => bytes,
                Err(e) => {
                    skip(format!("unreadable: {e}"));
                    continue;
                }
            };
            let text = String::from_utf8_lossy(&bytes);
            let map = match parse_beatmap(&file, &text) {
                Ok(map) => map,
                Err(BeatmapError::UnsupportedMode { .. }) => continue,
                Err(e) => {
                    skip(e.to_string());
                    continue;
                }
            };
            if map.objects.len() < min_objects {
                skip(format!("{} objects (< {min_objects})", map.objects.len()));
                continue;
            }
            let audio = set.join(&map.metadata.audio_file);
            if !audio.is_file() {
                skip(format!("its audio {} is missing", map.metadata.audio_file));
                continue;
            }
            if let Some(first) = seen.insert(sha256_hex(&bytes), file.clone()) {
                skip(format!("the same map as {first}"));
                continue;
            }
            let stars = match star_rating(&file, &text) {
                Ok(stars) => stars,
                Err(e) => {
                    skip(e.to_string());
                    continue;
                }
            };
            found.push(Difficulty { set: set_name.clone(), file, song_key: song_key(&map), audio, map, stars });
        }
    }
    Ok(found)
}

/// Whether every red line of `map` has the first one's beat length.
fn single_bpm(map: &Beatmap) -> bool {
    let red = map.timing.red_lines();
    red.iter().all(|r| (r.beat_len_ms - red[0].beat_len_ms).abs() < 1e-3)
}

/// `delta` folded into `(-period/2, period/2]`.
fn fold(delta: f64, period: f64) -> f64 {
    let r = delta.rem_euclid(period);
    if r > period / 2.0 { r - period } else { r }
}

/// The estimate of `song` against the human first red line of `human`.
fn song_tempo(song: &Song, human: &Beatmap, single: bool, key: &str) -> Option<SongTempo> {
    let estimate = song.tempo.as_ref()?;
    let red = human.timing.red_lines().first()?;
    let estimated = estimate.timing();
    let (first, last) = (human.objects.first()?.time_ms, human.objects.last()?.time_ms);
    let human_beats = beats_between(&human.timing, first, last);
    let human_bpm = 60_000.0 / red.beat_len_ms;
    let bpm_ok = (estimate.bpm - human_bpm).abs() <= 0.5;
    let ratio = estimate.bpm / human_bpm;
    let octave_error = !bpm_ok && [2.0, 0.5, 1.5, 2.0 / 3.0].iter().any(|r| (ratio / r - 1.0).abs() < 0.02);
    Some(SongTempo {
        song: key.to_owned(),
        audio: song.audio.display().to_string(),
        single_bpm: single,
        human_bpm,
        human_offset_ms: red.time_ms,
        estimated_bpm: estimate.bpm,
        estimated_offset_ms: estimate.offset_ms,
        bpm_ok,
        octave_error,
        offset_error_ms: bpm_ok.then(|| fold(estimate.offset_ms - red.time_ms, red.beat_len_ms)),
        human_red_lines: human.timing.red_lines().len(),
        estimated_red_lines: estimated.red_lines().len(),
        grid: timing_agreement(&human_beats, &estimated, GRID_TOLERANCE_MS),
    })
}

/// Scores one method's map (or its soft failure) against the human map.
fn score(generated: anyhow::Result<training::generate::Generated>, human: &Difficulty) -> anyhow::Result<MethodScore> {
    match generated {
        Ok(g) => {
            let scores = score_map(&g.map.objects, &human.map.objects);
            Ok(MethodScore {
                objects: g.map.objects.len(),
                stars: g.report.stars_achieved,
                rhythm_f1_50ms: scores.rhythm_f1_50ms.f1,
                rhythm_f1_10ms: scores.rhythm_f1_10ms.f1,
                hit_f1: scores.hit_f1.f1,
                failure: None,
                scores: Some(scores),
            })
        }
        Err(e) if e.downcast_ref::<GenerateError>().is_some() => Ok(MethodScore {
            objects: 0,
            stars: 0.0,
            rhythm_f1_50ms: 0.0,
            rhythm_f1_10ms: 0.0,
            hit_f1: 0.0,
            failure: Some(format!("{e:#}")),
            scores: None,
        }),
        Err(e) => Err(e),
    }
}

fn median(mut values: Vec<f64>) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    Some(if n % 2 == 1 { values[n / 2] } else { (values[n / 2 - 1] + values[n / 2]) / 2.0 })
}

fn summarise(rows: &[DifficultyRow], method: &'static str) -> MethodSummary {
    let scores: Vec<(&DifficultyRow, &MethodScore)> =
        rows.iter().filter_map(|r| r.methods.get(method).map(|m| (r, m))).collect();
    let n = scores.len().max(1) as f64;
    let mut pooled = PooledF1::default();
    for (row, m) in &scores {
        if let Some(s) = m.scores {
            pooled.add(s.rhythm_f1_50ms, m.objects, row.human_objects);
        } else {
            pooled.add(operators::metrics::F1Score::new(0, 0, row.human_objects), 0, row.human_objects);
        }
    }
    let made: Vec<_> = scores.iter().filter(|(_, m)| m.failure.is_none()).collect();
    MethodSummary {
        difficulties: scores.len(),
        mean_rhythm_f1_50ms: scores.iter().map(|(_, m)| m.rhythm_f1_50ms).sum::<f64>() / n,
        mean_rhythm_f1_10ms: scores.iter().map(|(_, m)| m.rhythm_f1_10ms).sum::<f64>() / n,
        mean_hit_f1: scores.iter().map(|(_, m)| m.hit_f1).sum::<f64>() / n,
        pooled_rhythm_f1_50ms: pooled.f1,
        empty_maps: scores.iter().filter(|(_, m)| m.objects == 0).count(),
        mean_star_error: made.iter().map(|(r, m)| (m.stars - r.human_stars).abs()).sum::<f64>()
            / made.len().max(1) as f64,
        median_object_ratio: median(scores.iter().map(|(r, m)| m.objects as f64 / r.human_objects as f64).collect())
            .unwrap_or(0.0),
    }
}

fn summarise_tempo(songs: &[SongTempo]) -> TempoSummary {
    let single: Vec<&SongTempo> = songs.iter().filter(|s| s.single_bpm).collect();
    TempoSummary {
        songs: songs.len(),
        single_bpm_songs: single.len(),
        bpm_within_0_5: single.iter().filter(|s| s.bpm_ok).count(),
        offset_within_10ms: single.iter().filter(|s| s.offset_error_ms.is_some_and(|e| e.abs() <= 10.0)).count(),
        octave_errors: songs.iter().filter(|s| s.octave_error).count(),
        median_offset_error_ms: median(single.iter().filter_map(|s| s.offset_error_ms).collect()),
        grid: [("1", 1..=1), ("2–4", 2..=4), ("5+", 5..=usize::MAX), ("all", 1..=usize::MAX)]
            .into_iter()
            .map(|(name, range)| {
                let scored: Vec<GridAgreement> =
                    songs.iter().filter(|s| range.contains(&s.human_red_lines)).filter_map(|s| s.grid).collect();
                GridSummary {
                    red_lines: name,
                    songs: scored.len(),
                    mean_within_10ms: scored.iter().map(|g| g.within_tolerance).sum::<f64>()
                        / scored.len().max(1) as f64,
                    songs_at_90pct: scored.iter().filter(|g| g.within_tolerance >= 0.9).count(),
                    median_bpm_error: median(scored.iter().map(|g| g.bpm_error).collect()).unwrap_or(0.0),
                    median_phase_error_ms: median(scored.iter().map(|g| g.median_phase_error_ms).collect())
                        .unwrap_or(0.0),
                }
            })
            .collect(),
    }
}

/// Trains the tiny model for `minutes` on the sets of `dir` (refusing one that shares a song
/// with `scored`) in `work`; returns the run directory.
fn train_on(dir: &Path, minutes: f64, scored: &[Difficulty], work: &Path) -> anyhow::Result<PathBuf> {
    let mut ignored = Vec::new();
    let training = difficulties(dir, 1, &mut ignored)?;
    let songs: BTreeSet<&str> = scored.iter().map(|d| d.song_key.as_str()).collect();
    let hashes: BTreeSet<String> =
        scored.iter().filter_map(|d| std::fs::read(&d.audio).ok()).map(|b| sha256_hex(&b)).collect();
    for d in &training {
        let shared_audio = std::fs::read(&d.audio).ok().is_some_and(|b| hashes.contains(&sha256_hex(&b)));
        if songs.contains(d.song_key.as_str()) || shared_audio {
            bail!(
                "--train {} shares the song of {} (\"{}\") with --sets: the split must be by song",
                dir.display(),
                d.file,
                d.song_key
            );
        }
    }
    let shards = work.join("train-shards");
    let status = std::process::Command::new(pipeline::cli::sibling_binary(pipeline::cli::MAPFLOW_BINARY)?)
        .args(["preprocess", "--quiet", "--source"])
        .arg(format!("songs:{}", dir.display()))
        .arg("-o")
        .arg(&shards)
        // Its summary goes with the logs, so that `--json` prints one object.
        .stdout(std::io::stderr())
        .status()?;
    anyhow::ensure!(status.success(), "preprocess of songs:{} failed", dir.display());
    let preset = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/model/tiny.toml");
    let run = work.join("run");
    let mut options = training::train::TrainOptions::new(shards, ModelConfig::from_toml_file(&preset)?, run.clone());
    options.max_minutes = Some(minutes);
    eprintln!(
        "bench real: training the tiny model for {minutes} min on {} difficulties of {}",
        training.len(),
        dir.display()
    );
    training::train::run(options)?;
    Ok(run)
}

/// Runs the benchmark.
pub fn run(args: Args) -> anyhow::Result<()> {
    let mut skipped = Vec::new();
    let mut found = difficulties(&args.sets, args.min_objects, &mut skipped)?;
    if let Some(limit) = args.limit {
        found.truncate(limit);
    }
    if found.is_empty() {
        bail!("{}: no osu!standard difficulty with ≥ {} objects and its audio", args.sets.display(), args.min_objects);
    }
    let work = tempfile::tempdir()?;
    let checkpoint = match (&args.checkpoint, &args.train) {
        (Some(checkpoint), _) => Some(checkpoint.clone()),
        (None, Some(dir)) => Some(train_on(dir, args.minutes, &found, work.path())?),
        (None, None) => None,
    };
    let device = model::runtime::best_device();
    let loaded: Option<LoadedModel> = checkpoint.as_deref().map(|c| load_model(c, device)).transpose()?;
    let sampling = SamplingOptions { seed: args.seed, ..SamplingOptions::default() };
    let mut rows = Vec::new();
    let mut songs = Vec::new();
    let mut by_audio: BTreeMap<PathBuf, Vec<&Difficulty>> = BTreeMap::new();
    for d in &found {
        by_audio.entry(d.audio.clone()).or_default().push(d);
    }
    for (audio, group) in &by_audio {
        let song = match read_song(audio, true) {
            Ok(song) => song,
            Err(e) => {
                for d in group {
                    skipped.push(Skipped { file: d.file.clone(), reason: format!("{e:#}") });
                }
                continue;
            }
        };
        let single = group.iter().all(|d| single_bpm(&d.map));
        // One row per song: two sets of one song (two encodings) count once.
        if !songs.iter().any(|s: &SongTempo| s.song == group[0].song_key) {
            songs.extend(song_tempo(&song, &group[0].map, single, &group[0].song_key));
        }
        for d in group {
            let mut methods = BTreeMap::new();
            let onsets = map_song(&song, d.stars, None, &Mapper::Onsets { seed: args.seed });
            methods.insert("onsets", score(onsets, d).with_context(|| format!("onsets on {}", d.file))?);
            if let Some(loaded) = &loaded {
                let mapper = Mapper::Model { loaded, sampling: &sampling, device };
                let generated = map_song(&song, d.stars, None, &mapper);
                methods.insert("model", score(generated, d).with_context(|| format!("model on {}", d.file))?);
            }
            if !args.json {
                eprintln!("bench real: {}", d.file);
            }
            rows.push(DifficultyRow {
                set: d.set.clone(),
                file: d.file.clone(),
                version: d.map.metadata.version.clone(),
                human_objects: d.map.objects.len(),
                human_stars: d.stars,
                red_lines: d.map.timing.red_lines().len(),
                methods,
            });
        }
    }
    let mut summary = BTreeMap::new();
    summary.insert("onsets", summarise(&rows, "onsets"));
    if loaded.is_some() {
        summary.insert("model", summarise(&rows, "model"));
    }
    let report = Report {
        sets: args.sets.display().to_string(),
        model: checkpoint.map(|c| c.display().to_string()),
        tempo: summarise_tempo(&songs),
        difficulties: rows,
        songs,
        skipped,
        summary,
    };
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print_report(&report);
    }
    Ok(())
}

fn print_report(report: &Report) {
    println!("bench real: {} (real songs, human maps; estimated timing)", report.sets);
    let methods: Vec<&str> = report.summary.keys().copied().collect();
    print!("{:<58} {:>5} {:>6}", "difficulty", "human", "★");
    for m in &methods {
        print!(" | {m:>7} {:>5} {:>6} {:>6} {:>5}", "obj", "★", "F1±50", "±10");
    }
    println!();
    for row in &report.difficulties {
        let name: String = row.file.chars().take(58).collect();
        print!("{name:<58} {:>5} {:>6.2}", row.human_objects, row.human_stars);
        for m in &methods {
            match row.methods.get(m) {
                Some(s) => print!(
                    " | {:>7} {:>5} {:>6.2} {:>6.3} {:>5.3}",
                    "", s.objects, s.stars, s.rhythm_f1_50ms, s.rhythm_f1_10ms
                ),
                None => print!(" | {:>32}", "-"),
            }
        }
        println!();
    }
    println!("\ntempo (estimated vs the human first red line):");
    for s in &report.songs {
        let offset = s.offset_error_ms.map_or("-".to_owned(), |e| format!("{e:+.1} ms"));
        println!(
            "  {:<50} human {:>7.2} BPM  est {:>7.2} BPM  {}{}  offset error {offset}  red lines {}→{}  grid within 10 ms {}",
            s.song.chars().take(50).collect::<String>(),
            s.human_bpm,
            s.estimated_bpm,
            if s.bpm_ok {
                "ok"
            } else if s.octave_error {
                "OCTAVE"
            } else {
                "WRONG"
            },
            if s.single_bpm { "" } else { " (variable BPM)" },
            s.human_red_lines,
            s.estimated_red_lines,
            s.grid.map_or("-".to_owned(), |g| format!("{:.0} %", 100.0 * g.within_tolerance)),
        );
    }
    for s in &report.skipped {
        println!("  skipped {}: {}", s.file, s.reason);
    }
    println!();
    for (method, m) in &report.summary {
        println!(
            "{method:>7}: {} difficulties; rhythm F1 ±50 ms mean {:.3} (pooled {:.3}), ±10 ms {:.3}; hit F1 {:.3}; empty maps {}; mean |Δ★| {:.2}; objects / human median {:.2}",
            m.difficulties,
            m.mean_rhythm_f1_50ms,
            m.pooled_rhythm_f1_50ms,
            m.mean_rhythm_f1_10ms,
            m.mean_hit_f1,
            m.empty_maps,
            m.mean_star_error,
            m.median_object_ratio
        );
    }
    let t = &report.tempo;
    println!(
        "  tempo: {} songs, {} single-BPM: BPM within 0.5 on {}, offset within 10 ms on {}; octave errors {}; median offset error {}",
        t.songs,
        t.single_bpm_songs,
        t.bpm_within_0_5,
        t.offset_within_10ms,
        t.octave_errors,
        t.median_offset_error_ms.map_or("-".to_owned(), |e| format!("{e:+.1} ms"))
    );
    for g in &t.grid {
        println!(
            "  grid, songs whose human map has {} red lines: {} songs, duration within 10 ms {:.1} % (mean), ≥ 90 % on {}; time-weighted BPM error {:.2} %, beat-phase error {:.1} ms (medians)",
            g.red_lines,
            g.songs,
            100.0 * g.mean_within_10ms,
            g.songs_at_90pct,
            100.0 * g.median_bpm_error,
            g.median_phase_error_ms
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_fold_into_half_a_beat() {
        assert!((fold(23.0, 500.0) - 23.0).abs() < 1e-9);
        assert!((fold(-23.0, 500.0) + 23.0).abs() < 1e-9);
        assert!((fold(523.0, 500.0) - 23.0).abs() < 1e-9);
        assert!((fold(480.0, 500.0) + 20.0).abs() < 1e-9);
        assert!((fold(-1477.0, 500.0) - 23.0).abs() < 1e-9);
    }

    #[test]
    fn song_keys_ignore_case_and_punctuation() {
        let mut map = Beatmap {
            name: "x".into(),
            metadata: Default::default(),
            difficulty: Default::default(),
            timing: operators::beatmap::TimingModel::constant(0.0, 120.0),
            objects: Vec::new(),
        };
        map.metadata.artist = "Shibayan".into();
        map.metadata.title = "Shock!! (S.S.H. Arrangement)".into();
        assert_eq!(song_key(&map), "shibayan shock s s h arrangement");
        map.metadata.title = "SHOCK (s.s.h. arrangement)".into();
        assert_eq!(song_key(&map), "shibayan shock s s h arrangement");
    }

    #[test]
    fn medians_of_odd_even_and_empty() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(Vec::new()), None);
    }
}
