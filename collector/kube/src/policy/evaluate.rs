//! What the NetworkPolicies say of one conversation, a client reaching a server's port: the
//! client's egress is checked against the policies that select the client, the server's ingress
//! against those that select the server. A pod no policy selects for a direction is not isolated
//! in it; a selected pod lets through only what one of its selecting policies' rules allows.
//! Rules add up, across the policies of a pod. Two exceptions hold whatever the rules: a pod
//! cannot block itself, and traffic between a pod and its own node is always allowed.
//!
//! Peers that are not pods (nodes, host-network pods, external addresses) match address blocks
//! only; pods match pod and namespace selectors. Whether an address block matches a pod or a
//! node by its address the API leaves to the CNI (Calico does, Cilium by default does not), so a
//! conversation that only such a match would let through gets no verdict. Ports are the
//! server's, after any Service translation, as the CNI sees them.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use spider_collector::records::{PolicyVerdict, Transport};

use crate::model::Key;
use crate::policy::model::{NamedPort, NetworkPolicy, Peer, PortRef, PortRule, Protocol, Rule};
use crate::policy::selector::Labels;

/// The label the API server puts on every namespace, its name: `namespaceSelector`s by name use it.
const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// A pod end of a conversation.
#[derive(Debug, Clone, Copy)]
pub struct PodEnd<'a> {
    /// Its namespace.
    pub namespace: &'a str,
    /// Its labels.
    pub labels: &'a Labels,
    /// Its namespace's labels, when the namespace is known.
    pub namespace_labels: Option<&'a Labels>,
    /// Its named container ports.
    pub ports: &'a [NamedPort],
    /// The node it runs on.
    pub node: Option<&'a str>,
}

/// One end of a conversation.
#[derive(Debug, Clone, Copy)]
pub struct PolicyEnd<'a> {
    /// Its address.
    pub ip: IpAddr,
    /// The pod, when the address is a pod's own (not host-network).
    pub pod: Option<PodEnd<'a>>,
    /// The node, when the address is a node's (a host-network pod's included).
    pub node: Option<&'a str>,
}

/// A conversation: `client` reached `server` on `port`.
#[derive(Debug, Clone, Copy)]
pub struct Conversation<'a> {
    /// The connecting end.
    pub client: PolicyEnd<'a>,
    /// The listening end.
    pub server: PolicyEnd<'a>,
    /// The server's port.
    pub port: u16,
    /// TCP or UDP.
    pub transport: Transport,
}

/// The verdict on a conversation, and the policies behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Allowed, denied or unrestricted.
    pub verdict: PolicyVerdict,
    /// Denied: the policies selecting the end that refuses it; allowed: those whose rules let it
    /// through (none when only the exceptions did: a pod to itself, to its node); unrestricted:
    /// none.
    pub by: Vec<Key>,
}

impl Verdict {
    /// The policies behind it as `namespace/name`, comma-separated; `None` when there are none.
    pub fn by_names(&self) -> Option<String> {
        let mut names = String::new();
        for key in &self.by {
            if !names.is_empty() {
                names.push(',');
            }
            names.push_str(&key.namespace);
            names.push('/');
            names.push_str(&key.name);
        }
        (!names.is_empty()).then_some(names)
    }
}

/// Which half of a conversation a pod's policies are checked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    Ingress,
    Egress,
}

/// Whether rules let a conversation through, ordered so that "any of" is the greatest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Admits {
    /// No.
    No,
    /// Only by what the API leaves to the CNI: an address block matching an in-cluster address.
    Unsure,
    /// Yes.
    Yes,
}

/// One end's policies for its direction, each with what its rules say (borrowed: a verdict is
/// made for every record, and only its answer owns keys).
struct Side<'p> {
    admits: Admits,
    judged: Vec<(&'p NetworkPolicy, Admits)>,
}

/// Every policy known, by namespace and name.
#[derive(Debug, Clone, Default)]
pub struct Policies {
    by_namespace: BTreeMap<String, BTreeMap<String, NetworkPolicy>>,
}

impl Policies {
    /// Adds or replaces a policy.
    pub fn apply(&mut self, policy: NetworkPolicy) {
        self.by_namespace
            .entry(policy.key.namespace.clone())
            .or_default()
            .insert(policy.key.name.clone(), policy);
    }

    /// Removes a policy.
    pub fn remove(&mut self, key: &Key) {
        if let Some(names) = self.by_namespace.get_mut(&key.namespace) {
            names.remove(&key.name);
            if names.is_empty() {
                self.by_namespace.remove(&key.namespace);
            }
        }
    }

    /// Every policy.
    pub fn all(&self) -> impl Iterator<Item = &NetworkPolicy> {
        self.by_namespace.values().flat_map(BTreeMap::values)
    }

    /// How many policies there are.
    pub fn len(&self) -> usize {
        self.by_namespace.values().map(BTreeMap::len).sum()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.by_namespace.is_empty()
    }

    /// The verdict on `conversation`; `None` when it rests on what the API leaves to the CNI.
    pub fn verdict(&self, conversation: &Conversation<'_>) -> Option<Verdict> {
        let (client, server) = (&conversation.client, &conversation.server);
        let egress = client
            .pod
            .and_then(|pod| self.side(pod, Direction::Egress, server, conversation));
        let ingress = server
            .pod
            .and_then(|pod| self.side(pod, Direction::Ingress, client, conversation));
        if egress.is_none() && ingress.is_none() {
            return Some(Verdict {
                verdict: PolicyVerdict::Unrestricted,
                by: Vec::new(),
            });
        }
        let sides = [egress, ingress];
        let keys = |keep: &dyn Fn(&Side<'_>, Admits) -> bool| -> Vec<Key> {
            let chosen: BTreeSet<&Key> = sides
                .iter()
                .flatten()
                .flat_map(|side| {
                    let judged = side.judged.iter();
                    judged
                        .filter(|(_, admits)| keep(side, *admits))
                        .map(|(policy, _)| &policy.key)
                })
                .collect();
            chosen.into_iter().cloned().collect()
        };
        // One end that refuses it is enough, whatever the other's CNI-defined matches; its
        // selecting policies are the ones to name.
        if sides.iter().flatten().any(|side| side.admits == Admits::No) {
            return Some(Verdict {
                verdict: PolicyVerdict::Denied,
                by: keys(&|side, _| side.admits == Admits::No),
            });
        }
        if sides
            .iter()
            .flatten()
            .any(|side| side.admits == Admits::Unsure)
        {
            return None;
        }
        Some(Verdict {
            verdict: PolicyVerdict::Allowed,
            by: keys(&|_, admits| admits == Admits::Yes),
        })
    }

    /// The policies of `pod` for `direction`, and whether they let `peer` through; `None` when
    /// none selects it for that direction (it is not isolated in it).
    fn side(
        &self,
        pod: PodEnd<'_>,
        direction: Direction,
        peer: &PolicyEnd<'_>,
        conversation: &Conversation<'_>,
    ) -> Option<Side<'_>> {
        let judged: Vec<(&NetworkPolicy, Admits)> = self
            .by_namespace
            .get(pod.namespace)?
            .values()
            .filter(|policy| policy.pod_selector.selects(pod.labels))
            .filter_map(|policy| {
                let rules = match direction {
                    Direction::Ingress => policy.ingress.as_ref(),
                    Direction::Egress => policy.egress.as_ref(),
                };
                let admits = rules?
                    .iter()
                    .map(|rule| rule_admits(policy, rule, peer, conversation))
                    .max()
                    .unwrap_or(Admits::No);
                Some((policy, admits))
            })
            .collect();
        if judged.is_empty() {
            return None;
        }
        let itself = conversation.client.ip == conversation.server.ip;
        let own_node = peer.node.is_some() && peer.node == pod.node;
        let admits = if itself || own_node {
            Admits::Yes
        } else {
            judged
                .iter()
                .map(|(_, admits)| *admits)
                .max()
                .unwrap_or(Admits::No)
        };
        Some(Side { admits, judged })
    }
}

/// Whether `rule` of `policy` admits `peer` on the conversation's port.
fn rule_admits(
    policy: &NetworkPolicy,
    rule: &Rule,
    peer: &PolicyEnd<'_>,
    conversation: &Conversation<'_>,
) -> Admits {
    let port_matches = rule.ports.is_empty()
        || rule
            .ports
            .iter()
            .any(|port| port_admits(port, conversation));
    if !port_matches {
        return Admits::No;
    }
    if rule.peers.is_empty() {
        return Admits::Yes;
    }
    rule.peers
        .iter()
        .map(|candidate| peer_admits(policy, candidate, peer))
        .max()
        .unwrap_or(Admits::No)
}

/// Whether a rule's peer `candidate` is the conversation's `peer`.
fn peer_admits(policy: &NetworkPolicy, candidate: &Peer, peer: &PolicyEnd<'_>) -> Admits {
    match candidate {
        Peer::Pods { pods, namespaces } => {
            let Some(pod) = peer.pod else {
                return Admits::No;
            };
            let in_namespace = match namespaces {
                Some(selector) => selector.matches(|key| namespace_label(&pod, key)),
                None => pod.namespace == policy.key.namespace,
            };
            let selected = pods
                .as_ref()
                .is_none_or(|selector| selector.selects(pod.labels));
            if in_namespace && selected {
                Admits::Yes
            } else {
                Admits::No
            }
        }
        Peer::Block { cidr, except } => {
            let ip = peer.ip.to_canonical();
            let inside = cidr.contains(&ip) && !except.iter().any(|hole| hole.contains(&ip));
            let in_cluster = peer.pod.is_some() || peer.node.is_some();
            match (inside, in_cluster) {
                (false, _) => Admits::No,
                (true, false) => Admits::Yes,
                (true, true) => Admits::Unsure,
            }
        }
        Peer::Invalid => Admits::No,
    }
}

/// A label of a pod's namespace: its name label always, the others when the namespace is known.
fn namespace_label<'a>(pod: &PodEnd<'a>, key: &str) -> Option<&'a str> {
    if key == NAMESPACE_NAME_LABEL {
        return Some(pod.namespace);
    }
    pod.namespace_labels?.get(key).map(String::as_str)
}

/// Whether a rule's port is the conversation's: its protocol, and its number, range or the
/// server pod's port of that name.
fn port_admits(rule: &PortRule, conversation: &Conversation<'_>) -> bool {
    let protocol = match conversation.transport {
        Transport::Tcp => Protocol::Tcp,
        Transport::Udp => Protocol::Udp,
    };
    if rule.protocol != protocol {
        return false;
    }
    let port = conversation.port;
    match &rule.port {
        None => true,
        Some(PortRef::Number(first)) => match rule.end_port {
            Some(last) => (*first..=last).contains(&port),
            None => *first == port,
        },
        Some(PortRef::Name(name)) => conversation.server.pod.is_some_and(|pod| {
            pod.ports.iter().any(|named| {
                named.name == *name && named.protocol == protocol && named.port == port
            })
        }),
    }
}
