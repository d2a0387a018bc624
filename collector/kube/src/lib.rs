//! Kubernetes metadata, shared by the components that need it (the `k8s_attributes` processor
//! enriches records with it; the `whisperer` receiver finds the pods it captures): an
//! [`index::Index`] of pods (by every pod IP, over time), nodes, services and the endpoints
//! behind them, filled either from a static [`inventory`] file or by the API [`kubernetes`]
//! watchers, chosen by a [`source::MetadataSource`].

pub mod index;
pub mod inventory;
pub mod kubernetes;
pub mod model;
pub mod source;

pub use source::{AuthType, MetadataSource, SourceSettings};
