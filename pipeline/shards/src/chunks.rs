//! Names of chunks and source shards in the output: `data-000003-c0001` is chunk 1 of the
//! source shard `compressed/data-000003.tar`. Names depend only on the input, never on how many
//! workers ran.

/// The name of chunk `index` of `shard`: `data-000003-c0001`.
pub fn chunk_name(shard: &str, index: u64) -> String {
    format!("{}-c{index:04}", shard_stem(shard))
}

/// The file stem of a shard name (`compressed/data-000003.tar` → `data-000003`), made safe as a
/// file name.
pub fn shard_stem(shard: &str) -> String {
    let base = shard.rsplit('/').next().unwrap_or(shard);
    let stem = base.strip_suffix(".tar").unwrap_or(base);
    stem.chars().map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '_' }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stems_are_file_safe() {
        assert_eq!(shard_stem("compressed/data-000003.tar"), "data-000003");
        assert_eq!(shard_stem("songs:My Songs/x"), "x");
        assert_eq!(shard_stem("weird name?.tar"), "weird_name_");
    }
}
