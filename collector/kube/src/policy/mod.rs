//! NetworkPolicies, and what they say of an observed conversation: the [`model`] the sources
//! fill (from the API, an inventory or a controller's feed), the label [`selector`]s it is made
//! of, and the [`evaluate`] rules — the semantics of `networking.k8s.io/v1`, whatever CNI does
//! or does not enforce them.

pub mod evaluate;
pub mod model;
pub mod selector;

#[cfg(test)]
mod documented;

pub use evaluate::{Conversation, PodEnd, Policies, PolicyEnd, Verdict};
pub use model::{NamedPort, Namespace, NetworkPolicy, Peer, PortRef, PortRule, Protocol, Rule};
pub use selector::{LabelSelector, Labels, Operator, Requirement};
