//! Cutting a song into overlapping windows whose predict regions tile it.
//!
//! ```text
//! audio   |─────── window k (6 s) ───────|
//!                |── predict k (3 s) ──|── predict k+1 ──|
//!                               |─────── window k+1 ───────|
//! ```

use super::config::WindowConfig;

/// One window of a song (ms from the start of the audio; `start_ms` may be negative: silence).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Window {
    /// Position in the song's window sequence.
    pub index: usize,
    /// Start of the audio context.
    pub start_ms: f64,
    /// End of the audio context (exclusive).
    pub end_ms: f64,
    /// Start of the predict region: objects starting at or after it belong to this window…
    pub predict_start_ms: f64,
    /// …up to here (exclusive).
    pub predict_end_ms: f64,
}

impl Window {
    /// Whether an object starting at `time_ms` belongs to this window.
    pub fn predicts(&self, time_ms: f64) -> bool {
        self.predict_start_ms <= time_ms && time_ms < self.predict_end_ms
    }

    /// Whether a *decoded* object starting at `time_ms` is kept for this window: its predict
    /// region shifted 1 µs earlier at both ends, so float noise cannot drop an object decoded a
    /// hair before the region it was encoded in, and regions still tile.
    pub fn keeps_decoded(&self, time_ms: f64) -> bool {
        const MARGIN_MS: f64 = 1e-3;
        self.predict_start_ms - MARGIN_MS <= time_ms && time_ms < self.predict_end_ms - MARGIN_MS
    }
}

impl WindowConfig {
    /// Window number `index` of a song, its audio starting at `start_ms`.
    pub fn window_at(&self, index: usize, start_ms: f64) -> Window {
        let predict_start_ms = start_ms + (self.window_ms - self.stride_ms) / 2.0;
        Window {
            index,
            start_ms,
            end_ms: start_ms + self.window_ms,
            predict_start_ms,
            predict_end_ms: predict_start_ms + self.stride_ms,
        }
    }

    /// The windows of a song lasting `song_ms` whose objects start between `objects.0` and
    /// `objects.1` (first and last start time, if any).
    ///
    /// Tiling: predict regions `[k·stride, (k+1)·stride)` from `k = 0` (or earlier if an object
    /// starts before 0 ms) until both the song and the last object are covered (at least one
    /// window). Reference: windows start at `k·stride`, `k ≥ 0`, while a whole window fits in the
    /// song.
    pub fn windows(&self, song_ms: f64, objects: Option<(f64, f64)>) -> Vec<Window> {
        let offset = (self.window_ms - self.stride_ms) / 2.0;
        if self.tile_whole_song {
            let (first, last) = objects.unwrap_or((0.0, 0.0));
            let cover = song_ms.max(last + 1e-6).max(0.0); // f64::max drops NaN
            let first_k = (first.min(0.0) / self.stride_ms).floor().max(-1e6) as i64;
            let end_k = (cover / self.stride_ms).ceil().clamp(1.0, 1e7) as i64;
            (first_k..end_k)
                .enumerate()
                .map(|(index, k)| self.window_at(index, k as f64 * self.stride_ms - offset))
                .collect()
        } else {
            let mut windows = Vec::new();
            while windows.len() as f64 * self.stride_ms + self.window_ms <= song_ms {
                let k = windows.len();
                windows.push(self.window_at(k, k as f64 * self.stride_ms));
            }
            windows
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn predict_regions_tile_the_whole_song() {
        let w = WindowConfig::default().windows(10_000.0, Some((0.0, 9_999.0)));
        assert_eq!(w.len(), 4);
        assert_eq!(
            (w[0].start_ms, w[0].predict_start_ms, w[0].predict_end_ms, w[0].end_ms),
            (-1500.0, 0.0, 3000.0, 4500.0)
        );
        for pair in w.windows(2) {
            assert_eq!(pair[0].predict_end_ms, pair[1].predict_start_ms);
        }
        assert!(w[3].predicts(9_999.0) && w[0].predicts(0.0) && !w[0].predicts(3000.0));
    }

    #[test]
    fn objects_after_the_audio_still_get_a_window_and_tiny_songs_one() {
        assert_eq!(WindowConfig::default().windows(6000.0, Some((0.0, 7000.0))).len(), 3);
        let early = WindowConfig::default().windows(4000.0, Some((-500.0, 100.0)));
        assert_eq!(early.len(), 3);
        assert!(early[0].predicts(-500.0) && early[1].predict_start_ms == 0.0);
        assert_eq!(WindowConfig::default().windows(0.0, None).len(), 1);
        assert_eq!(WindowConfig::default().windows(f64::NAN, None).len(), 1);
    }

    #[test]
    fn reference_windows_drop_the_start_and_the_tail() {
        let config = WindowConfig { tile_whole_song: false, keep_empty: false, ..Default::default() };
        let w = config.windows(13_000.0, Some((0.0, 12_000.0)));
        assert_eq!(w.len(), 3, "starts 0, 3 and 6 s; 9 s + 6 s > 13 s");
        assert_eq!((w[0].predict_start_ms, w[2].predict_end_ms), (1500.0, 10_500.0));
        assert!(config.windows(5_999.0, None).is_empty(), "songs shorter than a window have none");
    }
}
