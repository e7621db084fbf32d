//! `.npy` files (numpy's array format): little-endian `float32` matrices in, out.

use std::io::{BufReader, BufWriter, Write};
use std::path::Path;

use npyz::WriterBuilder;

/// Writes a row-major `f32` array of `shape` to `path` atomically (temp file + rename).
pub fn write_f32(path: &Path, shape: &[u64], data: &[f32]) -> std::io::Result<()> {
    let expected: u64 = shape.iter().product();
    if expected != data.len() as u64 {
        return Err(std::io::Error::other(format!("shape {shape:?} does not hold {} values", data.len())));
    }
    let tmp = crate::atomic::temp_path(path);
    let result = (|| {
        let mut out = BufWriter::new(std::fs::File::create(&tmp)?);
        let mut writer = npyz::WriteOptions::new()
            .dtype(npyz::DType::Plain("<f4".parse().expect("valid type string")))
            .shape(shape)
            .writer(&mut out)
            .begin_nd()?;
        writer.extend(data.iter().copied())?;
        writer.finish()?;
        out.flush()?;
        out.into_inner().map_err(|e| e.into_error())?.sync_all()
    })();
    crate::atomic::commit(result, &tmp, path)
}

/// Reads an `.npy` file holding `T` values; returns its shape and row-major (C-order) data.
/// Fortran-order files (numpy saves F-contiguous arrays that way) are transposed; only 1-D and
/// 2-D arrays are supported in that order.
pub fn read<T: npyz::Deserialize + Clone>(path: &Path) -> std::io::Result<(Vec<u64>, Vec<T>)> {
    let file = npyz::NpyFile::new(BufReader::new(std::fs::File::open(path)?))?;
    let shape = file.shape().to_vec();
    let fortran = file.order() == npyz::Order::Fortran;
    let data: Vec<T> = file.into_vec()?;
    match (fortran, shape.as_slice()) {
        (false, _) | (true, [_]) => Ok((shape, data)),
        (true, &[rows, cols]) => {
            let (rows, cols) = (rows as usize, cols as usize);
            // data[c * rows + r] holds element (r, c).
            let c_order = (0..rows * cols).map(|i| data[(i % cols) * rows + i / cols].clone()).collect();
            Ok((shape, c_order))
        }
        (true, _) => Err(std::io::Error::other(format!(
            "{}: Fortran-order arrays of {} dimensions are not supported",
            path.display(),
            shape.len()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_shape_and_values() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.npy");
        let data: Vec<f32> = (0..6).map(|i| i as f32 * 0.5).collect();
        write_f32(&path, &[2, 3], &data).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert!(String::from_utf8_lossy(&bytes[..80]).contains("'descr': '<f4'"));
        assert_eq!(read::<f32>(&path).unwrap(), (vec![2, 3], data));
        assert!(write_f32(&path, &[4, 3], &[0.0; 6]).is_err());
    }
}
