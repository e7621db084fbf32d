//! `mapflow demo`: the main job on an embedded default, with no network and no data.
//!
//! (1) The feature chain on the bundled 3-minute song (a deterministic synthetic 174 BPM track,
//! `tests/data/reference/song.mp3`), summarised on screen; (2) a synthetic corpus in the hub's
//! layout (`synth`), streamed through the preprocess dataflow on two workers into Parquet
//! shards; (3) the tiny model trained on them for a few minutes (libtorch builds only); (4) a
//! map generated for the bundled song, written as an `.osz` osu! can import.

use std::path::PathBuf;

use dataflow::preprocess::tokenize::TokenizerStage;
use dataflow::preprocess::{ClusterArgs, PreprocessOptions, defaults, source_opener};
use dataflow::sources::{SourceOptions, SourceUri};
use operators::audio::DecodeOptions;
use operators::features::{FeatureConfig, FeatureExtractor};
use operators::featurize::{AudioInput, featurize};
use operators::tokenizer::TokenizerConfig;
use synth::corpus::{CorpusSpec, Layout, write_corpus};

/// The bundled song (see tests/data/NOTICE.md: made for this project).
const DEMO_SONG: &[u8] = include_bytes!("../../../../tests/data/reference/song.mp3");

/// Arguments of `mapflow demo`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where the demo writes its corpus and shards (replaced on every run; a folder holding
    /// anything the demo does not write is refused, not deleted).
    #[arg(long, default_value = "mapflow-demo")]
    output: PathBuf,
    /// Minutes of training for the tiny model.
    #[arg(long, default_value_t = 3.0)]
    train_minutes: f64,
}

/// Runs the demo.
pub fn run(args: Args) -> anyhow::Result<()> {
    features_of_the_bundled_song()?;
    let shards = preprocess_a_synthetic_corpus(&args.output)?;
    train_and_generate(&args.output, &shards, args.train_minutes)?;
    Ok(())
}

/// The tiny model preset (= configs/model/tiny.toml).
const TINY_PRESET: &str = include_str!("../../../../configs/model/tiny.toml");

fn train_and_generate(out: &std::path::Path, shards: &std::path::Path, minutes: f64) -> anyhow::Result<()> {
    use anyhow::Context;
    use model::config::ModelConfig;
    use training::generate::{GenerateError, GenerateOptions, Method, generate_maps, write_output};

    let preset = out.join("tiny.toml");
    std::fs::write(&preset, TINY_PRESET)?;
    let run = out.join("run");
    let mut options =
        training::train::TrainOptions::new(shards.to_owned(), ModelConfig::from_toml_file(&preset)?, run.clone());
    options.max_minutes = Some(minutes);
    println!(
        "
train: tiny model on {:?} for {minutes} min (progress: {}/metrics.jsonl)",
        options.device,
        run.display()
    );
    let summary = training::train::run(options)?;
    println!(
        "train: {} steps, {:.2} steps/s, {:.0} tokens/s, data wait {:.1} %{}",
        summary.step,
        summary.steps_per_second,
        summary.tokens_per_second,
        100.0 * summary.data_wait_fraction,
        summary.last_validation.map_or(String::new(), |v| format!(
            "; validation: loss {:.3}, rhythm F1 ±50 ms {:.3} on {} windows",
            v.val_loss, v.rhythm_f1_50ms, v.windows
        ))
    );
    let song = out.join("song.mp3");
    std::fs::write(&song, DEMO_SONG)?;
    let generated = generate_maps(&GenerateOptions {
        audio: song.clone(),
        stars: vec![4.0],
        timing: None,
        method: Method::Model { checkpoint: run, sampling: Default::default(), device: model::runtime::best_device() },
    });
    let maps = match generated {
        Ok(maps) => maps,
        // An undertrained model may place nothing: the one soft outcome; every other error fails the demo.
        Err(e) if e.downcast_ref::<GenerateError>().is_some() => {
            println!("generate: {e:#}\n  the model needs more training: rerun with a larger --train-minutes");
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    let osz = out.join("song.osz");
    write_output(&maps, &song, &osz)?;
    let r = &maps[0].report;
    println!(
        "generate: {:.2} BPM (estimated; true 174), offset {:.1} ms; {} objects ({} circles, {} sliders, {} spinners); stars {:.2} (asked 4.0); {:.2} s",
        r.bpm,
        r.offset_ms,
        r.objects,
        r.counts.circles,
        r.counts.sliders,
        r.counts.spinners,
        r.stars_achieved,
        r.seconds
    );
    let extractor = FeatureExtractor::new(FeatureConfig::default()).map_err(anyhow::Error::msg)?;
    let features = featurize(AudioInput::File(&song), &extractor, &DecodeOptions::default())?.features;
    let onsets = preview::OnsetTrack { values: features.onset(), frame_seconds: extractor.config().frame_seconds() };
    let preview = out.join("song-preview.png");
    let png = preview::render_png(&maps[0].map, Some(onsets))?;
    operators::atomic::write(&preview, &png).with_context(|| format!("writing {}", preview.display()))?;
    println!("preview: {}", preview.display());
    println!("beatmap: {} (open it with osu! to play)", osz.display());
    Ok(())
}

/// What `mapflow demo` writes into its output folder: the only entries a rerun replaces (an
/// atomic write's leftover `NAME.tmp-PID` included).
const DEMO_ENTRIES: [&str; 7] = ["corpus", "shards", "run", "tiny.toml", "song.mp3", "song.osz", "song-preview.png"];

/// Clears `out` for a new demo; refuses a file, or a folder that holds anything the demo does not
/// write (someone's own folder given as `--output`), naming it and what it holds.
fn clear_demo_output(out: &std::path::Path) -> anyhow::Result<()> {
    use anyhow::Context;
    if !out.exists() {
        return Ok(());
    }
    if !out.is_dir() {
        anyhow::bail!("{}: exists and is not a folder; choose another --output", out.display());
    }
    let ours = |name: &str| DEMO_ENTRIES.iter().any(|e| name == *e || name.starts_with(&format!("{e}.tmp-")));
    let mut foreign = Vec::new();
    for entry in std::fs::read_dir(out).with_context(|| format!("reading {}", out.display()))? {
        let name = entry.with_context(|| format!("reading {}", out.display()))?.file_name();
        let name = name.to_string_lossy();
        if !ours(&name) {
            foreign.push(name.into_owned());
        }
    }
    if !foreign.is_empty() {
        foreign.sort();
        anyhow::bail!(
            "{}: not a mapflow demo output (it holds {}); the demo replaces its output folder, so \
             choose another --output or empty this one yourself",
            out.display(),
            foreign.iter().take(3).map(|n| format!("{n:?}")).collect::<Vec<_>>().join(", ")
        );
    }
    std::fs::remove_dir_all(out).with_context(|| format!("removing the previous demo output {}", out.display()))
}

fn preprocess_a_synthetic_corpus(out: &std::path::Path) -> anyhow::Result<PathBuf> {
    clear_demo_output(out)?;
    let corpus = out.join("corpus");
    let spec = CorpusSpec {
        songs: 8,
        songs_per_shard: 4,
        seconds: 30.0,
        seed: 1,
        layout: Layout::Compressed,
        bad_inputs: true,
        fixtures: Vec::new(),
        tempo_spread: 0.0,
    };
    let written = write_corpus(&corpus, &spec)?;
    println!(
        "\nsynth: {} songs ({:.0} s of Opus audio rendered from the bundled maps, {} beatmaps, 1 bad track) in {} tar shards",
        written.songs,
        written.audio_seconds,
        written.beatmaps,
        written.shards.len()
    );
    let opener = source_opener(SourceUri::Shards(corpus.clone()), SourceOptions::default());
    let shards = out.join("shards");
    let options = PreprocessOptions {
        out: shards.clone(),
        features: FeatureConfig::default(),
        tokenizers: vec![TokenizerStage::new(TokenizerConfig::default()).map_err(anyhow::Error::msg)?],
        chunk_tracks: defaults::CHUNK_TRACKS,
        max_in_flight: defaults::MAX_IN_FLIGHT,
        split_seed: defaults::SPLIT_SEED,
        filter: Default::default(),
        cluster: ClusterArgs { workers: 2, ..ClusterArgs::default() },
        progress: false,
        gate: None,
        pinned: None,
        accept_new_revision: false,
    };
    let summary = dataflow::preprocess::run(options, opener)?;
    println!(
        "preprocess (timely, 2 workers): {} tracks, {} beatmaps -> {} windows, {} rejects, {:.0}x real time, peak RSS {:.0} MiB",
        summary.tracks,
        summary.beatmaps,
        summary.windows,
        summary.rejects,
        summary.x_realtime,
        summary.peak_rss_mib.unwrap_or(f64::NAN)
    );
    println!("shards: {} (manifest.json, tracks/, tokens/<hash>/, rejects.jsonl)", shards.display());
    Ok(shards)
}

fn features_of_the_bundled_song() -> anyhow::Result<()> {
    let config = FeatureConfig::default();
    let hash = config.hash();
    let extractor = FeatureExtractor::new(config).map_err(anyhow::Error::msg)?;
    let song =
        featurize(AudioInput::Bytes("demo-song.mp3", DEMO_SONG.to_vec()), &extractor, &DecodeOptions::default())?;
    let m = &song.features;
    let t = song.times;
    println!(
        "mapflow demo: bundled song (synthetic, 174 BPM), {:.1} s of {} at {} Hz, {} channels",
        song.seconds(),
        song.codec,
        song.source_rate,
        song.channels
    );
    println!(
        "features: [{}, {}] = {} mel bands + onset strength, {} ms per frame (config {hash})",
        m.channels,
        m.frames,
        m.channels - 1,
        extractor.config().frame_seconds() * 1000.0
    );
    println!("timings: {}", t.describe(song.seconds()));

    // Loudness (mean mel power in dB) and onset activity per 15 s section.
    let frame_s = extractor.config().frame_seconds();
    let section = (15.0 / frame_s) as usize;
    let onset = m.onset();
    let onset_max = onset.iter().fold(f32::MIN, |a, &b| a.max(b)).max(1e-9);
    println!("\n  section      loudness   onset activity");
    for start in (0..m.frames).step_by(section) {
        let end = (start + section).min(m.frames);
        if end - start < section / 4 {
            break; // a last sliver of a section says nothing
        }
        let power: f64 =
            (0..m.channels - 1).map(|b| m.row(b)[start..end].iter().map(|&v| f64::from(v)).sum::<f64>()).sum::<f64>()
                / ((end - start) * (m.channels - 1)) as f64;
        let activity = onset[start..end].iter().map(|&v| f64::from(v)).sum::<f64>() / (end - start) as f64;
        let bar = "#".repeat((activity / f64::from(onset_max) * 120.0).round() as usize);
        println!(
            "  {:>4.0}-{:<4.0} s  {:>6.1} dB  {bar}",
            start as f64 * frame_s,
            end as f64 * frame_s,
            10.0 * power.max(1e-10).log10()
        );
    }
    Ok(())
}
