//! Beatmaps: `.osu` text → [`Beatmap`] (osu!standard only) with the full timing model, and back.
//!
//! ```text
//! .osu text ──► rosu-map ──► Beatmap { metadata, difficulty, timing, objects } ──► tokenizer
//!          └──► rosu-pp ──► star rating (NoMod, recomputed)         write.rs ◄──┘ (.osu / .osz)
//! ```
//! Slider end times, repeats and lengths come from rosu-map's slider paths and the governing red
//! and green lines; nothing is taken from metadata.

mod timing;
pub mod write;

use rosu_map::section::general::GameMode;
use rosu_map::section::hit_objects::{HitObjectKind, PathControlPoint, PathType, SliderPath, SplineType};
use rosu_map::util::Pos;

pub use timing::{DEFAULT_BEAT_LEN_MS, GreenLine, RedLine, TimingModel};

/// Width of the osu! playfield (osu!px).
pub const PLAYFIELD_WIDTH: f32 = 512.0;
/// Height of the osu! playfield (osu!px).
pub const PLAYFIELD_HEIGHT: f32 = 384.0;

/// Longest span a map's objects may cover (24 h): beyond it a file is corrupt, and windows or
/// `LONG_GAP` tokens for it would exhaust memory.
pub const MAX_MAP_MS: f64 = 24.0 * 3_600_000.0;

/// A beatmap that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum BeatmapError {
    /// rosu-map (or rosu-pp) could not decode the text.
    #[error("{name}: cannot parse beatmap: {message}")]
    Parse {
        /// The beatmap's name (file or beatmap id).
        name: String,
        /// The decoder's message.
        message: String,
    },
    /// Not an osu!standard map: only mode 0 is kept.
    #[error("{name}: skipped: mode {mode} ({mode_name}) is not osu!standard (mode 0)")]
    UnsupportedMode {
        /// The beatmap's name.
        name: String,
        /// The `Mode` from `[General]`.
        mode: u8,
        /// Its name (taiko, catch, mania).
        mode_name: &'static str,
    },
    /// rosu-pp refuses to rate the map (e.g. absurdly many objects).
    #[error("{name}: cannot rate beatmap: {message}")]
    Rating {
        /// The beatmap's name.
        name: String,
        /// rosu-pp's reason.
        message: String,
    },
}

/// A point on (or off) the 512×384 playfield, in osu!px.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// Horizontal position.
    pub x: f32,
    /// Vertical position.
    pub y: f32,
}

impl Point {
    /// Euclidean distance in osu!px.
    pub fn distance(self, other: Point) -> f32 {
        (self.x - other.x).hypot(self.y - other.y)
    }
}

/// The curve type of a slider segment (the letter in the `.osu` curve string).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CurveKind {
    /// `B`: Bézier (a repeated point splits it into segments).
    Bezier,
    /// `L`: straight lines.
    Linear,
    /// `P`: circular arc through three points.
    Perfect,
    /// `C`: centripetal Catmull-Rom (legacy).
    Catmull,
}

impl CurveKind {
    fn from_path_type(t: PathType) -> Self {
        match t.kind {
            SplineType::BSpline => Self::Bezier,
            SplineType::Linear => Self::Linear,
            SplineType::PerfectCurve => Self::Perfect,
            SplineType::Catmull => Self::Catmull,
        }
    }

    fn to_path_type(self) -> PathType {
        match self {
            Self::Bezier => PathType::BEZIER,
            Self::Linear => PathType::LINEAR,
            Self::Perfect => PathType::PERFECT_CURVE,
            Self::Catmull => PathType::CATMULL,
        }
    }
}

/// One control point of a slider path, in absolute osu!px.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PathPoint {
    /// Where the point is.
    pub pos: Point,
    /// `Some` where a new segment starts here (the head, a red anchor, a change of curve type).
    pub segment: Option<CurveKind>,
}

/// A slider's shape and timing.
#[derive(Debug, Clone, PartialEq)]
pub struct Slider {
    /// Control points, the head first (its `segment` is the first curve type).
    pub path: Vec<PathPoint>,
    /// Repeats (0 = one slide, head to tail).
    pub repeats: u32,
    /// Length of the travelled path (osu!px): the curve cut or extended to the `.osu` length.
    pub length_px: f64,
    /// Duration of one slide (ms), from the length and the governing BPM and slider velocity.
    pub span_ms: f64,
}

impl Slider {
    /// rosu-map's path for this slider (control points relative to the head).
    pub fn rosu_path(&self) -> SliderPath {
        let head = self.path.first().map_or(Point { x: 0.0, y: 0.0 }, |p| p.pos);
        let points = self
            .path
            .iter()
            .map(|p| PathControlPoint {
                pos: Pos::new(p.pos.x - head.x, p.pos.y - head.y),
                path_type: p.segment.map(CurveKind::to_path_type),
            })
            .collect();
        SliderPath::new(GameMode::Osu, points, Some(self.length_px))
    }

    /// Points along the real (cut or extended) curve, at most `step_px` apart, head to tail.
    pub fn polyline(&self, step_px: f64) -> Vec<Point> {
        let head = self.path.first().map_or(Point { x: 0.0, y: 0.0 }, |p| p.pos);
        let mut path = self.rosu_path();
        let curve = path.curve();
        let steps = ((self.length_px / step_px.max(1e-3)).ceil() as usize).clamp(1, 100_000);
        (0..=steps)
            .map(|i| {
                let p = curve.position_at(i as f64 / steps as f64);
                Point { x: head.x + p.x, y: head.y + p.y }
            })
            .collect()
    }
}

/// What kind of object, with its kind-specific data.
#[derive(Debug, Clone, PartialEq)]
pub enum ObjectKind {
    /// A hit circle.
    Circle,
    /// A slider.
    Slider(Slider),
    /// A spinner lasting `duration_ms`.
    Spinner {
        /// Milliseconds from start to end.
        duration_ms: f64,
    },
}

/// One hit object.
#[derive(Debug, Clone, PartialEq)]
pub struct HitObject {
    /// Start time (ms from the start of the audio).
    pub time_ms: f64,
    /// Position (the slider head; 256,192 for spinners).
    pub pos: Point,
    /// Starts a new combo.
    pub new_combo: bool,
    /// Circle, slider or spinner.
    pub kind: ObjectKind,
}

impl HitObject {
    /// When the object ends: its start for circles, after all slides for sliders.
    pub fn end_time_ms(&self) -> f64 {
        match &self.kind {
            ObjectKind::Circle => self.time_ms,
            ObjectKind::Slider(s) => self.time_ms + f64::from(s.repeats + 1) * s.span_ms,
            ObjectKind::Spinner { duration_ms } => self.time_ms + duration_ms,
        }
    }
}

/// `[Metadata]` and the audio file name.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Metadata {
    /// Song title.
    pub title: String,
    /// Song artist.
    pub artist: String,
    /// Mapper.
    pub creator: String,
    /// Difficulty name.
    pub version: String,
    /// Space-separated tags.
    pub tags: String,
    /// Audio file name, relative to the beatmap folder.
    pub audio_file: String,
}

/// `[Difficulty]` plus the stack leniency.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Difficulty {
    /// HP drain (0–10).
    pub hp_drain_rate: f32,
    /// Circle size (0–10).
    pub circle_size: f32,
    /// Overall difficulty (0–10).
    pub overall_difficulty: f32,
    /// Approach rate (0–10).
    pub approach_rate: f32,
    /// Base slider velocity in hundreds of osu!px per beat.
    pub slider_multiplier: f64,
    /// Slider ticks per beat.
    pub slider_tick_rate: f64,
    /// Stack leniency (`[General]`).
    pub stack_leniency: f32,
}

impl Default for Difficulty {
    fn default() -> Self {
        Self {
            hp_drain_rate: 5.0,
            circle_size: 4.0,
            overall_difficulty: 8.0,
            approach_rate: 9.0,
            slider_multiplier: 1.4,
            slider_tick_rate: 1.0,
            stack_leniency: 0.7,
        }
    }
}

/// An osu!standard beatmap: everything the tokenizer, writer and metrics need.
#[derive(Debug, Clone, PartialEq)]
pub struct Beatmap {
    /// Name used in errors and logs (file name or beatmap id).
    pub name: String,
    /// Song and mapper metadata.
    pub metadata: Metadata,
    /// Difficulty settings.
    pub difficulty: Difficulty,
    /// All red and green lines.
    pub timing: TimingModel,
    /// Hit objects sorted by start time.
    pub objects: Vec<HitObject>,
}

/// Counts of each object kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct ObjectCounts {
    /// Hit circles.
    pub circles: usize,
    /// Sliders.
    pub sliders: usize,
    /// Spinners.
    pub spinners: usize,
}

impl ObjectCounts {
    /// Counts the kinds in `objects`.
    pub fn of(objects: &[HitObject]) -> Self {
        let mut counts = Self::default();
        for o in objects {
            match o.kind {
                ObjectKind::Circle => counts.circles += 1,
                ObjectKind::Slider(_) => counts.sliders += 1,
                ObjectKind::Spinner { .. } => counts.spinners += 1,
            }
        }
        counts
    }

    /// All objects.
    pub fn total(&self) -> usize {
        self.circles + self.sliders + self.spinners
    }
}

impl Beatmap {
    /// The main BPM over the span of the objects (see [`TimingModel::main_bpm`]).
    pub fn main_bpm(&self) -> f64 {
        let start = self.objects.first().map_or(0.0, |o| o.time_ms);
        let end = self.objects.iter().map(HitObject::end_time_ms).fold(start, f64::max);
        self.timing.main_bpm(start, end)
    }

    /// Counts of circles, sliders and spinners.
    pub fn counts(&self) -> ObjectCounts {
        ObjectCounts::of(&self.objects)
    }
}

fn mode_name(mode: GameMode) -> (u8, &'static str) {
    match mode {
        GameMode::Osu => (0, "osu!standard"),
        GameMode::Taiko => (1, "osu!taiko"),
        GameMode::Catch => (2, "osu!catch"),
        GameMode::Mania => (3, "osu!mania"),
    }
}

fn point(p: Pos) -> Point {
    Point { x: p.x, y: p.y }
}

/// Parses `.osu` text (any version rosu-map reads, v3–v14 and v128) into a [`Beatmap`].
///
/// `name` (a file name or beatmap id) is only used in errors. Maps of other modes give
/// [`BeatmapError::UnsupportedMode`]; mania hold notes cannot occur in mode 0 and are rejected.
pub fn parse_beatmap(name: &str, text: &str) -> Result<Beatmap, BeatmapError> {
    let parse_error = |message: String| BeatmapError::Parse { name: name.to_string(), message };
    // Like osu!, a missing or corrupted header is tolerated (latest format assumed); text with
    // neither a header nor any `[Section]` is not a beatmap at all.
    let looks_like_osu = text.lines().any(|line| {
        let line = line.trim_start_matches('\u{feff}').trim();
        line.contains("osu file format v") || (line.starts_with('[') && line.ends_with(']'))
    });
    if !looks_like_osu {
        return Err(parse_error("not a .osu file: no `osu file format` header and no `[Section]`".into()));
    }
    let mut map: rosu_map::Beatmap = rosu_map::from_str(text).map_err(|e| parse_error(e.to_string()))?;
    if map.mode != GameMode::Osu {
        let (mode, mode_name) = mode_name(map.mode);
        return Err(BeatmapError::UnsupportedMode { name: name.to_string(), mode, mode_name });
    }
    let cp = &map.control_points;
    let red = cp
        .timing_points
        .iter()
        .map(|t| RedLine { time_ms: t.time, beat_len_ms: t.beat_len, meter: t.time_signature.numerator.get() })
        .collect();
    let green = cp
        .difficulty_points
        .iter()
        .map(|d| GreenLine { time_ms: d.time, slider_velocity: d.slider_velocity })
        .collect();
    let timing = TimingModel::new(red, green);

    let mut objects = Vec::with_capacity(map.hit_objects.len());
    for (index, h) in map.hit_objects.iter_mut().enumerate() {
        if !h.start_time.is_finite() {
            return Err(parse_error(format!("hit object {index} has a non-finite start time")));
        }
        let (pos, new_combo, kind) = match &mut h.kind {
            HitObjectKind::Circle(c) => (point(c.pos), c.new_combo, ObjectKind::Circle),
            HitObjectKind::Spinner(s) => (point(s.pos), s.new_combo, ObjectKind::Spinner { duration_ms: s.duration }),
            HitObjectKind::Slider(s) => {
                let head = point(s.pos);
                let length_px = s.path.curve().dist();
                let span_ms = if s.velocity > 0.0 { length_px / s.velocity } else { 0.0 };
                if !(length_px.is_finite() && span_ms.is_finite()) {
                    return Err(parse_error(format!(
                        "slider {index} at {} ms has a non-finite length or duration",
                        h.start_time
                    )));
                }
                let path = s
                    .path
                    .control_points()
                    .iter()
                    .map(|p| PathPoint {
                        pos: Point { x: head.x + p.pos.x, y: head.y + p.pos.y },
                        segment: p.path_type.map(CurveKind::from_path_type),
                    })
                    .collect();
                let slider = Slider { path, repeats: s.repeat_count.max(0) as u32, length_px, span_ms };
                (head, s.new_combo, ObjectKind::Slider(slider))
            }
            HitObjectKind::Hold(_) => {
                return Err(parse_error(format!("hit object {index} is a mania hold note in an osu!standard map")));
            }
        };
        objects.push(HitObject { time_ms: h.start_time, pos, new_combo, kind });
    }
    objects.sort_by(|a, b| a.time_ms.total_cmp(&b.time_ms));
    if let Some(o) = objects.iter().find(|o| o.time_ms.abs() > MAX_MAP_MS || o.end_time_ms() - o.time_ms > MAX_MAP_MS) {
        return Err(parse_error(format!(
            "hit object at {} ms ending at {} ms is outside the 24 h a map may span",
            o.time_ms,
            o.end_time_ms()
        )));
    }

    Ok(Beatmap {
        name: name.to_string(),
        metadata: Metadata {
            title: map.title.clone(),
            artist: map.artist.clone(),
            creator: map.creator.clone(),
            version: map.version.clone(),
            tags: map.tags.clone(),
            audio_file: map.audio_file.clone(),
        },
        difficulty: Difficulty {
            hp_drain_rate: map.hp_drain_rate,
            circle_size: map.circle_size,
            overall_difficulty: map.overall_difficulty,
            approach_rate: map.approach_rate,
            slider_multiplier: map.slider_multiplier,
            slider_tick_rate: map.slider_tick_rate,
            stack_leniency: map.stack_leniency,
        },
        timing,
        objects,
    })
}

/// NoMod star rating of `.osu` text with rosu-pp, recomputed from the objects (never metadata).
pub fn star_rating(name: &str, text: &str) -> Result<f64, BeatmapError> {
    let map = text
        .parse::<rosu_pp::Beatmap>()
        .map_err(|e| BeatmapError::Parse { name: name.to_string(), message: e.to_string() })?;
    let attributes = rosu_pp::Difficulty::new()
        .checked_calculate(&map)
        .map_err(|e| BeatmapError::Rating { name: name.to_string(), message: e.to_string() })?;
    Ok(attributes.stars())
}

#[cfg(test)]
pub(crate) mod tests;
