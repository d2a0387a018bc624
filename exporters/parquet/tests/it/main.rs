//! Tests of the parquet exporter: files read back by DuckDB and pyarrow, rolling, leftovers,
//! object storage.

mod local;
mod readers;
mod s3;
mod support;
