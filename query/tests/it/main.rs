//! Tests of the query library: DataFusion agrees with DuckDB on the same files, and only
//! read-only SQL is accepted.

mod anomalies;
mod api;
mod compaction;
mod counting;
mod lake;
mod read_only;
mod rollup;
mod support;
mod versus_duckdb;
mod views;
