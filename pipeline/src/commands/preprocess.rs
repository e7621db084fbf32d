//! `mapflow preprocess --source SRC --output OUT`: the streaming pipeline into Parquet shards.

use std::path::PathBuf;

use dataflow::preprocess::{ClusterArgs, PreprocessOptions, SourceOpener, Summary, defaults, run, source_opener};
use dataflow::sources::hub::{HubListing, HubOptions};
use dataflow::sources::{SourceOptions, SourceUri};
use shards::filter::{BeatmapFilter, InclusiveRange, RankedStatus, parse_mode, parse_stars, parse_years};

/// What to preprocess into where, and how: shared by `mapflow preprocess` and `mapflow run`.
#[derive(Debug, clap::Args)]
pub struct PreprocessArgs {
    /// Input: a directory of WebDataset shards, `hf://project-riz/osu-beatmaps/compressed[?shards=A..B&revision=R]`
    /// (or `hf://datasets/project-riz/osu-beatmaps[@R]/compressed[?shards=A..B]`), or `songs:PATH`
    /// (an osu! Songs folder or a directory of .osz files).
    #[arg(long)]
    source: SourceUri,
    /// Output directory (created; an existing one is resumed).
    #[arg(short, long)]
    pub output: PathBuf,
    /// Tokenizer preset(s); each gets its own tokens/<hash>/ table. Default: the configs of the
    /// existing output's manifest, or configs/tokenizer/default.toml for a new output.
    #[arg(long)]
    tokenizer: Vec<PathBuf>,
    /// Feature preset. Default: configs/features/default.toml.
    #[arg(long)]
    features: Option<PathBuf>,
    /// Workers, processes and the cluster's hosts.
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Tracks per output chunk (the unit of Parquet files and of resume).
    #[arg(long, default_value_t = defaults::CHUNK_TRACKS)]
    chunk_tracks: usize,
    /// At most this many tracks in flight (backpressure bound).
    #[arg(long, default_value_t = defaults::MAX_IN_FLIGHT)]
    max_in_flight: u64,
    /// Seed of the train/val/test assignment.
    #[arg(long, default_value_t = defaults::SPLIT_SEED)]
    split_seed: u64,
    /// Keep only the beatmaps of these ranked statuses, comma-separated: graveyard, wip,
    /// pending, ranked, approved, qualified, loved (or the API's -2..4, as `--status=-2`).
    /// Beatmaps without a status (a Songs folder's) are left out, counted as of unknown status.
    /// Default: any status, unknown included.
    #[arg(long, value_delimiter = ',')]
    status: Vec<RankedStatus>,
    /// Keep only the beatmaps ranked (approved_date), else submitted (submit_date), in these
    /// years: `2007..2024` (both included), `2010..`, `..2015` or `2013`. Beatmaps without a date
    /// are left out. Default: any.
    #[arg(long, value_parser = parse_years)]
    years: Option<InclusiveRange<i32>>,
    /// Keep only the beatmaps whose star rating (rosu-pp, NoMod, as computed for the `stars`
    /// column) is in `MIN..MAX` (both included; either may be left out), e.g. `1.5..8`. Default: any.
    #[arg(long, value_parser = parse_stars)]
    stars: Option<InclusiveRange<f64>>,
    /// Keep only the beatmaps of these game modes (the metadata's, else the .osu's `Mode`),
    /// comma-separated; the tokenizer maps 0 (osu!standard) only, so 0 is the one accepted today.
    #[arg(long, value_delimiter = ',', value_parser = parse_mode, default_value = "0")]
    modes: Vec<u8>,
    /// Hugging Face cache directory (default: HF_HOME's hub cache).
    #[arg(long)]
    cache_dir: Option<PathBuf>,
    /// Keep downloaded shards instead of deleting each one once read.
    #[arg(long)]
    keep_shards: bool,
    /// An hf:// output read at another commit of the data set: move it to the commit the
    /// revision resolves to now, redoing the shards whose content changed (else refused).
    #[arg(long)]
    accept_new_revision: bool,
}

impl PreprocessArgs {
    /// The options (configs loaded and checked) and the source they read, progress shown or not.
    pub fn options(&self, progress: bool) -> anyhow::Result<(PreprocessOptions, SourceOpener)> {
        let features = super::load_feature_config(self.features.as_deref())?;
        let tokenizers = super::load_tokenizers(&self.tokenizer)?;
        let mut hub =
            HubOptions { cache_dir: self.cache_dir.clone(), keep_shards: self.keep_shards, ..HubOptions::default() };
        // A hub source is pinned here, once: the run lists and downloads at this commit only.
        let (source, pinned) = match &self.source {
            SourceUri::Hub(spec) => {
                let listing = HubListing::fetch(spec, &hub).map_err(|reject| anyhow::anyhow!("{reject}"))?;
                (SourceUri::Hub(listing.pinned_spec(spec)), Some(listing.pinned_source(spec)))
            }
            other => (other.clone(), None),
        };
        hub.skip = shards::done::done_shards(&self.output, pinned.as_ref())?;
        let source_options = SourceOptions { hub, capacity: 0 };
        let options = PreprocessOptions {
            out: self.output.clone(),
            features,
            tokenizers,
            chunk_tracks: self.chunk_tracks,
            max_in_flight: self.max_in_flight,
            split_seed: self.split_seed,
            filter: self.filter(),
            cluster: self.cluster.clone(),
            progress,
            gate: None,
            pinned,
            accept_new_revision: self.accept_new_revision,
        };
        Ok((options, source_opener(source, source_options)))
    }

    /// The beatmap filter the flags ask for.
    fn filter(&self) -> BeatmapFilter {
        let status = (!self.status.is_empty()).then(|| self.status.clone());
        BeatmapFilter::new(status, self.years, self.stars, self.modes.clone())
    }
}

/// Arguments of `mapflow preprocess`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    preprocess: PreprocessArgs,
    /// Print the final summary as one JSON object.
    #[arg(long)]
    json: bool,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
    /// List what an hf:// source would read (shards with sizes, the total, the disk it holds at
    /// most, a time estimate from this machine's measured speed) and stop: nothing is downloaded.
    #[arg(long)]
    plan: bool,
}

/// The summary as text lines (`out`: the output directory).
pub fn summary_text(summary: &Summary, out: &std::path::Path) -> String {
    let mut text = format!(
        "{} tracks ({:.0} s of audio, {:.0}x real time), {} beatmaps, {} windows, {} rejects, {} chunks in {:.1} s -> {}",
        summary.tracks,
        summary.audio_seconds,
        summary.x_realtime,
        summary.beatmaps,
        summary.windows,
        summary.rejects,
        summary.chunks_committed,
        summary.wall_seconds,
        out.display()
    );
    text.push_str(&format!("\nfiltered (not rejects): {}", summary.filtered));
    if summary.tracks_resumed > 0 {
        text.push_str(&format!("\nresumed: {} tracks were already committed", summary.tracks_resumed));
    }
    text
}

/// Bytes of a hub shard per second of audio it holds: the `compressed` config's average from
/// the data set card (74 shards of ~1.07 GB for 2,526 h: ~70 kbit/s Opus).
const COMPRESSED_BYTES_PER_SECOND: f64 = 74.0 * 1.07e9 / (2526.0 * 3600.0);
/// The same for other configs (`original`: the maps' own MP3s), assumed: 192 kbit/s.
const ORIGINAL_BYTES_PER_SECOND: f64 = 24_000.0;
/// Seconds of the probe signal `--plan` featurizes to measure this machine's speed.
const PROBE_SECONDS: usize = 20;

/// What `--plan` prints with `--json`.
#[derive(Debug, serde::Serialize)]
struct PlanReport {
    source: String,
    sha: String,
    shards: Vec<PlannedShard>,
    download_bytes: u64,
    max_disk_bytes: u64,
    audio_seconds_estimate: f64,
    bytes_per_audio_second: f64,
    x_realtime_per_core: f64,
    workers: usize,
    cpu_seconds_estimate: f64,
    wall_seconds_estimate: f64,
}

/// One shard of a [`PlanReport`].
#[derive(Debug, serde::Serialize)]
struct PlannedShard {
    path: String,
    bytes: u64,
    done: bool,
}

/// `mapflow preprocess --plan`: the listing at the commit the revision resolves to, what is done
/// in the output already, and the estimates; downloads nothing and writes nothing.
fn plan(args: &PreprocessArgs, json: bool) -> anyhow::Result<()> {
    let SourceUri::Hub(spec) = &args.source else {
        anyhow::bail!("--plan lists what an hf:// source would download; this source is local");
    };
    let hub = HubOptions { cache_dir: args.cache_dir.clone(), ..HubOptions::default() };
    let listing = HubListing::fetch(spec, &hub).map_err(|reject| anyhow::anyhow!("{reject}"))?;
    let done = shards::done::done_shards(&args.output, Some(&listing.pinned_source(spec)))?;
    let planned = listing.plan(&done, args.keep_shards);
    let features = super::load_feature_config(args.features.as_deref())?;
    let x_realtime_per_core = measure_speed(features)?;
    let bytes_per_audio_second =
        if spec.config == "compressed" { COMPRESSED_BYTES_PER_SECOND } else { ORIGINAL_BYTES_PER_SECOND };
    let audio_seconds_estimate = planned.download_bytes as f64 / bytes_per_audio_second;
    let workers = args.cluster.workers.max(1);
    let cpu_seconds_estimate = audio_seconds_estimate / x_realtime_per_core;
    let report = PlanReport {
        source: spec.to_string(),
        sha: listing.sha.clone(),
        shards: planned
            .shards
            .iter()
            .map(|(shard, done)| PlannedShard { path: shard.path.clone(), bytes: shard.size, done: *done })
            .collect(),
        download_bytes: planned.download_bytes,
        max_disk_bytes: planned.max_disk_bytes,
        audio_seconds_estimate,
        bytes_per_audio_second,
        x_realtime_per_core,
        workers,
        cpu_seconds_estimate,
        wall_seconds_estimate: cpu_seconds_estimate / workers as f64,
    };
    if json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print!("{}", plan_text(&report));
    }
    Ok(())
}

/// The plan as text: one line per shard, then the totals and the estimate.
fn plan_text(report: &PlanReport) -> String {
    let gb = |bytes: u64| bytes as f64 / 1e9;
    let done = report.shards.iter().filter(|s| s.done).count();
    let mut text = format!(
        "{} at commit {}: {} shards, {} done in the output (not downloaded)\n",
        report.source,
        report.sha,
        report.shards.len(),
        done
    );
    for shard in &report.shards {
        let mark = if shard.done { "  done" } else { "" };
        text.push_str(&format!("  {}  {:>9.3} GB{mark}\n", shard.path, gb(shard.bytes)));
    }
    text.push_str(&format!(
        "download {:.3} GB; disk: at most {:.3} GB of shards at once, besides the output\n",
        gb(report.download_bytes),
        gb(report.max_disk_bytes)
    ));
    text.push_str(&format!(
        "time: ~{:.1} h of audio (at {:.0} bytes per second of audio); this machine featurizes {:.0}x real time per core \
         (PCM decode, resample, features: compressed-audio decoding, tokenizing and the download come on top), \
         so at least {:.1} h of CPU, {:.1} h on {} worker(s)\n",
        report.audio_seconds_estimate / 3600.0,
        report.bytes_per_audio_second,
        report.x_realtime_per_core,
        report.cpu_seconds_estimate / 3600.0,
        report.wall_seconds_estimate / 3600.0,
        report.workers
    ));
    text
}

/// Seconds of audio this machine featurizes per second of one core: the best of two runs of the
/// feature chain on [`PROBE_SECONDS`] of a synthetic 44.1 kHz stereo WAV.
fn measure_speed(features: operators::features::FeatureConfig) -> anyhow::Result<f64> {
    use operators::featurize::{AudioInput, featurize};
    let extractor = operators::features::FeatureExtractor::new(features).map_err(anyhow::Error::msg)?;
    let wav = probe_wav(44_100, PROBE_SECONDS);
    let mut best = f64::INFINITY;
    for _ in 0..2 {
        let input = AudioInput::Bytes("plan-probe.wav", wav.clone());
        let done = featurize(input, &extractor, &operators::audio::DecodeOptions::default())?;
        best = best.min(done.times.total().as_secs_f64());
    }
    Ok(PROBE_SECONDS as f64 / best.max(1e-9))
}

/// A 16-bit stereo WAV of `seconds` of clicks over a sweep at `rate` Hz.
fn probe_wav(rate: u32, seconds: usize) -> Vec<u8> {
    let frames = rate as usize * seconds;
    let data_len = (frames * 4) as u32;
    let mut wav = Vec::with_capacity(44 + data_len as usize);
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(36 + data_len).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    wav.extend_from_slice(&16u32.to_le_bytes());
    wav.extend_from_slice(&1u16.to_le_bytes()); // PCM
    wav.extend_from_slice(&2u16.to_le_bytes());
    wav.extend_from_slice(&rate.to_le_bytes());
    wav.extend_from_slice(&(rate * 4).to_le_bytes());
    wav.extend_from_slice(&4u16.to_le_bytes());
    wav.extend_from_slice(&16u16.to_le_bytes());
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&data_len.to_le_bytes());
    for i in 0..frames {
        let t = i as f32 / rate as f32;
        let click = if i % (rate as usize / 2) < 200 { 0.8 } else { 0.0 };
        let sample = ((0.3 * (std::f32::consts::TAU * (220.0 + 40.0 * t) * t).sin() + click) * 16_000.0) as i16;
        for _ in 0..2 {
            wav.extend_from_slice(&sample.to_le_bytes());
        }
    }
    wav
}

/// Runs `mapflow preprocess`.
pub fn run_command(args: Args) -> anyhow::Result<()> {
    if args.plan {
        return plan(&args.preprocess, args.json);
    }
    let (options, opener) = args.preprocess.options(!args.quiet)?;
    let summary = run(options, opener)?;
    if args.json {
        println!("{}", serde_json::to_string(&summary)?);
    } else {
        println!("{}", summary_text(&summary, &args.preprocess.output));
    }
    if let Some(error) = summary.source_error {
        anyhow::bail!("the source stopped early: {error} (finished chunks are kept; rerun to resume)");
    }
    if let Some(first) = summary.chunk_failures.first() {
        anyhow::bail!(
            "{} chunk(s) could not be written, first: {first} (finished chunks are kept; rerun to redo the rest)",
            summary.chunk_failures.len()
        );
    }
    Ok(())
}
