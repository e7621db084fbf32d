use proptest::prelude::*;

use super::roundtrip::{RoundTripReport, round_trip};
use super::*;
use crate::beatmap::tests::standard_fixtures;
use crate::beatmap::{Difficulty, GreenLine, Metadata, RedLine};
use crate::testdata;

fn preset(name: &str) -> Tokenizer {
    let path = testdata::path("../../configs/tokenizer").join(name);
    Tokenizer::new(TokenizerConfig::from_toml_file(&path).unwrap()).unwrap()
}

fn song_ms(map: &Beatmap) -> f64 {
    map.objects.iter().map(HitObject::end_time_ms).fold(0.0, f64::max)
}

/// The bar for `default.toml`: nothing lost, ≤ 1 ms, ≤ 1 px.
fn assert_lossless(name: &str, r: &RoundTripReport) {
    assert_eq!(r.objects_out, r.objects_in, "{name}: {r:?}");
    assert_eq!(r.skipped_tokens, 0, "{name}: {r:?}");
    assert!(r.max_time_error_ms <= 1.0 && r.max_end_time_error_ms <= 1.0, "{name}: {r:?}");
    assert!(r.max_position_error_px <= 1.0, "{name}: {r:?}");
    assert_eq!((r.kind_mismatches, r.slider_repeat_mismatches, r.control_point_mismatches), (0, 0, 0), "{name}: {r:?}");
    assert!(r.slider_length_max_error_px <= 1.0, "{name}: {r:?}");
}

#[test]
fn default_preset_round_trips_every_standard_fixture() {
    let tokenizer = preset("default.toml");
    let fixtures = standard_fixtures();
    assert!(fixtures.len() >= 8);
    for (map, _) in fixtures {
        let (report, _) = round_trip(&tokenizer, &map, song_ms(&map));
        assert_lossless(&map.name, &report);
        assert_eq!(report.vocab_size, 1634);
    }
}

#[test]
fn reference_preset_has_1166_tokens_and_its_known_losses() {
    let tokenizer = preset("reference.toml");
    assert_eq!(tokenizer.vocab().size(), 1166);
    let text = std::fs::read_to_string(testdata::path("beatmaps/Soleily - Renatus (Gamu) [Insane].osu")).unwrap();
    let map = crate::beatmap::parse_beatmap("renatus", &text).unwrap();
    let (r, decoded) = round_trip(&tokenizer, &map, song_ms(&map));
    // Objects before 1.5 s or in the last partial window are never in a predict region.
    assert!(r.objects_out < r.objects_in, "{r:?}");
    let first_region = 1500.0;
    assert!(decoded.iter().all(|o| o.time_ms >= first_region - 1.0));
    // Repeats and lengths are not encoded: every slider comes back as 100 px, one slide.
    assert!(r.slider_repeat_mismatches > 0, "{r:?}");
    assert!(r.slider_length_max_error_px > 50.0 && r.max_end_time_error_ms > 100.0, "{r:?}");
    let sliders: Vec<&Slider> = decoded
        .iter()
        .filter_map(|o| match &o.kind {
            ObjectKind::Slider(s) => Some(s),
            _ => None,
        })
        .collect();
    assert!(!sliders.is_empty() && sliders.iter().all(|s| s.repeats == 0 && s.length_px == 100.0));
    // No new-combo flag.
    assert!(decoded.iter().all(|o| !o.new_combo));
}

#[test]
fn reference_clamps_long_gaps_and_shifts_later_objects() {
    // 120 BPM; objects at 2 s and 8 s: a 12-beat gap, over the reference's 7.9375-beat maximum.
    let map = generated_map(TimingModel::constant(0.0, 120.0), vec![circle(2000.0), circle(2100.0)]);
    let mut far = map.clone();
    far.objects[1].time_ms = 8000.0;
    let reference = preset("reference.toml");
    let windows = reference.config().windows.windows(20_000.0, None);
    let tw = reference.tokenize_window(&far, &windows[0]);
    assert_eq!(tw.counts.total(), 1, "8 s is outside the first predict region [1.5, 4.5)");
    let single = TokenizedWindow { ..reference.tokenize_window(&map, &windows[0]) };
    let out = reference.detokenize(&single.tokens, &single.residuals, &map.timing, 1.4, &windows[0]);
    assert_eq!(out.objects.len(), 2);
    assert!((out.objects[1].time_ms - 2100.0).abs() < 1e-3);
    // A long gap inside one window: 1.5 s → 10 s with a 60 s window.
    let mut config = reference.config().clone();
    config.windows.window_ms = 60_000.0;
    config.windows.stride_ms = 57_000.0;
    let wide = Tokenizer::new(config).unwrap();
    let w = wide.config().windows.windows(60_000.0, None)[0];
    let gap = generated_map(TimingModel::constant(0.0, 120.0), vec![circle(2000.0), circle(10_000.0)]);
    let tw = wide.tokenize_window(&gap, &w);
    let out = wide.detokenize(&tw.tokens, &tw.residuals, &gap.timing, 1.4, &w);
    let lost = 10_000.0 - out.objects[1].time_ms;
    assert!(lost > 3000.0, "the 16-beat gap is clamped to ~8 beats: object lands {lost} ms early");
    // Ours: the same gap is exact.
    let ours =
        Tokenizer::new(TokenizerConfig { windows: wide.config().windows.clone(), ..Default::default() }).unwrap();
    let tw = ours.tokenize_window(&gap, &w);
    let out = ours.detokenize(&tw.tokens, &tw.residuals, &gap.timing, 1.4, &w);
    assert!((out.objects[1].time_ms - 10_000.0).abs() < 1e-6);
}

#[test]
fn one_wrong_time_token_moves_only_its_object() {
    let objects = (0..6).map(|i| circle(3000.0 + 250.0 * f64::from(i))).collect();
    let map = generated_map(TimingModel::constant(0.0, 120.0), objects);
    let tokenizer = Tokenizer::new(TokenizerConfig::default()).unwrap();
    let w = tokenizer.windows(&map, 6000.0)[1];
    let mut tw = tokenizer.tokenize_window(&map, &w);
    let time_offset = tokenizer.vocab().time_offset();
    let first_time = tw.tokens.iter().position(|&t| t >= time_offset && t < time_offset + 768).unwrap();
    tw.tokens[first_time] += 4; // +1/12 beat
    let out = tokenizer.detokenize(&tw.tokens, &tw.residuals, &map.timing, 1.4, &w);
    assert_eq!(out.objects.len(), 6);
    assert!((out.objects[0].time_ms - 3000.0 - 500.0 / 12.0).abs() < 1e-6);
    for (o, m) in out.objects.iter().zip(&map.objects).skip(1) {
        assert!((o.time_ms - m.time_ms).abs() < 1e-6, "later objects keep their times");
    }
}

#[test]
fn malformed_sequences_are_skipped_and_counted() {
    let map = generated_map(TimingModel::constant(0.0, 150.0), vec![circle(100.0), circle(400.0)]);
    let tokenizer = Tokenizer::new(TokenizerConfig::default()).unwrap();
    let w = tokenizer.windows(&map, 3000.0)[0];
    let tw = tokenizer.tokenize_window(&map, &w);
    // BOS TIME CIRCLE POS TIME CIRCLE POS EOS (+ NEW_COMBO after the first TIME).
    let v = tokenizer.vocab();
    let mut tokens = tw.tokens.clone();
    let circle_id = v.id(Token::Circle).unwrap();
    let first_circle = tokens.iter().position(|&t| t == circle_id).unwrap();
    tokens[first_circle] = v.id(Token::SliderEnd).unwrap(); // breaks the first object
    tokens.push(v.id(Token::Circle).unwrap()); // trailing garbage after EOS
    let out = tokenizer.detokenize(&tokens, &tw.residuals, &map.timing, 1.4, &w);
    assert_eq!(out.objects.len(), 1);
    assert!((out.objects[0].time_ms - 400.0).abs() < 1e-6);
    assert_eq!(out.skipped_tokens, first_circle + 2 - 1 + 1, "TIME, NEW_COMBO, broken type, POS, and 1 after EOS");
    // Residuals missing or not finite.
    let out = tokenizer.detokenize(&tw.tokens, &[], &map.timing, 1.4, &w);
    assert_eq!(out.objects.len(), 2, "missing residuals read as zero");
    let mut nan = tw.residuals.clone();
    nan[1].time = f32::NAN;
    let out = tokenizer.detokenize(&tw.tokens, &nan, &map.timing, 1.4, &w);
    assert_eq!(out.objects.len(), 1);
}

#[test]
fn windows_keep_empty_ones_and_objects_belong_to_one_region() {
    let map = generated_map(
        TimingModel::constant(0.0, 120.0),
        vec![circle(0.0), circle(2999.0), circle(3000.0), circle(9500.0)],
    );
    let tokenizer = Tokenizer::new(TokenizerConfig::default()).unwrap();
    let windows = tokenizer.tokenize(&map, 12_000.0);
    let counts: Vec<usize> = windows.iter().map(|w| w.counts.total()).collect();
    assert_eq!(counts, [2, 1, 0, 1]);
    assert_eq!(windows[2].tokens.len(), 2, "an empty window is BOS EOS");
    assert_eq!(windows[0].window.start_ms, -1500.0);
    let reference = preset("reference.toml");
    let kept: Vec<usize> = reference.tokenize(&map, 12_000.0).iter().map(|w| w.counts.total()).collect();
    // Reference: regions [1.5, 4.5), [4.5, 7.5), [7.5, 10.5) s; 0 ms is in none, the empty
    // middle window is dropped.
    assert_eq!(kept, [2, 1]);
}

fn circle(time_ms: f64) -> HitObject {
    HitObject { time_ms, pos: Point { x: 256.0, y: 192.0 }, new_combo: false, kind: ObjectKind::Circle }
}

fn generated_map(timing: TimingModel, objects: Vec<HitObject>) -> Beatmap {
    Beatmap {
        name: "generated".into(),
        metadata: Metadata::default(),
        difficulty: Difficulty::default(),
        timing,
        objects,
    }
}

fn curve_kind() -> impl Strategy<Value = CurveKind> {
    prop_oneof![Just(CurveKind::Bezier), Just(CurveKind::Linear), Just(CurveKind::Perfect), Just(CurveKind::Catmull)]
}

fn point() -> impl Strategy<Value = Point> {
    // Off-playfield coordinates occur in real maps.
    (-60i32..580, -60i32..450).prop_map(|(x, y)| Point { x: x as f32, y: y as f32 })
}

/// 1–3 red lines (40–400 BPM, any offset), some green lines, and objects on integer ms with
/// random kinds, long gaps, long spinners and sliders with many points, repeats and lengths.
pub(crate) fn map_strategy() -> impl Strategy<Value = Beatmap> {
    let red = proptest::collection::vec((0.0f64..200_000.0, 150.0f64..1500.0, 3u32..8), 1..4);
    let green = proptest::collection::vec((0.0f64..200_000.0, 0.1f64..4.0), 0..4);
    let kind = prop_oneof![
        3 => Just(0u8),
        3 => Just(1u8),
        1 => Just(2u8),
    ];
    let segment = proptest::option::weighted(0.2, curve_kind());
    let slider = (curve_kind(), proptest::collection::vec((point(), segment), 1..12), 0u32..40, 1.0f64..2000.0);
    let object = (1u32..20_000, kind, point(), any::<bool>(), slider, 1.0f64..30_000.0);
    (red, green, proptest::collection::vec(object, 0..40)).prop_map(|(red, green, objects)| {
        let red = red.into_iter().map(|(t, b, m)| RedLine { time_ms: t.round(), beat_len_ms: b, meter: m }).collect();
        let green = green.into_iter().map(|(t, sv)| GreenLine { time_ms: t.round(), slider_velocity: sv }).collect();
        let timing = TimingModel::new(red, green);
        let mut time = 0.0;
        let mut out = Vec::new();
        for (gap, kind, pos, new_combo, (first, points, repeats, length_px), duration) in objects {
            time += f64::from(gap);
            let kind = match kind {
                0 => ObjectKind::Circle,
                1 => {
                    let mut path = vec![PathPoint { pos, segment: Some(first) }];
                    path.extend(points.into_iter().map(|(pos, segment)| PathPoint { pos, segment }));
                    let sv = timing.slider_velocity_at(time);
                    let span_ms = length_px / (140.0 * sv) * timing.beat_len_at(time);
                    ObjectKind::Slider(Slider { path, repeats, length_px, span_ms })
                }
                _ => ObjectKind::Spinner { duration_ms: duration.round() },
            };
            let pos = if let ObjectKind::Spinner { .. } = kind { Point { x: 256.0, y: 192.0 } } else { pos };
            out.push(HitObject { time_ms: time, pos, new_combo, kind });
        }
        generated_map(timing, out)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn default_preset_round_trips_generated_maps(map in map_strategy(), extra_ms in 0.0f64..10_000.0) {
        let tokenizer = Tokenizer::new(TokenizerConfig::default()).unwrap();
        let (report, decoded) = round_trip(&tokenizer, &map, song_ms(&map) + extra_ms);
        assert_lossless("generated", &report);
        for (a, b) in map.objects.iter().zip(&decoded) {
            prop_assert_eq!(a.new_combo, b.new_combo);
        }
    }

    #[test]
    fn detokenize_never_panics_on_random_sequences(
        ids in proptest::collection::vec(0u32..1700, 0..300),
        residuals in proptest::collection::vec((any::<f32>(), -20.0f32..20.0, -20.0f32..20.0), 0..300),
        reference in any::<bool>(),
    ) {
        let tokenizer = if reference { preset("reference.toml") } else { Tokenizer::new(TokenizerConfig::default()).unwrap() };
        let residuals: Vec<Residual> = residuals.into_iter().map(|(time, x, y)| Residual { time, x, y }).collect();
        let timing = TimingModel::new(vec![RedLine { time_ms: 500.0, beat_len_ms: 400.0, meter: 4 }], vec![]);
        let w = tokenizer.config().windows.windows(60_000.0, None)[3];
        let out = tokenizer.detokenize(&ids, &residuals, &timing, 1.4, &w);
        prop_assert!(out.skipped_tokens <= ids.len());
        for o in &out.objects {
            prop_assert!(o.time_ms.is_finite() && o.end_time_ms().is_finite());
        }
    }
}

#[test]
fn reference_truncates_curve_points_and_clamps_off_playfield_positions() {
    let path: Vec<PathPoint> = (0..12)
        .map(|i| PathPoint {
            pos: Point { x: 20.0 * i as f32, y: -30.0 },
            segment: (i == 0).then_some(CurveKind::Linear),
        })
        .collect();
    let slider = Slider { path, repeats: 2, length_px: 220.0, span_ms: 500.0 };
    let object = HitObject {
        time_ms: 2000.0,
        pos: Point { x: 0.0, y: -30.0 },
        new_combo: true,
        kind: ObjectKind::Slider(slider),
    };
    let map = generated_map(TimingModel::constant(0.0, 120.0), vec![object]);
    let reference = preset("reference.toml");
    let w = reference.config().windows.windows(10_000.0, None)[0];
    let tw = reference.tokenize_window(&map, &w);
    let out = reference.detokenize(&tw.tokens, &tw.residuals, &map.timing, 1.4, &w);
    let ObjectKind::Slider(s) = &out.objects[0].kind else { panic!("{:?}", out.objects) };
    assert_eq!(s.path.len(), 1 + 8, "head + the first 8 curve points");
    assert_eq!(out.objects[0].pos.y, 0.0, "y = −30 comes back clamped to the playfield");
    assert_eq!((s.repeats, s.length_px), (0, 100.0));
    // Ours keeps all 12 points, the repeats, the length and the position.
    let ours = Tokenizer::new(TokenizerConfig::default()).unwrap();
    let w = ours.windows(&map, 10_000.0)[0];
    let tw = ours.tokenize_window(&map, &w);
    let out = ours.detokenize(&tw.tokens, &tw.residuals, &map.timing, 1.4, &w);
    assert_eq!(out.objects, map.objects);
}

#[test]
fn decoded_fixtures_write_to_maps_with_the_same_star_rating() {
    let tokenizer = preset("default.toml");
    for (map, text) in standard_fixtures() {
        if map.objects.is_empty() {
            continue;
        }
        let (_, decoded) = round_trip(&tokenizer, &map, song_ms(&map));
        let rebuilt = Beatmap { objects: decoded, ..map.clone() };
        let written = crate::beatmap::write::to_osu_string(&rebuilt, "mapflow tokenizer=default").unwrap();
        let before = crate::beatmap::star_rating(&map.name, &text).unwrap();
        let after = crate::beatmap::star_rating(&map.name, &written).unwrap();
        assert!((before - after).abs() <= 0.01, "{}: {before} vs {after}", map.name);
    }
}

#[test]
fn variable_bpm_objects_land_on_their_own_sections_grid() {
    // 120 BPM from 0 ms; 180 BPM from 1250 ms (2.5 beats in: its grid starts at beat 3).
    let timing = TimingModel::new(
        vec![
            RedLine { time_ms: 0.0, beat_len_ms: 500.0, meter: 4 },
            RedLine { time_ms: 1250.0, beat_len_ms: 1000.0 / 3.0, meter: 4 },
        ],
        vec![],
    );
    // Quarter-beat snaps in the 180 BPM section.
    let objects = (0..8).map(|k| circle(1250.0 + f64::from(k) * 250.0 / 3.0)).collect();
    let map = generated_map(timing, objects);
    let tokenizer = Tokenizer::new(TokenizerConfig::default()).unwrap();
    let w = tokenizer.windows(&map, 3000.0)[0];
    let tw = tokenizer.tokenize_window(&map, &w);
    let time_offset = tokenizer.vocab().time_offset();
    let times: Vec<(u32, f32)> = tw
        .tokens
        .iter()
        .zip(&tw.residuals)
        .filter(|&(&t, _)| t >= time_offset && t < time_offset + 768)
        .map(|(&t, r)| (t - time_offset, r.time))
        .collect();
    // Beat 3 + k/4 from an anchor at beat 0: bins 144 + 12k, residuals ~0 (not the reference's
    // first-BPM deltas, which would put these objects off the grid).
    let expected: Vec<u32> = (0..8).map(|k| 144 + 12 * k).collect();
    assert_eq!(times.iter().map(|t| t.0).collect::<Vec<_>>(), expected);
    assert!(times.iter().all(|t| t.1.abs() < 1e-6), "{times:?}");
}

#[test]
fn merging_keeps_each_object_once_from_its_own_region() {
    let w = TokenizerConfig::default().windows.windows(6000.0, None);
    let a = circle(2999.0);
    let b = circle(3000.0 - 1e-7); // decoded a hair before window 1's region
    let c = circle(4000.0);
    let merged = merge_predict_regions(vec![(w[0], vec![a.clone(), c.clone()]), (w[1], vec![b.clone(), c.clone()])]);
    assert_eq!(merged, vec![a, b, c], "c from window 0 is outside its region; b is kept by window 1");
}
