//! One Parquet file being written: zstd, sized row groups, the schema version in its metadata.

use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;
use std::time::Instant;

use arrow_array::RecordBatch;
use arrow_schema::DataType;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::errors::ParquetError;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use spider_records::RecordKind;

/// Metadata key holding the dataset name.
pub const DATASET_KEY: &str = "spider.dataset";
/// Metadata key holding the schema version of the dataset.
pub const SCHEMA_VERSION_KEY: &str = "spider.schema_version";

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
        let zstd = ZstdLevel::try_new(encoding.zstd_level)?;
        let schema = kind.schema();
        let mut properties = WriterProperties::builder()
            .set_compression(Compression::ZSTD(zstd))
            .set_max_row_group_row_count(Some(encoding.row_group_rows))
            .set_max_row_group_bytes(Some(MAX_ROW_GROUP_BYTES));
        // Raw bytes (captured frames) repeat too rarely for a dictionary, and their minimum and
        // maximum prune nothing: both would only cost a hash and a comparison of every frame.
        for field in schema.fields() {
            if field.data_type() == &DataType::Binary {
                let column = ColumnPath::from(field.name().as_str());
                properties = properties
                    .set_column_dictionary_enabled(column.clone(), false)
                    .set_column_statistics_enabled(column, EnabledStatistics::None);
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
