//! `mapflow demo`: the main job on an embedded default, with no network and no data.
//!
//! Today: (1) the feature chain on the bundled 3-minute song (a deterministic synthetic 174 BPM
//! track, `tests/data/reference/song.mp3`), summarised on screen; (2) a synthetic corpus in the
//! hub's layout (`synth`), streamed through the preprocess dataflow on two workers into Parquet
//! shards. Training and generation join when the model lands.

use std::path::PathBuf;

use operators::features::{FeatureConfig, FeatureExtractor};
use operators::tokenizer::TokenizerConfig;
use pipeline::featurize::{AudioInput, featurize};
use pipeline::preprocess::tokenize::TokenizerStage;
use pipeline::preprocess::{ClusterArgs, PreprocessOptions, defaults, source_opener};
use pipeline::sources::{SourceOptions, SourceUri};
use pipeline::synth::corpus::{CorpusSpec, Layout, write_corpus};

/// The bundled song (see tests/data/NOTICE.md: made for this project).
const DEMO_SONG: &[u8] = include_bytes!("../../../tests/data/reference/song.mp3");

/// Arguments of `mapflow demo`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where the demo writes its corpus and shards (replaced on every run).
    #[arg(long, default_value = "mapflow-demo")]
    output: PathBuf,
}

/// Runs the demo.
pub fn run(args: Args) -> anyhow::Result<()> {
    features_of_the_bundled_song()?;
    preprocess_a_synthetic_corpus(&args.output)
}

fn preprocess_a_synthetic_corpus(out: &std::path::Path) -> anyhow::Result<()> {
    if out.exists() {
        std::fs::remove_dir_all(out)?;
    }
    let corpus = out.join("corpus");
    let spec = CorpusSpec { songs: 8, songs_per_shard: 4, seconds: 30.0, seed: 1, layout: Layout::Compressed, bad_inputs: true };
    let written = write_corpus(&corpus, &spec)?;
    println!(
        "\nsynth: {} songs ({:.0} s of Opus audio rendered from the bundled maps, {} beatmaps, 1 bad track) in {} tar shards",
        written.songs, written.audio_seconds, written.beatmaps, written.shards.len()
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
        cluster: ClusterArgs { workers: 2, ..ClusterArgs::default() },
        progress: false,
    };
    let summary = pipeline::preprocess::run(options, opener)?;
    println!(
        "preprocess (timely, 2 workers): {} tracks, {} beatmaps -> {} windows, {} rejects, {:.0}x real time, peak RSS {:.0} MiB",
        summary.tracks, summary.beatmaps, summary.windows, summary.rejects, summary.x_realtime,
        summary.peak_rss_mib.unwrap_or(f64::NAN)
    );
    println!("shards: {} (manifest.json, tracks/, tokens/<hash>/, rejects.jsonl)", shards.display());
    Ok(())
}

fn features_of_the_bundled_song() -> anyhow::Result<()> {
    let config = FeatureConfig::default();
    let hash = config.hash();
    let extractor = FeatureExtractor::new(config).map_err(anyhow::Error::msg)?;
    let song = featurize(AudioInput::Bytes("demo-song.mp3", DEMO_SONG.to_vec()), &extractor)?;
    let m = &song.features;
    let t = song.times;
    println!("mapflow demo: bundled song (synthetic, 174 BPM), {:.1} s of {} at {} Hz, {} channels",
        song.seconds, song.codec, song.source_rate, song.channels);
    println!("features: [{}, {}] = {} mel bands + onset strength, {} ms per frame (config {hash})",
        m.channels, m.frames, m.channels - 1, extractor.config().frame_seconds() * 1000.0);
    println!("timings: decode {:.3} s | resample {:.3} s | stft+mel {:.3} s | onset {:.3} s | total {:.3} s = {:.0}x real time",
        t.decode.as_secs_f64(), t.resample.as_secs_f64(), t.mel.as_secs_f64(), t.onset.as_secs_f64(),
        t.total().as_secs_f64(), song.seconds / t.total().as_secs_f64());

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
        let power: f64 = (0..m.channels - 1)
            .map(|b| m.row(b)[start..end].iter().map(|&v| f64::from(v)).sum::<f64>())
            .sum::<f64>()
            / ((end - start) * (m.channels - 1)) as f64;
        let activity = onset[start..end].iter().map(|&v| f64::from(v)).sum::<f64>() / (end - start) as f64;
        let bar = "#".repeat((activity / f64::from(onset_max) * 120.0).round() as usize);
        println!("  {:>4.0}-{:<4.0} s  {:>6.1} dB  {bar}", start as f64 * frame_s, end as f64 * frame_s,
            10.0 * power.max(1e-10).log10());
    }
    Ok(())
}
