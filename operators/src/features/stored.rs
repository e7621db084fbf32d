//! The features as the shards store them and the model reads them: mel rows in dB, every value
//! rounded to f16.
//!
//! ```text
//! FeatureMatrix (mel power, onset) ─► mel rows 10·log10(max(p, 1e-10)) dB, onset as is
//!                                  ─► f16, little-endian, row-major ─► StoredFeatures.bytes
//! ```
//! Training reads these bytes from the `tracks` table, and generation makes them from the song
//! the same way, so the model sees bit-identical inputs in both.

use super::FeatureMatrix;

/// Floor of the mel power before the dB conversion (−100 dB).
const MEL_POWER_FLOOR: f32 = 1e-10;

/// A `[channels, frames]` feature matrix in its stored form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFeatures {
    /// Rows: the mel bands, then the onset channel.
    pub channels: usize,
    /// Columns: one per hop.
    pub frames: usize,
    /// `channels × frames` f16 values (little-endian), row by row.
    pub bytes: Vec<u8>,
}

impl StoredFeatures {
    /// The stored form of `matrix`.
    pub fn encode(matrix: &FeatureMatrix) -> Self {
        let mel_values = (matrix.channels - 1) * matrix.frames;
        let mut bytes = Vec::with_capacity(matrix.data.len() * 2);
        for (i, &v) in matrix.data.iter().enumerate() {
            let stored = if i < mel_values { 10.0 * v.max(MEL_POWER_FLOOR).log10() } else { v };
            bytes.extend_from_slice(&half::f16::from_f32(stored).to_le_bytes());
        }
        Self { channels: matrix.channels, frames: matrix.frames, bytes }
    }

    /// The values as f32 (mel rows in dB), row-major: what the model reads.
    pub fn values(&self) -> Vec<f32> {
        decode_f16(&self.bytes)
    }
}

/// f16 little-endian bytes as f32 values (a trailing odd byte is ignored).
pub fn decode_f16(bytes: &[u8]) -> Vec<f32> {
    bytes.chunks_exact(2).map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mel_rows_go_to_db_and_the_onset_row_stays_linear() {
        let matrix = FeatureMatrix { channels: 2, frames: 2, data: vec![1.0, 0.0, 0.25, 3.5] };
        let stored = StoredFeatures::encode(&matrix);
        assert_eq!((stored.channels, stored.frames, stored.bytes.len()), (2, 2, 8));
        assert_eq!(stored.values(), vec![0.0, -100.0, 0.25, 3.5]);
    }

    #[test]
    fn values_are_rounded_to_f16() {
        let matrix = FeatureMatrix { channels: 1, frames: 1, data: vec![0.1] };
        let value = StoredFeatures::encode(&matrix).values()[0];
        assert_eq!(value, half::f16::from_f32(0.1).to_f32());
        assert_ne!(value, 0.1);
    }
}
