//! Kubernetes API objects to the index's model: only what attribution needs.

use std::net::IpAddr;

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{
    Namespace as KubeNamespace, Node as KubeNode, Pod as KubePod, Service as KubeService,
};
use k8s_openapi::api::discovery::v1::EndpointSlice as KubeEndpointSlice;
use k8s_openapi::api::networking::v1::{
    NetworkPolicy as KubeNetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    LabelSelector as KubeLabelSelector, ObjectMeta,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::model::{Controller, EndpointSlice, Key, Node, Object, Owner, Pod, Service};
use crate::policy::{
    LabelSelector, Labels, NamedPort, Namespace, NetworkPolicy, Operator, Peer, PortRef, PortRule,
    Protocol, Requirement, Rule,
};

fn key(metadata: &ObjectMeta) -> Key {
    Key::new(
        metadata.namespace.clone().unwrap_or_default(),
        metadata.name.clone().unwrap_or_default(),
    )
}

/// The owner reference marked as the controller.
fn controller(metadata: &ObjectMeta) -> Option<Owner> {
    metadata
        .owner_references
        .iter()
        .flatten()
        .find(|reference| reference.controller == Some(true))
        .map(|reference| Owner {
            kind: reference.kind.clone(),
            name: reference.name.clone(),
        })
}

/// Addresses that parse; the API has been seen to carry empty strings.
fn addresses<'a>(texts: impl IntoIterator<Item = &'a String>) -> Vec<IpAddr> {
    texts
        .into_iter()
        .filter_map(|text| text.parse::<IpAddr>().ok())
        .map(|address| address.to_canonical())
        .collect()
}

/// A pod.
pub fn pod(pod: &KubePod) -> Object {
    let spec = pod.spec.as_ref();
    let status = pod.status.as_ref();
    let mut ips = addresses(
        status
            .and_then(|s| s.pod_ips.as_ref())
            .into_iter()
            .flatten()
            .map(|p| &p.ip),
    );
    if ips.is_empty() {
        ips = addresses(status.and_then(|s| s.pod_ip.as_ref()));
    }
    Object::Pod(Pod {
        key: key(&pod.metadata),
        node: spec.and_then(|s| s.node_name.clone()),
        ips,
        host_network: spec.and_then(|s| s.host_network).unwrap_or(false),
        owner: controller(&pod.metadata),
        created: pod
            .metadata
            .creation_timestamp
            .as_ref()
            .map_or(0, |time| time.0.as_microsecond()),
        labels: labels(&pod.metadata),
        ports: spec
            .into_iter()
            .flat_map(|s| &s.containers)
            .flat_map(|container| container.ports.iter().flatten())
            .filter_map(|port| {
                Some(NamedPort {
                    name: port.name.clone()?,
                    port: u16::try_from(port.container_port).ok()?,
                    protocol: Protocol::parse(port.protocol.as_deref().unwrap_or("TCP"))?,
                })
            })
            .collect(),
    })
}

fn labels(metadata: &ObjectMeta) -> Labels {
    metadata.labels.clone().unwrap_or_default()
}

/// A namespace, by its labels.
pub fn namespace(namespace: &KubeNamespace) -> Object {
    Object::Namespace(Namespace {
        name: namespace.metadata.name.clone().unwrap_or_default(),
        labels: labels(&namespace.metadata),
    })
}

/// A NetworkPolicy, its `policyTypes` resolved as the API defaults them: ingress always unless
/// listed otherwise, egress when listed or when it has egress rules. What the API server would
/// have refused (an address block that does not parse, a peer with no selector) matches nothing.
pub fn network_policy(policy: &KubeNetworkPolicy) -> Object {
    let spec = policy.spec.as_ref();
    let ingress_rules = spec.and_then(|s| s.ingress.as_ref());
    let egress_rules = spec.and_then(|s| s.egress.as_ref());
    // An empty list is defaulted as a missing one, as the API server does.
    let types = spec
        .and_then(|s| s.policy_types.as_ref())
        .filter(|types| !types.is_empty());
    let (restricts_ingress, restricts_egress) = match types {
        Some(types) => (
            types.iter().any(|t| t == "Ingress"),
            types.iter().any(|t| t == "Egress"),
        ),
        None => (true, egress_rules.is_some_and(|rules| !rules.is_empty())),
    };
    let ingress = restricts_ingress.then(|| {
        ingress_rules
            .into_iter()
            .flatten()
            .map(|rule| policy_rule(rule.from.as_deref(), rule.ports.as_deref()))
            .collect()
    });
    let egress = restricts_egress.then(|| {
        egress_rules
            .into_iter()
            .flatten()
            .map(|rule| policy_rule(rule.to.as_deref(), rule.ports.as_deref()))
            .collect()
    });
    Object::NetworkPolicy(NetworkPolicy {
        key: key(&policy.metadata),
        pod_selector: spec
            .and_then(|s| s.pod_selector.as_ref())
            .map(label_selector)
            .unwrap_or_default(),
        ingress,
        egress,
    })
}

/// What the API server would refuse in a policy, each said by where it is: for the inventory,
/// which has no API server in front of it.
pub fn network_policy_problems(policy: &KubeNetworkPolicy) -> Vec<String> {
    let mut problems = Vec::new();
    let Some(spec) = &policy.spec else {
        return problems;
    };
    for kind in spec.policy_types.iter().flatten() {
        if kind != "Ingress" && kind != "Egress" {
            problems.push(format!("policyTypes: {kind:?} is not Ingress or Egress"));
        }
    }
    if let Some(pods) = &spec.pod_selector {
        problems.extend(selector_problems("podSelector", pods));
    }
    let ingress = spec.ingress.iter().flatten().enumerate().map(|(i, rule)| {
        let at = format!("ingress[{i}]");
        (at, rule.from.as_deref(), rule.ports.as_deref())
    });
    let egress = spec.egress.iter().flatten().enumerate().map(|(i, rule)| {
        let at = format!("egress[{i}]");
        (at, rule.to.as_deref(), rule.ports.as_deref())
    });
    for (at, peers, ports) in ingress.chain(egress) {
        for (p, peer) in peers.into_iter().flatten().enumerate() {
            let at = format!("{at}.peers[{p}]");
            problems.extend(peer_problem(peer).map(|problem| format!("{at}: {problem}")));
            let selectors = [
                ("podSelector", &peer.pod_selector),
                ("namespaceSelector", &peer.namespace_selector),
            ];
            for (name, chosen) in selectors {
                if let Some(chosen) = chosen {
                    problems.extend(selector_problems(&format!("{at}.{name}"), chosen));
                }
            }
        }
        for (p, port) in ports.into_iter().flatten().enumerate() {
            let at = format!("{at}.ports[{p}]");
            problems.extend(port_problem(port).map(|problem| format!("{at}: {problem}")));
        }
    }
    problems
}

/// What the API server would refuse in a label selector at `at`.
fn selector_problems(at: &str, selector: &KubeLabelSelector) -> Vec<String> {
    let expressions = selector.match_expressions.iter().flatten();
    expressions
        .filter_map(|expression| {
            let values = expression.values.as_ref().map_or(0, Vec::len);
            let operator = &expression.operator;
            match (Operator::parse(operator), values) {
                (None, _) => Some(format!(
                    "{at}: operator {operator:?} is not In, NotIn, Exists or DoesNotExist"
                )),
                (Some(Operator::In | Operator::NotIn), 0) => {
                    Some(format!("{at}: {operator} needs values"))
                }
                (Some(Operator::Exists | Operator::DoesNotExist), 1..) => {
                    Some(format!("{at}: {operator} takes no values"))
                }
                _ => None,
            }
        })
        .collect()
}

/// What the API server would refuse in a peer.
fn peer_problem(peer: &NetworkPolicyPeer) -> Option<String> {
    let selected = peer.pod_selector.is_some() || peer.namespace_selector.is_some();
    let Some(block) = &peer.ip_block else {
        return (!selected)
            .then(|| "needs a podSelector, a namespaceSelector or an ipBlock".into());
    };
    if selected {
        return Some("an ipBlock goes alone, without selectors".into());
    }
    let cidr: ipnet::IpNet = match block.cidr.parse() {
        Ok(cidr) => cidr,
        Err(_) => return Some(format!("ipBlock.cidr {:?} is not a CIDR block", block.cidr)),
    };
    block
        .except
        .iter()
        .flatten()
        .find_map(|hole| match hole.parse::<ipnet::IpNet>() {
            Ok(hole) if cidr.contains(&hole) && hole.prefix_len() > cidr.prefix_len() => None,
            Ok(_) => Some(format!("ipBlock.except {hole} is not inside {cidr}")),
            Err(_) => Some(format!("ipBlock.except {hole:?} is not a CIDR block")),
        })
}

/// What the API server would refuse in a port.
fn port_problem(port: &NetworkPolicyPort) -> Option<String> {
    if let Some(protocol) = &port.protocol
        && Protocol::parse(protocol).is_none()
    {
        return Some(format!("protocol {protocol:?} is not TCP, UDP or SCTP"));
    }
    match (&port.port, port.end_port) {
        (Some(IntOrString::Int(number)), _) if !(1..=65535).contains(number) => {
            Some(format!("port {number} is not 1 to 65535"))
        }
        (Some(IntOrString::Int(first)), Some(last)) if last < *first || last > 65535 => {
            Some(format!("endPort {last} is not {first} to 65535"))
        }
        (Some(IntOrString::String(name)), Some(_)) => {
            Some(format!("endPort needs a numbered port, not {name:?}"))
        }
        (None, Some(_)) => Some("endPort needs a port".into()),
        _ => None,
    }
}

fn policy_rule(peers: Option<&[NetworkPolicyPeer]>, ports: Option<&[NetworkPolicyPort]>) -> Rule {
    Rule {
        peers: peers.into_iter().flatten().map(policy_peer).collect(),
        ports: ports.into_iter().flatten().map(policy_port).collect(),
    }
}

fn policy_peer(peer: &NetworkPolicyPeer) -> Peer {
    if let Some(block) = &peer.ip_block {
        let cidr = block.cidr.parse();
        let except: Result<Vec<_>, _> = block.except.iter().flatten().map(|e| e.parse()).collect();
        return match (cidr, except) {
            (Ok(cidr), Ok(except)) => Peer::Block { cidr, except },
            _ => Peer::Invalid,
        };
    }
    if peer.pod_selector.is_none() && peer.namespace_selector.is_none() {
        return Peer::Invalid;
    }
    Peer::Pods {
        pods: peer.pod_selector.as_ref().map(label_selector),
        namespaces: peer.namespace_selector.as_ref().map(label_selector),
    }
}

fn policy_port(port: &NetworkPolicyPort) -> PortRule {
    PortRule {
        // An unknown protocol cannot match a counted conversation; SCTP never does either.
        protocol: Protocol::parse(port.protocol.as_deref().unwrap_or("TCP"))
            .unwrap_or(Protocol::Sctp),
        port: port.port.as_ref().map(|port| match port {
            IntOrString::Int(number) => PortRef::Number(u16::try_from(*number).unwrap_or(0)),
            IntOrString::String(name) => PortRef::Name(name.clone()),
        }),
        end_port: port.end_port.and_then(|end| u16::try_from(end).ok()),
    }
}

/// A label selector; a requirement whose operator the API does not know (its server refuses
/// them) becomes `In` no value, which nothing satisfies.
fn label_selector(selector: &KubeLabelSelector) -> LabelSelector {
    LabelSelector {
        match_labels: selector.match_labels.clone().unwrap_or_default(),
        match_expressions: selector
            .match_expressions
            .iter()
            .flatten()
            .map(|expression| match Operator::parse(&expression.operator) {
                Some(operator) => Requirement {
                    key: expression.key.clone(),
                    operator,
                    values: expression.values.clone().unwrap_or_default(),
                },
                None => Requirement {
                    key: expression.key.clone(),
                    operator: Operator::In,
                    values: Vec::new(),
                },
            })
            .collect(),
    }
}

/// A node, by all its addresses (internal and external; host names are not addresses).
pub fn node(node: &KubeNode) -> Object {
    let listed = node
        .status
        .as_ref()
        .and_then(|s| s.addresses.as_ref())
        .into_iter()
        .flatten()
        .map(|a| &a.address);
    Object::Node(Node {
        name: node.metadata.name.clone().unwrap_or_default(),
        addresses: addresses(listed),
    })
}

/// A service, by its ClusterIPs (`None` for headless services is not an address).
pub fn service(service: &KubeService) -> Object {
    let spec = service.spec.as_ref();
    let mut listed: Vec<&String> = spec
        .and_then(|s| s.cluster_ips.as_ref())
        .into_iter()
        .flatten()
        .collect();
    if listed.is_empty() {
        listed.extend(spec.and_then(|s| s.cluster_ip.as_ref()));
    }
    Object::Service(Service {
        key: key(&service.metadata),
        cluster_ips: addresses(listed),
    })
}

/// A ReplicaSet, to reach its Deployment.
pub fn replica_set(replica_set: &ReplicaSet) -> Object {
    Object::Controller(Controller {
        kind: "ReplicaSet".into(),
        key: key(&replica_set.metadata),
        owner: controller(&replica_set.metadata),
    })
}

/// A Job, to reach its CronJob.
pub fn job(job: &Job) -> Object {
    Object::Controller(Controller {
        kind: "Job".into(),
        key: key(&job.metadata),
        owner: controller(&job.metadata),
    })
}

/// An EndpointSlice, by the addresses of its endpoints.
pub fn endpoint_slice(slice: &KubeEndpointSlice) -> Object {
    let service = slice
        .metadata
        .labels
        .as_ref()
        .and_then(|labels| labels.get("kubernetes.io/service-name"))
        .cloned()
        .unwrap_or_default();
    let listed = slice
        .endpoints
        .iter()
        .flatten()
        .flat_map(|endpoint| endpoint.addresses.iter());
    Object::EndpointSlice(EndpointSlice {
        key: key(&slice.metadata),
        service,
        addresses: addresses(listed),
    })
}
