//! Spider's query library: the Parquet datasets as DataFusion tables, and read-only SQL over them.
//!
//! Each dataset (`network_usage`, `packets`, `tcp_sessions`, `http`, `hosts`) is one table with its
//! record schema plus the Hive partition columns `cluster`, `date` and `hour`; a dataset not written yet is an
//! empty table, so queries never fail on a missing directory.

pub mod anomalies;
pub mod cidr;
pub mod clusters;
pub mod compaction;
pub mod datasets;
pub mod details;
pub mod fields;
pub mod file_set;
pub mod filter;
pub mod frame;
pub mod grid;
pub mod leaf;
pub mod map;
pub mod partitions;
pub mod pcap;
pub mod range;
pub mod rollup;
pub mod sql;
pub mod stats;
pub mod timeline;

pub use datasets::{open, open_lake};
pub use spider_lake::{Lake, LakeConfig, LakeError};
pub use sql::{QueryError, SqlLimits, read_only, read_only_within};
