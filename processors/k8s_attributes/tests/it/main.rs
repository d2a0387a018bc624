//! Tests of the k8s_attributes processor: conformance, the static inventory end to end through
//! the processor, the index's owner chains, IP reuse and grace period, and the Kubernetes source
//! against a fake API server, directly and through the controller tier.

mod controller;
mod index;
mod inventory;
mod kubernetes;
mod policies;
mod support;
