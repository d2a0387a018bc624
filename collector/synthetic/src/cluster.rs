//! A made-up Kubernetes cluster and its traffic, fully attributed: for demos, UI tests and query
//! benchmarks (`spider generate`). Workloads depend on a few others (mostly in their namespace,
//! some across, DNS and external APIs), so the map has the shape of a real application. Each
//! record carries the verdict of the cluster's NetworkPolicies (none unless one is planted), as
//! enrichment's own evaluation gives it; pods are labelled `app: <workload>`.

use std::net::{IpAddr, Ipv4Addr};

use spider_collector::records::{
    EndpointClass, EndpointMeta, NetworkUsage, OwnerKind, Timestamp, Transport,
};
use spider_kube::model::Key;
use spider_kube::policy::{
    Conversation, LabelSelector, Labels, NetworkPolicy, Peer, PodEnd, Policies, PolicyEnd, PortRef,
    PortRule, Protocol, Rule,
};

use crate::generator::Random;

/// How big the cluster is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// Nodes.
    pub nodes: u32,
    /// Application namespaces (kube-system comes on top).
    pub namespaces: u32,
    /// Workloads per namespace.
    pub workloads: u32,
    /// Pods per workload.
    pub pods: u32,
}

impl Shape {
    /// Pods in the cluster (DNS included).
    pub fn pod_count(&self) -> u32 {
        self.namespaces * self.workloads * self.pods + 2
    }
}

#[derive(Debug, Clone)]
struct Endpoint {
    ip: IpAddr,
    meta: EndpointMeta,
    labels: Labels,
    port: u16,
    transport: Transport,
}

impl Endpoint {
    /// The end as NetworkPolicies see it.
    fn policy_end(&self) -> PolicyEnd<'_> {
        let pod = (self.meta.class == EndpointClass::Pod).then(|| PodEnd {
            namespace: self.meta.namespace.as_deref().unwrap_or_default(),
            labels: &self.labels,
            namespace_labels: None,
            ports: &[],
            node: self.meta.node.as_deref(),
        });
        PolicyEnd {
            ip: self.ip,
            pod,
            node: None,
        }
    }
}

/// The `app` label of a workload's pods.
fn app_label(name: &str) -> Labels {
    Labels::from([("app".to_owned(), name.to_owned())])
}

#[derive(Debug, Clone)]
struct Workload {
    pods: Vec<Endpoint>,
    depends_on: Vec<usize>,
}

/// The cluster: workloads with their pods and dependencies, and its NetworkPolicies.
pub struct Cluster {
    workloads: Vec<Workload>,
    policies: Policies,
    random: Random,
}

const KINDS: [OwnerKind; 5] = [
    OwnerKind::Deployment,
    OwnerKind::StatefulSet,
    OwnerKind::DaemonSet,
    OwnerKind::CronJob,
    OwnerKind::Pod,
];
const NAMES: [&str; 12] = [
    "api", "web", "cart", "db", "cache", "queue", "worker", "auth", "search", "billing", "mailer",
    "report",
];

fn pod_ip(index: u32) -> IpAddr {
    let n = index + 10;
    IpAddr::V4(Ipv4Addr::new(10, 244, (n >> 8) as u8, n as u8))
}

impl Cluster {
    /// A cluster of `shape`, the same for the same `seed`.
    pub fn new(shape: Shape, seed: u64) -> Self {
        let mut random = Random::new(seed);
        let mut workloads = Vec::new();
        let mut next_ip = 0;
        let node = |i: u32| format!("node-{}", i % shape.nodes.max(1));
        let dns = Workload {
            pods: (0..2)
                .map(|i| {
                    next_ip += 1;
                    Endpoint {
                        ip: pod_ip(next_ip),
                        meta: EndpointMeta {
                            namespace: Some("kube-system".into()),
                            pod: Some(format!("coredns-7d9f-{i}")),
                            node: Some(node(i)),
                            owner_kind: Some(OwnerKind::Deployment),
                            owner_name: Some("coredns".into()),
                            class: EndpointClass::Pod,
                            dns_name: None,
                        },
                        labels: app_label("coredns"),
                        port: 53,
                        transport: Transport::Udp,
                    }
                })
                .collect(),
            depends_on: Vec::new(),
        };
        workloads.push(dns);
        let external = Workload {
            pods: vec![Endpoint {
                ip: IpAddr::V4(Ipv4Addr::new(203, 0, 113, 10)),
                meta: EndpointMeta {
                    class: EndpointClass::External,
                    dns_name: Some("api.payments.example".into()),
                    ..EndpointMeta::default()
                },
                labels: Labels::new(),
                port: 443,
                transport: Transport::Tcp,
            }],
            depends_on: Vec::new(),
        };
        workloads.push(external);
        for namespace in 0..shape.namespaces {
            let namespace_name = format!("team-{namespace}");
            let first = workloads.len();
            for w in 0..shape.workloads {
                let kind = KINDS[(random.below(100) as usize * KINDS.len()) / 100];
                let name = format!(
                    "{}-{w}",
                    NAMES[(namespace * shape.workloads + w) as usize % NAMES.len()]
                );
                let port = [80, 8080, 5432, 6379, 9090][random.below(5) as usize];
                let pods = (0..shape.pods)
                    .map(|p| {
                        next_ip += 1;
                        let pod = match kind {
                            OwnerKind::StatefulSet => format!("{name}-{p}"),
                            OwnerKind::Pod => name.clone(),
                            _ => format!("{name}-{:05x}", random.below(0xfffff)),
                        };
                        Endpoint {
                            ip: pod_ip(next_ip),
                            meta: EndpointMeta {
                                namespace: Some(namespace_name.clone()),
                                pod: Some(pod),
                                node: Some(node(next_ip)),
                                owner_kind: Some(kind),
                                owner_name: Some(name.clone()),
                                class: EndpointClass::Pod,
                                dns_name: None,
                            },
                            labels: app_label(&name),
                            port,
                            transport: Transport::Tcp,
                        }
                    })
                    .collect();
                workloads.push(Workload {
                    pods,
                    depends_on: vec![0],
                });
            }
            let last = workloads.len();
            for (offset, workload) in workloads[first..last].iter_mut().enumerate() {
                let w = first + offset;
                for _ in 0..1 + random.below(2) {
                    let target = first + random.below((last - first) as u64) as usize;
                    if target != w {
                        workload.depends_on.push(target);
                    }
                }
                if random.below(5) == 0 && first > 2 {
                    workload
                        .depends_on
                        .push(2 + random.below((first - 2) as u64) as usize);
                }
                if random.below(10) == 0 {
                    workload.depends_on.push(1);
                }
            }
        }
        Self {
            workloads,
            policies: Policies::default(),
            random,
        }
    }

    /// Plants a NetworkPolicy that [`Self::planted`]'s new edge breaks: the last workload takes
    /// ingress on its own port only, from every pod and address, so its usual clients stay
    /// allowed and the new edge on port 7443 is denied.
    pub fn plant_policy(&mut self) {
        let Some(last) = self.workloads.last().map(|w| &w.pods[0]) else {
            return;
        };
        let (Some(namespace), Some(name)) = (&last.meta.namespace, &last.meta.owner_name) else {
            return;
        };
        let anywhere = vec![
            Peer::Pods {
                pods: None,
                namespaces: Some(LabelSelector::default()),
            },
            Peer::Block {
                cidr: "0.0.0.0/0".parse().expect("a block"),
                except: Vec::new(),
            },
        ];
        self.policies.apply(NetworkPolicy {
            key: Key::new(namespace, format!("{name}-on-{}", last.port)),
            pod_selector: LabelSelector {
                match_labels: app_label(name),
                match_expressions: Vec::new(),
            },
            ingress: Some(vec![Rule {
                peers: anywhere,
                ports: vec![PortRule {
                    protocol: Protocol::Tcp,
                    port: Some(PortRef::Number(last.port)),
                    end_port: None,
                }],
            }]),
            egress: None,
        });
    }

    /// A record's verdict and policies, as enrichment would set them.
    fn judge(&self, record: &mut NetworkUsage, client: &Endpoint, server: &Endpoint) {
        let verdict = self.policies.verdict(&Conversation {
            client: client.policy_end(),
            server: server.policy_end(),
            port: record.server_port,
            transport: record.transport,
        });
        record.policy = verdict.as_ref().map(|verdict| verdict.verdict);
        record.policy_by = verdict.and_then(|verdict| verdict.by_names());
    }

    /// What an anomaly detector should flag, at the end of a stretch ending at `end`: in the
    /// minute 5 minutes before it, the first application workload floods DNS (5,000 queries a
    /// pod) and the second sends 300 MiB to the external API; from 20 minutes before it, the
    /// first calls the last workload on port 7443, an edge never seen before — and one the
    /// policy of [`Self::plant_policy`], when planted, denies.
    pub fn planted(&self, end: Timestamp) -> Vec<NetworkUsage> {
        let minute = |before: i64| end.plus_micros(-before * 60_000_000);
        let record = |at: i64,
                      client: &Endpoint,
                      server: &Endpoint,
                      port: u16,
                      messages: u64,
                      bytes: u64| {
            let mut usage = NetworkUsage {
                bucket_start: minute(at),
                reporter: client.meta.node.clone().unwrap_or_default(),
                client_ip: client.ip,
                server_ip: server.ip,
                server_port: port,
                transport: server.transport,
                bytes_to_server: bytes / 4,
                bytes_to_client: bytes - bytes / 4,
                messages_to_server: messages,
                messages_to_client: messages,
                packets_to_server: messages,
                packets_to_client: messages,
                client: client.meta.clone(),
                server: server.meta.clone(),
                ..NetworkUsage::default()
            };
            self.judge(&mut usage, client, server);
            usage
        };
        let (Some(first), Some(second), Some(last)) = (
            self.workloads.get(2),
            self.workloads.get(3),
            self.workloads.last(),
        ) else {
            return Vec::new();
        };
        let (dns, external) = (&self.workloads[0].pods[0], &self.workloads[1].pods[0]);
        let mut records: Vec<NetworkUsage> = first
            .pods
            .iter()
            .map(|pod| record(5, pod, dns, 53, 5_000, 5_000 * 80))
            .collect();
        records.push(record(5, &second.pods[0], external, 443, 20_000, 300 << 20));
        records.extend((1..=20).map(|before| {
            let mut server = last.pods[0].clone();
            server.transport = Transport::Tcp;
            record(before, &first.pods[0], &server, 7443, 10, 4_000)
        }));
        records
    }

    /// One minute of traffic: every pod talks to one pod of each workload it depends on.
    pub fn minute(&mut self, bucket_start: Timestamp, reporter_nodes: u32) -> Vec<NetworkUsage> {
        let mut records = Vec::new();
        for index in 0..self.workloads.len() {
            for client_index in 0..self.workloads[index].pods.len() {
                for dependency in self.workloads[index].depends_on.clone() {
                    let targets = &self.workloads[dependency].pods;
                    let server = targets[self.random.below(targets.len() as u64) as usize].clone();
                    let client = &self.workloads[index].pods[client_index];
                    let messages_to_server = 1 + self.random.below(50);
                    let messages_to_client = if server.transport == Transport::Udp {
                        messages_to_server
                    } else {
                        1 + self.random.below(50)
                    };
                    let bytes_to_server = messages_to_server * (60 + self.random.below(900));
                    let bytes_to_client = messages_to_client * (60 + self.random.below(4000));
                    let mut usage = NetworkUsage {
                        bucket_start,
                        reporter: format!(
                            "node-{}",
                            self.random.below(u64::from(reporter_nodes.max(1)))
                        ),
                        client_ip: client.ip,
                        server_ip: server.ip,
                        server_port: server.port,
                        transport: server.transport,
                        bytes_to_server,
                        bytes_to_client,
                        messages_to_server,
                        messages_to_client,
                        packets_to_server: messages_to_server + bytes_to_server / 1448,
                        packets_to_client: messages_to_client + bytes_to_client / 1448,
                        client: client.meta.clone(),
                        server: server.meta.clone(),
                        ..NetworkUsage::default()
                    };
                    self.judge(&mut usage, client, &server);
                    records.push(usage);
                }
            }
        }
        records
    }
}
