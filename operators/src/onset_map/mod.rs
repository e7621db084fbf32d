//! The non-learned generator: a playable osu!standard map from a song's onsets and beat grid,
//! at a requested star rating, with no checkpoint — the anchor the learned model is compared
//! with, and an instant map for users.
//!
//! ```text
//!  onset row ─► peaks (local max ≥ local mean + δ) ─► 1/4 or 1/3 grid ─► snapped ticks, ranked:
//!  (50 fps)                                        (triplet-y songs)   strength × place in bar
//!  mel rows ─► level per frame ─► held notes ─────────────┐
//!  target ★ ─► style: CS AR OD HP SV, fastest gap, jumps, turns, slider shares
//!                                                         ▼
//!        ┌─► thin: strongest first, ≥ the gap apart, the first `density` of them
//!        │   ─► sliders on held notes / before long gaps, new combo per bar
//!        │   ─► flow: distance ∝ gap × spacing, smooth turns, sharp ones on jumps, bounces
//!        │   ─► .osu (beatmap::write) ─► rosu-pp ★
//!        └── search: finer or coarser gap, then bisection on density (then spacing) ◄─┘
//!                                   ─► OnsetMap { beatmap (one red line), stars, report }
//! ```
//!
//! Everything is deterministic for a seed: the same song, timing, stars and seed give the same
//! map on every platform. The timing is the caller's: for an estimated one,
//! `TimingModel::constant(estimate.offset_ms, estimate.bpm)` from [`crate::tempo`], one red line.

mod flow;
mod notes;
mod peaks;
mod rhythm;
mod rng;
mod select;
mod style;
#[cfg(test)]
mod tests;

use serde::Serialize;
use thiserror::Error;

use crate::beatmap::write::{WriteError, to_osu_string};
use crate::beatmap::{Beatmap, BeatmapError, Metadata, TimingModel, star_rating};
use crate::features::{FeatureConfig, FeatureMatrix};
use flow::Spacing;
use rhythm::{Grid, Tick};
use rng::SplitMix;
use style::{GAP_LEVELS, Style};

/// Stop searching once the map is this close to the requested stars.
const STARS_TOLERANCE: f64 = 0.05;
/// Halvings of each searched interval.
const BISECTIONS: usize = 8;
/// Sparsest density tried: the share of the ranked onsets kept.
const MIN_DENSITY: f64 = 0.02;
/// Range of the spacing multiplier when density alone cannot reach the stars.
const SPACING_RANGE: (f64, f64) = (0.3, 2.5);
/// Range of the spacing multiplier in the final polish around the best density.
const POLISH_RANGE: (f64, f64) = (0.7, 1.4);
/// Star ratings accepted.
const STARS_RANGE: (f64, f64) = (0.1, 15.0);

/// What the generator reads: one song's features and its beat grid.
#[derive(Debug, Clone, Copy)]
pub struct OnsetMapInput<'a> {
    /// The song's name, for errors and the map's name.
    pub name: &'a str,
    /// Its `[n_mels + 1, T]` feature matrix: mel power rows, then onset strength.
    pub features: &'a FeatureMatrix,
    /// The config that made `features` (frame rate).
    pub feature_config: &'a FeatureConfig,
    /// The beat grid objects snap to; written as the map's red lines.
    pub timing: &'a TimingModel,
}

/// What map to make.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OnsetMapOptions {
    /// Requested NoMod star rating (rosu-pp), 0.1–15.
    pub stars: f64,
    /// Seed of the flow's choices (turns, slider shapes).
    pub seed: u64,
}

/// How the map was made.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct OnsetMapReport {
    /// Onset peaks found in the song.
    pub peaks: usize,
    /// Grid ticks inside the song that may get a note: those with a peak, then fillers.
    pub candidates: usize,
    /// Ticks per beat of the grid: 4, or 3 for a triplet feel.
    pub divisions: u32,
    /// Fastest rhythm allowed, in beats between object starts.
    pub min_gap_beats: f64,
    /// Share of the ranked candidates kept (0–1).
    pub density: f64,
    /// Multiplier on the style's jump distance.
    pub spacing: f64,
    /// Maps made and rated during the search.
    pub tries: usize,
    /// Star rating of the search's first map (every onset at the calmest rhythm).
    pub first_stars: f64,
}

/// A generated map.
#[derive(Debug, Clone)]
pub struct OnsetMap {
    /// The map: objects, the input timing, difficulty settings for the stars; metadata names
    /// only the creator (`mapflow`) and version (`onsets 4.0*`): the caller adds title, artist
    /// and audio file.
    pub beatmap: Beatmap,
    /// Its NoMod star rating (rosu-pp) as written by [`to_osu_string`]; 0 without objects.
    pub stars: f64,
    /// How it was made.
    pub report: OnsetMapReport,
}

/// Why no map could be made.
#[derive(Debug, Error)]
pub enum OnsetMapError {
    /// The requested star rating is not a number in 0.1–15.
    #[error("{name}: cannot map at {stars} stars: ask for 0.1 to 15")]
    Stars {
        /// The song.
        name: String,
        /// What was asked for.
        stars: f64,
    },
    /// The features do not fit together (shape, config).
    #[error("{name}: unusable features: {reason}")]
    Features {
        /// The song.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// A tried map could not be written as `.osu`.
    #[error(transparent)]
    Write(#[from] WriteError),
    /// rosu-pp could not rate a tried map.
    #[error(transparent)]
    Rating(#[from] BeatmapError),
}

/// The song as the search sees it.
struct Song<'a> {
    name: &'a str,
    timing: &'a TimingModel,
    grid: Grid<'a>,
    ticks: Vec<Tick>,
    loudness: peaks::Loudness,
    song_ms: f64,
    /// The ranking of `ticks` for each gap level, made when first needed.
    rankings: [Option<Vec<usize>>; GAP_LEVELS.len()],
}

/// One map made during the search.
struct Attempt {
    beatmap: Beatmap,
    stars: f64,
    level: usize,
    density: f64,
    spacing: f64,
}

/// The search for the density and spacing that give the requested stars.
struct Search<'a> {
    song: Song<'a>,
    style: Style,
    seed: u64,
    target: f64,
    tries: usize,
    best: Option<Attempt>,
    first_stars: f64,
}

impl Search<'_> {
    /// Makes and rates the map at `level`, `density` and `spacing`; returns its stars and keeps
    /// it if it is the closest yet.
    fn attempt(&mut self, level: usize, density: f64, spacing: f64) -> Result<f64, OnsetMapError> {
        let song = &mut self.song;
        let min_gap = song.grid.ticks_in(GAP_LEVELS[level]);
        let ranking = song.rankings[level].get_or_insert_with(|| select::rank(&song.ticks, min_gap));
        let chosen: Vec<Tick> = select::take(ranking, density).into_iter().map(|i| song.ticks[i]).collect();
        let mut rng = SplitMix::new(self.seed);
        let notes = notes::notes(&chosen, &song.grid, &song.loudness, &self.style, min_gap, song.song_ms, &mut rng);
        let layout = Spacing {
            px_per_beat: 100.0 * self.style.difficulty.slider_multiplier,
            jump: self.style.jump * spacing,
            stream: self.style.stream,
            sharpness: self.style.sharpness,
        };
        let objects = flow::place(&notes, &song.grid, &layout, &mut rng);
        let beatmap = Beatmap {
            name: song.name.to_owned(),
            metadata: Metadata {
                creator: "mapflow".into(),
                version: format!("onsets {:.1}*", self.target),
                ..Metadata::default()
            },
            difficulty: self.style.difficulty,
            timing: song.timing.clone(),
            objects,
        };
        let stars =
            if beatmap.objects.is_empty() { 0.0 } else { star_rating(song.name, &to_osu_string(&beatmap, "")?)? };
        self.tries += 1;
        let error = (stars - self.target).abs();
        if self.best.as_ref().is_none_or(|b| error < (b.stars - self.target).abs()) {
            self.best = Some(Attempt { beatmap, stars, level, density, spacing });
        }
        Ok(stars)
    }

    /// Whether the closest map yet is close enough.
    fn done(&self) -> bool {
        self.best.as_ref().is_some_and(|b| (b.stars - self.target).abs() < STARS_TOLERANCE)
    }

    /// Bisection of `range` for the stars, the stars rising with the parameter; `at` turns the
    /// parameter into (level, density, spacing).
    fn bisect(&mut self, range: (f64, f64), at: impl Fn(f64) -> (usize, f64, f64)) -> Result<(), OnsetMapError> {
        let (mut lo, mut hi) = range;
        for _ in 0..BISECTIONS {
            if self.done() {
                break;
            }
            let mid = (lo + hi) / 2.0;
            let (level, density, spacing) = at(mid);
            if self.attempt(level, density, spacing)? < self.target {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        Ok(())
    }

    /// The whole search: the slowest gap level whose full density reaches the target (the most
    /// objects at the calmest rhythm, as mappers do), bisection on the density there (on the
    /// spacing where no density fits), then a polish of the spacing around the best density.
    fn run(&mut self) -> Result<(), OnsetMapError> {
        let finest = GAP_LEVELS.len() - 1;
        let mut level = 0;
        let mut full = self.attempt(level, 1.0, 1.0)?;
        self.first_stars = full;
        if self.song.ticks.is_empty() {
            return Ok(());
        }
        while full < self.target && level < finest {
            level += 1;
            full = self.attempt(level, 1.0, 1.0)?;
        }
        if full < self.target {
            // Every onset at the fastest rhythm is still too easy: wider jumps.
            return self.bisect((1.0, SPACING_RANGE.1), |m| (level, 1.0, m));
        }
        if self.attempt(level, MIN_DENSITY, 1.0)? > self.target {
            return match level.checked_sub(1) {
                // Between the slower level at full density and this one at its sparsest.
                Some(slower) => self.bisect((1.0, SPACING_RANGE.1), |m| (slower, 1.0, m)),
                // Even the sparsest map is too hard: smaller jumps.
                None => self.bisect((SPACING_RANGE.0, 1.0), |m| (level, MIN_DENSITY, m)),
            };
        }
        self.bisect((MIN_DENSITY, 1.0), |d| (level, d, 1.0))?;
        if let Some(best) = self.best.as_ref().filter(|_| !self.done()) {
            let (level, density) = (best.level, best.density);
            self.bisect(POLISH_RANGE, |m| (level, density, m))?;
        }
        Ok(())
    }
}

/// The difficulty settings (CS, AR, OD, HP, slider velocity) ranked maps of `stars` have, by the
/// table the generator maps with.
pub fn difficulty_for_stars(stars: f64) -> crate::beatmap::Difficulty {
    Style::for_stars(stars).difficulty
}

/// Makes a map of `input`'s song at `options.stars` (searching, not guaranteed: the report and
/// [`OnsetMap::stars`] say what was reached). A song with no onsets gives a map without objects.
pub fn generate_onset_map(input: &OnsetMapInput<'_>, options: &OnsetMapOptions) -> Result<OnsetMap, OnsetMapError> {
    let name = input.name;
    if !(STARS_RANGE.0..=STARS_RANGE.1).contains(&options.stars) {
        return Err(OnsetMapError::Stars { name: name.to_owned(), stars: options.stars });
    }
    let features = input.features;
    let fail = |reason: String| OnsetMapError::Features { name: name.to_owned(), reason };
    input.feature_config.validate().map_err(fail)?;
    if features.channels < 2 || features.data.len() != features.channels * features.frames {
        return Err(fail(format!(
            "{} values for {} channels × {} frames (need mel rows and an onset row)",
            features.data.len(),
            features.channels,
            features.frames
        )));
    }
    let frame_ms = input.feature_config.frame_seconds() * 1000.0;
    let song_ms = features.frames.saturating_sub(1) as f64 * frame_ms;
    let onset = peaks::normalised_onset(features);
    let mut peaks = peaks::onset_peaks(&onset, frame_ms);
    let lag_ms = rhythm::lag_behind_beats(&peaks, input.timing);
    for peak in &mut peaks {
        peak.time_ms -= lag_ms;
    }
    let divisions = rhythm::divisions_for(&peaks, input.timing);
    let grid = Grid::new(input.timing, divisions);
    let ticks = rhythm::snapped_ticks(&peaks, &onset, frame_ms, &grid, song_ms);
    let candidates = ticks.len();
    let song = Song {
        name,
        timing: input.timing,
        grid,
        ticks,
        loudness: peaks::Loudness::new(features, frame_ms),
        song_ms,
        rankings: Default::default(),
    };
    let style = Style::for_stars(options.stars);
    let mut search =
        Search { song, style, seed: options.seed, target: options.stars, tries: 0, best: None, first_stars: 0.0 };
    search.run()?;
    let (tries, first_stars) = (search.tries, search.first_stars);
    let best = search.best.ok_or_else(|| fail("the search made no map".into()))?;
    Ok(OnsetMap {
        report: OnsetMapReport {
            peaks: peaks.len(),
            candidates,
            divisions,
            min_gap_beats: GAP_LEVELS[best.level],
            density: best.density,
            spacing: best.spacing,
            tries,
            first_stars,
        },
        stars: best.stars,
        beatmap: best.beatmap,
    })
}
