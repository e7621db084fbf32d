//! The model side as a user runs it: `synth` → `preprocess` → `train` → `generate` / `eval`.
//! Learnability: the tiny model overfits one song until free-running generation reproduces its
//! rhythm; `--resume` continues exactly, also after `kill -9` at random points; bad inputs to `generate` get clear errors.

#[path = "support/cli.rs"]
mod cli;
#[path = "support/kill.rs"]
mod kill;
#[path = "support/snapshot.rs"]
mod snapshot;

use std::path::{Path, PathBuf};
use std::process::Command;

use cli::{mapflow, run_err, run_ok};
use operators::beatmap::{HitObject, parse_beatmap, star_rating};
use operators::metrics::rhythm_f1;
use shards::read::read_tracks;
use snapshot::{assert_same, snapshot};

fn overfit_preset() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/model/overfit-tiny.toml")
}

/// One 20 s synthetic song: its data set, its audio file and its true osu!standard map.
struct OneSong {
    data: PathBuf,
    audio: PathBuf,
    truth: String,
    /// The split its track landed in: any of the three, read from the output (the hash of its
    /// song, `Soleily - Renatus`, under the default seed) rather than assumed.
    split: &'static str,
    /// A split without the song.
    empty_split: &'static str,
}

fn one_song(dir: &Path) -> OneSong {
    let corpus = dir.join("corpus");
    run_ok(mapflow().args(["synth", "--songs", "1", "--seconds", "20", "-o"]).arg(&corpus));
    let data = dir.join("data");
    run_ok(mapflow().args(["preprocess", "--quiet", "--source"]).arg(corpus.join("compressed")).arg("-o").arg(&data));
    let shard = std::fs::File::open(corpus.join("compressed/data-000000.tar")).unwrap();
    let mut audio = None;
    let mut truth = None;
    for entry in tar::Archive::new(shard).entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().to_string_lossy().into_owned();
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut bytes).unwrap();
        if name.ends_with(".json") {
            let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            let map = json["beatmaps"].as_array().unwrap().iter().find(|b| b["mode"] == 0).unwrap();
            truth = Some(map["content"].as_str().unwrap().to_owned());
        } else {
            let path = dir.join(&name);
            std::fs::write(&path, bytes).unwrap();
            audio = Some(path);
        }
    }
    let tracks = read_tracks(&data.join("tracks/data-000000-c0000.parquet")).unwrap();
    let split = tracks[0].split.as_str();
    let empty_split = if split == "test" { "val" } else { "test" };
    OneSong { data, audio: audio.unwrap(), truth: truth.unwrap(), split, empty_split }
}

/// `train` on the song's split, validating on it, with the model config `preset`.
fn train_command(song: &OneSong, run: &Path, steps: u32, preset: &Path, extra: &[&str]) -> Command {
    let mut cmd = mapflow();
    cmd.args(["train", "--json", "--device", "cpu", "--max-steps", &steps.to_string()])
        .args(["--train-split", song.split, "--val-split", song.split, "--data"])
        .arg(&song.data)
        .arg("--model")
        .arg(preset)
        .arg("-o")
        .arg(run)
        .args(extra);
    cmd
}

/// Trains on the song's split and validates on it, with the overfitting recipe.
fn train(song: &OneSong, run: &Path, steps: u32, extra: &[&str]) -> serde_json::Value {
    serde_json::from_str(&run_ok(&mut train_command(song, run, steps, &overfit_preset(), extra))).unwrap()
}

/// The steps `metrics.jsonl` in `run` logs, in order.
fn logged_steps(run: &Path) -> Vec<u64> {
    std::fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok()?.get("step")?.as_u64())
        .collect()
}

fn objects_before(text: &str, end_ms: f64) -> Vec<HitObject> {
    parse_beatmap("map", text).unwrap().objects.into_iter().filter(|o| o.time_ms < end_ms).collect()
}

#[test]
fn tiny_model_overfits_one_song_and_generation_reproduces_its_rhythm() {
    let dir = tempfile::tempdir().unwrap();
    let song = one_song(dir.path());
    let run = dir.path().join("run");
    let summary = train(&song, &run, 60, &[]);
    let validation = &summary["last_validation"];
    assert!(validation["rhythm_f1_50ms"].as_f64().unwrap() >= 0.9, "{summary}");

    // metrics.jsonl: every logged step, validation steps with their scores.
    let log = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = log.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(lines.iter().all(|l| l["step"].is_u64() && l["train_loss"].is_f64() && l["data_wait_fraction"].is_f64()));
    assert!(lines.iter().filter(|l| l["val_loss"].is_f64() && l["rhythm_f1_50ms"].is_f64()).count() >= 2);
    for name in ["best.safetensors", "best.json", "last.safetensors", "last.optim.safetensors", "step-000060.json"] {
        assert!(run.join(name).is_file(), "{name} missing");
    }

    // Free-running generation with estimated timing reproduces the song's rhythm.
    let osu = dir.path().join("generated.osu");
    let report: serde_json::Value = serde_json::from_str(&run_ok(
        mapflow()
            .arg("generate")
            .arg(&song.audio)
            .arg("--checkpoint")
            .arg(&run)
            .args(["--stars", "4", "--json", "-o"])
            .arg(&osu),
    ))
    .unwrap();
    for key in ["bpm", "offset_ms", "objects", "stars_requested", "stars_achieved", "seconds"] {
        assert!(report[key].is_number(), "{key} missing from {report}");
    }
    let text = std::fs::read_to_string(&osu).unwrap();
    let generated = objects_before(&text, 20_000.0);
    let truth = objects_before(&song.truth, 20_000.0);
    let f1 = rhythm_f1(&generated, &truth, 50.0).f1;
    assert!(f1 >= 0.9, "rhythm F1 {f1}: {} generated vs {} true objects", generated.len(), truth.len());
    let stars = star_rating("generated", &text).unwrap();
    assert!((stars - report["stars_achieved"].as_f64().unwrap()).abs() < 1e-9);

    // Same seed, same map; an .osz holds the map and the audio.
    let again = dir.path().join("again.osu");
    run_ok(
        mapflow()
            .arg("generate")
            .arg(&song.audio)
            .arg("--checkpoint")
            .arg(&run)
            .args(["--stars", "4", "-o"])
            .arg(&again),
    );
    assert_eq!(std::fs::read(&again).unwrap(), text.as_bytes());
    let osz = dir.path().join("song.osz");
    run_ok(
        mapflow()
            .arg("generate")
            .arg(&song.audio)
            .arg("--checkpoint")
            .arg(&run)
            .args(["--bpm", "182", "--offset", "1500", "-o"])
            .arg(&osz),
    );
    let mut zip = zip::ZipArchive::new(std::fs::File::open(&osz).unwrap()).unwrap();
    let names: Vec<String> = (0..zip.len()).map(|i| zip.by_index(i).unwrap().name().unwrap().into_owned()).collect();
    assert!(names.iter().any(|n| n.ends_with(".osu")) && names.iter().any(|n| n.ends_with(".opus")), "{names:?}");

    // eval scores free-running and teacher-forced decoding on the split.
    let eval: serde_json::Value = serde_json::from_str(&run_ok(
        mapflow()
            .args(["eval", "--split", song.split, "--json", "--checkpoint"])
            .arg(&run)
            .arg("--data")
            .arg(&song.data),
    ))
    .unwrap();
    assert!(eval["free_running"]["rhythm_f1_50ms"]["f1"].as_f64().unwrap() >= 0.9, "{eval}");
    assert!(eval["teacher_forced_token_accuracy"].as_f64().unwrap() > 0.5, "{eval}");
    // The tempo estimator on the stored features finds the rendered song's BPM.
    assert!(eval["bpm_within_half"].as_f64().unwrap() == 1.0 && eval["bpm_error"].as_f64().unwrap() < 0.5, "{eval}");
    assert!(run.join(format!("eval-{}.json", song.split)).is_file());
}

#[test]
fn resume_continues_exactly_and_generate_rejects_bad_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let song = one_song(dir.path());
    let (straight, resumed) = (dir.path().join("straight"), dir.path().join("resumed"));
    train(&song, &straight, 6, &[]);
    train(&song, &resumed, 3, &[]);
    let err = run_err(
        mapflow()
            .args(["train", "--max-steps", "6", "--train-split", song.split, "--data"])
            .arg(&song.data)
            .arg("--model")
            .arg(overfit_preset())
            .arg("-o")
            .arg(&resumed),
    );
    assert!(err.contains("--resume"), "{err}");
    // Resuming with another network is refused, naming what the checkpoint was made with.
    let narrower = dir.path().join("narrower.toml");
    std::fs::write(
        &narrower,
        std::fs::read_to_string(overfit_preset()).unwrap().replace("ff_dim = 512", "ff_dim = 256"),
    )
    .unwrap();
    let err = run_err(
        mapflow()
            .args(["train", "--resume", "--max-steps", "6", "--train-split", song.split, "--data"])
            .arg(&song.data)
            .arg("--model")
            .arg(&narrower)
            .arg("-o")
            .arg(&resumed),
    );
    assert!(err.contains("last") && err.contains("made with tokenizer") && err.contains("network"), "{err}");
    // An unreadable best.json stops the resume (it would let the next validation replace `best`).
    let best = std::fs::read(resumed.join("best.json")).unwrap();
    std::fs::write(resumed.join("best.json"), "{ torn").unwrap();
    let err = run_err(
        mapflow()
            .args(["train", "--resume", "--max-steps", "6", "--train-split", song.split, "--data"])
            .arg(&song.data)
            .arg("--model")
            .arg(overfit_preset())
            .arg("-o")
            .arg(&resumed),
    );
    assert!(err.contains("best.json") && err.contains("unreadable"), "{err}");
    std::fs::write(resumed.join("best.json"), best).unwrap();
    train(&song, &resumed, 6, &["--resume"]);
    for file in ["last.safetensors", "last.optim.safetensors"] {
        assert!(
            std::fs::read(straight.join(file)).unwrap() == std::fs::read(resumed.join(file)).unwrap(),
            "{file} differs after resume"
        );
    }
    let steps = logged_steps(&resumed);
    assert!(steps.windows(2).all(|w| w[0] < w[1]) && steps.last() == Some(&6), "steps logged once each: {steps:?}");

    // A run without validation windows still leaves a loadable best checkpoint.
    let unvalidated = dir.path().join("unvalidated");
    run_ok(
        mapflow()
            .args(["train", "--train-split", song.split, "--val-split", song.empty_split, "--max-steps", "1", "--data"])
            .arg(&song.data)
            .arg("--model")
            .arg(overfit_preset())
            .arg("-o")
            .arg(&unvalidated),
    );
    // Loaded and run: eval scores the song's map with it (what it places, if anything, is not
    // the point after one step).
    let eval: serde_json::Value = serde_json::from_str(&run_ok(
        mapflow()
            .args(["eval", "--split", song.split, "--json", "--checkpoint"])
            .arg(&unvalidated)
            .arg("--data")
            .arg(&song.data),
    ))
    .unwrap();
    assert!(eval["maps"] == 1 && eval["windows"].as_u64().unwrap() > 0, "{eval}");

    // A split without the song: no windows to train on or beatmaps to score.
    let no_windows = run_err(
        mapflow()
            .args(["train", "--train-split", song.empty_split, "--max-steps", "1", "--data"])
            .arg(&song.data)
            .arg("--model")
            .arg(overfit_preset())
            .arg("-o")
            .arg(dir.path().join("empty")),
    );
    assert!(no_windows.contains("no training tracks") && no_windows.contains("data"), "{no_windows}");
    let no_maps = run_err(
        mapflow()
            .args(["eval", "--split", song.empty_split, "--checkpoint"])
            .arg(&straight)
            .arg("--data")
            .arg(&song.data),
    );
    assert!(no_maps.contains(&format!("no {} beatmaps", song.empty_split)) && no_maps.contains("data"), "{no_maps}");

    let generate = |audio: &Path, checkpoint: &Path| {
        run_err(
            mapflow()
                .arg("generate")
                .arg(audio)
                .arg("--checkpoint")
                .arg(checkpoint)
                .arg("-o")
                .arg(dir.path().join("x.osu")),
        )
    };
    let garbage = dir.path().join("garbage.mp3");
    std::fs::write(&garbage, b"not audio at all").unwrap();
    assert!(generate(&garbage, &straight).contains("garbage.mp3"));
    let silent = dir.path().join("silent.wav");
    std::fs::write(&silent, wav(&vec![0i16; 22_050 * 4])).unwrap();
    assert!(generate(&silent, &straight).contains("silent"));
    let short = dir.path().join("short.wav");
    std::fs::write(&short, wav(&(0..22_050 / 2).map(|i| ((i * 97) % 2000) as i16 - 1000).collect::<Vec<_>>())).unwrap();
    assert!(generate(&short, &straight).contains("too short"));
    assert!(generate(&song.audio, &dir.path().join("no-such-run")).contains("no-such-run"));

    // A checkpoint whose record names another feature, tokenizer or network config than its
    // own is refused, naming the checkpoint.
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(straight.join("best.json")).unwrap()).unwrap();
    let tampered = |name: &str, edit: &dyn Fn(&mut serde_json::Value)| {
        let run = dir.path().join(name);
        std::fs::create_dir(&run).unwrap();
        std::fs::copy(straight.join("best.safetensors"), run.join("best.safetensors")).unwrap();
        let mut record = record.clone();
        edit(&mut record);
        std::fs::write(run.join("best.json"), serde_json::to_vec(&record).unwrap()).unwrap();
        let err = generate(&song.audio, &run);
        assert!(err.contains(name), "{err}");
        err
    };
    assert!(tampered("other-features", &|r| r["feature_config"] = "0000".into()).contains("trained on features"));
    assert!(tampered("other-tokenizer", &|r| r["tokenizer"]["grid_x"] = 16.into()).contains("does not match its hash"));
    assert!(
        tampered("other-network", &|r| r["model"]["network"]["d_model"] = 64.into())
            .contains("network hash does not match")
    );
    // eval reads the stored features: it checks the checkpoint's against the data set's.
    let err = run_err(
        mapflow().arg("eval").arg("--checkpoint").arg(dir.path().join("other-features")).arg("--data").arg(&song.data),
    );
    assert!(err.contains("trained on features 0000") && err.contains("holds features"), "{err}");
}

#[test]
fn train_killed_at_random_points_resumes_to_the_same_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let song = one_song(dir.path());
    // A checkpoint every 2 steps, so kills land before, between and inside checkpoints.
    let preset = dir.path().join("often.toml");
    let recipe = std::fs::read_to_string(overfit_preset()).unwrap();
    assert!(recipe.contains("validate_every = 30"), "the recipe changed: {recipe}");
    std::fs::write(&preset, recipe.replace("validate_every = 30", "validate_every = 2")).unwrap();
    const STEPS: u32 = 6;
    let straight = dir.path().join("straight");
    let (span, _) = kill::timed(&mut train_command(&song, &straight, STEPS, &preset, &[]));

    // What a user does after a kill: `--resume` when a checkpoint was saved, else start again.
    let killed = dir.path().join("killed");
    let again = || {
        let resume: &[&str] = if killed.join("last.json").exists() { &["--resume"] } else { &[] };
        train_command(&song, &killed, STEPS, &preset, resume)
    };
    let mut points = kill::KillPoints::new("train");
    let delays = points.kill_repeatedly(3, span, again);
    run_ok(&mut again());
    let what = format!("train resumed after kill -9 at {delays:?} (MAPFLOW_KILL_SEED={})", points.seed());
    let checkpoints = |run: &Path| {
        let mut files = snapshot(run);
        files.remove("metrics.jsonl"); // timings
        files
    };
    assert_same(&checkpoints(&killed), &checkpoints(&straight), &what);
    let steps = logged_steps(&killed);
    assert!(steps.windows(2).all(|w| w[0] < w[1]) && steps.last() == Some(&u64::from(STEPS)), "{what}: {steps:?}");
}

/// A mono 16-bit 22,050 Hz WAV file.
fn wav(samples: &[i16]) -> Vec<u8> {
    let data = samples.len() as u32 * 2;
    let mut out = Vec::new();
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    for v in [16u32, 1 | (1 << 16), 22_050, 44_100, 2 | (16 << 16)] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data.to_le_bytes());
    samples.iter().for_each(|s| out.extend_from_slice(&s.to_le_bytes()));
    out
}
