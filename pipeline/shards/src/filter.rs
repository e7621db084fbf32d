//! Which beatmaps an output holds: the selection `preprocess --status --years --stars --modes`
//! makes, recorded in the manifest (`configs.filter`) so that an output is never a mix of two.
//!
//! ```text
//! beatmap (mode, metadata) ─► modes? ─► status? ─► years? ─┬─► parse, rate ─► stars? ─► tokenized
//!                              └──────────┴─────────┴──────┴──────────────────┴─► Filtered(reason)
//! ```
//! A filtered beatmap is no reject: nothing is wrong with it, it was not asked for. It counts once,
//! under the first filter it fails in the order above ([`FilteredCounts`]). A filter on a field the
//! source does not have (a Songs folder has no ranked status and no dates) drops the beatmap and
//! counts it as of unknown value (`status_unknown`, `years_unknown`); stars are the ones the
//! pipeline computes (rosu-pp, NoMod) and the mode the metadata's or the `.osu`'s, so they are
//! always known.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::rows::BeatmapMetadata;

/// The osu! API v1 `approved` value of a beatmap (`"-2"` … `"4"`, given as a string).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RankedStatus {
    /// `-2`.
    Graveyard,
    /// `-1`.
    Wip,
    /// `0`.
    Pending,
    /// `1`.
    Ranked,
    /// `2`.
    Approved,
    /// `3`.
    Qualified,
    /// `4`.
    Loved,
}

/// Every status, in API order.
const STATUSES: [RankedStatus; 7] = [
    RankedStatus::Graveyard,
    RankedStatus::Wip,
    RankedStatus::Pending,
    RankedStatus::Ranked,
    RankedStatus::Approved,
    RankedStatus::Qualified,
    RankedStatus::Loved,
];

impl RankedStatus {
    /// The status of API value `value` (`-2..=4`), if it is one.
    pub fn from_api(value: i64) -> Option<RankedStatus> {
        STATUSES.into_iter().find(|s| s.api_value() == value)
    }

    /// The API value, as the `beatmaps` table's `status` column stores it.
    pub fn api_value(self) -> i64 {
        self as i64 - 2
    }

    /// The lower-case name `--status` takes.
    pub fn name(self) -> &'static str {
        match self {
            RankedStatus::Graveyard => "graveyard",
            RankedStatus::Wip => "wip",
            RankedStatus::Pending => "pending",
            RankedStatus::Ranked => "ranked",
            RankedStatus::Approved => "approved",
            RankedStatus::Qualified => "qualified",
            RankedStatus::Loved => "loved",
        }
    }
}

impl fmt::Display for RankedStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A filter value that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{flag} {value:?}: {why}")]
pub struct FilterParseError {
    /// The flag (`--status`, `--years`, `--stars`, `--modes`).
    pub flag: &'static str,
    /// What was given.
    pub value: String,
    /// What is expected instead.
    pub why: String,
}

impl FromStr for RankedStatus {
    type Err = FilterParseError;

    /// A name (`ranked`) or an API value (`1`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        STATUSES
            .into_iter()
            .find(|status| status.name().eq_ignore_ascii_case(s))
            .or_else(|| s.parse().ok().and_then(RankedStatus::from_api))
            .ok_or_else(|| FilterParseError {
                flag: "--status",
                value: s.to_owned(),
                why: "not one of graveyard, wip, pending, ranked, approved, qualified, loved (or -2..4)".into(),
            })
    }
}

/// An inclusive range `MIN..MAX` of years or stars; either end may be open (`2010..`, `..8`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InclusiveRange<T> {
    /// The least value kept, if any.
    pub min: Option<T>,
    /// The greatest value kept, if any.
    pub max: Option<T>,
}

impl<T: PartialOrd + Copy> InclusiveRange<T> {
    /// Whether `value` is inside (both ends included).
    pub fn contains(&self, value: T) -> bool {
        self.min.is_none_or(|min| value >= min) && self.max.is_none_or(|max| value <= max)
    }
}

impl<T: fmt::Display> fmt::Display for InclusiveRange<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(min) = &self.min {
            write!(f, "{min}")?;
        }
        f.write_str("..")?;
        if let Some(max) = &self.max {
            write!(f, "{max}")?;
        }
        Ok(())
    }
}

/// Parses `A..B`, `A..`, `..B` or `A` (= `A..A`) for `flag`, both ends included.
fn parse_range<T: FromStr + PartialOrd + Copy>(
    flag: &'static str,
    s: &str,
) -> Result<InclusiveRange<T>, FilterParseError> {
    let error = |why: &str| FilterParseError { flag, value: s.to_owned(), why: why.to_owned() };
    let end = |part: &str| -> Result<Option<T>, FilterParseError> {
        let part = part.trim();
        if part.is_empty() {
            return Ok(None);
        }
        part.parse()
            .map(Some)
            .map_err(|_| error("expected MIN..MAX (both included; either may be left out) or one value"))
    };
    let range = match s.split_once("..") {
        Some((min, max)) => InclusiveRange { min: end(min)?, max: end(max)? },
        None => {
            let value = end(s)?.ok_or_else(|| error("empty"))?;
            InclusiveRange { min: Some(value), max: Some(value) }
        }
    };
    if let (Some(min), Some(max)) = (range.min, range.max)
        && min > max
    {
        return Err(error("MIN is above MAX"));
    }
    Ok(range)
}

/// Parses `--years` (`2007..2024`: both years included).
pub fn parse_years(s: &str) -> Result<InclusiveRange<i32>, FilterParseError> {
    parse_range("--years", s)
}

/// Parses `--stars` (`1.5..8`: both ends included).
pub fn parse_stars(s: &str) -> Result<InclusiveRange<f64>, FilterParseError> {
    let range: InclusiveRange<f64> = parse_range("--stars", s)?;
    if range.min.into_iter().chain(range.max).any(|v| !v.is_finite()) {
        return Err(FilterParseError { flag: "--stars", value: s.to_owned(), why: "not a finite number".into() });
    }
    Ok(range)
}

/// Parses one `--modes` value: `0` (osu!standard), `1` (taiko), `2` (catch), `3` (mania).
pub fn parse_mode(s: &str) -> Result<u8, FilterParseError> {
    s.trim().parse().ok().filter(|m| *m <= 3).ok_or_else(|| FilterParseError {
        flag: "--modes",
        value: s.to_owned(),
        why: "not a game mode 0..3 (0 osu!standard, 1 taiko, 2 catch, 3 mania)".into(),
    })
}

/// The game modes the tokenizer maps today: osu!standard only.
pub const TOKENIZED_MODES: [u8; 1] = [0];

/// The selection of beatmaps an output holds; the default keeps every osu!standard beatmap.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BeatmapFilter {
    /// Ranked statuses kept (`--status`); `None`: any, unknown included.
    pub status: Option<Vec<RankedStatus>>,
    /// Years kept (`--years`), of `approved_date`, else of `submit_date`; `None`: any, unknown included.
    pub years: Option<InclusiveRange<i32>>,
    /// Star ratings kept (`--stars`; rosu-pp, NoMod, as the `stars` column); `None`: any.
    pub stars: Option<InclusiveRange<f64>>,
    /// Game modes kept (`--modes`), sorted.
    pub modes: Vec<u8>,
}

impl Default for BeatmapFilter {
    fn default() -> Self {
        Self { status: None, years: None, stars: None, modes: TOKENIZED_MODES.to_vec() }
    }
}

/// Why a beatmap was filtered out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterReason {
    /// Its mode is not in `--modes`.
    Modes,
    /// Its status is not in `--status` (`known`: false when the source has none).
    Status {
        /// Whether the beatmap had a status at all.
        known: bool,
    },
    /// Its year is outside `--years` (`known`: false when the source has no date).
    Years {
        /// Whether the beatmap had a date at all.
        known: bool,
    },
    /// Its stars are outside `--stars`.
    Stars,
}

impl BeatmapFilter {
    /// The filter, with statuses and modes sorted and without repeats (so equal selections
    /// compare and record equal).
    pub fn new(
        status: Option<Vec<RankedStatus>>,
        years: Option<InclusiveRange<i32>>,
        stars: Option<InclusiveRange<f64>>,
        modes: Vec<u8>,
    ) -> Self {
        let status = status.map(|mut s| {
            s.sort();
            s.dedup();
            s
        });
        let mut modes = if modes.is_empty() { TOKENIZED_MODES.to_vec() } else { modes };
        modes.sort_unstable();
        modes.dedup();
        Self { status, years, stars, modes }
    }

    /// The modes asked for that the tokenizer cannot map yet (anything but osu!standard).
    pub fn untokenized_modes(&self) -> Vec<u8> {
        self.modes.iter().copied().filter(|m| !TOKENIZED_MODES.contains(m)).collect()
    }

    /// The verdict on what is known before parsing: `mode` (the metadata's, else the `.osu`'s)
    /// and the metadata, in the order modes, status, years. `None`: kept so far.
    pub fn before_rating(&self, mode: u8, metadata: &BeatmapMetadata) -> Option<FilterReason> {
        if !self.modes.contains(&mode) {
            return Some(FilterReason::Modes);
        }
        if let Some(statuses) = &self.status {
            match metadata.status.and_then(|s| RankedStatus::from_api(i64::from(s))) {
                Some(status) if statuses.contains(&status) => {}
                known => return Some(FilterReason::Status { known: known.is_some() }),
            }
        }
        if let Some(years) = &self.years {
            match metadata.year() {
                Some(year) if years.contains(year) => {}
                known => return Some(FilterReason::Years { known: known.is_some() }),
            }
        }
        None
    }

    /// The verdict on the computed star rating.
    pub fn on_stars(&self, stars: f64) -> Option<FilterReason> {
        self.stars.filter(|range| !range.contains(stars)).map(|_| FilterReason::Stars)
    }
}

impl fmt::Display for BeatmapFilter {
    /// `status ranked,approved; years 2007..2024; stars any; modes 0`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.status {
            Some(statuses) => {
                let names: Vec<&str> = statuses.iter().map(|s| s.name()).collect();
                write!(f, "status {}", names.join(","))?;
            }
            None => f.write_str("status any")?,
        }
        match &self.years {
            Some(years) => write!(f, "; years {years}")?,
            None => f.write_str("; years any")?,
        }
        match &self.stars {
            Some(stars) => write!(f, "; stars {stars}")?,
            None => f.write_str("; stars any")?,
        }
        let modes: Vec<String> = self.modes.iter().map(u8::to_string).collect();
        write!(f, "; modes {}", modes.join(","))
    }
}

/// Beatmaps filtered out, by the filter that dropped them (each counted once).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FilteredCounts {
    /// By `--status` (those of unknown status included).
    pub status: u64,
    /// By `--years` (those without a date included).
    pub years: u64,
    /// By `--stars`.
    pub stars: u64,
    /// By `--modes`.
    pub modes: u64,
    /// Of `status`: the beatmaps whose source has no status (a Songs folder).
    pub status_unknown: u64,
    /// Of `years`: the beatmaps whose source has no date.
    pub years_unknown: u64,
}

impl FilteredCounts {
    /// Counts one beatmap filtered for `reason`.
    pub fn count(&mut self, reason: FilterReason) {
        match reason {
            FilterReason::Modes => self.modes += 1,
            FilterReason::Status { known } => {
                self.status += 1;
                self.status_unknown += u64::from(!known);
            }
            FilterReason::Years { known } => {
                self.years += 1;
                self.years_unknown += u64::from(!known);
            }
            FilterReason::Stars => self.stars += 1,
        }
    }

    /// Adds `other`'s counts.
    pub fn add(&mut self, other: &FilteredCounts) {
        self.status += other.status;
        self.years += other.years;
        self.stars += other.stars;
        self.modes += other.modes;
        self.status_unknown += other.status_unknown;
        self.years_unknown += other.years_unknown;
    }

    /// Beatmaps filtered out in all.
    pub fn total(&self) -> u64 {
        self.status + self.years + self.stars + self.modes
    }
}

impl fmt::Display for FilteredCounts {
    /// `status 3 (2 of unknown status), years 1, stars 0, modes 4`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "status {}", self.status)?;
        if self.status_unknown > 0 {
            write!(f, " ({} of unknown status)", self.status_unknown)?;
        }
        write!(f, ", years {}", self.years)?;
        if self.years_unknown > 0 {
            write!(f, " ({} without a date)", self.years_unknown)?;
        }
        write!(f, ", stars {}, modes {}", self.stars, self.modes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata(status: Option<i8>, approved: Option<&str>, submitted: Option<&str>) -> BeatmapMetadata {
        BeatmapMetadata {
            status,
            approved_date: approved.map(str::to_owned),
            submit_date: submitted.map(str::to_owned),
            ..BeatmapMetadata::default()
        }
    }

    #[test]
    fn flags_parse_into_a_normalised_filter_and_print_back() {
        let status: Vec<RankedStatus> = "loved,ranked,1,approved".split(',').map(|s| s.parse().unwrap()).collect();
        let filter = BeatmapFilter::new(
            Some(status),
            Some(parse_years("2007..2024").unwrap()),
            Some(parse_stars("1.5..8").unwrap()),
            vec![0, 0],
        );
        assert_eq!(filter.to_string(), "status ranked,approved,loved; years 2007..2024; stars 1.5..8; modes 0");
        assert_eq!(BeatmapFilter::default().to_string(), "status any; years any; stars any; modes 0");
        assert_eq!(BeatmapFilter::new(None, None, None, Vec::new()), BeatmapFilter::default());
        let json = serde_json::to_value(&filter).unwrap();
        assert_eq!(serde_json::from_value::<BeatmapFilter>(json).unwrap(), filter);

        assert_eq!(parse_years("2010..").unwrap(), InclusiveRange { min: Some(2010), max: None });
        assert_eq!(parse_stars("..8").unwrap(), InclusiveRange { min: None, max: Some(8.0) });
        assert_eq!(parse_years("2015").unwrap(), InclusiveRange { min: Some(2015), max: Some(2015) });
        for bad in ["2024..2007", "20x7..2024", ""] {
            let error = parse_years(bad).unwrap_err().to_string();
            assert!(error.starts_with("--years"), "{error}");
        }
        assert!(parse_stars("1..inf").is_err() && parse_stars("NaN").is_err());
        assert!("unranked".parse::<RankedStatus>().unwrap_err().to_string().contains("graveyard, wip"));
        assert_eq!("-2".parse::<RankedStatus>().unwrap(), RankedStatus::Graveyard);
        assert_eq!(parse_mode("3").unwrap(), 3);
        assert!(parse_mode("4").is_err());
        assert_eq!(BeatmapFilter::new(None, None, None, vec![3, 0, 1]).untokenized_modes(), [1, 3]);
    }

    #[test]
    fn each_beatmap_is_filtered_by_the_first_filter_it_fails_and_unknown_values_are_dropped() {
        let filter = BeatmapFilter::new(
            Some(vec![RankedStatus::Ranked, RankedStatus::Approved]),
            Some(parse_years("2007..2024").unwrap()),
            Some(parse_stars("1.5..8").unwrap()),
            vec![0],
        );
        let ranked_2013 = metadata(Some(1), Some("2013-05-24 02:11:22"), Some("2013-01-02 10:00:00"));
        assert_eq!(filter.before_rating(0, &ranked_2013), None);
        assert_eq!(filter.before_rating(1, &ranked_2013), Some(FilterReason::Modes), "mode first");
        let loved = metadata(Some(4), Some("2013-05-24 02:11:22"), None);
        assert_eq!(filter.before_rating(0, &loved), Some(FilterReason::Status { known: true }));
        let songs_folder = BeatmapMetadata::default();
        assert_eq!(filter.before_rating(0, &songs_folder), Some(FilterReason::Status { known: false }));
        // The year is approved_date's, else submit_date's; 2024 itself is inside.
        let ranked_2025 = metadata(Some(1), Some("2025-01-01 00:00:00"), Some("2024-12-30 00:00:00"));
        assert_eq!(filter.before_rating(0, &ranked_2025), Some(FilterReason::Years { known: true }));
        assert_eq!(filter.before_rating(0, &metadata(Some(2), None, Some("2024-12-31 23:59:59"))), None);
        assert_eq!(filter.before_rating(0, &metadata(Some(2), None, None)), Some(FilterReason::Years { known: false }));
        assert_eq!((filter.on_stars(1.5), filter.on_stars(8.0)), (None, None), "both ends included");
        assert_eq!(
            (filter.on_stars(1.49), filter.on_stars(8.01)),
            (Some(FilterReason::Stars), Some(FilterReason::Stars))
        );
        // Without --status and --years, neither is asked of the source.
        assert_eq!(BeatmapFilter::default().before_rating(0, &songs_folder), None);
        assert_eq!(BeatmapFilter::default().on_stars(42.0), None);

        let mut counts = FilteredCounts::default();
        for reason in [FilterReason::Status { known: false }, FilterReason::Status { known: true }, FilterReason::Modes]
        {
            counts.count(reason);
        }
        counts.add(&FilteredCounts { stars: 2, years: 1, years_unknown: 1, ..FilteredCounts::default() });
        assert_eq!(counts.total(), 6);
        assert_eq!(counts.to_string(), "status 2 (1 of unknown status), years 1 (1 without a date), stars 2, modes 1");
    }
}
