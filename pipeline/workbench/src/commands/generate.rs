//! `mapflow generate AUDIO (--checkpoint RUN | --method onsets) --stars S[,S…] -o OUT.osz|OUT.osu`.

use std::path::PathBuf;

use model::generate::SamplingOptions;
use training::generate::{GenerateOptions, Method, generate_maps, write_output};

use super::train::parse_device;

/// Arguments of `mapflow generate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The song (MP3, OGG, Opus, WAV, FLAC, M4A).
    audio: PathBuf,
    /// What places the objects: `model` (a trained checkpoint, `--checkpoint`) or `onsets` (no
    /// checkpoint: the song's onset peaks snapped to the beat grid, thinned to the density the
    /// requested stars need, laid out with a simple flow; an instant map and the baseline the
    /// model is measured against).
    #[arg(long, value_enum, default_value_t = MethodArg::Model)]
    method: MethodArg,
    /// A training run directory (uses its best checkpoint) or a checkpoint file; needed by
    /// `--method model`.
    #[arg(long, required_if_eq("method", "model"))]
    checkpoint: Option<PathBuf>,
    /// Star rating to aim for; several (`2,3.5,5,6.5`) make a spread: one difficulty each, in one
    /// .osz, on one timing, named as osu! names them (Easy … Expert+).
    #[arg(long, value_delimiter = ',', default_value = "4.0", num_args = 1..)]
    stars: Vec<f64>,
    /// BPM of the song (with --offset); estimated from the audio when absent.
    #[arg(long, requires = "offset")]
    bpm: Option<f64>,
    /// Time of a downbeat in ms (with --bpm).
    #[arg(long, requires = "bpm")]
    offset: Option<f64>,
    /// Output: .osz (map + audio, for osu! to import) or .osu.
    #[arg(short, long)]
    output: PathBuf,
    /// Sampling seed: the same seed gives the same map.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Sampling temperature (0 = always the most likely token).
    #[arg(long, default_value_t = 0.0)]
    temperature: f64,
    /// Nucleus sampling mass.
    #[arg(long, default_value_t = 0.9)]
    top_p: f64,
    /// cpu, cuda, or auto.
    #[arg(long, default_value = "auto", value_parser = parse_device)]
    device: tch::Device,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// The values of `--method`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum MethodArg {
    /// A trained checkpoint.
    Model,
    /// The non-learned onset generator.
    Onsets,
}

/// Runs `mapflow generate`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let method = match (args.method, args.checkpoint) {
        (MethodArg::Model, Some(checkpoint)) => Method::Model {
            checkpoint,
            sampling: SamplingOptions {
                temperature: args.temperature,
                top_p: args.top_p,
                seed: args.seed,
                ..SamplingOptions::default()
            },
            device: args.device,
        },
        (MethodArg::Model, None) => anyhow::bail!("--method model needs --checkpoint RUN"),
        (MethodArg::Onsets, Some(_)) => anyhow::bail!("--method onsets uses no checkpoint: drop --checkpoint"),
        (MethodArg::Onsets, None) => Method::Onsets { seed: args.seed },
    };
    let options =
        GenerateOptions { audio: args.audio.clone(), stars: args.stars, timing: args.bpm.zip(args.offset), method };
    if options.stars.len() > 1 && !args.output.extension().is_some_and(|e| e.eq_ignore_ascii_case("osz")) {
        anyhow::bail!(
            "{}: a spread of {} difficulties is written as an .osz",
            args.output.display(),
            options.stars.len()
        );
    }
    let maps = generate_maps(&options)?;
    write_output(&maps, &args.audio, &args.output)?;
    if args.json {
        let mut value = if maps.len() == 1 {
            serde_json::to_value(&maps[0].report)?
        } else {
            let difficulties: Vec<serde_json::Value> = maps
                .iter()
                .map(|g| {
                    let mut v = serde_json::to_value(&g.report)?;
                    v["version"] = serde_json::Value::String(g.map.metadata.version.clone());
                    Ok(v)
                })
                .collect::<anyhow::Result<_>>()?;
            serde_json::json!({ "difficulties": difficulties })
        };
        value["output"] = serde_json::Value::String(args.output.display().to_string());
        println!("{value}");
        return Ok(());
    }
    let r = &maps[0].report;
    let doubt = if r.timing_low_confidence {
        " — LOW CONFIDENCE (variable tempo or weak beat?): pass --bpm/--offset"
    } else {
        ""
    };
    println!("timing: {:.2} BPM, offset {:.1} ms ({}){doubt}", r.bpm, r.offset_ms, r.timing_source);
    for g in &maps {
        let r = &g.report;
        let windows = if r.windows > 0 { format!(" in {} windows", r.windows) } else { String::new() };
        let name = if maps.len() > 1 { format!("[{}] ", g.map.metadata.version) } else { String::new() };
        println!(
            "{name}{} objects ({} circles, {} sliders, {} spinners) over {:.1} s{windows} ({})",
            r.objects, r.counts.circles, r.counts.sliders, r.counts.spinners, r.audio_seconds, r.method
        );
        println!(
            "{name}stars: requested {:.2}, achieved {:.2} (rosu-pp; {:.2} before steering, {} tries)",
            r.stars_requested, r.stars_achieved, r.stars_unsteered, r.stars_tries
        );
    }
    let seconds = maps.last().map_or(0.0, |g| g.report.seconds);
    println!("wrote {} in {:.2} s", args.output.display(), seconds);
    Ok(())
}
