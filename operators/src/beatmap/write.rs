//! Writing beatmaps: [`Beatmap`] → `.osu` v14 text (through rosu-map's encoder) → `.osz` zip.
//!
//! ```text
//! Beatmap ──► sort objects, new combos, one green line per slider velocity ──► rosu-map encoder
//!                                                                  .osu v14 ──► .osz (+ audio)
//! ```
//! Times and positions are written as whole ms and px (what v14 readers keep). Every slider gets
//! the slider velocity that makes its written length last its `span_ms` at the governing BPM; a
//! velocity outside osu!'s 0.1–10 is clamped and the length adjusted so the duration is kept.

use std::io::Write;
use std::path::Path;

use rosu_map::section::general::{CountdownType, GameMode};
use rosu_map::section::hit_objects::{
    HitObject as RosuObject, HitObjectCircle, HitObjectKind, HitObjectSlider, HitObjectSpinner,
};
use rosu_map::section::timing_points::{DifficultyPoint, TimeSignature, TimingPoint};
use rosu_map::util::Pos;

use super::{
    Beatmap, CurveKind, HitObject, ObjectKind, PLAYFIELD_HEIGHT, PLAYFIELD_WIDTH, PathPoint, Point, TimingModel,
};

/// Lowest slider velocity osu! accepts.
pub const MIN_SLIDER_VELOCITY: f64 = 0.1;
/// Highest slider velocity osu! accepts.
pub const MAX_SLIDER_VELOCITY: f64 = 10.0;

/// A beatmap or package that could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// rosu-map's encoder failed.
    #[error("{name}: cannot encode beatmap: {source}")]
    Encode {
        /// The beatmap's name.
        name: String,
        /// The encoder's error.
        #[source]
        source: std::io::Error,
    },
    /// The `.osz` file could not be written.
    #[error("{path}: cannot write .osz: {message}")]
    Package {
        /// The `.osz` path.
        path: String,
        /// What failed.
        message: String,
    },
}

/// The slider velocity that makes `length_px` last `span_ms` at `beat_len_ms` and `multiplier`.
pub fn slider_velocity_for(length_px: f64, span_ms: f64, beat_len_ms: f64, multiplier: f64) -> f64 {
    length_px * beat_len_ms / (100.0 * multiplier * span_ms)
}

/// Sets a new combo on the first object of every bar that has objects (bars from the red
/// lines' meters), after every spinner, and on the first object — used when a map has none.
pub fn new_combo_per_bar(objects: &mut [HitObject], timing: &TimingModel) {
    let mut last_bar = None;
    let mut after_spinner = true;
    for object in objects.iter_mut() {
        let meter = f64::from(timing.red_line_at(object.time_ms).meter.max(1));
        let bar = (timing.beat_at(object.time_ms) / meter + 1e-6).floor() as i64;
        object.new_combo = after_spinner || last_bar != Some(bar);
        last_bar = Some(bar);
        after_spinner = matches!(object.kind, ObjectKind::Spinner { .. });
    }
}

/// The path as a v14 `.osu` line can hold it (one curve letter per slider):
/// - points rounded to whole px; a point equal to the one before it dropped (its segment start
///   moved onto the kept point), except a doubled end point (it shapes a Bézier); a path left with only its head gets a point 1 px to the right
///   (a `.osu` slider needs one; its length extends it);
/// - every later segment takes the head's curve type (a segment start = a red anchor, written
///   as a doubled point); none starts at the last point;
/// - Catmull cannot be split: a Catmull head drops all segment starts;
/// - a perfect circle needs exactly 3 points and one segment, otherwise it becomes Bézier (which
///   is how osu! reads such a `P` anyway).
pub fn writable_slider_path(path: &[PathPoint]) -> Vec<PathPoint> {
    let mut out: Vec<PathPoint> = Vec::with_capacity(path.len().max(2));
    for (i, p) in path.iter().enumerate() {
        let p = PathPoint { pos: Point { x: p.pos.x.round(), y: p.pos.y.round() }, segment: p.segment };
        let doubled_end = i + 1 == path.len() && out.len() >= 2;
        match out.last_mut() {
            Some(last) if last.pos == p.pos && !doubled_end => last.segment = last.segment.or(p.segment),
            _ => out.push(p),
        }
    }
    let Some(&head) = out.first() else { return out };
    if out.len() == 1 {
        out.push(PathPoint { pos: Point { x: head.pos.x + 1.0, y: head.pos.y }, segment: None });
    }
    let last = out.len() - 1;
    let anchors = out[1..last].iter().any(|p| p.segment.is_some());
    let kind = match head.segment.unwrap_or(CurveKind::Bezier) {
        CurveKind::Perfect if out.len() != 3 || anchors => CurveKind::Bezier,
        kind => kind,
    };
    out[0].segment = Some(kind);
    for (i, p) in out.iter_mut().enumerate().skip(1) {
        p.segment = p.segment.filter(|_| i < last && kind != CurveKind::Catmull).map(|_| kind);
    }
    out
}

fn pos(x: f32, y: f32) -> Pos {
    Pos::new(x.round(), y.round())
}

/// `.osu` v14 text of `map`; `provenance` (e.g. `mapflow model=… tokenizer=…`) is appended to
/// the tags. Objects are sorted; if none but the first starts a combo, combos follow the bars.
pub fn to_osu_string(map: &Beatmap, provenance: &str) -> Result<String, WriteError> {
    let mut objects = map.objects.clone();
    objects.sort_by(|a, b| a.time_ms.total_cmp(&b.time_ms));
    if objects.iter().skip(1).all(|o| !o.new_combo) {
        new_combo_per_bar(&mut objects, &map.timing);
    }

    let mut out = rosu_map::Beatmap {
        format_version: 14,
        audio_file: map.metadata.audio_file.clone(),
        countdown: CountdownType::None,
        grid_size: 4,
        mode: GameMode::Osu,
        stack_leniency: map.difficulty.stack_leniency,
        title: map.metadata.title.clone(),
        title_unicode: map.metadata.title.clone(),
        artist: map.metadata.artist.clone(),
        artist_unicode: map.metadata.artist.clone(),
        creator: map.metadata.creator.clone(),
        version: map.metadata.version.clone(),
        tags: [map.metadata.tags.trim(), provenance.trim()]
            .iter()
            .filter(|s| !s.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join(" "),
        beatmap_id: 0,
        beatmap_set_id: -1,
        hp_drain_rate: map.difficulty.hp_drain_rate,
        circle_size: map.difficulty.circle_size,
        overall_difficulty: map.difficulty.overall_difficulty,
        approach_rate: map.difficulty.approach_rate,
        slider_multiplier: map.difficulty.slider_multiplier,
        slider_tick_rate: map.difficulty.slider_tick_rate,
        ..Default::default()
    };

    let mut difficulty_points: Vec<DifficultyPoint> = Vec::new();
    for red in map.timing.red_lines() {
        let signature = TimeSignature::new(red.meter as i32).unwrap_or(TimeSignature::new_simple_quadruple());
        out.control_points.timing_points.push(TimingPoint::new(red.time_ms, red.beat_len_ms, false, signature));
        difficulty_points.push(DifficultyPoint::new(red.time_ms, red.beat_len_ms, 1.0));
    }

    let multiplier = map.difficulty.slider_multiplier;
    for object in &objects {
        let time = object.time_ms.round();
        let kind = match &object.kind {
            ObjectKind::Circle => HitObjectKind::Circle(HitObjectCircle {
                pos: pos(object.pos.x, object.pos.y),
                new_combo: object.new_combo,
                combo_offset: 0,
            }),
            ObjectKind::Spinner { duration_ms } => HitObjectKind::Spinner(HitObjectSpinner {
                pos: pos(PLAYFIELD_WIDTH / 2.0, PLAYFIELD_HEIGHT / 2.0),
                duration: (time + duration_ms).round() - time,
                new_combo: object.new_combo,
            }),
            ObjectKind::Slider(slider) => {
                let mut slider = slider.clone();
                slider.path = writable_slider_path(&slider.path);
                let beat_len = map.timing.beat_len_at(time);
                let wanted = slider_velocity_for(slider.length_px, slider.span_ms, beat_len, multiplier);
                let sv = if wanted.is_finite() { wanted.clamp(MIN_SLIDER_VELOCITY, MAX_SLIDER_VELOCITY) } else { 1.0 };
                if sv != wanted {
                    slider.length_px = sv * 100.0 * multiplier * slider.span_ms.max(0.0) / beat_len;
                }
                difficulty_points.push(DifficultyPoint::new(time, f64::NAN, sv));
                HitObjectKind::Slider(HitObjectSlider {
                    pos: pos(object.pos.x, object.pos.y),
                    new_combo: object.new_combo,
                    combo_offset: 0,
                    path: slider.rosu_path(),
                    node_samples: vec![Vec::new(); slider.repeats as usize + 2],
                    repeat_count: slider.repeats as i32,
                    velocity: 1.0,
                })
            }
        };
        out.hit_objects.push(RosuObject { start_time: time, kind, samples: Vec::new() });
    }
    // Latest point wins at equal times (a slider's velocity over its red line's reset to 1).
    difficulty_points.sort_by(|a, b| a.time.total_cmp(&b.time));
    let mut merged: Vec<DifficultyPoint> = Vec::with_capacity(difficulty_points.len());
    for point in difficulty_points {
        match merged.last_mut() {
            Some(last) if last.time == point.time => *last = point,
            _ => merged.push(point),
        }
    }
    out.control_points.difficulty_points = merged;

    out.encode_to_string().map_err(|source| WriteError::Encode { name: map.name.clone(), source })
}

/// Writes an `.osz` (a zip osu! imports): each `(file name, .osu text)` of `osu_files` (the
/// difficulties of one set), plus the audio file as `(name, bytes)` (stored: audio is already
/// compressed).
pub fn write_osz(path: &Path, osu_files: &[(String, &str)], audio: Option<(&str, &[u8])>) -> Result<(), WriteError> {
    let fail = |message: String| WriteError::Package { path: path.display().to_string(), message };
    let file = std::fs::File::create(path).map_err(|e| fail(e.to_string()))?;
    let mut zip = zip::ZipWriter::new(file);
    let deflated = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (name, text) in osu_files {
        zip.start_file(name.as_str(), deflated).map_err(|e| fail(e.to_string()))?;
        zip.write_all(text.as_bytes()).map_err(|e| fail(e.to_string()))?;
    }
    if let Some((name, bytes)) = audio {
        let stored = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
        zip.start_file(name, stored).map_err(|e| fail(e.to_string()))?;
        zip.write_all(bytes).map_err(|e| fail(e.to_string()))?;
    }
    zip.finish().map_err(|e| fail(e.to_string()))?;
    Ok(())
}
