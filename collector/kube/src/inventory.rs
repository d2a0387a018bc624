//! The static inventory: a YAML file describing nodes, workloads with their pods, services and
//! named external addresses, for hosts outside Kubernetes and for the local demo; namespaces,
//! labels and NetworkPolicies (the API's own manifests) too, so conversations get their policy
//! verdicts. It feeds the same index as the Kubernetes API does.
//!
//! ```yaml
//! nodes:
//!   - { name: laptop, addresses: [192.168.1.20, 127.0.0.1] }
//! workloads:
//!   - namespace: shop
//!     kind: Deployment          # Deployment, DaemonSet, StatefulSet, CronJob, Job, ReplicaSet, Pod
//!     name: web
//!     pods:
//!       - { name: web-1, node: laptop, ips: [10.0.0.5] }
//!     labels: { app: web }      # its pods' labels (a pod's own `labels` add to them)
//!     ports: [{ name: http, port: 8080 }]   # named container ports (protocol: TCP by default)
//! services:
//!   - { namespace: shop, name: web, cluster_ips: [10.96.0.10], endpoints: [10.0.0.5] }
//! external:
//!   - { ip: 93.184.215.14, name: example.com }
//! namespaces:
//!   - { name: shop, labels: { team: shop } }
//! network_policies:             # NetworkPolicy manifests, as `kubectl apply` takes them
//!   - metadata: { namespace: shop, name: web-from-anywhere }
//!     spec:
//!       podSelector: { matchLabels: { app: web } }
//!       ingress: [{}]
//! ```

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::RwLock;
use std::time::SystemTime;

use k8s_openapi::api::networking::v1::NetworkPolicy as KubeNetworkPolicy;
use serde::Deserialize;
use spider_collector::records::OwnerKind;

use crate::index::Index;
use crate::kubernetes::convert;
use crate::model::{EndpointSlice, Key, Node, Object, Owner, Pod, Service};
use crate::policy::{Labels, NamedPort, Namespace, Protocol};

/// The inventory file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Inventory {
    /// Nodes (hosts) and their addresses.
    pub nodes: Vec<InventoryNode>,
    /// Workloads and their pods.
    pub workloads: Vec<InventoryWorkload>,
    /// Services.
    pub services: Vec<InventoryService>,
    /// Names of addresses outside.
    pub external: Vec<InventoryName>,
    /// Namespaces with labels (a namespace is known by its name without being listed here).
    pub namespaces: Vec<Namespace>,
    /// NetworkPolicies, as the API takes them (a missing namespace is `default`); without this
    /// key the inventory says nothing of policies, and usage records get no verdict.
    pub network_policies: Option<Vec<KubeNetworkPolicy>>,
}

/// A node.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InventoryNode {
    /// Name.
    pub name: String,
    /// Addresses.
    #[serde(default)]
    pub addresses: Vec<IpAddr>,
}

/// A workload.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InventoryWorkload {
    /// Namespace.
    pub namespace: String,
    /// Kind: a workload kind ([`OwnerKind::is_workload`]).
    #[serde(deserialize_with = "OwnerKind::deserialize_workload")]
    pub kind: OwnerKind,
    /// Name.
    pub name: String,
    /// Its pods.
    #[serde(default)]
    pub pods: Vec<InventoryPod>,
    /// Its pods' labels.
    #[serde(default)]
    pub labels: Labels,
    /// Its pods' named container ports, for NetworkPolicy rules that name ports.
    #[serde(default)]
    pub ports: Vec<InventoryPort>,
}

/// A named container port.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InventoryPort {
    /// Its name.
    pub name: String,
    /// The port.
    pub port: u16,
    /// `TCP` (default), `UDP` or `SCTP`.
    #[serde(default = "tcp")]
    pub protocol: String,
}

fn tcp() -> String {
    "TCP".into()
}

/// A pod of a workload.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InventoryPod {
    /// Name.
    pub name: String,
    /// Node.
    #[serde(default)]
    pub node: Option<String>,
    /// Addresses.
    #[serde(default)]
    pub ips: Vec<IpAddr>,
    /// Uses its node's addresses.
    #[serde(default)]
    pub host_network: bool,
    /// Labels of its own, on top of its workload's.
    #[serde(default)]
    pub labels: Labels,
}

/// A service.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InventoryService {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// ClusterIPs.
    #[serde(default)]
    pub cluster_ips: Vec<IpAddr>,
    /// Addresses behind it that are not pods.
    #[serde(default)]
    pub endpoints: Vec<IpAddr>,
}

/// An inventory file that could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InventoryError {
    /// The file could not be read.
    #[error("cannot read the inventory {}: {reason}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The system's reason.
        reason: String,
    },
    /// The file is not an inventory: its YAML, or a name, a kind or an address in it.
    #[error("inventory {}: {reason}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong, and where.
        reason: String,
    },
}

/// A named address.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InventoryName {
    /// The address.
    pub ip: IpAddr,
    /// Its name.
    pub name: String,
}

impl Inventory {
    /// Reads and checks an inventory file.
    pub fn load(path: &Path) -> Result<Self, InventoryError> {
        let text = std::fs::read_to_string(path).map_err(|e| InventoryError::Read {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        Self::parse(&text).map_err(|reason| InventoryError::Invalid {
            path: path.to_path_buf(),
            reason,
        })
    }

    /// Parses and checks inventory text.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut inventory: Self = serde_yaml_ng::from_str(text).map_err(|e| e.to_string())?;
        for (i, policy) in inventory.network_policies.iter_mut().flatten().enumerate() {
            let metadata = &mut policy.metadata;
            metadata
                .namespace
                .get_or_insert_with(|| "default".to_owned());
            if metadata.name.as_deref().is_none_or(str::is_empty) {
                return Err(format!("network_policies[{i}]: metadata.name is missing"));
            }
        }
        for workload in &inventory.workloads {
            if let Some(port) = workload
                .ports
                .iter()
                .find(|port| Protocol::parse(&port.protocol).is_none())
            {
                return Err(format!(
                    "workload {}/{}: port {}'s protocol {:?} is not TCP, UDP or SCTP",
                    workload.namespace, workload.name, port.name, port.protocol
                ));
            }
        }
        for policy in inventory.network_policies.iter().flatten() {
            let problems = convert::network_policy_problems(policy);
            if let Some(problem) = problems.first() {
                let metadata = &policy.metadata;
                let (namespace, name) = (metadata.namespace.as_deref(), metadata.name.as_deref());
                return Err(format!(
                    "network policy {}/{}: {problem}",
                    namespace.unwrap_or_default(),
                    name.unwrap_or_default()
                ));
            }
        }
        Ok(inventory)
    }

    /// Its namespaces and NetworkPolicies as index objects.
    fn policy_objects(&self) -> impl Iterator<Item = Object> + '_ {
        let namespaces = self.namespaces.iter().cloned().map(Object::Namespace);
        let policies = self.network_policies.iter().flatten();
        namespaces.chain(policies.map(convert::network_policy))
    }

    /// The objects the index is built from.
    pub fn objects(&self) -> Vec<Object> {
        let mut objects: Vec<Object> = self
            .nodes
            .iter()
            .map(|node| {
                Object::Node(Node {
                    name: node.name.clone(),
                    addresses: node.addresses.clone(),
                })
            })
            .collect();
        for workload in &self.workloads {
            let owner = (workload.kind != OwnerKind::Pod).then(|| Owner {
                kind: workload.kind.as_str().to_owned(),
                name: workload.name.clone(),
            });
            objects.extend(workload.pods.iter().map(|pod| {
                let mut labels = workload.labels.clone();
                labels.extend(pod.labels.clone());
                Object::Pod(Pod {
                    key: Key::new(&workload.namespace, &pod.name),
                    node: pod.node.clone(),
                    ips: pod.ips.clone(),
                    host_network: pod.host_network,
                    owner: owner.clone(),
                    created: 0,
                    labels,
                    ports: workload
                        .ports
                        .iter()
                        .filter_map(|port| {
                            Some(NamedPort {
                                name: port.name.clone(),
                                port: port.port,
                                protocol: Protocol::parse(&port.protocol)?,
                            })
                        })
                        .collect(),
                })
            }));
        }
        for service in &self.services {
            objects.push(Object::Service(Service {
                key: Key::new(&service.namespace, &service.name),
                cluster_ips: service.cluster_ips.clone(),
            }));
            if !service.endpoints.is_empty() {
                objects.push(Object::EndpointSlice(EndpointSlice {
                    key: Key::new(&service.namespace, &service.name),
                    service: service.name.clone(),
                    addresses: service.endpoints.clone(),
                }));
            }
        }
        objects.extend(self.policy_objects());
        objects
    }
}

/// The kinds of object an inventory holds: a load replaces each of them whole.
const INVENTORY_KINDS: [&str; 6] = [
    "Pod",
    "Node",
    "Service",
    "EndpointSlice",
    "Namespace",
    "NetworkPolicy",
];

/// An inventory file kept loaded into an index: read again whenever its modification time or
/// length changes (one `stat` a look, about a microsecond), each load replacing what the one before
/// said — pods no longer listed count as deleted then, and keep the index's grace period.
pub struct FollowedInventory {
    path: PathBuf,
    /// The file's modification time and length at the last load attempt; `None` before the
    /// first. The length too, as file systems stamp times coarsely (a few ms on ext4).
    seen: Option<Option<(SystemTime, u64)>>,
}

impl FollowedInventory {
    /// Follows the file at `path` (nothing is read yet).
    pub fn new(path: PathBuf) -> Self {
        Self { path, seen: None }
    }

    /// Loads the file into `index` when it changed since the last look (the first look always
    /// loads), at `now` (microseconds); returns what was loaded, or `None` when unchanged. A
    /// file that does not load leaves the index as it was, and is tried again once it changes.
    pub fn refresh(
        &mut self,
        index: &RwLock<Index>,
        now: i64,
    ) -> Result<Option<Inventory>, InventoryError> {
        let stamp = std::fs::metadata(&self.path)
            .and_then(|m| Ok((m.modified()?, m.len())))
            .ok();
        if self.seen == Some(stamp) {
            return Ok(None);
        }
        self.seen = Some(stamp);
        let inventory = Inventory::load(&self.path)?;
        let mut by_kind: BTreeMap<String, Vec<Object>> = INVENTORY_KINDS
            .iter()
            .map(|kind| ((*kind).to_owned(), Vec::new()))
            .collect();
        for object in inventory.objects() {
            by_kind
                .entry(object.kind().to_owned())
                .or_default()
                .push(object);
        }
        let mut index = index.write().unwrap_or_else(|p| p.into_inner());
        for (kind, objects) in by_kind {
            index.replace_kind(&kind, objects, now);
        }
        if inventory.network_policies.is_none() {
            index.forget_policies();
        }
        Ok(Some(inventory))
    }
}
