use super::write::{new_combo_per_bar, to_osu_string, writable_slider_path, write_osz};
use super::*;
use crate::testdata;

/// Every `.osu` under `tests/data/beatmaps/` (edge cases included), as (file name, text).
pub(crate) fn fixture_files() -> Vec<(String, String)> {
    let mut files = Vec::new();
    for dir in ["beatmaps", "beatmaps/edge-cases"] {
        for entry in std::fs::read_dir(testdata::path(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "osu") {
                let bytes = std::fs::read(&path).unwrap();
                let name = format!("{dir}/{}", path.file_name().unwrap().to_string_lossy());
                files.push((name, String::from_utf8_lossy(&bytes).into_owned()));
            }
        }
    }
    files.sort();
    files
}

/// The osu!standard maps among the fixtures, parsed.
pub(crate) fn standard_fixtures() -> Vec<(Beatmap, String)> {
    fixture_files()
        .into_iter()
        .filter_map(|(name, text)| parse_beatmap(&name, &text).ok().map(|map| (map, text)))
        .collect()
}

#[test]
fn every_fixture_parses_or_names_the_file_in_its_error() {
    let mut parsed = 0;
    let files = fixture_files().len();
    for (name, text) in fixture_files() {
        match parse_beatmap(&name, &text) {
            Ok(map) => {
                parsed += 1;
                assert!(map.objects.windows(2).all(|w| w[0].time_ms <= w[1].time_ms), "{name}: sorted");
                for o in &map.objects {
                    assert!(o.time_ms.is_finite() && o.end_time_ms() >= o.time_ms, "{name}: {o:?}");
                }
            }
            Err(e) => assert!(e.to_string().starts_with(&name), "{name}: {e}"),
        }
    }
    // All but the taiko map: osu! itself loads every edge case (defaults fill what is missing).
    assert_eq!(parsed, files - 1, "parsed {parsed} of {files}");
}

#[test]
fn taiko_maps_are_skipped_with_a_reason() {
    let text = std::fs::read_to_string(testdata::path("beatmaps/rosupp-1028484.osu")).unwrap();
    let err = parse_beatmap("rosupp-1028484.osu", &text).unwrap_err();
    assert!(matches!(err, BeatmapError::UnsupportedMode { mode: 1, .. }), "{err}");
    assert_eq!(err.to_string(), "rosupp-1028484.osu: skipped: mode 1 (osu!taiko) is not osu!standard (mode 0)");
}

#[test]
fn garbage_is_a_parse_error_naming_the_input() {
    let err = parse_beatmap("beatmap 42", "hello world").unwrap_err();
    assert!(err.to_string().starts_with("beatmap 42: cannot parse beatmap"), "{err}");
}

#[test]
fn absurd_times_are_refused() {
    // 9,000 slides of 100,000 px at 1 BPM and slider velocity 0.1: about 16 months.
    let text = "osu file format v14\n\n[TimingPoints]\n0,60000,4,1,0,100,1,0\n0,-1000,4,1,0,100,0,0\n\n\
                [HitObjects]\n0,0,1000,2,0,L|100:0,9000,100000\n";
    let err = parse_beatmap("huge.osu", text).unwrap_err().to_string();
    assert!(err.starts_with("huge.osu: cannot parse beatmap: hit object at 1000 ms"), "{err}");
}

#[test]
fn star_rating_matches_rosu_pps_own_test_value() {
    let text = std::fs::read_to_string(testdata::path("beatmaps/rosupp-2785319.osu")).unwrap();
    let stars = star_rating("rosupp-2785319.osu", &text).unwrap();
    assert!((stars - 5.740766).abs() < 1e-6, "{stars}");
    let text = std::fs::read_to_string(testdata::path("beatmaps/Soleily - Renatus (Gamu) [Insane].osu")).unwrap();
    assert!((star_rating("renatus", &text).unwrap() - 5.27).abs() < 0.01);
}

#[test]
fn renatus_objects_timing_and_sliders() {
    let text = std::fs::read_to_string(testdata::path("beatmaps/Soleily - Renatus (Gamu) [Insane].osu")).unwrap();
    let map = parse_beatmap("renatus", &text).unwrap();
    let counts = map.counts();
    assert_eq!(counts.total(), map.objects.len());
    assert!(counts.circles > 0 && counts.sliders > 0 && counts.spinners > 0, "{counts:?}");
    assert!((map.main_bpm() - 182.0).abs() < 1e-6, "{}", map.main_bpm());
    for o in &map.objects {
        if let ObjectKind::Slider(s) = &o.kind {
            // Slide duration = length / (multiplier · 100 · SV) · beat length, SV from green lines.
            let sv = map.timing.slider_velocity_at(o.time_ms);
            let expected =
                s.length_px / (map.difficulty.slider_multiplier * 100.0 * sv) * map.timing.beat_len_at(o.time_ms);
            assert!((s.span_ms - expected).abs() < 1e-6, "{} ms: {} vs {expected}", o.time_ms, s.span_ms);
            assert_eq!(s.path[0].pos, o.pos);
            assert!(s.path[0].segment.is_some());
        }
    }
}

fn assert_same_objects(name: &str, a: &[HitObject], b: &[HitObject]) {
    assert_eq!(a.len(), b.len(), "{name}: object count");
    for (x, y) in a.iter().zip(b) {
        let at = format!("{name} @ {} ms", x.time_ms);
        assert!((x.time_ms - y.time_ms).abs() <= 1.0, "{at}: start {} vs {}", x.time_ms, y.time_ms);
        assert!(
            (x.end_time_ms() - y.end_time_ms()).abs() <= 1.0,
            "{at}: end {} vs {}",
            x.end_time_ms(),
            y.end_time_ms()
        );
        assert!(x.pos.distance(y.pos) <= 1.0, "{at}: {:?} vs {:?}", x.pos, y.pos);
        match (&x.kind, &y.kind) {
            (ObjectKind::Circle, ObjectKind::Circle) | (ObjectKind::Spinner { .. }, ObjectKind::Spinner { .. }) => {}
            (ObjectKind::Slider(s), ObjectKind::Slider(t)) => {
                assert_eq!(s.repeats, t.repeats, "{at}");
                assert!((s.length_px - t.length_px).abs() <= 1.0, "{at}: length {} vs {}", s.length_px, t.length_px);
                assert_eq!(s.path.len(), t.path.len(), "{at}: control points");
                for (p, q) in s.path.iter().zip(&t.path) {
                    assert!(p.pos.distance(q.pos) <= 1.0 && p.segment == q.segment, "{at}: {p:?} vs {q:?}");
                }
            }
            _ => panic!("{at}: kind {:?} vs {:?}", x.kind, y.kind),
        }
    }
}

#[test]
fn written_maps_reparse_to_the_same_objects_and_stars() {
    let fixtures = standard_fixtures();
    assert!(fixtures.len() >= 8);
    for (map, text) in fixtures {
        let written = to_osu_string(&map, "mapflow-test").unwrap();
        assert!(written.starts_with("osu file format v14"), "{}", map.name);
        assert!(written.contains("Countdown: 0"), "{}", map.name);
        assert!(written.contains("mapflow-test"), "{}", map.name);
        let again = parse_beatmap(&map.name, &written).unwrap();
        assert_same_objects(&map.name, &map.objects, &again.objects);
        if map.objects.is_empty() {
            continue;
        }
        let (before, after) = (star_rating(&map.name, &text).unwrap(), star_rating(&map.name, &written).unwrap());
        assert!((before - after).abs() <= 0.01, "{}: {before} vs {after}", map.name);
    }
}

#[test]
fn maps_without_combos_get_one_per_bar_and_after_spinners() {
    let timing = TimingModel::constant(0.0, 120.0); // 500 ms beats, 2000 ms bars
    let circle =
        |t: f64| HitObject { time_ms: t, pos: Point { x: 0.0, y: 0.0 }, new_combo: false, kind: ObjectKind::Circle };
    let spinner = HitObject { kind: ObjectKind::Spinner { duration_ms: 100.0 }, ..circle(2500.0) };
    let mut objects = vec![circle(0.0), circle(1000.0), circle(2000.0), spinner, circle(3000.0), circle(4000.0)];
    new_combo_per_bar(&mut objects, &timing);
    let flags: Vec<bool> = objects.iter().map(|o| o.new_combo).collect();
    assert_eq!(flags, [true, false, true, false, true, true]);
}

#[test]
fn osz_holds_the_maps_and_the_audio() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("song.osz");
    let maps =
        [("song [Hard].osu".to_owned(), "osu file format v14\nhard"), ("song [Insane].osu".to_owned(), "insane")];
    write_osz(&path, &maps, Some(("audio.mp3", b"ID3fake"))).unwrap();
    let mut zip = zip::ZipArchive::new(std::fs::File::open(&path).unwrap()).unwrap();
    let mut names: Vec<String> = zip.file_names().map(|n| n.unwrap().into_owned()).collect();
    names.sort();
    assert_eq!(names, ["audio.mp3", "song [Hard].osu", "song [Insane].osu"]);
    for (name, expected) in maps {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut zip.by_name(&name).unwrap(), &mut text).unwrap();
        assert_eq!(text, expected);
    }
    let err = write_osz(&dir.path().join("missing/x.osz"), &[("a.osu".to_owned(), "")], None).unwrap_err();
    assert!(err.to_string().contains("missing/x.osz"), "{err}");
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]

    /// Generated maps (several BPMs, any slider velocity, long spinners, many-point sliders)
    /// survive writing and re-parsing; only what the format itself rewrites may change: a curve
    /// type (`P` without exactly 3 points is read as `B`, a collinear `P` as `L`) and the combos
    /// osu! forces (first object, after spinners).
    #[test]
    fn written_generated_maps_reparse_to_the_same_objects(map in crate::tokenizer::tests::map_strategy()) {
        let written = to_osu_string(&map, "mapflow-proptest").unwrap();
        let again = parse_beatmap("generated", &written).unwrap();
        let normalise = |objects: &[HitObject]| -> Vec<HitObject> {
            objects
                .iter()
                .map(|o| {
                    let mut o = o.clone();
                    o.new_combo = false;
                    if let ObjectKind::Slider(s) = &mut o.kind {
                        s.path = writable_slider_path(&s.path);
                        for p in &mut s.path {
                            p.segment = p.segment.map(|_| CurveKind::Bezier);
                        }
                    }
                    o
                })
                .collect()
        };
        assert_same_objects("generated", &normalise(&map.objects), &normalise(&again.objects));
    }
}

/// A small generated map: one red line at 1000 ms (120 BPM), a circle, a 2-slide slider that lasts
/// one beat per slide at twice the base velocity, and a spinner.
fn small_map() -> Beatmap {
    let slider = Slider {
        path: vec![
            PathPoint { pos: Point { x: 100.0, y: 100.0 }, segment: Some(CurveKind::Bezier) },
            PathPoint { pos: Point { x: 200.0, y: 100.0 }, segment: Some(CurveKind::Bezier) },
            PathPoint { pos: Point { x: 200.0, y: 200.0 }, segment: None },
        ],
        repeats: 1,
        length_px: 280.0,
        span_ms: 500.0,
    };
    Beatmap {
        name: "small".into(),
        metadata: Metadata {
            title: "Song".into(),
            artist: "Artist".into(),
            creator: "mapflow".into(),
            version: "Normal".into(),
            tags: "generated".into(),
            audio_file: "audio.mp3".into(),
        },
        difficulty: Difficulty::default(),
        timing: TimingModel::constant(1000.0, 120.0),
        objects: vec![
            HitObject {
                time_ms: 1000.0,
                pos: Point { x: 256.4, y: 191.6 },
                new_combo: false,
                kind: ObjectKind::Circle,
            },
            HitObject {
                time_ms: 1500.0,
                pos: Point { x: 100.0, y: 100.0 },
                new_combo: false,
                kind: ObjectKind::Slider(slider),
            },
            HitObject {
                time_ms: 3000.0,
                pos: Point { x: 256.0, y: 192.0 },
                new_combo: false,
                kind: ObjectKind::Spinner { duration_ms: 2000.0 },
            },
        ],
    }
}

#[test]
fn osu_output_matches_the_golden_file() {
    let written = to_osu_string(&small_map(), "mapflow-golden").unwrap();
    let golden = testdata::path("golden/small.osu");
    if std::env::var_os("MAPFLOW_BLESS").is_some() {
        std::fs::create_dir_all(golden.parent().unwrap()).unwrap();
        std::fs::write(&golden, &written).unwrap();
    }
    assert_eq!(written, std::fs::read_to_string(&golden).unwrap(), "rerun with MAPFLOW_BLESS=1 to accept");
    // SV 2 for the slider (280 px over one 500 ms beat at multiplier 1.4), reset by nothing else.
    assert!(written.contains("1500,-50,4,"), "{written}");
    assert!(written.contains("Countdown: 0") && written.contains("Tags: generated mapflow-golden"));
    let again = parse_beatmap("small", &written).unwrap();
    assert_same_objects("small", &small_map().objects, &again.objects);
    let combos: Vec<bool> = again.objects.iter().map(|o| o.new_combo).collect();
    assert_eq!(combos, [true, false, true], "a new combo where each bar starts: beats 0 and 1 | 4");
}
