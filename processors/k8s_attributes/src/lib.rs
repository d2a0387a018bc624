//! The `k8s_attributes` processor: Kubernetes metadata for both ends of every record, as the OTel
//! Collector's k8sattributes processor does for telemetry.
//!
//! Each end's address is looked up in a [`spider_kube::index::Index`] of pods (by every pod IP, at the time
//! the record was made), nodes, services and the endpoints behind them, filled from a
//! [`spider_kube::MetadataSource`]. An end gets its namespace, pod, node, the workload at the top of
//! the owner chain (Deployment, DaemonSet, StatefulSet, CronJob, …) and a class: `pod`, `node`
//! (host-network pods included), `service`, or, for addresses nothing in the cluster has,
//! `external` (outside the cluster's ranges, named from capture host records) or `unknown`.
//! Usage and capture records alike; host records pass through and teach names.

pub mod config;
pub mod outside;
mod processor;

pub use config::K8sAttributesConfig;
pub use processor::{K8S_ATTRIBUTES_PROCESSOR, K8sAttributesProcessor};
