//! Writes Parquet files atomically (temp file, fsync, rename) and describes what it wrote: one
//! record batch at once, or row groups encoded elsewhere, appended as they arrive.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use bytes::Bytes;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::column::writer::ColumnCloseResult;
use parquet::file::metadata::{KeyValue, PageIndexPolicy, ParquetMetaDataOptions, ParquetMetaDataReader};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
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

/// The writer properties of every shard: zstd at [`ZSTD_LEVEL`], no dictionaries (the values
/// are mostly distinct), at most `rows_per_group` rows per row group, `metadata` in the footer.
fn properties(rows_per_group: usize, metadata: &[(&str, String)]) -> anyhow::Result<WriterProperties> {
    Ok(WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(ZSTD_LEVEL)?))
        .set_max_row_group_row_count(Some(rows_per_group.max(1)))
        .set_dictionary_enabled(false)
        .set_key_value_metadata(Some(metadata.iter().map(|(k, v)| KeyValue::new((*k).to_owned(), v.clone())).collect()))
        .build())
}

/// Writes `batch` to `out_dir/relative` (temp file + fsync + rename) with zstd compression,
/// `rows_per_group` rows per row group and `metadata` as key-value pairs in the footer.
pub fn write_parquet(
    out_dir: &Path,
    relative: &str,
    batch: &RecordBatch,
    rows_per_group: usize,
    metadata: &[(&str, String)],
) -> anyhow::Result<ShardFile> {
    let (file, sink) = TempShard::create(out_dir, relative)?;
    let written = properties(rows_per_group, metadata).and_then(|props| {
        let mut writer = ArrowWriter::try_new(sink, batch.schema(), Some(props))?;
        writer.write(batch)?;
        Ok(writer.into_inner()?)
    });
    file.commit(written, batch.num_rows() as u64)
}

/// Rows encoded as Parquet row groups before the file they will join exists: a whole Parquet
/// file in memory, which [`ParquetStream::append`] copies into its own. The encoding (the
/// compression above all) can so run on another thread than the writing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EncodedRowGroups(Vec<u8>);

impl EncodedRowGroups {
    /// Encodes `batch`, `rows_per_group` rows per row group, as every shard is encoded.
    pub fn encode(batch: &RecordBatch, rows_per_group: usize) -> anyhow::Result<Self> {
        let mut writer = ArrowWriter::try_new(Vec::new(), batch.schema(), Some(properties(rows_per_group, &[])?))?;
        writer.write(batch)?;
        Ok(Self(writer.into_inner()?))
    }
}

/// A Parquet file assembled from row groups encoded elsewhere ([`EncodedRowGroups`]), appended
/// as they come straight into its temp file (hashed on the way), and renamed into place by
/// [`ParquetStream::finish`]: a table can be written while its rows are still arriving, and
/// the writer only copies bytes. The file is the same as one [`write_parquet`] call with the
/// same row groups. Dropped unfinished, it leaves its temp file for the next run's clean-up
/// (`*.tmp-<pid>`).
pub struct ParquetStream {
    writer: SerializedFileWriter<HashingWriter<File>>,
    file: TempShard,
    rows: u64,
}

impl ParquetStream {
    /// Starts `out_dir/relative` for rows of `schema`, with `metadata` as key-value pairs in
    /// the footer.
    pub fn create(
        out_dir: &Path,
        relative: &str,
        schema: SchemaRef,
        metadata: &[(&str, String)],
    ) -> anyhow::Result<Self> {
        let (file, sink) = TempShard::create(out_dir, relative)?;
        // The Arrow writer sets up what an Arrow reader expects (the Arrow schema in the footer);
        // its row-group size goes unused, the row groups come encoded.
        let (writer, _) =
            ArrowWriter::try_new(sink, schema, Some(properties(1, metadata)?))?.into_serialized_writer()?;
        Ok(Self { writer, file, rows: 0 })
    }

    /// Appends the row groups of `groups`, which must hold rows of this file's schema.
    pub fn append(&mut self, groups: EncodedRowGroups) -> anyhow::Result<()> {
        let appended = (|| -> parquet::errors::Result<()> {
            let bytes = Bytes::from(groups.0);
            // Every part of the footer is kept as it was encoded (the page encoding statistics
            // too, which a reader otherwise folds into a mask), so the file is the same.
            let metadata = ParquetMetaDataReader::new()
                .with_metadata_options(Some(ParquetMetaDataOptions::new().with_encoding_stats_as_mask(false)))
                .with_page_index_policy(PageIndexPolicy::Optional)
                .parse_and_finish(&bytes)?;
            for (g, group) in metadata.row_groups().iter().enumerate() {
                let index = metadata.page_index_for_row_group(g);
                let mut writer = self.writer.next_row_group()?;
                for (c, column) in group.columns().iter().enumerate() {
                    let close = ColumnCloseResult {
                        bytes_written: column.compressed_size() as u64,
                        rows_written: group.num_rows() as u64,
                        metadata: column.clone(),
                        bloom_filter: None,
                        column_index: index.column_index(c).cloned(),
                        offset_index: index.offset_index(c).cloned(),
                    };
                    writer.append_column(&bytes, close)?;
                }
                writer.close()?;
                self.rows += group.num_rows() as u64;
            }
            Ok(())
        })();
        appended.with_context(|| format!("writing {}", self.file.tmp.display()))
    }

    /// Drops the unfinished file and removes its temp file.
    pub fn abandon(self) {
        self.file.abandon();
    }

    /// Closes the file (footer, fsync) and renames it into place.
    pub fn finish(self) -> anyhow::Result<ShardFile> {
        let Self { writer, file, rows } = self;
        file.commit(writer.into_inner().map_err(anyhow::Error::from), rows)
    }
}

/// A shard while it is written under its temp name.
struct TempShard {
    path: PathBuf,
    tmp: PathBuf,
    relative: String,
}

impl TempShard {
    /// Creates the temp file of `out_dir/relative` (and its directory), and the sink that
    /// writes it.
    fn create(out_dir: &Path, relative: &str) -> anyhow::Result<(Self, HashingWriter<File>)> {
        let path = out_dir.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        let tmp = operators::atomic::temp_path(&path);
        let file = File::create(&tmp).with_context(|| format!("writing {}", tmp.display()))?;
        Ok((
            Self { path, tmp, relative: relative.to_owned() },
            HashingWriter { inner: file, hasher: Sha256::new(), bytes: 0 },
        ))
    }

    fn abandon(&self) {
        let _ = std::fs::remove_file(&self.tmp);
    }

    /// Syncs the file written through `written`'s sink (`rows` rows) and renames it into
    /// place; if the writing failed, removes the temp file and names it in the error.
    fn commit(self, written: anyhow::Result<HashingWriter<File>>, rows: u64) -> anyhow::Result<ShardFile> {
        let HashingWriter { inner, hasher, bytes } = match written {
            Ok(sink) => sink,
            Err(e) => {
                self.abandon();
                return Err(e.context(format!("writing {}", self.tmp.display())));
            }
        };
        operators::atomic::commit(inner.sync_all(), &self.tmp, &self.path)
            .map_err(|e| anyhow::anyhow!("writing {}: {e}", self.path.display()))?;
        Ok(ShardFile { path: self.relative, rows, bytes, sha256: hex::encode(hasher.finalize()) })
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
    use crate::rows::{Split, TrackRow, tracks_batch, tracks_schema};

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
    fn a_stream_of_rows_encoded_one_by_one_is_the_file_written_at_once_and_an_abandoned_one_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let rows: Vec<TrackRow> = (0..5).map(|seq| TrackRow::example(seq, Split::Train)).collect();
        let metadata = [("k", "v".to_owned())];
        let mut stream = ParquetStream::create(dir.path(), "tracks/a.parquet", tracks_schema(), &metadata).unwrap();
        for row in &rows {
            stream
                .append(EncodedRowGroups::encode(&tracks_batch(std::slice::from_ref(row)).unwrap(), 1).unwrap())
                .unwrap();
        }
        let streamed = stream.finish().unwrap();
        let whole = write_parquet(dir.path(), "tracks/b.parquet", &tracks_batch(&rows).unwrap(), 1, &metadata).unwrap();
        assert_eq!((streamed.rows, streamed.bytes, &streamed.sha256), (5, whole.bytes, &whole.sha256));
        let bytes = std::fs::read(dir.path().join("tracks/a.parquet")).unwrap();
        assert_eq!(
            (bytes.len() as u64, hex::encode(Sha256::digest(&bytes))),
            (streamed.bytes, streamed.sha256.clone())
        );

        // Row groups of several rows are appended whole.
        let mut stream = ParquetStream::create(dir.path(), "tracks/c.parquet", tracks_schema(), &[]).unwrap();
        stream.append(EncodedRowGroups::encode(&tracks_batch(&rows).unwrap(), 2).unwrap()).unwrap();
        stream.finish().unwrap();
        let file = std::fs::File::open(dir.path().join("tracks/c.parquet")).unwrap();
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

        let mut abandoned = ParquetStream::create(dir.path(), "tracks/d.parquet", tracks_schema(), &[]).unwrap();
        abandoned.append(EncodedRowGroups::encode(&tracks_batch(&rows[..1]).unwrap(), 1).unwrap()).unwrap();
        abandoned.abandon();
        let left: Vec<_> =
            std::fs::read_dir(dir.path().join("tracks")).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left.len(), 3, "{left:?}");
    }

    #[test]
    fn row_groups_of_another_schema_are_refused_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut stream = ParquetStream::create(dir.path(), "tracks/a.parquet", tracks_schema(), &[]).unwrap();
        let other = crate::rows::tokens_batch(&[crate::rows::TokenRow::example()]).unwrap();
        let error = format!("{:#}", stream.append(EncodedRowGroups::encode(&other, 1).unwrap()).unwrap_err());
        assert!(error.contains("tracks/a.parquet"), "{error}");
        stream.abandon();
    }
}
