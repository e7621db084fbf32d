//! A map preview as one PNG: a timeline of the objects over the song's onsets, and the playfield
//! with the cursor path, so a person can judge a map at a glance. No text: colours carry it.
//!
//! ```text
//!  ┌───────────────────────────────────────────────┐  timeline: one row per ROW_SECONDS,
//!  │ ▁▃▇▂▁▅ onset envelope (or object density)     │  beat lines (faint) and bar lines (bright)
//!  │ │ ● ●━━━━● ●  ▬▬▬▬▬ (circles, sliders, spin.)  │  from the map's red lines; a white tick
//!  ├───────────────────────────────────────────────┤  marks each new combo
//!  │        playfield 512×384 osu!px (×1.5)         │  cursor path object to object, slider
//!  │          ○──○  ╭──╮  ○                         │  bodies along their curves, circles at
//!  └───────────────────────────────────────────────┘  the map's circle size
//! ```

use operators::beatmap::{Beatmap, HitObject, ObjectKind, PLAYFIELD_HEIGHT, PLAYFIELD_WIDTH, Point};
use tiny_skia::{Color, FillRule, Paint, PathBuilder, Pixmap, Rect, Stroke, Transform};

/// Width of the image (px).
pub const WIDTH: u32 = 1200;
/// Seconds of the song per timeline row (more for very long maps: at most [`MAX_ROWS`] rows).
pub const ROW_SECONDS: f64 = 30.0;
/// Most timeline rows.
pub const MAX_ROWS: usize = 12;
/// Height of one timeline row (px).
const ROW_HEIGHT: f32 = 56.0;
/// Space around and between the panels (px).
const MARGIN: f32 = 16.0;
/// Playfield scale (px per osu!px).
const PLAYFIELD_SCALE: f32 = 1.5;

/// Colour of hit circles (timeline and playfield).
pub const CIRCLE_COLOUR: [u8; 3] = [255, 102, 170];
/// Colour of sliders.
pub const SLIDER_COLOUR: [u8; 3] = [255, 170, 51];
/// Colour of spinners.
pub const SPINNER_COLOUR: [u8; 3] = [102, 204, 255];
/// Background.
const BACKGROUND: [u8; 3] = [24, 24, 32];
/// Panel background.
const PANEL: [u8; 3] = [36, 38, 50];
/// The onset envelope (or density) under the timeline.
const ENVELOPE_COLOUR: [u8; 3] = [70, 110, 150];

/// The song's onset strength, to draw under the timeline.
#[derive(Debug, Clone, Copy)]
pub struct OnsetTrack<'a> {
    /// One value per frame (the feature matrix's onset row).
    pub values: &'a [f32],
    /// Seconds between frames.
    pub frame_seconds: f64,
}

/// Why a preview could not be drawn.
#[derive(Debug, thiserror::Error)]
pub enum PreviewError {
    /// The image would have no pixels (should not happen) or too many.
    #[error("{name}: cannot allocate a {width}×{height} preview")]
    Canvas {
        /// The map.
        name: String,
        /// Width asked for.
        width: u32,
        /// Height asked for.
        height: u32,
    },
    /// PNG encoding failed.
    #[error("{name}: PNG encoding failed: {message}")]
    Png {
        /// The map.
        name: String,
        /// The encoder's message.
        message: String,
    },
}

fn paint(rgb: [u8; 3], alpha: f32) -> Paint<'static> {
    let mut paint = Paint::default();
    paint.set_color(Color::from_rgba8(rgb[0], rgb[1], rgb[2], (alpha.clamp(0.0, 1.0) * 255.0) as u8));
    paint.anti_alias = true;
    paint
}

/// Fills an axis-aligned rectangle snapped to whole pixels (at least one wide and high): crisp,
/// and clear of tiny-skia's anti-aliased hairline path, which asserts on sub-pixel rectangles.
fn fill_rect(pixmap: &mut Pixmap, x: f32, y: f32, w: f32, h: f32, rgb: [u8; 3], alpha: f32) {
    let (x0, y0) = (x.round(), y.round());
    if let Some(rect) = Rect::from_xywh(x0, y0, (x + w).round().max(x0 + 1.0) - x0, (y + h).round().max(y0 + 1.0) - y0)
    {
        let mut paint = paint(rgb, alpha);
        paint.anti_alias = false;
        pixmap.fill_rect(rect, &paint, Transform::identity(), None);
    }
}

fn fill_circle(pixmap: &mut Pixmap, at: (f32, f32), radius: f32, rgb: [u8; 3], alpha: f32) {
    if let Some(path) = PathBuilder::from_circle(at.0, at.1, radius) {
        pixmap.fill_path(&path, &paint(rgb, alpha), FillRule::Winding, Transform::identity(), None);
    }
}

fn stroke_polyline(pixmap: &mut Pixmap, points: &[(f32, f32)], width: f32, rgb: [u8; 3], alpha: f32) {
    let mut builder = PathBuilder::new();
    let mut points = points.iter();
    let Some(first) = points.next() else { return };
    builder.move_to(first.0, first.1);
    for p in points {
        builder.line_to(p.0, p.1);
    }
    if let Some(path) = builder.finish() {
        let stroke = Stroke {
            width,
            line_cap: tiny_skia::LineCap::Round,
            line_join: tiny_skia::LineJoin::Round,
            ..Stroke::default()
        };
        pixmap.stroke_path(&path, &paint(rgb, alpha), &stroke, Transform::identity(), None);
    }
}

/// Where the timeline's rows start and how long each is: the song from 0 to the last object
/// (or the audio's end, if longer), cut into rows of [`ROW_SECONDS`] (longer when that would
/// need more than [`MAX_ROWS`]).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Timeline {
    rows: usize,
    row_ms: f64,
    /// Where its first row starts (px).
    top: f32,
}

impl Timeline {
    fn new(song_ms: f64, top: f32) -> Self {
        let song_ms = if song_ms.is_finite() { song_ms.max(1000.0) } else { 1000.0 };
        let row_ms = (ROW_SECONDS * 1000.0).max(song_ms / MAX_ROWS as f64);
        Self { rows: ((song_ms / row_ms).ceil() as usize).clamp(1, MAX_ROWS), row_ms, top }
    }

    /// Row and x (px) of a time; `None` past the end.
    fn place(&self, ms: f64) -> Option<(usize, f32)> {
        let row = (ms.max(0.0) / self.row_ms).floor() as usize;
        let x =
            MARGIN + ((ms.max(0.0) - row as f64 * self.row_ms) / self.row_ms) as f32 * (WIDTH as f32 - 2.0 * MARGIN);
        (row < self.rows).then_some((row, x))
    }

    fn row_top(&self, row: usize) -> f32 {
        self.top + row as f32 * (ROW_HEIGHT + MARGIN / 2.0)
    }

    /// Where the space under its last row ends (px).
    fn bottom(&self) -> f32 {
        self.row_top(self.rows)
    }
}

fn colour_of(object: &HitObject) -> [u8; 3] {
    match object.kind {
        ObjectKind::Circle => CIRCLE_COLOUR,
        ObjectKind::Slider(_) => SLIDER_COLOUR,
        ObjectKind::Spinner { .. } => SPINNER_COLOUR,
    }
}

/// Draws the envelope (onsets, or else object density per 250 ms) as bars in each row's lower
/// half, scaled to its 99th percentile.
fn draw_envelope(pixmap: &mut Pixmap, timeline: &Timeline, map: &Beatmap, onsets: Option<OnsetTrack<'_>>) {
    let (values, step_ms): (Vec<f32>, f64) = match onsets {
        Some(track) => (track.values.to_vec(), track.frame_seconds * 1000.0),
        None => {
            let step_ms = 250.0;
            let bins = (timeline.rows as f64 * timeline.row_ms / step_ms).ceil() as usize + 1;
            let mut density = vec![0.0f32; bins];
            for o in &map.objects {
                if let Some(slot) = density.get_mut((o.time_ms.max(0.0) / step_ms) as usize) {
                    *slot += 1.0;
                }
            }
            (density, step_ms)
        }
    };
    let mut sorted: Vec<f32> = values.iter().copied().filter(|v| v.is_finite()).collect();
    sorted.sort_by(f32::total_cmp);
    let scale = sorted.get(sorted.len() * 99 / 100).copied().filter(|&v| v > 0.0).unwrap_or(1.0);
    let bar_px = ((step_ms / timeline.row_ms) as f32 * (WIDTH as f32 - 2.0 * MARGIN)).max(1.0);
    for (i, &v) in values.iter().enumerate() {
        let Some((row, x)) = timeline.place(i as f64 * step_ms) else { break };
        let h = (v / scale).clamp(0.0, 1.0) * ROW_HEIGHT * 0.5;
        let bottom = timeline.row_top(row) + ROW_HEIGHT;
        fill_rect(pixmap, x, bottom - h, bar_px, h, ENVELOPE_COLOUR, 1.0);
    }
}

/// Beat lines (faint) and bar lines (bright) from the map's red lines.
fn draw_grid(pixmap: &mut Pixmap, timeline: &Timeline, map: &Beatmap) {
    let end_ms = timeline.rows as f64 * timeline.row_ms;
    let reds = map.timing.red_lines();
    for (i, red) in reds.iter().enumerate() {
        let section_end = reds.get(i + 1).map_or(end_ms, |next| next.time_ms);
        // The first section's grid also runs back to the start of the song.
        let first_beat = if i == 0 { (-red.time_ms / red.beat_len_ms).ceil() as i64 } else { 0 };
        let bars = red.meter.max(1) as i64;
        for beat in first_beat.. {
            let ms = red.time_ms + beat as f64 * red.beat_len_ms;
            if ms >= section_end || ms >= end_ms {
                break;
            }
            let Some((row, x)) = timeline.place(ms) else { break };
            let (alpha, rgb) =
                if beat.rem_euclid(bars) == 0 { (0.55, [220, 220, 230]) } else { (0.18, [200, 200, 210]) };
            fill_rect(pixmap, x, timeline.row_top(row), 1.0, ROW_HEIGHT, rgb, alpha);
        }
    }
}

/// Objects in each row's upper half: a dot per circle, a bar per slider or spinner span.
fn draw_objects(pixmap: &mut Pixmap, timeline: &Timeline, map: &Beatmap) {
    for o in &map.objects {
        let Some((row, x)) = timeline.place(o.time_ms) else { continue };
        let top = timeline.row_top(row);
        let mid = top + ROW_HEIGHT * 0.3;
        let colour = colour_of(o);
        if !matches!(o.kind, ObjectKind::Circle) {
            // The span, split where it crosses into later rows.
            let (mut from_ms, end_ms) = (o.time_ms, o.end_time_ms());
            while from_ms < end_ms {
                let Some((r, x0)) = timeline.place(from_ms) else { break };
                let row_end = (r + 1) as f64 * timeline.row_ms;
                let to_ms = end_ms.min(row_end);
                let x1 = timeline.place(to_ms).filter(|(r1, _)| *r1 == r).map_or(WIDTH as f32 - MARGIN, |p| p.1);
                fill_rect(pixmap, x0, timeline.row_top(r) + ROW_HEIGHT * 0.3 - 3.0, x1 - x0, 6.0, colour, 1.0);
                from_ms = row_end;
            }
        }
        fill_circle(pixmap, (x, mid), 3.5, colour, 1.0);
        if o.new_combo {
            fill_rect(pixmap, x - 0.5, top + 2.0, 1.5, ROW_HEIGHT * 0.3 - 6.0, [255, 255, 255], 0.9);
        }
    }
}

/// The playfield: cursor path, slider bodies, circles and spinners, in time order.
fn draw_playfield(pixmap: &mut Pixmap, map: &Beatmap, top: f32) {
    let left = (WIDTH as f32 - PLAYFIELD_WIDTH * PLAYFIELD_SCALE) / 2.0;
    fill_rect(pixmap, left, top, PLAYFIELD_WIDTH * PLAYFIELD_SCALE, PLAYFIELD_HEIGHT * PLAYFIELD_SCALE, PANEL, 1.0);
    let to_px = |p: Point| (left + p.x * PLAYFIELD_SCALE, top + p.y * PLAYFIELD_SCALE);
    let radius = (54.4 - 4.48 * map.difficulty.circle_size).max(4.0) * PLAYFIELD_SCALE;
    // Cursor path: each object's end to the next one's start.
    let mut previous_end: Option<Point> = None;
    for o in &map.objects {
        let curve = match &o.kind {
            ObjectKind::Slider(slider) => slider.polyline(4.0),
            _ => vec![o.pos],
        };
        if let Some(end) = previous_end {
            stroke_polyline(pixmap, &[to_px(end), to_px(o.pos)], 1.5, [230, 230, 240], 0.35);
        }
        let head = curve.first().copied().unwrap_or(o.pos);
        let tail = curve.last().copied().unwrap_or(o.pos);
        previous_end = Some(match &o.kind {
            ObjectKind::Slider(slider) if slider.repeats % 2 == 1 => head,
            _ => tail,
        });
        match &o.kind {
            ObjectKind::Circle => fill_circle(pixmap, to_px(o.pos), radius * 0.5, CIRCLE_COLOUR, 0.45),
            ObjectKind::Slider(_) => {
                let points: Vec<(f32, f32)> = curve.iter().map(|&p| to_px(p)).collect();
                stroke_polyline(pixmap, &points, radius, SLIDER_COLOUR, 0.25);
                fill_circle(pixmap, to_px(head), radius * 0.5, SLIDER_COLOUR, 0.6);
            }
            ObjectKind::Spinner { .. } => {
                if let Some(path) = PathBuilder::from_circle(to_px(o.pos).0, to_px(o.pos).1, 120.0 * PLAYFIELD_SCALE) {
                    let stroke = Stroke { width: 3.0, ..Stroke::default() };
                    pixmap.stroke_path(&path, &paint(SPINNER_COLOUR, 0.6), &stroke, Transform::identity(), None);
                }
            }
        }
    }
}

/// The song's length as the timeline shows it: to the last object's end or the audio's end.
fn song_ms(maps: &[&Beatmap], onsets: Option<OnsetTrack<'_>>) -> f64 {
    let last_ms = maps.iter().flat_map(|m| m.objects.iter().map(HitObject::end_time_ms)).fold(0.0, f64::max);
    last_ms.max(onsets.map_or(0.0, |t| t.values.len() as f64 * t.frame_seconds * 1000.0))
}

/// A canvas of `height` px in the background colour.
fn canvas(name: &str, height: f32) -> Result<Pixmap, PreviewError> {
    let height = height.ceil() as u32;
    let mut pixmap = Pixmap::new(WIDTH, height).ok_or_else(|| PreviewError::Canvas {
        name: name.to_owned(),
        width: WIDTH,
        height,
    })?;
    pixmap.fill(Color::from_rgba8(BACKGROUND[0], BACKGROUND[1], BACKGROUND[2], 255));
    Ok(pixmap)
}

/// One map's timeline: panels, envelope, beat grid, objects.
fn draw_timeline(pixmap: &mut Pixmap, timeline: &Timeline, map: &Beatmap, onsets: Option<OnsetTrack<'_>>) {
    for row in 0..timeline.rows {
        fill_rect(pixmap, MARGIN, timeline.row_top(row), WIDTH as f32 - 2.0 * MARGIN, ROW_HEIGHT, PANEL, 1.0);
    }
    draw_envelope(pixmap, timeline, map, onsets);
    draw_grid(pixmap, timeline, map);
    draw_objects(pixmap, timeline, map);
}

/// Draws the preview of `map`, over `onsets` when given.
pub fn render(map: &Beatmap, onsets: Option<OnsetTrack<'_>>) -> Result<Pixmap, PreviewError> {
    let timeline = Timeline::new(song_ms(&[map], onsets), MARGIN);
    let playfield_top = timeline.bottom() + MARGIN / 2.0;
    let mut pixmap = canvas(&map.name, playfield_top + PLAYFIELD_HEIGHT * PLAYFIELD_SCALE + MARGIN)?;
    draw_timeline(&mut pixmap, &timeline, map, onsets);
    draw_playfield(&mut pixmap, map, playfield_top);
    Ok(pixmap)
}

/// Draws a spread (the difficulties of one set, in the order given): each map's timeline, one
/// under the other on the same time scale, over the same `onsets`, so the densities compare at
/// a glance; no playfield.
pub fn render_spread(maps: &[Beatmap], onsets: Option<OnsetTrack<'_>>) -> Result<Pixmap, PreviewError> {
    let refs: Vec<&Beatmap> = maps.iter().collect();
    let song_ms = song_ms(&refs, onsets);
    let mut timelines = Vec::with_capacity(maps.len());
    let mut top = MARGIN;
    for _ in maps {
        let timeline = Timeline::new(song_ms, top);
        top = timeline.bottom() + MARGIN;
        timelines.push(timeline);
    }
    let name = maps.first().map_or("spread", |m| m.name.as_str());
    let mut pixmap = canvas(name, top)?;
    for (map, timeline) in maps.iter().zip(&timelines) {
        draw_timeline(&mut pixmap, timeline, map, onsets);
    }
    Ok(pixmap)
}

/// [`render`] encoded as PNG bytes.
pub fn render_png(map: &Beatmap, onsets: Option<OnsetTrack<'_>>) -> Result<Vec<u8>, PreviewError> {
    encode(render(map, onsets)?, &map.name)
}

/// [`render_spread`] encoded as PNG bytes.
pub fn render_spread_png(maps: &[Beatmap], onsets: Option<OnsetTrack<'_>>) -> Result<Vec<u8>, PreviewError> {
    let name = maps.first().map_or("spread", |m| m.name.as_str());
    encode(render_spread(maps, onsets)?, name)
}

fn encode(pixmap: Pixmap, name: &str) -> Result<Vec<u8>, PreviewError> {
    pixmap.encode_png().map_err(|e| PreviewError::Png { name: name.to_owned(), message: e.to_string() })
}

#[cfg(test)]
mod tests;
