//! `mapflow preprocess --source SRC --output OUT`: the streaming pipeline into Parquet shards.

use std::path::PathBuf;

use dataflow::preprocess::{ClusterArgs, PreprocessOptions, SourceOpener, Summary, defaults, run, source_opener};
use dataflow::sources::hub::HubOptions;
use dataflow::sources::{SourceOptions, SourceUri};

/// What to preprocess into where, and how: shared by `mapflow preprocess` and `mapflow run`.
#[derive(Debug, clap::Args)]
pub struct PreprocessArgs {
    /// Input: a directory of WebDataset shards, `hf://project-riz/osu-beatmaps/compressed[?shards=A..B&revision=R]`,
    /// or `songs:PATH` (an osu! Songs folder or a directory of .osz files).
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
    /// Hugging Face cache directory (default: HF_HOME's hub cache).
    #[arg(long)]
    cache_dir: Option<PathBuf>,
    /// Keep downloaded shards instead of deleting each one once read.
    #[arg(long)]
    keep_shards: bool,
}

impl PreprocessArgs {
    /// The options (configs loaded and checked) and the source they read, progress shown or not.
    pub fn options(&self, progress: bool) -> anyhow::Result<(PreprocessOptions, SourceOpener)> {
        let features = super::load_feature_config(self.features.as_deref())?;
        let tokenizers = super::load_tokenizers(&self.tokenizer)?;
        let source_options = SourceOptions {
            hub: HubOptions {
                cache_dir: self.cache_dir.clone(),
                keep_shards: self.keep_shards,
                skip: shards::done::done_shards(&self.output)?,
                ..HubOptions::default()
            },
            capacity: 0,
        };
        let options = PreprocessOptions {
            out: self.output.clone(),
            features,
            tokenizers,
            chunk_tracks: self.chunk_tracks,
            max_in_flight: self.max_in_flight,
            split_seed: self.split_seed,
            cluster: self.cluster.clone(),
            progress,
            gate: None,
        };
        Ok((options, source_opener(self.source.clone(), source_options)))
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
    if summary.tracks_resumed > 0 {
        text.push_str(&format!("\nresumed: {} tracks were already committed", summary.tracks_resumed));
    }
    text
}

/// Runs `mapflow preprocess`.
pub fn run_command(args: Args) -> anyhow::Result<()> {
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
