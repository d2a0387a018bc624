//! Where Spider's datasets live, shared by what writes them (the Parquet exporter) and what
//! reads them (the query library, the query service, its SQL workers).
//!
//! A lake is a directory or an object store, named the same way everywhere: a path,
//! `file:///path`, `s3://bucket/prefix`, `gs://bucket/prefix` or `az://container/prefix`
//! ([`LakeConfig`]). Object-store credentials come from the standard environment of each cloud
//! (`AWS_*`, `GOOGLE_*`, `AZURE_*`), overridden by explicit options named as object_store names
//! them (`endpoint`, `region`, `allow_http`, …); an unknown option is an error, not ignored.
//!
//! Readers list through [`ReadingStore`]: it hides the files a compacted file replaces
//! ([`compacted`]), so that a reader sees an hour's small files or the file they were merged
//! into, never both; and it keeps listings a short while, as a listing is one request per
//! thousand objects in an object store, and a query service answering several views a second
//! would otherwise pay it per view. [`layout`] walks the partitions (clusters, days, hours);
//! [`retention`] deletes the partitions older than a dataset's maximum age.

pub mod compacted;
pub mod layout;
mod listing;
mod location;
pub mod retention;

pub use listing::{ListingStats, ReadingStore};
pub use location::{Lake, LakeConfig, LakeError};
