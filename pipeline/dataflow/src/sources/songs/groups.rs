//! A Songs folder's sets in content-defined groups: the source shards `preprocess` chunks and
//! names its output by.
//!
//! ```text
//! sets in name order:     a  b  c* d  e  f* g          * hash(name) % mean == 0: starts a group
//! groups:                 [a b] [c d e] [f g]          named songs-<digest of their sets' files>
//! with a set x added:     [a b] [c x d e] [f g]        only the group around x changes
//! ```
//! Whether a set starts a group depends on its name alone, so adding or removing a set changes
//! only the group it falls in (or splits one in two), and every other group keeps its name and
//! its committed chunks: a rerun over a grown folder processes only that group, and the chunks
//! of the group it replaced are removed (`preprocess::set_groups`). A group's name digests its sets'
//! fingerprints (names, and the names and sizes of their files), so a set whose files changed —
//! a map updated, missing audio added — also renames, hence redoes, its group. Groups hold
//! `mean` sets on average; `preprocess` cuts one with more tracks than `--chunk-tracks` into
//! several chunks.

use operators::digest::sha256_hex;

/// Consecutive sets of a Songs folder, the unit its output is chunked and named by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetGroup {
    /// `songs-<16 hex digits of the SHA-256 of the sets' fingerprints>`: other sets or other
    /// files, another name.
    pub group: String,
    /// The set names (folder or `.osz` file names), in reading order.
    pub sets: Vec<String>,
}

/// A set as grouping sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetId {
    /// The folder or `.osz` file name.
    pub name: String,
    /// The name, then each file's path within the set and size (an `.osz`: its own size).
    pub fingerprint: String,
}

/// Cuts `sets` (in reading order) into groups of `mean` sets on average.
pub fn group_sets(sets: &[SetId], mean: usize) -> Vec<SetGroup> {
    let mean = mean.max(1) as u64;
    let mut groups: Vec<Vec<&SetId>> = Vec::new();
    for set in sets {
        let starts_group = groups.is_empty() || name_hash(&set.name).is_multiple_of(mean);
        if starts_group {
            groups.push(Vec::new());
        }
        groups.last_mut().expect("a group was started").push(set);
    }
    groups
        .into_iter()
        .map(|sets| {
            let fingerprints: Vec<&str> = sets.iter().map(|s| s.fingerprint.as_str()).collect();
            SetGroup {
                group: format!("songs-{}", &sha256_hex(fingerprints.join("\n").as_bytes())[..16]),
                sets: sets.iter().map(|s| s.name.clone()).collect(),
            }
        })
        .collect()
}

/// The first 8 bytes of the name's SHA-256: the same on every machine and in every release.
fn name_hash(name: &str) -> u64 {
    u64::from_str_radix(&sha256_hex(name.as_bytes())[..16], 16).expect("hex digits")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sets(range: std::ops::Range<usize>) -> Vec<SetId> {
        range.map(|i| set(&format!("{i:04} Artist - Title"))).collect()
    }

    fn set(name: &str) -> SetId {
        SetId { name: name.to_owned(), fingerprint: format!("{name}\naudio.mp3 1000") }
    }

    #[test]
    fn groups_cover_the_sets_in_order_with_the_mean_size() {
        let sets = sets(0..2000);
        let groups = group_sets(&sets, 8);
        let flat: Vec<String> = groups.iter().flat_map(|g| g.sets.clone()).collect();
        assert_eq!(flat, sets.iter().map(|s| s.name.clone()).collect::<Vec<_>>());
        let mean = sets.len() as f64 / groups.len() as f64;
        assert!((6.0..10.0).contains(&mean), "mean group size {mean}");
        assert!(groups.iter().all(|g| g.group.len() == "songs-".len() + 16 && g.group.starts_with("songs-")));
        assert_eq!(group_sets(&sets, 1).len(), sets.len());
        assert!(group_sets(&[], 8).is_empty());
    }

    #[test]
    fn a_set_added_or_removed_changes_only_its_own_group() {
        let sets = sets(0..400);
        let before = group_sets(&sets, 8);
        for (i, added) in [(0, "0000 A"), (137, "0136 B"), (400, "9999 C")] {
            let mut grown = sets.clone();
            grown.insert(i, set(added));
            let after = group_sets(&grown, 8);
            let lost: Vec<_> = before.iter().filter(|g| !after.contains(g)).collect();
            let new: Vec<_> = after.iter().filter(|g| !before.contains(g)).collect();
            // The added set starts a new group (splitting the one it lands in: 1 lost, 2 new)
            // or joins one (1 lost, 1 new) — or it comes first and starts a group of its own.
            assert!(lost.len() <= 1 && (1..=2).contains(&new.len()), "{added}: {lost:?} → {new:?}");
            assert!(new.iter().any(|g| g.sets.contains(&added.to_owned())));
            let mut shrunk = grown.clone();
            shrunk.remove(i);
            assert_eq!(group_sets(&shrunk, 8), before);
        }
    }

    #[test]
    fn a_set_whose_files_changed_renames_only_its_own_group() {
        let sets = sets(0..100);
        let before = group_sets(&sets, 8);
        let mut changed = sets.clone();
        changed[42].fingerprint.push_str("\nsb/bg.jpg 5");
        let after = group_sets(&changed, 8);
        let renamed: Vec<(&SetGroup, &SetGroup)> = before.iter().zip(&after).filter(|(b, a)| b != a).collect();
        assert_eq!(renamed.len(), 1);
        let (old, new) = renamed[0];
        assert_eq!(old.sets, new.sets);
        assert!(new.sets.contains(&sets[42].name));
    }
}
