//! `mapflow retokenize --output OUT --tokenizer NEW.toml [--drop HASH_OR_TOML]`: new tokenizer
//! configs over an existing output; no audio is decoded.

use std::path::PathBuf;

use anyhow::Context;
use dataflow::retokenize::{RetokenizeOptions, run};

/// Arguments of `mapflow retokenize`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Output directory of a finished `mapflow preprocess` (its tracks/ and beatmaps/ are read,
    /// never written).
    #[arg(short, long)]
    output: PathBuf,
    /// Tokenizer preset(s) to add: each gets its tokens/<hash>/ table for every chunk.
    #[arg(long)]
    tokenizer: Vec<PathBuf>,
    /// Config(s) to drop, by hash or by preset file: their tokens/<hash>/ shards are deleted.
    #[arg(long = "drop", value_name = "HASH_OR_TOML")]
    drop_configs: Vec<String>,
    /// Worker threads.
    #[arg(long, default_value_t = 1)]
    workers: usize,
    /// Print the summary as one JSON object.
    #[arg(long)]
    json: bool,
}

/// A `--drop` value: an existing preset file names its hash, anything else is a hash.
fn drop_hash(value: &str) -> anyhow::Result<String> {
    let path = std::path::Path::new(value);
    if path.is_file() {
        let stages = super::load_tokenizers(&[path.to_path_buf()])?;
        return Ok(stages[0].hash().to_owned());
    }
    Ok(value.to_owned())
}

/// Runs `mapflow retokenize`.
pub fn run_command(args: Args) -> anyhow::Result<()> {
    if args.tokenizer.is_empty() && args.drop_configs.is_empty() {
        anyhow::bail!("nothing to do: give --tokenizer CONFIG.toml to add and/or --drop HASH_OR_TOML to remove");
    }
    let options = RetokenizeOptions {
        out: args.output.clone(),
        add: super::load_tokenizers(&args.tokenizer)?,
        drop: args.drop_configs.iter().map(|v| drop_hash(v)).collect::<anyhow::Result<_>>()?,
        workers: args.workers,
    };
    let summary = run(options).with_context(|| format!("retokenizing {}", args.output.display()))?;
    if args.json {
        println!("{}", serde_json::to_string(&summary)?);
    } else {
        println!(
            "added {:?}, dropped {:?}: {} shards written ({} token rows, {} beatmaps), {} resumed, {} deleted, {} chunks, {} audio decodes, {:.2} s -> {}",
            summary.added,
            summary.dropped,
            summary.shards_written,
            summary.token_rows,
            summary.beatmaps,
            summary.shards_resumed,
            summary.shards_deleted,
            summary.chunks,
            summary.audio_decodes,
            summary.wall_seconds,
            args.output.display()
        );
        if !summary.already_present.is_empty() {
            println!("already present (nothing done): {:?}", summary.already_present);
        }
    }
    if !summary.failures.is_empty() {
        anyhow::bail!(
            "{} token shards failed (the manifest is unchanged; rerun to retry):\n{}",
            summary.failures.len(),
            summary.failures.join("\n")
        );
    }
    Ok(())
}
