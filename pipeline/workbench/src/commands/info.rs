//! `mapflow info`: what libtorch this binary runs on.

/// Arguments of `mapflow info`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// Runs `mapflow info`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let info = model::runtime::runtime_info();
    if args.json {
        println!("{}", serde_json::to_string(&info)?);
    } else {
        println!(
            "libtorch: device {} | CUDA {} ({} devices, cuDNN {}) | {} CPU threads",
            info.device, info.cuda_available, info.cuda_devices, info.cudnn_available, info.cpu_threads
        );
    }
    Ok(())
}
