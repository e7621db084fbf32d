//! Thinning: which of the onset ticks become objects at a given density.
//!
//! ```text
//!  ticks ─► by priority, highest first ─► accepted unless within min_gap ticks of an accepted
//!        ─► ranking (acceptance order) ─► the first ⌈share · n⌉ ─► back in time order
//! ```
//! A smaller share keeps only the strongest notes of the song; the gap sets the fastest rhythm.

use std::collections::BTreeSet;

use super::rhythm::Tick;

/// Indices into `ticks` in acceptance order: highest priority first (earlier first on ties),
/// each at least `min_gap` ticks from every tick accepted before it.
pub(super) fn rank(ticks: &[Tick], min_gap: i64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..ticks.len()).collect();
    order.sort_by(|&a, &b| ticks[b].priority.total_cmp(&ticks[a].priority).then(a.cmp(&b)));
    let mut taken = BTreeSet::new();
    let reach = min_gap.max(1) - 1;
    order
        .into_iter()
        .filter(|&i| {
            let index = ticks[i].index;
            let free = taken.range(index - reach..=index + reach).next().is_none();
            if free {
                taken.insert(index);
            }
            free
        })
        .collect()
}

/// The first `share` (0–1) of `ranking`, in time order.
pub(super) fn take(ranking: &[usize], share: f64) -> Vec<usize> {
    let count = ((share.clamp(0.0, 1.0) * ranking.len() as f64).ceil() as usize).min(ranking.len());
    let mut chosen = ranking[..count].to_vec();
    chosen.sort_unstable();
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tick(index: i64, priority: f64) -> Tick {
        Tick { index, time_ms: index as f64 * 100.0, priority }
    }

    #[test]
    fn strongest_first_with_a_minimum_gap() {
        let ticks = [tick(0, 0.9), tick(1, 0.95), tick(2, 0.2), tick(4, 0.5), tick(5, 0.5), tick(8, 0.1)];
        assert_eq!(rank(&ticks, 1), vec![1, 0, 3, 4, 2, 5]);
        // Two ticks apart at least: 1 blocks 0 and 2; 3 (tick 4) blocks 4 (tick 5).
        assert_eq!(rank(&ticks, 2), vec![1, 3, 5]);
        assert_eq!(rank(&ticks, 4), vec![1, 4], "tick 5 is 4 from tick 1; 8 is 3 from 5");
        let ranking = rank(&ticks, 1);
        assert_eq!(take(&ranking, 0.5), vec![0, 1, 3]);
        assert_eq!(take(&ranking, 1.0), vec![0, 1, 2, 3, 4, 5]);
        assert!(take(&ranking, 0.0).is_empty());
        assert!(take(&[], 0.7).is_empty());
    }
}
