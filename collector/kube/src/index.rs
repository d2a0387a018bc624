//! The index: who an address belonged to when a record was made.
//!
//! Pods are found by each of their IPs, nodes by their addresses, services by their ClusterIPs
//! and the endpoints behind them. An address can pass from pod to pod (IPs are reused), so each
//! keeps its tenancies in order of pod creation and a record goes to the tenant of its time. A
//! deleted pod stays for a grace period, so records that arrive late are still attributed.
//!
//! It also holds namespaces (their labels; a deleted one, for the same grace period as its
//! pods) and NetworkPolicies, and gives a conversation its verdict once both are listed.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use spider_collector::records::{EndpointClass, EndpointMeta, OwnerKind, PolicyVerdict, Transport};

use crate::model::{Controller, EndpointSlice, Key, Node, Object, Owner, Pod, Service};
use crate::policy::{Conversation, Labels, PodEnd, Policies, PolicyEnd, Verdict};

/// Usage records are stamped with the start of their minute, up to a minute before the traffic
/// of a pod created during it.
const MINUTE_SLACK_MICROS: i64 = 60_000_000;

/// A pod's `creationTimestamp` has whole seconds, and the pod gets its IP only after it is
/// created (its sandbox starts), so an instant within a second of a creation is still the
/// previous tenant's: the rounding and a node clock slightly ahead do not hand it to the new pod.
const CREATION_UNCERTAINTY_MICROS: i64 = 1_000_000;

/// When a record was made (microseconds), as its ends are matched to the pods that held them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordTime {
    /// The start of the minute the record sums up (usage): a pod created within that minute
    /// may own its traffic.
    Minute(i64),
    /// The record's own instant (a packet, a session's first packet, an HTTP exchange): the
    /// pod that held the address then, even if it is deleted and its IP reused since.
    Exact(i64),
}

impl RecordTime {
    /// The latest creation time of a pod that may own the record.
    fn latest_owner_start(self) -> i64 {
        match self {
            Self::Minute(start) => start + MINUTE_SLACK_MICROS,
            Self::Exact(at) => at - CREATION_UNCERTAINTY_MICROS,
        }
    }
}

/// A namespace's labels, and when its deletion was seen.
struct NamespaceEntry {
    labels: Labels,
    deleted_at: Option<i64>,
}

struct PodEntry {
    pod: Pod,
    /// When its deletion was seen (microseconds, wall clock).
    deleted_at: Option<i64>,
}

/// Sizes, for telemetry and the benchmark.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IndexSizes {
    /// Pods, deleted ones in their grace period included.
    pub pods: usize,
    /// Addresses with at least one pod tenancy.
    pub pod_addresses: usize,
    /// Nodes.
    pub nodes: usize,
    /// Services.
    pub services: usize,
    /// ReplicaSets and Jobs.
    pub controllers: usize,
    /// NetworkPolicies.
    pub policies: usize,
}

/// Address → metadata.
pub struct Index {
    pods: HashMap<Key, PodEntry>,
    /// Per address, the pods that held it, oldest first.
    tenants: HashMap<IpAddr, Vec<Key>>,
    nodes: HashMap<String, Node>,
    node_addresses: HashMap<IpAddr, String>,
    services: HashMap<Key, Service>,
    service_addresses: HashMap<IpAddr, Key>,
    controllers: Controllers,
    slices: HashMap<Key, EndpointSlice>,
    endpoint_addresses: HashMap<IpAddr, Key>,
    namespaces: HashMap<String, NamespaceEntry>,
    policies: Policies,
    /// Whether the source has listed namespaces and NetworkPolicies: until both, no verdict.
    namespaces_listed: bool,
    policies_listed: bool,
    grace_micros: i64,
}

impl Index {
    /// An empty index keeping deleted pods for `grace_micros`.
    pub fn new(grace_micros: i64) -> Self {
        Self {
            pods: HashMap::new(),
            tenants: HashMap::new(),
            nodes: HashMap::new(),
            node_addresses: HashMap::new(),
            services: HashMap::new(),
            service_addresses: HashMap::new(),
            controllers: Controllers::default(),
            slices: HashMap::new(),
            endpoint_addresses: HashMap::new(),
            namespaces: HashMap::new(),
            policies: Policies::default(),
            namespaces_listed: false,
            policies_listed: false,
            grace_micros,
        }
    }

    /// Adds or updates an object.
    pub fn apply(&mut self, object: Object) {
        match object {
            Object::Pod(pod) => self.apply_pod(pod),
            Object::Node(node) => {
                self.remove_node(&node.name);
                for address in &node.addresses {
                    self.node_addresses.insert(*address, node.name.clone());
                }
                self.nodes.insert(node.name.clone(), node);
            }
            Object::Service(service) => {
                self.remove_service(&service.key);
                for address in &service.cluster_ips {
                    self.service_addresses.insert(*address, service.key.clone());
                }
                self.services.insert(service.key.clone(), service);
            }
            Object::Controller(Controller { kind, key, owner }) => {
                self.controllers.insert(kind, key, owner);
            }
            Object::EndpointSlice(slice) => {
                self.remove_slice(&slice.key);
                let service = Key::new(&slice.key.namespace, &slice.service);
                for address in &slice.addresses {
                    self.endpoint_addresses.insert(*address, service.clone());
                }
                self.slices.insert(slice.key.clone(), slice);
            }
            Object::Namespace(namespace) => {
                let entry = NamespaceEntry {
                    labels: namespace.labels,
                    deleted_at: None,
                };
                self.namespaces.insert(namespace.name, entry);
            }
            Object::NetworkPolicy(policy) => self.policies.apply(policy),
        }
    }

    /// Removes an object, seen gone at `now` (microseconds): a pod lingers for the grace period.
    pub fn delete(&mut self, object: &Object, now: i64) {
        match object {
            Object::Pod(pod) => {
                if let Some(entry) = self.pods.get_mut(&pod.key) {
                    entry.deleted_at.get_or_insert(now);
                }
            }
            Object::Node(node) => {
                self.remove_node(&node.name);
            }
            Object::Service(service) => self.remove_service(&service.key),
            Object::Controller(controller) => {
                self.controllers.remove(&controller.kind, &controller.key);
            }
            Object::EndpointSlice(slice) => self.remove_slice(&slice.key),
            // Its pods linger for the grace period, and their namespace with them.
            Object::Namespace(namespace) => {
                if let Some(entry) = self.namespaces.get_mut(&namespace.name) {
                    entry.deleted_at.get_or_insert(now);
                }
            }
            Object::NetworkPolicy(policy) => self.policies.remove(&policy.key),
        }
    }

    /// Replaces every object of `kind` with `objects` (a watcher's complete list, after a start
    /// or an expired watch): what is no longer listed counts as deleted at `now`, so pods keep
    /// their grace period.
    pub fn replace_kind(&mut self, kind: &str, objects: Vec<Object>, now: i64) {
        match kind {
            "Namespace" => self.namespaces_listed = true,
            "NetworkPolicy" => self.policies_listed = true,
            _ => {}
        }
        let listed: HashSet<(String, Key)> = objects
            .iter()
            .map(|object| (object.kind().to_owned(), object.key()))
            .collect();
        let gone: Vec<Object> = self
            .objects_of(kind)
            .into_iter()
            .filter(|object| !listed.contains(&(kind.to_owned(), object.key())))
            .collect();
        for object in &gone {
            self.delete(object, now);
        }
        for object in objects {
            self.apply(object);
        }
    }

    /// The live objects of `kind`.
    fn objects_of(&self, kind: &str) -> Vec<Object> {
        match kind {
            "Pod" => self
                .pods
                .values()
                .filter(|entry| entry.deleted_at.is_none())
                .map(|entry| Object::Pod(entry.pod.clone()))
                .collect(),
            "Node" => self.nodes.values().cloned().map(Object::Node).collect(),
            "Service" => self
                .services
                .values()
                .cloned()
                .map(Object::Service)
                .collect(),
            "EndpointSlice" => self
                .slices
                .values()
                .cloned()
                .map(Object::EndpointSlice)
                .collect(),
            "Namespace" => self
                .namespaces
                .iter()
                .filter(|(_, entry)| entry.deleted_at.is_none())
                .map(|(name, entry)| {
                    Object::Namespace(crate::policy::Namespace {
                        name: name.clone(),
                        labels: entry.labels.clone(),
                    })
                })
                .collect(),
            "NetworkPolicy" => self
                .policies
                .all()
                .cloned()
                .map(Object::NetworkPolicy)
                .collect(),
            controller => self.controllers.of_kind(controller),
        }
    }

    /// Forgets pods deleted longer than the grace period before `now`.
    pub fn expire(&mut self, now: i64) {
        let grace = self.grace_micros;
        let expired: Vec<Key> = self
            .pods
            .iter()
            .filter(|(_, entry)| entry.deleted_at.is_some_and(|at| now - at >= grace))
            .map(|(key, _)| key.clone())
            .collect();
        for key in expired {
            if let Some(entry) = self.pods.remove(&key) {
                self.remove_tenancies(&key, &entry.pod.ips);
            }
        }
        self.namespaces
            .retain(|_, entry| entry.deleted_at.is_none_or(|at| now - at < grace));
    }

    /// Sizes of the index.
    pub fn sizes(&self) -> IndexSizes {
        IndexSizes {
            pods: self.pods.len(),
            pod_addresses: self.tenants.len(),
            nodes: self.nodes.len(),
            services: self.services.len(),
            controllers: self.controllers.len(),
            policies: self.policies.len(),
        }
    }

    /// Metadata of `address` for a record made at `at`, looked up at `now` (microseconds);
    /// `None` when nothing in the cluster has it.
    pub fn lookup(&self, address: &IpAddr, at: RecordTime, now: i64) -> Option<EndpointMeta> {
        if let Some(pod) = self.tenant(address, at, now) {
            let (owner_kind, owner_name) = self.top_owner(pod);
            return Some(EndpointMeta {
                namespace: Some(pod.key.namespace.clone()),
                pod: Some(pod.key.name.clone()),
                node: pod.node.clone(),
                owner_kind: Some(owner_kind),
                owner_name: Some(owner_name),
                class: EndpointClass::Pod,
                dns_name: None,
            });
        }
        if let Some(node) = self.node_addresses.get(address) {
            return Some(EndpointMeta {
                node: Some(node.clone()),
                owner_kind: Some(OwnerKind::Node),
                owner_name: Some(node.clone()),
                class: EndpointClass::Node,
                ..EndpointMeta::default()
            });
        }
        let service = self
            .service_addresses
            .get(address)
            .or_else(|| self.endpoint_addresses.get(address))?;
        Some(EndpointMeta {
            namespace: Some(service.namespace.clone()),
            owner_kind: Some(OwnerKind::Service),
            owner_name: Some(service.name.clone()),
            class: EndpointClass::Service,
            ..EndpointMeta::default()
        })
    }

    /// The NetworkPolicies' verdict on `client` reaching `server` on `port` over `transport`, for
    /// a record made at `at`: each end is the pod that held its address then, or a node; an
    /// address the index does not have is taken as outside the cluster, so the caller asks only
    /// for ends it knows to be outside. `None` when it cannot be told: a Service address or an
    /// endpoint behind one (the pod behind it is not known), namespaces or NetworkPolicies not
    /// listed by the source, or a verdict that rests on what the API leaves to the CNI.
    pub fn policy_verdict(
        &self,
        (client, server): (IpAddr, IpAddr),
        (port, transport): (u16, Transport),
        at: RecordTime,
        now: i64,
    ) -> Option<Verdict> {
        if !(self.namespaces_listed && self.policies_listed) {
            return None;
        }
        // No policy anywhere (most clusters): nothing to weigh, no end to look up again.
        if self.policies.is_empty()
            && ![client, server]
                .iter()
                .any(|address| self.is_service(&address.to_canonical()))
        {
            return Some(Verdict {
                verdict: PolicyVerdict::Unrestricted,
                by: Vec::new(),
            });
        }
        let conversation = Conversation {
            client: self.policy_end(client.to_canonical(), at, now)?,
            server: self.policy_end(server.to_canonical(), at, now)?,
            port,
            transport,
        };
        self.policies.verdict(&conversation)
    }

    /// An end as policies see it; `None` for a Service address.
    fn policy_end(&self, address: IpAddr, at: RecordTime, now: i64) -> Option<PolicyEnd<'_>> {
        if let Some(pod) = self.tenant(&address, at, now) {
            return Some(PolicyEnd {
                ip: address,
                pod: Some(PodEnd {
                    namespace: &pod.key.namespace,
                    labels: &pod.labels,
                    namespace_labels: self
                        .namespaces
                        .get(&pod.key.namespace)
                        .map(|entry| &entry.labels),
                    ports: &pod.ports,
                    node: pod.node.as_deref(),
                }),
                node: None,
            });
        }
        if self.is_service(&address) {
            return None;
        }
        Some(PolicyEnd {
            ip: address,
            pod: None,
            node: self.node_addresses.get(&address).map(String::as_str),
        })
    }

    /// Whether `address` is a Service's, or an endpoint behind one that is not a pod.
    fn is_service(&self, address: &IpAddr) -> bool {
        self.service_addresses.contains_key(address)
            || self.endpoint_addresses.contains_key(address)
    }

    /// Forgets the NetworkPolicies and that they were listed (an inventory that no longer says
    /// anything of them): no verdicts until a source lists them again.
    pub fn forget_policies(&mut self) {
        self.policies = Policies::default();
        self.policies_listed = false;
    }

    /// The live pods of a workload (kind and name as the logical map shows them: `Deployment`,
    /// `CronJob`, `Pod`, …) that are on `node` (or on no node in particular), with their
    /// addresses, by name. Host-network pods are left out: their address is the node's.
    pub fn pods_of(
        &self,
        namespace: &str,
        kind: OwnerKind,
        name: &str,
        node: &str,
    ) -> Vec<(String, Vec<IpAddr>)> {
        let mut pods: Vec<(String, Vec<IpAddr>)> = self
            .pods
            .values()
            .filter(|entry| entry.deleted_at.is_none() && !entry.pod.host_network)
            .map(|entry| &entry.pod)
            .filter(|pod| pod.key.namespace == namespace)
            .filter(|pod| pod.node.as_deref().is_none_or(|n| n == node))
            .filter(|pod| {
                let (owner_kind, owner_name) = self.top_owner(pod);
                owner_kind == kind && owner_name == name
            })
            .map(|pod| (pod.key.name.clone(), pod.ips.clone()))
            .collect();
        pods.sort();
        pods
    }

    /// The pod holding `address` at `at`: the newest tenant created by then (a minute-stamped
    /// record with a minute of slack), else the oldest; deleted pods only within their grace
    /// period.
    fn tenant(&self, address: &IpAddr, at: RecordTime, now: i64) -> Option<&Pod> {
        let latest_start = at.latest_owner_start();
        let alive = |key: &Key| {
            self.pods.get(key).filter(|entry| {
                entry
                    .deleted_at
                    .is_none_or(|deleted| now - deleted < self.grace_micros)
            })
        };
        // Newest first; the last live tenant met is the oldest, the answer when none started
        // by then.
        let mut oldest = None;
        for entry in self.tenants.get(address)?.iter().rev().filter_map(alive) {
            if entry.pod.created <= latest_start {
                return Some(&entry.pod);
            }
            oldest = Some(&entry.pod);
        }
        oldest
    }

    /// The workload above a pod: through its ReplicaSet to a Deployment, through its Job to a
    /// CronJob, or its DaemonSet/StatefulSet; a pod without a controller is its own workload.
    fn top_owner(&self, pod: &Pod) -> (OwnerKind, String) {
        let Some(owner) = &pod.owner else {
            return (OwnerKind::Pod, pod.key.name.clone());
        };
        let above = |kind: &str| {
            self.controllers
                .owner(kind, &pod.key.namespace, &owner.name)
        };
        match owner.kind.as_str() {
            "ReplicaSet" => match above("ReplicaSet") {
                Some(top) if top.kind == "Deployment" => (OwnerKind::Deployment, top.name.clone()),
                _ => (OwnerKind::ReplicaSet, owner.name.clone()),
            },
            "Job" => match above("Job") {
                Some(top) if top.kind == "CronJob" => (OwnerKind::CronJob, top.name.clone()),
                _ => (OwnerKind::Job, owner.name.clone()),
            },
            "Deployment" => (OwnerKind::Deployment, owner.name.clone()),
            "DaemonSet" => (OwnerKind::DaemonSet, owner.name.clone()),
            "StatefulSet" => (OwnerKind::StatefulSet, owner.name.clone()),
            "CronJob" => (OwnerKind::CronJob, owner.name.clone()),
            // Mirror pods (owned by their Node) and custom controllers: the pod stands alone.
            _ => (OwnerKind::Pod, pod.key.name.clone()),
        }
    }

    fn apply_pod(&mut self, pod: Pod) {
        let key = pod.key.clone();
        if let Some(old) = self.pods.remove(&key) {
            self.remove_tenancies(&key, &old.pod.ips);
        }
        if !pod.host_network {
            for address in &pod.ips {
                let tenants = self.tenants.entry(*address).or_default();
                tenants.push(key.clone());
                let pods = &self.pods;
                // Oldest first; the pod being applied is not in `pods` yet and is the newest.
                tenants.sort_by_key(|tenant| {
                    pods.get(tenant)
                        .map_or(pod.created, |entry| entry.pod.created)
                });
            }
        }
        self.pods.insert(
            key,
            PodEntry {
                pod,
                deleted_at: None,
            },
        );
    }

    fn remove_tenancies(&mut self, key: &Key, addresses: &[IpAddr]) {
        for address in addresses {
            if let Some(tenants) = self.tenants.get_mut(address) {
                tenants.retain(|tenant| tenant != key);
                if tenants.is_empty() {
                    self.tenants.remove(address);
                }
            }
        }
    }

    fn remove_node(&mut self, name: &str) {
        if let Some(node) = self.nodes.remove(name) {
            for address in node.addresses {
                if self.node_addresses.get(&address).is_some_and(|n| n == name) {
                    self.node_addresses.remove(&address);
                }
            }
        }
    }

    fn remove_service(&mut self, key: &Key) {
        if let Some(service) = self.services.remove(key) {
            for address in service.cluster_ips {
                if self.service_addresses.get(&address) == Some(key) {
                    self.service_addresses.remove(&address);
                }
            }
        }
    }

    fn remove_slice(&mut self, key: &Key) {
        if let Some(slice) = self.slices.remove(key) {
            let service = Key::new(&key.namespace, &slice.service);
            for address in slice.addresses {
                if self.endpoint_addresses.get(&address) == Some(&service) {
                    self.endpoint_addresses.remove(&address);
                }
            }
        }
    }
}

/// ReplicaSets and Jobs by kind, namespace and name, nested so a lookup borrows its keys instead
/// of building them (it happens for every pod end of every record).
#[derive(Default)]
struct Controllers(HashMap<String, HashMap<String, HashMap<String, Option<Owner>>>>);

impl Controllers {
    fn insert(&mut self, kind: String, key: Key, owner: Option<Owner>) {
        self.0
            .entry(kind)
            .or_default()
            .entry(key.namespace)
            .or_default()
            .insert(key.name, owner);
    }

    fn remove(&mut self, kind: &str, key: &Key) {
        if let Some(names) = self
            .0
            .get_mut(kind)
            .and_then(|namespaces| namespaces.get_mut(&key.namespace))
        {
            names.remove(&key.name);
        }
    }

    /// The controller above the `kind` called `name` in `namespace`, when it is known and has one.
    fn owner(&self, kind: &str, namespace: &str, name: &str) -> Option<&Owner> {
        self.0.get(kind)?.get(namespace)?.get(name)?.as_ref()
    }

    fn of_kind(&self, kind: &str) -> Vec<Object> {
        let Some(namespaces) = self.0.get(kind) else {
            return Vec::new();
        };
        namespaces
            .iter()
            .flat_map(|(namespace, names)| {
                names.iter().map(move |(name, owner)| {
                    Object::Controller(Controller {
                        kind: kind.to_owned(),
                        key: Key::new(namespace, name),
                        owner: owner.clone(),
                    })
                })
            })
            .collect()
    }

    fn len(&self) -> usize {
        self.0
            .values()
            .flat_map(|namespaces| namespaces.values())
            .map(HashMap::len)
            .sum()
    }
}
