//! Test fixtures in the repository's `tests/data/` (see its NOTICE.md).

use std::path::PathBuf;

/// Absolute path of a file under `tests/data/`.
pub fn path(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/data").join(relative)
}

/// Reads a float32 `.npy` fixture as a flat vector.
pub fn npy_f32(relative: &str) -> Vec<f32> {
    crate::npy::read::<f32>(&path(relative)).unwrap_or_else(|e| panic!("{relative}: {e}")).1
}

/// Reads a float64 `.npy` fixture as a flat vector.
pub fn npy_f64(relative: &str) -> Vec<f64> {
    crate::npy::read::<f64>(&path(relative)).unwrap_or_else(|e| panic!("{relative}: {e}")).1
}
