//! Tests of the k8s_attributes processor: conformance, the static inventory end to end through
//! the processor, and the index's owner chains, IP reuse and grace period.

mod index;
mod inventory;
