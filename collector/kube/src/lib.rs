//! Kubernetes metadata, shared by the components that need it (the `k8s_attributes` processor
//! enriches records with it; the `whisperer` receiver finds the pods it captures): an
//! [`index::Index`] of pods (by every pod IP, over time), nodes, services and the endpoints
//! behind them, filled from a static [`inventory`] file, by the API [`kubernetes`] watchers, or
//! from a cluster's controller through its [`feed`] — chosen by a [`source::MetadataSource`];
//! with the namespaces and NetworkPolicies that give each conversation its [`policy`] verdict.
//! Watchers and feed write through one [`sink::ObjectSink`] and run as a [`follower::Follower`].

pub mod feed;
pub mod follower;
pub mod index;
pub mod inventory;
pub mod kubernetes;
pub mod model;
pub mod policy;
pub mod sink;
pub mod source;

pub use source::{AuthType, MetadataSource, SourceSettings};
