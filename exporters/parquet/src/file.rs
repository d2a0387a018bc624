//! One Parquet file being written: zstd, sized row groups, the schema version in its metadata.

use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;
use std::time::Instant;

use arrow_array::RecordBatch;
use arrow_schema::DataType;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, Encoding as ParquetEncoding, ZstdLevel};
use parquet::errors::ParquetError;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties, WriterVersion};
use parquet::schema::types::ColumnPath;
use spider_records::RecordKind;
pub use spider_records::catalog::{DATASET_KEY, SCHEMA_VERSION_KEY};

/// A row group is written out once its encoded size reaches this, however few its rows: the
/// writer holds a row group's pages in memory until then, and rows of captured frames are large.
const MAX_ROW_GROUP_BYTES: usize = 64 << 20;

/// How files are encoded.
#[derive(Debug, Clone, Copy)]
pub struct Encoding {
    /// Rows per row group.
    pub row_group_rows: usize,
    /// zstd level.
    pub zstd_level: i32,
    /// zstd level of raw-bytes columns (captured frames).
    pub frame_zstd_level: i32,
}

/// An open file and what has gone into it.
pub struct OpenFile {
    writer: ArrowWriter<BufWriter<File>>,
    /// Its in-progress path.
    pub path: PathBuf,
    /// Its final name.
    pub name: String,
    /// Rows written.
    pub rows: usize,
    /// When it was opened.
    pub opened: Instant,
}

impl OpenFile {
    /// Creates the in-progress file (and its directory).
    pub fn create(
        kind: RecordKind,
        path: PathBuf,
        name: String,
        encoding: Encoding,
    ) -> Result<Self, ParquetError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let schema = kind.schema();
        let mut properties = WriterProperties::builder()
            // Data page v2: the writer compresses a page's values straight into the page, where
            // v1 copies the page twice more (and faults in fresh memory for each copy). DuckDB,
            // DataFusion, Spark and Trino all read it.
            .set_writer_version(WriterVersion::PARQUET_2_0)
            // Plain values under zstd, or a dictionary's. Not v2's delta encodings: each column
            // writer of them reserves a megabyte or two per row group (over a hundred megabytes
            // for the four capture datasets), and zstd makes plain values as small.
            .set_encoding(ParquetEncoding::PLAIN)
            .set_compression(Compression::ZSTD(ZstdLevel::try_new(encoding.zstd_level)?))
            .set_max_row_group_row_count(Some(encoding.row_group_rows))
            .set_max_row_group_bytes(Some(MAX_ROW_GROUP_BYTES));
        let frame_zstd = Compression::ZSTD(ZstdLevel::try_new(encoding.frame_zstd_level)?);
        for field in schema.fields() {
            let column = ColumnPath::from(field.name().as_str());
            match field.data_type() {
                // Names, addresses and enums repeat: a dictionary makes them small and fast to
                // filter.
                DataType::Utf8 => {}
                // Raw bytes (captured frames) repeat too rarely for a dictionary, and their
                // minimum and maximum prune nothing: both would only cost a hash and a
                // comparison of every frame. They are most of a capture's bytes, so they get a
                // zstd level of their own.
                DataType::Binary => {
                    properties = properties
                        .set_column_dictionary_enabled(column.clone(), false)
                        .set_column_statistics_enabled(column.clone(), EnabledStatistics::None)
                        .set_column_compression(column, frame_zstd);
                }
                // Times, counters and sequence numbers: zstd makes them as small as a dictionary
                // did (measured on captures), without hashing every value.
                _ => properties = properties.set_column_dictionary_enabled(column, false),
            }
        }
        let properties = properties
            .set_key_value_metadata(Some(vec![
                KeyValue::new(DATASET_KEY.to_owned(), kind.as_str().to_owned()),
                KeyValue::new(
                    SCHEMA_VERSION_KEY.to_owned(),
                    kind.schema_version().to_string(),
                ),
            ]))
            .build();
        let file = BufWriter::with_capacity(1 << 20, File::create(&path)?);
        let writer = ArrowWriter::try_new(file, schema, Some(properties))?;
        Ok(Self {
            writer,
            path,
            name,
            rows: 0,
            opened: Instant::now(),
        })
    }

    /// Appends rows.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), ParquetError> {
        self.writer.write(batch)?;
        self.rows += batch.num_rows();
        Ok(())
    }

    /// Bytes written so far, buffered row group included.
    pub fn size(&self) -> u64 {
        (self.writer.bytes_written() + self.writer.in_progress_size()) as u64
    }

    /// Writes the footer and makes the file durable; returns its size.
    pub fn finish(self) -> Result<u64, ParquetError> {
        let file = self.writer.into_inner()?;
        let file = file
            .into_inner()
            .map_err(|e| ParquetError::External(Box::new(e.into_error())))?;
        file.sync_all()?;
        Ok(file.metadata()?.len())
    }
}
