//! `mapflow synth --output DIR`: a small offline corpus in the hub's exact tar layout.

use std::path::PathBuf;

use synth::corpus::{CorpusSpec, write_corpus};

/// Arguments of `mapflow synth`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Directory to write (`DIR/compressed/data-NNNNNN.tar` or `DIR/original/...`).
    #[arg(short, long)]
    output: PathBuf,
    #[command(flatten)]
    spec: CorpusSpec,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// Runs `mapflow synth`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let summary = write_corpus(&args.output, &args.spec)?;
    if args.json {
        println!("{}", serde_json::to_string(&summary)?);
    } else {
        println!(
            "wrote {} songs ({:.0} s of audio, {} beatmaps) in {} shards under {}",
            summary.songs,
            summary.audio_seconds,
            summary.beatmaps,
            summary.shards.len(),
            args.output.display()
        );
    }
    Ok(())
}
