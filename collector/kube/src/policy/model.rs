//! A NetworkPolicy as evaluation reads it, whatever its source: the API's `policyTypes` are
//! resolved into which of `ingress` and `egress` the policy restricts, and peers are pods (by
//! namespace and pod selectors) or address blocks.

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::model::Key;
use crate::policy::selector::{LabelSelector, Labels};

/// A namespace, for `namespaceSelector`s.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Namespace {
    /// Name.
    pub name: String,
    /// Labels (the API adds `kubernetes.io/metadata.name`; evaluation assumes it either way).
    #[serde(default)]
    pub labels: Labels,
}

/// A NetworkPolicy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkPolicy {
    /// Namespace and name; it selects pods of its namespace only.
    pub key: Key,
    /// The pods it isolates.
    pub pod_selector: LabelSelector,
    /// Its ingress rules when it restricts ingress (`Ingress` in `policyTypes`): an empty list
    /// lets nothing in. `None`: it does not restrict ingress.
    pub ingress: Option<Vec<Rule>>,
    /// Its egress rules when it restricts egress, the same way.
    pub egress: Option<Vec<Rule>>,
}

/// One ingress (`from`) or egress (`to`) rule: traffic to or from any of its peers on any of its
/// ports.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    /// The peers; empty: every peer.
    #[serde(default)]
    pub peers: Vec<Peer>,
    /// The ports; empty: every port.
    #[serde(default)]
    pub ports: Vec<PortRule>,
}

/// A rule's peer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Peer {
    /// Pods: those `pods` selects (none: all) in the namespaces `namespaces` selects (none: the
    /// policy's own namespace).
    Pods {
        /// `podSelector`.
        pods: Option<LabelSelector>,
        /// `namespaceSelector`.
        namespaces: Option<LabelSelector>,
    },
    /// Addresses in `cidr` but in none of `except`.
    Block {
        /// `ipBlock.cidr`.
        cidr: IpNet,
        /// `ipBlock.except`.
        except: Vec<IpNet>,
    },
    /// A peer its source could not read (an address block that does not parse): it matches
    /// nothing, as the API server would have refused it.
    Invalid,
}

/// A rule's port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortRule {
    /// The protocol (`TCP` by default).
    pub protocol: Protocol,
    /// The port, a number or a container port's name; none: every port of the protocol.
    pub port: Option<PortRef>,
    /// With a numbered port, the last port of the range it starts.
    pub end_port: Option<u16>,
}

/// A port by number or by the name of a container port on the destination pod.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PortRef {
    /// A number.
    Number(u16),
    /// A container port's name.
    Name(String),
}

/// A transport protocol, as policies name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Protocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// SCTP (never counted, so never matched).
    Sctp,
}

impl Protocol {
    /// The protocol the API names `text` (`TCP`, `UDP`, `SCTP`).
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "TCP" => Some(Self::Tcp),
            "UDP" => Some(Self::Udp),
            "SCTP" => Some(Self::Sctp),
            _ => None,
        }
    }
}

/// A pod's named container port, for rules that name their ports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamedPort {
    /// The name.
    pub name: String,
    /// The container port.
    pub port: u16,
    /// Its protocol.
    pub protocol: Protocol,
}
