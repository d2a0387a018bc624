//! Made-up network usage, shared by what needs it (the `synthetic` receiver, `spider generate`,
//! the test kit and the benchmarks): a seeded [`Random`] source, a [`Generator`] of usage records
//! between pod addresses, and a [`cluster::Cluster`] of nodes, namespaces, workloads and pods whose
//! conversations fill a day of a lake. The same seed gives the same records.

pub mod cluster;
mod generator;

pub use generator::{Generator, Random};
