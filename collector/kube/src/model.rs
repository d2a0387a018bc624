//! The objects the index is built from, whatever their source (the Kubernetes API or a static
//! inventory, or a controller's feed, which carries them as JSON): only the fields attribution
//! needs.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::policy::{Labels, NamedPort, Namespace, NetworkPolicy};

/// A namespaced name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Key {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl Key {
    /// `namespace/name`.
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            namespace: namespace.into(),
            name: name.into(),
        }
    }
}

impl std::fmt::Display for Key {
    /// `namespace/name`, as kubectl names it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// The controller of an object (its `ownerReference` with `controller: true`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    /// Kind (`ReplicaSet`, `Job`, `DaemonSet`, `StatefulSet`, `Deployment`, …).
    pub kind: String,
    /// Name, in the same namespace.
    pub name: String,
}

/// A pod.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pod {
    /// Namespace and name.
    pub key: Key,
    /// Node it is scheduled on.
    pub node: Option<String>,
    /// Every pod IP (dual stack gives two); empty until assigned.
    pub ips: Vec<IpAddr>,
    /// Uses the node's network: its address is the node's, so it is attributed to the node.
    pub host_network: bool,
    /// Its controller.
    pub owner: Option<Owner>,
    /// Creation, microseconds since the epoch (0 when unknown): records older than this belong
    /// to whoever had the address before.
    pub created: i64,
    /// Its labels, for NetworkPolicy selectors.
    #[serde(default)]
    pub labels: Labels,
    /// Its named container ports, for NetworkPolicy rules that name ports.
    #[serde(default)]
    pub ports: Vec<NamedPort>,
}

/// A node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    /// Name.
    pub name: String,
    /// Internal and external addresses.
    pub addresses: Vec<IpAddr>,
}

/// A service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Service {
    /// Namespace and name.
    pub key: Key,
    /// ClusterIPs (none for a headless service).
    pub cluster_ips: Vec<IpAddr>,
}

/// A ReplicaSet or a Job: the middle of an owner chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Controller {
    /// `ReplicaSet` or `Job`.
    pub kind: String,
    /// Namespace and name.
    pub key: Key,
    /// Its own controller (a Deployment, a CronJob).
    pub owner: Option<Owner>,
}

/// The addresses behind a service (one EndpointSlice).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointSlice {
    /// Namespace and name of the slice.
    pub key: Key,
    /// The service it belongs to.
    pub service: String,
    /// Endpoint addresses.
    pub addresses: Vec<IpAddr>,
}

/// Any indexed object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Object {
    /// A pod.
    Pod(Pod),
    /// A node.
    Node(Node),
    /// A service.
    Service(Service),
    /// A ReplicaSet or Job.
    Controller(Controller),
    /// An EndpointSlice.
    EndpointSlice(EndpointSlice),
    /// A namespace.
    Namespace(Namespace),
    /// A NetworkPolicy.
    NetworkPolicy(NetworkPolicy),
}

impl Object {
    /// The `type` tag of each variant, as the feed carries it: an agent skips objects of any
    /// other type (a later version's), and refuses any other unreadable object.
    pub const TYPES: [&'static str; 7] = [
        "Pod",
        "Node",
        "Service",
        "Controller",
        "EndpointSlice",
        "Namespace",
        "NetworkPolicy",
    ];

    /// The kind of object, as a watcher lists it (`Pod`, `ReplicaSet`, `Job`, …).
    pub fn kind(&self) -> &str {
        match self {
            Object::Pod(_) => "Pod",
            Object::Node(_) => "Node",
            Object::Service(_) => "Service",
            Object::Controller(controller) => &controller.kind,
            Object::EndpointSlice(_) => "EndpointSlice",
            Object::Namespace(_) => "Namespace",
            Object::NetworkPolicy(_) => "NetworkPolicy",
        }
    }

    /// Its namespace and name (a node's namespace is empty): with [`Object::kind`], what
    /// identifies it.
    pub fn key(&self) -> Key {
        match self {
            Object::Pod(pod) => pod.key.clone(),
            Object::Node(node) => Key::new("", &node.name),
            Object::Service(service) => service.key.clone(),
            Object::Controller(controller) => controller.key.clone(),
            Object::EndpointSlice(slice) => slice.key.clone(),
            Object::Namespace(namespace) => Key::new("", &namespace.name),
            Object::NetworkPolicy(policy) => policy.key.clone(),
        }
    }
}
