//! Fuzz properties of the decoders of outside input in `operators` (issue 31): audio bytes of
//! every container, `.osu` text, and the TOML configs. Each case must end in `Ok` or a typed
//! error naming its input — never a panic or a hang.
//!
//! ```text
//!  fixtures (tests/data) + ../shared/real (when present) ─► mutate (tests/support/mutate.rs)
//!    audio bytes ─► featurize (decode ─► resample ─► mel ─► onset) ─► tempo; read_tags
//!    .osu text   ─► star_rating; parse_beatmap ─► tokenize (both presets) ─► detokenize; .osu writer
//!    TOML text   ─► FeatureConfig / TokenizerConfig ─► (valid) extractor / tokenizer at work
//! ```
//! Audio seeds are cut to their first 96 KiB (a few seconds): decoding is what a case costs.

#[path = "../../tests/support/mutate.rs"]
mod mutate;

use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use operators::audio::{AudioError, DecodeOptions, read_tags};
use operators::beatmap::write::to_osu_string;
use operators::beatmap::{Beatmap, parse_beatmap, star_rating};
use operators::features::{FeatureConfig, FeatureExtractor};
use operators::featurize::{AudioInput, featurize};
use operators::tempo::{TempoConfig, TempoInput, estimate_tempo};
use operators::tokenizer::{Tokenizer, TokenizerConfig};
use proptest::prelude::*;

/// Cases per audio container (and for arbitrary bytes).
const AUDIO_CASES: u32 = 48;
/// Cases of `.osu` text.
const OSU_CASES: u32 = 160;
/// Cases per config kind.
const CONFIG_CASES: u32 = 160;
/// Bytes of an audio seed kept.
const AUDIO_SEED_BYTES: usize = 96 << 10;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn data(relative: &str) -> PathBuf {
    workspace().join("tests/data").join(relative)
}

/// The longest audio a case decodes: mutated headers may claim hours; the limit must hold.
fn decode_options() -> DecodeOptions {
    DecodeOptions { max_seconds: 120.0, ..DecodeOptions::default() }
}

// ---------------------------------------------------------------------------------------------
// Audio
// ---------------------------------------------------------------------------------------------

/// Seeds of one container: fixtures named by `fixtures`, plus real files ending in `real_ext`
/// under `../shared/real/{music,sets}` (the first two found).
fn audio_seeds(fixtures: &[&str], real_ext: Option<&str>) -> Vec<Vec<u8>> {
    let mut seeds: Vec<Vec<u8>> = fixtures.iter().map(|f| mutate::head_of(&data(f), AUDIO_SEED_BYTES)).collect();
    if let Some(ext) = real_ext {
        let mut real = Vec::new();
        for dir in ["music", "sets"] {
            let Some(root) = mutate::shared_real(&workspace(), dir) else { continue };
            let mut found: Vec<PathBuf> =
                walk(&root).into_iter().filter(|p| p.extension().is_some_and(|e| e == ext)).collect();
            found.sort();
            real.extend(found.into_iter().take(1));
        }
        seeds.extend(real.iter().map(|p| mutate::head_of(p, AUDIO_SEED_BYTES)));
    }
    seeds
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() { out.extend(walk(&path)) } else { out.push(path) }
    }
    out
}

static EXTRACTOR: LazyLock<FeatureExtractor> =
    LazyLock::new(|| FeatureExtractor::new(FeatureConfig::default()).expect("the default config is valid"));

/// The whole chain a song goes through in `preprocess` and `generate`, on `bytes`.
fn audio_chain(bytes: Vec<u8>) -> Result<(), TestCaseError> {
    let name = "fuzz.audio";
    let tags_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(tags_file.path(), &bytes).unwrap();
    let _ = read_tags(tags_file.path());
    match featurize(AudioInput::Bytes(name, bytes), &EXTRACTOR, &decode_options()) {
        Ok(song) => {
            prop_assert!(song.seconds() <= decode_options().max_seconds + 1.0, "{} s", song.seconds());
            prop_assert!(song.audio.samples.iter().all(|s| s.is_finite()), "non-finite samples");
            prop_assert!(song.stored.values().iter().all(|v| v.is_finite()), "non-finite features");
            let input = TempoInput {
                name,
                features: &song.features,
                feature_config: EXTRACTOR.config(),
                samples: Some(&song.audio.samples),
            };
            let _ = estimate_tempo(&input, &TempoConfig::default());
        }
        Err(e) => prop_assert!(e.to_string().contains(name), "the error names no input: {e}"),
    }
    Ok(())
}

static MP3: LazyLock<Vec<Vec<u8>>> = LazyLock::new(|| {
    audio_seeds(&["audio/formats/clicks.mp3", "audio/formats/clicks-44k.mp3", "audio/test-sample-cut.mp3"], Some("mp3"))
});
static VORBIS: LazyLock<Vec<Vec<u8>>> =
    LazyLock::new(|| audio_seeds(&["audio/formats/clicks.ogg", "audio/test-sample.ogg"], Some("ogg")));
static OPUS: LazyLock<Vec<Vec<u8>>> =
    LazyLock::new(|| audio_seeds(&["audio/formats/clicks.opus", "audio/formats/stereo.opus"], None));
static WAV: LazyLock<Vec<Vec<u8>>> =
    LazyLock::new(|| audio_seeds(&["audio/formats/clicks-s16.wav", "audio/formats/clicks-f32.wav"], None));
static FLAC: LazyLock<Vec<Vec<u8>>> =
    LazyLock::new(|| audio_seeds(&["audio/formats/clicks.flac", "audio/formats/stereo.flac"], None));

proptest! {
    #![proptest_config(mutate::config(AUDIO_CASES))]

    #[test]
    fn mutated_mp3_decodes_or_is_a_typed_error(bytes in mutate::mutated(MP3.clone(), 4096)) {
        audio_chain(bytes)?;
    }

    #[test]
    fn mutated_ogg_vorbis_decodes_or_is_a_typed_error(bytes in mutate::mutated(VORBIS.clone(), 4096)) {
        audio_chain(bytes)?;
    }

    #[test]
    fn mutated_ogg_opus_decodes_or_is_a_typed_error(bytes in mutate::mutated(OPUS.clone(), 4096)) {
        audio_chain(bytes)?;
    }

    #[test]
    fn mutated_wav_decodes_or_is_a_typed_error(bytes in mutate::mutated(WAV.clone(), 4096)) {
        audio_chain(bytes)?;
    }

    #[test]
    fn mutated_flac_decodes_or_is_a_typed_error(bytes in mutate::mutated(FLAC.clone(), 4096)) {
        audio_chain(bytes)?;
    }

    #[test]
    fn arbitrary_bytes_behind_a_container_magic_are_a_typed_error(
        magic in prop::sample::select(vec![&b"ID3\x04\x00"[..], &b"\xff\xfb"[..], &b"OggS\x00\x02"[..], &b"RIFF\x24\x00\x00\x00WAVEfmt "[..], &b"fLaC"[..], &b"\x00\x00\x00\x20ftypM4A "[..]]),
        tail in proptest::collection::vec(any::<u8>(), 0..4096),
    ) {
        let bytes = [magic, &tail[..]].concat();
        audio_chain(bytes)?;
    }
}

#[test]
fn empty_audio_is_a_typed_error() {
    let error = featurize(AudioInput::Bytes("empty", Vec::new()), &EXTRACTOR, &decode_options()).unwrap_err();
    assert!(matches!(error, AudioError::Empty { .. }), "{error}");
}

// ---------------------------------------------------------------------------------------------
// .osu text
// ---------------------------------------------------------------------------------------------

/// The fixture maps (edge cases included) and the smallest difficulty of the first real sets.
static OSU_SEEDS: LazyLock<Vec<String>> = LazyLock::new(|| {
    let mut seeds = Vec::new();
    for dir in ["beatmaps", "beatmaps/edge-cases"] {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(data(dir)).unwrap().map(|e| e.unwrap().path()).collect();
        paths.sort();
        seeds.extend(paths.iter().filter(|p| p.extension().is_some_and(|e| e == "osu")).map(read_lossy));
    }
    if let Some(sets) = mutate::shared_real(&workspace(), "sets") {
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(sets).unwrap().map(|e| e.unwrap().path()).collect();
        dirs.sort();
        for dir in dirs.iter().filter(|d| d.is_dir()).take(12) {
            let mut maps: Vec<(u64, PathBuf)> = std::fs::read_dir(dir)
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|e| e == "osu"))
                .map(|p| (std::fs::metadata(&p).unwrap().len(), p))
                .collect();
            maps.sort();
            seeds.extend(maps.first().filter(|(size, _)| *size < 64 << 10).map(|(_, p)| read_lossy(p)));
        }
    }
    seeds
});

fn read_lossy(path: &PathBuf) -> String {
    String::from_utf8_lossy(&std::fs::read(path).unwrap()).into_owned()
}

/// Values that break numeric fields: huge, negative, non-finite, not numbers.
const ODD_NUMBERS: [&str; 18] = [
    "NaN",
    "inf",
    "-inf",
    "1e308",
    "-1e308",
    "1e-320",
    "2147483648",
    "-2147483649",
    "9223372036854775808",
    "99999999999",
    "-99999999",
    "-1",
    "0",
    "-0",
    "",
    "1.5",
    "x",
    "4294967295",
];

/// One edit of `.osu` text.
#[derive(Debug, Clone)]
enum OsuEdit {
    DeleteLine(usize),
    DuplicateLine(usize, u8),
    SwapLines(usize, usize),
    /// A field of a line (split at `,`, `:` or `|`) replaced by one of [`ODD_NUMBERS`].
    OddField(usize, usize, usize),
    Bytes(mutate::Mutation),
}

fn osu_edit() -> impl Strategy<Value = OsuEdit> {
    let line = any::<usize>();
    prop_oneof![
        2 => line.prop_map(OsuEdit::DeleteLine),
        2 => (line, 1u8..40).prop_map(|(l, n)| OsuEdit::DuplicateLine(l, n)),
        1 => (line, any::<usize>()).prop_map(|(a, b)| OsuEdit::SwapLines(a, b)),
        6 => (line, any::<usize>(), 0..ODD_NUMBERS.len()).prop_map(|(l, f, v)| OsuEdit::OddField(l, f, v)),
        2 => mutate::mutation().prop_map(OsuEdit::Bytes),
    ]
}

fn edit_osu(text: &str, edits: &[OsuEdit]) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    for edit in edits {
        let n = lines.len().max(1);
        match edit {
            OsuEdit::DeleteLine(l) if !lines.is_empty() => {
                lines.remove(l % n);
            }
            OsuEdit::DuplicateLine(l, times) if !lines.is_empty() => {
                let line = lines[l % n].clone();
                for _ in 0..*times {
                    lines.insert(l % n, line.clone());
                }
            }
            OsuEdit::SwapLines(a, b) if !lines.is_empty() => lines.swap(a % n, b % n),
            OsuEdit::OddField(l, f, v) if !lines.is_empty() => {
                let line = &lines[l % n];
                let mut bounds = vec![0];
                bounds.extend(line.char_indices().filter(|(_, c)| matches!(c, ',' | ':' | '|')).map(|(i, _)| i + 1));
                let start = bounds[f % bounds.len()];
                let end = line[start..].find([',', ':', '|']).map_or(line.len(), |i| start + i);
                lines[l % n] = format!("{}{}{}", &line[..start], ODD_NUMBERS[*v], &line[end..]);
            }
            OsuEdit::Bytes(m) => {
                let bytes = mutate::apply(lines.join("\n").as_bytes(), std::slice::from_ref(m));
                lines = String::from_utf8_lossy(&bytes).lines().map(str::to_owned).collect();
            }
            _ => {}
        }
    }
    lines.join("\n")
}

static TOKENIZERS: LazyLock<Vec<Tokenizer>> = LazyLock::new(|| {
    ["default.toml", "reference.toml"]
        .iter()
        .map(|name| {
            let path = workspace().join("configs/tokenizer").join(name);
            Tokenizer::new(TokenizerConfig::from_toml_file(&path).unwrap()).unwrap()
        })
        .collect()
});

/// Windows of a case whose tokens are read back (a 24 h map has ~30,000 windows).
const DETOKENIZED_WINDOWS: usize = 64;

/// What `preprocess` does with a beatmap's text (parse, rate, tokenize) and what `generate` and
/// `eval` do after (detokenize, write `.osu`).
fn osu_chain(text: &str) -> Result<(), TestCaseError> {
    let name = "fuzz.osu";
    if let Err(e) = star_rating(name, text) {
        prop_assert!(e.to_string().starts_with(name), "{e}");
    }
    let map = match parse_beatmap(name, text) {
        Ok(map) => map,
        Err(e) => {
            prop_assert!(e.to_string().starts_with(name), "{e}");
            return Ok(());
        }
    };
    tokenize_map(&TOKENIZERS, &map)?;
    let _ = to_osu_string(&map, "fuzz");
    Ok(())
}

fn tokenize_map(tokenizers: &[Tokenizer], map: &Beatmap) -> Result<(), TestCaseError> {
    let last_ms = map.objects.last().map_or(0.0, |o| o.end_time_ms());
    let song_ms = (last_ms + 2000.0).clamp(0.0, 3_600_000.0);
    for tokenizer in tokenizers {
        for song_ms in [0.0, song_ms] {
            let windows = tokenizer.tokenize(map, song_ms);
            for w in windows.iter().take(DETOKENIZED_WINDOWS) {
                prop_assert_eq!(w.tokens.len(), w.residuals.len());
                prop_assert!(w.tokens.iter().all(|&t| t < tokenizer.vocab().size()), "token out of the vocabulary");
                let decoded = tokenizer.detokenize(
                    &w.tokens,
                    &w.residuals,
                    &map.timing,
                    map.difficulty.slider_multiplier,
                    &w.window,
                );
                prop_assert!(decoded.objects.iter().all(|o| o.time_ms.is_finite()));
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(mutate::config(OSU_CASES))]

    #[test]
    fn mutated_osu_text_parses_tokenizes_or_is_a_typed_error(
        seed in 0..OSU_SEEDS.len(),
        edits in proptest::collection::vec(osu_edit(), 1..8),
    ) {
        osu_chain(&edit_osu(&OSU_SEEDS[seed], &edits))?;
    }
}

proptest! {
    #![proptest_config(mutate::config(OSU_CASES / 4))]

    #[test]
    fn arbitrary_text_under_an_osu_header_is_a_typed_error(
        section in prop::sample::select(vec!["[General]", "[Difficulty]", "[TimingPoints]", "[HitObjects]", "[Events]"]),
        body in "(.{0,40}\n){0,30}",
    ) {
        osu_chain(&format!("osu file format v14\n\n{section}\n{body}"))?;
    }
}

#[test]
fn the_osu_seeds_hold_the_fixtures() {
    assert!(OSU_SEEDS.len() >= 25, "{} seeds", OSU_SEEDS.len());
}

// ---------------------------------------------------------------------------------------------
// TOML configs
// ---------------------------------------------------------------------------------------------

/// Values a config field may be set to: bounds, beyond them, other types.
const ODD_VALUES: [&str; 24] = [
    "0",
    "-1",
    "1",
    "2",
    "3",
    "16",
    "1000",
    "65536",
    "4294967295",
    "18446744073709551615",
    "1e-300",
    "1e-9",
    "0.001",
    "1e300",
    "nan",
    "inf",
    "-inf",
    "-0.0",
    "0.5",
    "\"slaney\"",
    "\"x\"",
    "true",
    "[]",
    "{}",
];

/// One edit of TOML text.
#[derive(Debug, Clone)]
enum TomlEdit {
    /// The value after `=` on a line replaced by one of [`ODD_VALUES`].
    Value(usize, usize),
    DeleteLine(usize),
    Bytes(mutate::Mutation),
}

fn toml_edit() -> impl Strategy<Value = TomlEdit> {
    prop_oneof![
        6 => (any::<usize>(), 0..ODD_VALUES.len()).prop_map(|(l, v)| TomlEdit::Value(l, v)),
        1 => any::<usize>().prop_map(TomlEdit::DeleteLine),
        2 => mutate::mutation().prop_map(TomlEdit::Bytes),
    ]
}

fn edit_toml(text: &str, edits: &[TomlEdit]) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    for edit in edits {
        let n = lines.len().max(1);
        match edit {
            TomlEdit::Value(l, v) => {
                // Only lines with a value count, so most edits land on one.
                let valued: Vec<usize> = (0..lines.len()).filter(|&i| lines[i].contains('=')).collect();
                if let Some(&i) = valued.get(l % valued.len().max(1)) {
                    let key = lines[i].split('=').next().unwrap_or_default().to_owned();
                    lines[i] = format!("{key}= {}", ODD_VALUES[*v]);
                }
            }
            TomlEdit::DeleteLine(l) if !lines.is_empty() => {
                lines.remove(l % n);
            }
            TomlEdit::Bytes(m) => {
                let bytes = mutate::apply(lines.join("\n").as_bytes(), std::slice::from_ref(m));
                lines = String::from_utf8_lossy(&bytes).lines().map(str::to_owned).collect();
            }
            TomlEdit::DeleteLine(_) => {}
        }
    }
    lines.join("\n")
}

fn preset(kind: &str, name: &str) -> String {
    std::fs::read_to_string(workspace().join("configs").join(kind).join(name)).unwrap()
}

static FEATURE_PRESETS: LazyLock<Vec<String>> =
    LazyLock::new(|| vec![preset("features", "default.toml"), preset("features", "reference.toml")]);
static TOKENIZER_PRESETS: LazyLock<Vec<String>> =
    LazyLock::new(|| vec![preset("tokenizer", "default.toml"), preset("tokenizer", "reference.toml")]);

/// A fixture map to tokenize with a fuzzed tokenizer config.
static BASIC_MAP: LazyLock<Beatmap> = LazyLock::new(|| {
    let text = read_lossy(&data("beatmaps/Soleily - Renatus (Gamu) [Insane].osu"));
    parse_beatmap("renatus", &text).unwrap()
});

fn write_config(text: &str) -> tempfile::NamedTempFile {
    let file = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
    std::fs::write(file.path(), text).unwrap();
    file
}

proptest! {
    #![proptest_config(mutate::config(CONFIG_CASES))]

    /// A feature config that loads must work: the extractor is built and runs on a second of
    /// noise.
    #[test]
    fn mutated_feature_configs_load_and_work_or_are_refused_naming_the_file(
        seed in 0..2usize,
        edits in proptest::collection::vec(toml_edit(), 1..5),
    ) {
        let file = write_config(&edit_toml(&FEATURE_PRESETS[seed], &edits));
        match FeatureConfig::from_toml_file(file.path()) {
            Ok(config) => {
                let samples: Vec<f32> =
                    (0..config.sample_rate as usize).map(|i| ((i * 7919) % 200) as f32 / 100.0 - 1.0).collect();
                let extractor = FeatureExtractor::new(config.clone()).map_err(TestCaseError::fail)?;
                let features = extractor.extract(&samples);
                prop_assert_eq!(features.channels, config.channels());
            }
            Err(e) => {
                let name = file.path().display().to_string();
                prop_assert!(e.to_string().contains(&name), "{e}");
            }
        }
    }

    /// A tokenizer config that loads must tokenize a real map and read its tokens back.
    #[test]
    fn mutated_tokenizer_configs_load_and_work_or_are_refused_naming_the_file(
        seed in 0..2usize,
        edits in proptest::collection::vec(toml_edit(), 1..5),
    ) {
        let file = write_config(&edit_toml(&TOKENIZER_PRESETS[seed], &edits));
        match TokenizerConfig::from_toml_file(file.path()) {
            Ok(config) => {
                let tokenizer = Tokenizer::new(config).map_err(TestCaseError::fail)?;
                tokenize_map(std::slice::from_ref(&tokenizer), &BASIC_MAP)?;
            }
            Err(e) => {
                let name = file.path().display().to_string();
                prop_assert!(e.to_string().contains(&name), "{e}");
            }
        }
    }

    #[test]
    fn arbitrary_toml_text_is_refused_or_loads(text in "([a-z_\\[\\]=\". 0-9-]{0,30}\n){0,12}") {
        let file = write_config(&text);
        let _ = FeatureConfig::from_toml_file(file.path());
        if let Ok(config) = TokenizerConfig::from_toml_file(file.path()) {
            let tokenizer = Tokenizer::new(config).map_err(TestCaseError::fail)?;
            tokenize_map(std::slice::from_ref(&tokenizer), &BASIC_MAP)?;
        }
    }
}
