//! End-to-end checks of [`generate_onset_map`] on the bundled song (tests/data/reference: 3 min
//! of 174 BPM drum & bass), on silence, and — ignored, by hand — on real songs with human maps.

use std::sync::OnceLock;

use super::*;
use crate::audio::DecodeOptions;
use crate::beatmap::{CurveKind, ObjectKind, PLAYFIELD_HEIGHT, PLAYFIELD_WIDTH, Point, parse_beatmap};
use crate::features::FeatureExtractor;
use crate::featurize::{AudioInput, Featurized, featurize};
use crate::tempo::{TempoConfig, TempoInput, estimate_tempo};
use crate::testdata;

/// A featurized song and its estimated one-red-line timing.
struct Song {
    song: Featurized,
    timing: TimingModel,
}

fn load(path: &std::path::Path) -> Song {
    let extractor = FeatureExtractor::new(FeatureConfig::default()).unwrap();
    let song = featurize(AudioInput::File(path), &extractor, &DecodeOptions::default()).unwrap();
    let name = path.display().to_string();
    let input = TempoInput {
        name: &name,
        features: &song.features,
        feature_config: extractor.config(),
        samples: Some(&song.audio.samples),
    };
    let estimate = estimate_tempo(&input, &TempoConfig::default()).unwrap();
    Song { song, timing: TimingModel::constant(estimate.offset_ms, estimate.bpm) }
}

fn bundled() -> &'static Song {
    static SONG: OnceLock<Song> = OnceLock::new();
    SONG.get_or_init(|| load(&testdata::path("reference/song.mp3")))
}

fn generate(song: &Song, stars: f64, seed: u64) -> OnsetMap {
    let config = FeatureConfig::default();
    let input =
        OnsetMapInput { name: "song", features: &song.song.features, feature_config: &config, timing: &song.timing };
    generate_onset_map(&input, &OnsetMapOptions { stars, seed }).unwrap()
}

fn on_field(p: Point) -> bool {
    (0.0..=PLAYFIELD_WIDTH).contains(&p.x) && (0.0..=PLAYFIELD_HEIGHT).contains(&p.y)
}

#[test]
fn the_bundled_song_gets_the_stars_it_asks_for() {
    let song = bundled();
    let mut previous = 0.0;
    for requested in [2.0, 3.0, 4.0, 5.0, 6.0, 7.0] {
        let map = generate(song, requested, 1);
        let achieved = map.stars;
        eprintln!("{requested}★ → {achieved:.2}★, {} objects, {:?}", map.beatmap.objects.len(), map.report);
        assert!((achieved - requested).abs() <= 0.5, "{requested}★ asked, {achieved:.2}★ made: {:?}", map.report);
        assert!(achieved > previous, "{requested}★ gave {achieved:.2}★, not more than {previous:.2}★");
        previous = achieved;
    }
}

#[test]
fn maps_are_playable_and_read_back() {
    let song = bundled();
    let song_ms = song.song.features.frames as f64 * FeatureConfig::default().frame_seconds() * 1000.0;
    for stars in [2.5, 5.5] {
        let map = generate(song, stars, 7);
        let objects = &map.beatmap.objects;
        assert!(objects.len() > 50, "{stars}★: {} objects", objects.len());
        assert!(objects.iter().any(|o| matches!(o.kind, ObjectKind::Slider(_))), "{stars}★: no sliders");
        assert!(objects[0].new_combo && objects.iter().filter(|o| o.new_combo).count() > 10);
        for pair in objects.windows(2) {
            assert!(pair[1].time_ms > pair[0].end_time_ms(), "{stars}★: overlap at {} ms", pair[1].time_ms);
        }
        assert!(objects[0].time_ms >= 0.0 && objects.last().unwrap().end_time_ms() <= song_ms);

        let text = to_osu_string(&map.beatmap, "").unwrap();
        let back = parse_beatmap("song", &text).unwrap();
        assert_eq!(back.objects.len(), objects.len());
        assert_eq!(back.timing.red_lines(), song.timing.red_lines(), "one red line, the estimate's");
        assert_eq!(star_rating("song", &text).unwrap(), map.stars);
        for (written, read) in objects.iter().zip(&back.objects) {
            assert!((written.time_ms - read.time_ms).abs() <= 0.5);
            assert!(on_field(read.pos), "{read:?}");
            match (&written.kind, &read.kind) {
                (ObjectKind::Circle, ObjectKind::Circle) => {}
                (ObjectKind::Slider(w), ObjectKind::Slider(r)) => {
                    assert!(r.polyline(2.0).into_iter().all(on_field), "{read:?}");
                    assert_eq!(w.repeats, r.repeats);
                    let kind = r.path[0].segment;
                    assert!(matches!(kind, Some(CurveKind::Linear | CurveKind::Perfect)), "{kind:?}");
                    // The body lasts what the grid says: slider velocity and length agree.
                    assert!((read.end_time_ms() - written.end_time_ms()).abs() < 1.5, "{written:?} vs {read:?}");
                }
                other => panic!("kind changed: {other:?}"),
            }
        }
    }
}

#[test]
fn a_seed_gives_the_same_map_and_another_seed_another() {
    let song = bundled();
    let (a, b, c) = (generate(song, 4.0, 11), generate(song, 4.0, 11), generate(song, 4.0, 12));
    assert_eq!(a.beatmap, b.beatmap);
    assert_eq!(a.stars, b.stars);
    assert_ne!(a.beatmap.objects, c.beatmap.objects);
}

#[test]
fn silence_and_bad_inputs_do_not_panic() {
    let config = FeatureConfig::default();
    let timing = TimingModel::constant(0.0, 120.0);
    let extractor = FeatureExtractor::new(config.clone()).unwrap();
    let mut clicks = vec![0.0f32; 22_050 * 10];
    clicks[22_050] = 0.9; // one click: at most a handful of objects
    for samples in [vec![0.0f32; 22_050 * 10], clicks, Vec::new()] {
        let features = extractor.extract(&samples);
        let input = OnsetMapInput { name: "quiet", features: &features, feature_config: &config, timing: &timing };
        let map = generate_onset_map(&input, &OnsetMapOptions { stars: 5.0, seed: 0 }).unwrap();
        assert!(map.beatmap.objects.len() <= 3, "{:?}", map.beatmap.objects);
        assert!(map.report.tries >= 1);
    }
    let features = extractor.extract(&vec![0.0; 1000]);
    let input = OnsetMapInput { name: "quiet", features: &features, feature_config: &config, timing: &timing };
    for stars in [f64::NAN, 0.0, -1.0, 99.0] {
        let error = generate_onset_map(&input, &OnsetMapOptions { stars, seed: 0 }).unwrap_err();
        assert!(matches!(error, OnsetMapError::Stars { .. }), "{error}");
    }
    let broken = FeatureMatrix { channels: 129, frames: 10, data: vec![0.0; 5] };
    let input = OnsetMapInput { name: "broken", features: &broken, feature_config: &config, timing: &timing };
    let error = generate_onset_map(&input, &OnsetMapOptions { stars: 3.0, seed: 0 }).unwrap_err();
    assert!(error.to_string().starts_with("broken: unusable features"), "{error}");
}

/// Rhythm and hit F1 against human maps on the real sets in `../shared/real/sets` (copyrighted:
/// read here, never copied). By hand:
/// `cargo test -p operators --release onset_map::tests::real_songs -- --ignored --nocapture`
/// (`MAPFLOW_REAL_SETS` overrides the folder; `MAPFLOW_REAL_LIMIT` caps the difficulties).
#[test]
#[ignore = "reads ../shared/real/sets (not in the repository); run by hand"]
fn real_songs_against_human_maps() {
    use crate::metrics::{HIT_TOLERANCE_MS, HIT_TOLERANCE_PX, PooledF1, hit_f1, rhythm_f1};
    let sets = std::env::var("MAPFLOW_REAL_SETS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/real/sets"));
    let Ok(entries) = std::fs::read_dir(&sets) else {
        eprintln!("{}: absent, nothing measured", sets.display());
        return;
    };
    let limit: usize = std::env::var("MAPFLOW_REAL_LIMIT").ok().and_then(|s| s.parse().ok()).unwrap_or(usize::MAX);
    let mut dirs: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.is_dir()).collect();
    dirs.sort();
    let (mut loose, mut tight, mut hits) = (PooledF1::default(), PooledF1::default(), PooledF1::default());
    let (mut star_error, mut maps) = (0.0, 0usize);
    'sets: for dir in dirs {
        let mut osu: Vec<_> = std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "osu"))
            .collect();
        osu.sort();
        let mut loaded: Option<(String, Song)> = None;
        for path in osu {
            if maps >= limit {
                break 'sets;
            }
            let Ok(text) = std::fs::read_to_string(&path) else { continue };
            let Ok(human) = parse_beatmap(&path.display().to_string(), &text) else { continue };
            if human.objects.len() < 50 {
                continue;
            }
            let Ok(human_stars) = star_rating("human", &text) else { continue };
            let audio = dir.join(&human.metadata.audio_file);
            if loaded.as_ref().is_none_or(|(file, _)| *file != human.metadata.audio_file) {
                let extractor = FeatureExtractor::new(FeatureConfig::default()).unwrap();
                let Ok(song) = featurize(AudioInput::File(&audio), &extractor, &DecodeOptions::default()) else {
                    continue;
                };
                let name = audio.display().to_string();
                let input = TempoInput {
                    name: &name,
                    features: &song.features,
                    feature_config: extractor.config(),
                    samples: Some(&song.audio.samples),
                };
                let Ok(estimate) = estimate_tempo(&input, &TempoConfig::default()) else { continue };
                let timing = TimingModel::constant(estimate.offset_ms, estimate.bpm);
                loaded = Some((human.metadata.audio_file.clone(), Song { song, timing }));
            }
            let Some((_, song)) = loaded.as_ref() else { continue };
            let map = generate(song, human_stars.clamp(STARS_RANGE.0, STARS_RANGE.1), 0);
            let ours = &map.beatmap.objects;
            let (r50, r10) = (rhythm_f1(ours, &human.objects, 50.0), rhythm_f1(ours, &human.objects, 10.0));
            let hit = hit_f1(ours, &human.objects, HIT_TOLERANCE_MS, HIT_TOLERANCE_PX);
            loose.add(r50, ours.len(), human.objects.len());
            tight.add(r10, ours.len(), human.objects.len());
            hits.add(hit, ours.len(), human.objects.len());
            star_error += (map.stars - human_stars).abs();
            maps += 1;
            eprintln!(
                "{:<60} {:>5.2}★ → {:>5.2}★  objects {:>4} / {:>4}  rhythm F1 ±50 {:.3} ±10 {:.3}  hit {:.3}",
                path.file_name().map(|n| n.to_string_lossy().chars().take(60).collect::<String>()).unwrap_or_default(),
                human_stars,
                map.stars,
                ours.len(),
                human.objects.len(),
                r50.f1,
                r10.f1,
                hit.f1
            );
        }
    }
    eprintln!(
        "{maps} difficulties: pooled rhythm F1 ±50 ms {:.3}, ±10 ms {:.3}, hit F1 {:.3}; mean |Δ★| {:.2}",
        loose.f1,
        tight.f1,
        hits.f1,
        star_error / maps.max(1) as f64
    );
}
