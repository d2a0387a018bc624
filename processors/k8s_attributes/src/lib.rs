//! The `k8s_attributes` processor: Kubernetes metadata for both ends of every record, as the OTel
//! Collector's k8sattributes processor does for telemetry.
//!
//! Each end's address is looked up in an [`index::Index`] of pods (by every pod IP, at the time
//! the record was made), nodes, services and the endpoints behind them, filled from a
//! [`config::MetadataSource`]. An end gets its namespace, pod, node, the workload at the top of
//! the owner chain (Deployment, DaemonSet, StatefulSet, CronJob, …) and a class: `pod`, `node`
//! (host-network pods included), `service`, or, for addresses nothing in the cluster has,
//! `external` (outside the cluster's ranges, named from capture host records) or `unknown`.
//! Usage and capture records alike; host records pass through and teach names.

pub mod config;
pub mod index;
pub mod inventory;
pub mod kubernetes;
pub mod model;
pub mod outside;
mod processor;

pub use config::{AuthType, K8sAttributesConfig, MetadataSource};
pub use processor::{K8sAttributesProcessor, K8sAttributesProcessorFactory};
