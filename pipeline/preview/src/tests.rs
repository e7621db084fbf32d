use super::*;
use operators::audio::MonoAudio;
use operators::audio::resample;
use operators::features::{FeatureConfig, FeatureExtractor};
use synth::corpus::{FIXTURE_MAPS, render_fixture_song};

/// Pixels within 8 of `rgb` on every channel (blended edges aside, the object colours).
fn count_near(pixmap: &Pixmap, rgb: [u8; 3]) -> usize {
    pixmap
        .pixels()
        .iter()
        .filter(|p| {
            let c = p.demultiply();
            [c.red(), c.green(), c.blue()].iter().zip(rgb).all(|(&a, b)| a.abs_diff(b) <= 8)
        })
        .count()
}

#[test]
fn a_fixture_map_over_its_audio_has_every_object_colour() {
    let index = FIXTURE_MAPS.iter().position(|(name, _)| *name == "diffcalc").unwrap();
    // Long enough for the whole map (spinners included).
    let song = render_fixture_song(index, 600.0, 1, 1.0).unwrap();
    let config = FeatureConfig::default();
    let audio = resample(
        "diffcalc",
        MonoAudio { samples: song.pcm, sample_rate: synth::corpus::RENDER_RATE },
        config.sample_rate,
    )
    .unwrap();
    let features = FeatureExtractor::new(config.clone()).unwrap().extract(&audio.samples);
    let track = OnsetTrack { values: features.onset(), frame_seconds: config.frame_seconds() };
    let png = render_png(&song.map, Some(track)).unwrap();
    let decoded = Pixmap::decode_png(&png).unwrap();
    let audio_ms = features.frames as f64 * config.frame_seconds() * 1000.0;
    let timeline = Timeline::new(audio_ms, MARGIN);
    let rows = timeline.rows;
    assert!(rows >= 2, "{audio_ms} ms");
    let expected_height =
        (timeline.bottom() + MARGIN / 2.0 + PLAYFIELD_HEIGHT * PLAYFIELD_SCALE + MARGIN).ceil() as u32;
    assert_eq!((decoded.width(), decoded.height()), (WIDTH, expected_height));
    let counts = ObjectCountsByColour::of(&decoded);
    assert!(counts.circles > 50 && counts.sliders > 50 && counts.spinners > 10, "{counts:?}");
    assert!(count_near(&decoded, ENVELOPE_COLOUR) > 200, "onset envelope drawn");
}

#[test]
fn without_audio_the_density_is_drawn_and_long_maps_keep_to_max_rows() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/data/beatmaps/Soleily - Renatus (Gamu) [Insane].osu"
    ))
    .unwrap();
    let map = operators::beatmap::parse_beatmap("renatus", &text).unwrap();
    let pixmap = render(&map, None).unwrap();
    let rows = Timeline::new(map.objects.last().unwrap().end_time_ms(), MARGIN).rows;
    assert!(rows > 1 && rows <= MAX_ROWS);
    assert!(count_near(&pixmap, ENVELOPE_COLOUR) > 200);
    assert!(count_near(&pixmap, CIRCLE_COLOUR) > 50);
}

#[test]
fn an_empty_map_still_draws() {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/data/beatmaps/basic.osu")).unwrap();
    let mut map = operators::beatmap::parse_beatmap("basic", &text).unwrap();
    map.objects.clear();
    let pixmap = render(&map, None).unwrap();
    assert_eq!(pixmap.width(), WIDTH);
}

#[test]
fn a_spread_stacks_one_timeline_per_difficulty_on_one_time_scale() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/data/beatmaps/");
    let read = |file: &str| {
        let text = std::fs::read_to_string(format!("{dir}{file}")).unwrap();
        operators::beatmap::parse_beatmap(file, &text).unwrap()
    };
    let insane = read("Soleily - Renatus (Gamu) [Insane].osu");
    let mut easier = insane.clone();
    easier.objects.retain(|o| (o.time_ms as i64 / 1000) % 3 == 0);
    let one = render(&insane, None).unwrap();
    let spread = render_spread(&[easier.clone(), insane.clone()], None).unwrap();
    let timeline = Timeline::new(insane.objects.last().unwrap().end_time_ms(), MARGIN);
    // Two timelines of the same rows, one under the other, and no playfield.
    let expected = MARGIN + 2.0 * (timeline.bottom() - MARGIN + MARGIN);
    assert_eq!(spread.height(), expected.ceil() as u32);
    let circles = |p: &Pixmap| count_near(p, CIRCLE_COLOUR);
    let alone = circles(&render_spread(std::slice::from_ref(&insane), None).unwrap());
    let easier_alone = circles(&render_spread(std::slice::from_ref(&easier), None).unwrap());
    assert!(easier_alone < alone / 2, "{easier_alone} vs {alone}");
    assert_eq!(circles(&spread), alone + easier_alone, "each difficulty drawn in its own strip");
    assert!(circles(&one) > alone, "the single preview adds the playfield");
}

/// Pixels of each object colour in an image.
#[derive(Debug)]
struct ObjectCountsByColour {
    circles: usize,
    sliders: usize,
    spinners: usize,
}

impl ObjectCountsByColour {
    fn of(pixmap: &Pixmap) -> Self {
        Self {
            circles: count_near(pixmap, CIRCLE_COLOUR),
            sliders: count_near(pixmap, SLIDER_COLOUR),
            spinners: count_near(pixmap, SPINNER_COLOUR),
        }
    }
}
