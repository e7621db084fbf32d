//! Writes Parquet files atomically (temp file, fsync, rename) and describes what it wrote: one
//! record batch at once, or batch by batch as rows arrive.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use parquet::file::metadata::KeyValue;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A committed Parquet file, as listed in the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardFile {
    /// Path relative to the output directory, `/`-separated.
    pub path: String,
    /// Rows in the file.
    pub rows: u64,
    /// File size.
    pub bytes: u64,
    /// SHA-256 of the file, hex.
    pub sha256: String,
}

/// zstd level of every shard. The bytes are mostly f16 features, which zstd barely shrinks:
/// on one synth song's features level 1 gives 1.250× at 187 MB/s, level 3 1.270× at 72 MB/s
/// (`zstd -b1 -e3`), and the level-3 cost was half the worker thread's time in `mapflow
/// preprocess`.
const ZSTD_LEVEL: i32 = 1;

/// Writes `batch` to `out_dir/relative` (temp file + fsync + rename) with zstd compression,
/// `rows_per_group` rows per row group and `metadata` as key-value pairs in the footer.
pub fn write_parquet(
    out_dir: &Path,
    relative: &str,
    batch: &RecordBatch,
    rows_per_group: usize,
    metadata: &[(&str, String)],
) -> anyhow::Result<ShardFile> {
    let mut file = ParquetStream::create(out_dir, relative, batch.schema(), rows_per_group, metadata)?;
    match file.write(batch) {
        Ok(()) => file.finish(),
        Err(e) => {
            file.abandon();
            Err(e)
        }
    }
}

/// A Parquet file written batch by batch straight into its temp file (hashed on the way), and
/// renamed into place by [`ParquetStream::finish`]: a table can be encoded while its rows are
/// still arriving. Page boundaries follow the batches written, so the same rows give the same
/// bytes only when cut into the same batches. Dropped unfinished, it leaves its temp file for
/// the next run's clean-up (`*.tmp-<pid>`).
pub struct ParquetStream {
    writer: ArrowWriter<HashingWriter<File>>,
    path: PathBuf,
    tmp: PathBuf,
    relative: String,
    rows: u64,
}

impl ParquetStream {
    /// Starts `out_dir/relative` with `schema`, zstd, `rows_per_group` rows per row group and
    /// `metadata` as key-value pairs in the footer.
    pub fn create(
        out_dir: &Path,
        relative: &str,
        schema: SchemaRef,
        rows_per_group: usize,
        metadata: &[(&str, String)],
    ) -> anyhow::Result<Self> {
        let path = out_dir.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::try_new(ZSTD_LEVEL)?))
            .set_max_row_group_row_count(Some(rows_per_group.max(1)))
            .set_dictionary_enabled(false)
            .set_key_value_metadata(Some(
                metadata.iter().map(|(k, v)| KeyValue::new((*k).to_owned(), v.clone())).collect(),
            ))
            .build();
        let tmp = operators::atomic::temp_path(&path);
        let file = File::create(&tmp).with_context(|| format!("writing {}", tmp.display()))?;
        let sink = HashingWriter { inner: file, hasher: Sha256::new(), bytes: 0 };
        let writer = ArrowWriter::try_new(sink, schema, Some(props))?;
        Ok(Self { writer, path, tmp, relative: relative.to_owned(), rows: 0 })
    }

    /// Appends `batch`'s rows.
    pub fn write(&mut self, batch: &RecordBatch) -> anyhow::Result<()> {
        self.writer.write(batch).with_context(|| format!("writing {}", self.tmp.display()))?;
        self.rows += batch.num_rows() as u64;
        Ok(())
    }

    /// Drops the unfinished file and removes its temp file.
    pub fn abandon(self) {
        let _ = std::fs::remove_file(&self.tmp);
    }

    /// Closes the file (footer, fsync) and renames it into place.
    pub fn finish(self) -> anyhow::Result<ShardFile> {
        let Self { writer, path, tmp, relative, rows } = self;
        let mut hashed = None;
        let synced = writer.into_inner().map_err(std::io::Error::other).and_then(|sink| {
            sink.inner.sync_all()?;
            hashed = Some((sink.hasher, sink.bytes));
            Ok(())
        });
        operators::atomic::commit(synced, &tmp, &path).map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?;
        let (hasher, bytes) = hashed.expect("committed only after the file was synced");
        Ok(ShardFile { path: relative, rows, bytes, sha256: hex::encode(hasher.finalize()) })
    }
}

/// Passes bytes on, counting and hashing them (the Parquet writer buffers its writes).
struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shards::rows::{Split, TrackRow, tracks_batch, tracks_schema};

    #[test]
    fn same_rows_give_byte_identical_files() {
        let dir = tempfile::tempdir().unwrap();
        let row = TrackRow::example(0, Split::Train);
        let batch = tracks_batch(&[row.clone(), row]).unwrap();
        let a = write_parquet(dir.path(), "tracks/a.parquet", &batch, 1, &[("k", "v".into())]).unwrap();
        let b = write_parquet(dir.path(), "tracks/b.parquet", &batch, 1, &[("k", "v".into())]).unwrap();
        assert_eq!((a.rows, a.bytes, &a.sha256), (b.rows, b.bytes, &b.sha256));
        let file = std::fs::File::open(dir.path().join("tracks/a.parquet")).unwrap();
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
        assert_eq!(reader.metadata().num_row_groups(), 2);
        let read: usize = reader.build().unwrap().map(|b| b.unwrap().num_rows()).sum();
        assert_eq!(read, 2);
    }

    #[test]
    fn a_stream_written_row_by_row_reads_back_in_order_and_an_abandoned_one_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let row = |seq: u64| TrackRow::example(seq, Split::Train);
        let write = |name: &str| {
            let mut stream = ParquetStream::create(dir.path(), name, tracks_schema(), 2, &[]).unwrap();
            for seq in 0..5 {
                stream.write(&tracks_batch(&[row(seq)]).unwrap()).unwrap();
            }
            stream.finish().unwrap()
        };
        let (a, b) = (write("tracks/a.parquet"), write("tracks/b.parquet"));
        assert_eq!((a.rows, a.bytes, &a.sha256), (b.rows, b.bytes, &b.sha256));
        let bytes = std::fs::read(dir.path().join("tracks/a.parquet")).unwrap();
        assert_eq!((bytes.len() as u64, hex::encode(Sha256::digest(&bytes))), (a.bytes, a.sha256.clone()));
        let file = std::fs::File::open(dir.path().join("tracks/a.parquet")).unwrap();
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
        assert_eq!(reader.metadata().num_row_groups(), 3, "2 + 2 + 1 rows");
        let ids: Vec<String> = reader
            .build()
            .unwrap()
            .flat_map(|b| {
                let b = b.unwrap();
                let ids = b.column(0).as_any().downcast_ref::<arrow::array::StringArray>().unwrap().clone();
                ids.iter().map(|s| s.unwrap().to_owned()).collect::<Vec<_>>()
            })
            .collect();
        assert_eq!(ids, ["t0", "t1", "t2", "t3", "t4"]);

        let mut abandoned = ParquetStream::create(dir.path(), "tracks/c.parquet", tracks_schema(), 2, &[]).unwrap();
        abandoned.write(&tracks_batch(&[row(0)]).unwrap()).unwrap();
        abandoned.abandon();
        let left: Vec<_> = std::fs::read_dir(dir.path().join("tracks")).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left.len(), 2, "{left:?}");
    }
}
