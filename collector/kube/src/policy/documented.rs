//! The evaluation held to the examples of the Kubernetes documentation's NetworkPolicy page
//! (kubernetes.io/docs/concepts/services-networking/network-policies, CC BY 4.0): each policy is
//! the page's manifest, read as the API watcher reads it, and each case a conversation the page
//! says is allowed or not; then the page's rules without an example of their own (a pod to
//! itself and to its node, named ports, expressions, defaulted `policyTypes`) and what it leaves
//! to the CNI (address blocks matching in-cluster addresses).

use std::net::IpAddr;

use k8s_openapi::api::networking::v1::NetworkPolicy as KubeNetworkPolicy;
use serde::Deserialize;
use spider_collector::records::Transport;

use crate::kubernetes::convert;
use crate::model::Object;
use crate::policy::{Conversation, Labels, NamedPort, PodEnd, Policies, PolicyEnd, Protocol};

/// A pod of the test cluster: name, namespace, labels, IP, node.
type TestPod = (
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
    &'static str,
    &'static str,
);

const PODS: [TestPod; 7] = [
    ("db", "default", &[("role", "db")], "10.244.0.10", "node-a"),
    (
        "frontend",
        "default",
        &[("role", "frontend")],
        "10.244.0.11",
        "node-a",
    ),
    (
        "worker",
        "default",
        &[("role", "worker")],
        "10.244.1.12",
        "node-b",
    ),
    (
        "project-app",
        "myproject",
        &[("role", "app")],
        "10.244.1.13",
        "node-b",
    ),
    (
        "stray-frontend",
        "other",
        &[("role", "frontend")],
        "10.244.1.14",
        "node-b",
    ),
    (
        "alice-client",
        "alice-ns",
        &[("role", "client")],
        "10.244.1.15",
        "node-b",
    ),
    (
        "alice-other",
        "alice-ns",
        &[("role", "server")],
        "10.244.1.16",
        "node-b",
    ),
];

/// Namespaces with labels beyond their name.
const NAMESPACES: [(&str, &[(&str, &str)]); 2] = [
    ("myproject", &[("project", "myproject")]),
    ("alice-ns", &[("user", "alice")]),
];

/// Nodes by address.
const NODES: [(&str, &str); 2] = [("192.168.0.1", "node-a"), ("192.168.0.2", "node-b")];

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

struct World {
    policies: Policies,
    pod_labels: Vec<Labels>,
    namespace_labels: Vec<(String, Labels)>,
    db_ports: Vec<NamedPort>,
}

impl World {
    /// The cluster with the policies of `manifests` (YAML documents).
    fn with(manifests: &str) -> Self {
        let mut policies = Policies::default();
        for document in serde_yaml_ng::Deserializer::from_str(manifests) {
            let mut policy = KubeNetworkPolicy::deserialize(document).expect("a manifest");
            policy
                .metadata
                .namespace
                .get_or_insert_with(|| "default".into());
            let Object::NetworkPolicy(policy) = convert::network_policy(&policy) else {
                unreachable!("a policy converts to a policy");
            };
            policies.apply(policy);
        }
        Self {
            policies,
            pod_labels: PODS.iter().map(|pod| labels(pod.2)).collect(),
            namespace_labels: NAMESPACES
                .iter()
                .map(|(name, pairs)| ((*name).to_owned(), labels(pairs)))
                .collect(),
            db_ports: vec![NamedPort {
                name: "redis".into(),
                port: 6379,
                protocol: Protocol::Tcp,
            }],
        }
    }

    /// An end: a pod by name, else an address (a node's, or outside).
    fn end(&self, name: &str) -> PolicyEnd<'_> {
        if let Some(index) = PODS.iter().position(|pod| pod.0 == name) {
            let (pod, namespace, _, ip, node) = PODS[index];
            return PolicyEnd {
                ip: ip.parse().unwrap(),
                pod: Some(PodEnd {
                    namespace,
                    labels: &self.pod_labels[index],
                    namespace_labels: self
                        .namespace_labels
                        .iter()
                        .find(|(n, _)| n == namespace)
                        .map(|(_, l)| l),
                    ports: if pod == "db" { &self.db_ports } else { &[] },
                    node: Some(node),
                }),
                node: None,
            };
        }
        let ip: IpAddr = name.parse().expect("a pod name or an address");
        PolicyEnd {
            ip,
            pod: None,
            node: NODES
                .iter()
                .find(|(address, _)| address.parse::<IpAddr>() == Ok(ip))
                .map(|(_, node)| *node),
        }
    }

    /// The verdict on `client` reaching `server` on `port`, and the policies named (`untold`
    /// when it rests on the CNI).
    fn verdict(&self, client: &str, server: &str, port: u16, transport: Transport) -> String {
        let verdict = self.policies.verdict(&Conversation {
            client: self.end(client),
            server: self.end(server),
            port,
            transport,
        });
        let Some(verdict) = verdict else {
            return "untold".into();
        };
        let by = verdict.by_names().unwrap_or_default();
        format!("{} {by}", verdict.verdict.as_str())
            .trim_end()
            .to_owned()
    }
}

use Transport::{Tcp, Udp};

/// Checks each case: (client, server, port, transport, expected verdict and policies).
fn check(world: &World, cases: &[(&str, &str, u16, Transport, &str)]) {
    for (client, server, port, transport, expected) in cases {
        assert_eq!(
            world.verdict(client, server, *port, *transport),
            *expected,
            "{client} → {server}:{port}/{}",
            transport.as_str()
        );
    }
}

/// The page's first example, `test-network-policy`.
const TEST_NETWORK_POLICY: &str = "
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: { name: test-network-policy, namespace: default }
spec:
  podSelector: { matchLabels: { role: db } }
  policyTypes: [Ingress, Egress]
  ingress:
  - from:
    - ipBlock: { cidr: 172.17.0.0/16, except: [172.17.1.0/24] }
    - namespaceSelector: { matchLabels: { project: myproject } }
    - podSelector: { matchLabels: { role: frontend } }
    ports:
    - { protocol: TCP, port: 6379 }
  egress:
  - to:
    - ipBlock: { cidr: 10.0.0.0/24 }
    ports:
    - { protocol: TCP, port: 5978 }
";

#[test]
fn the_pages_first_example_isolates_db_both_ways() {
    let world = World::with(TEST_NETWORK_POLICY);
    let by = "default/test-network-policy";
    check(
        &world,
        &[
            // Ingress: frontend pods of its namespace, any pod of a myproject namespace, the block.
            ("frontend", "db", 6379, Tcp, &format!("allowed {by}")),
            ("project-app", "db", 6379, Tcp, &format!("allowed {by}")),
            ("172.17.0.5", "db", 6379, Tcp, &format!("allowed {by}")),
            ("172.17.1.5", "db", 6379, Tcp, &format!("denied {by}")),
            ("frontend", "db", 6380, Tcp, &format!("denied {by}")),
            ("frontend", "db", 6379, Udp, &format!("denied {by}")),
            // A podSelector alone means the policy's namespace.
            ("stray-frontend", "db", 6379, Tcp, &format!("denied {by}")),
            ("worker", "db", 6379, Tcp, &format!("denied {by}")),
            // Egress: 10.0.0.0/24 on TCP 5978 only.
            ("db", "10.0.0.7", 5978, Tcp, &format!("allowed {by}")),
            ("db", "10.0.0.7", 5979, Tcp, &format!("denied {by}")),
            ("db", "8.8.8.8", 5978, Tcp, &format!("denied {by}")),
            ("db", "frontend", 80, Tcp, &format!("denied {by}")),
            // Nothing selects these ends.
            ("worker", "frontend", 80, Tcp, "unrestricted"),
            ("frontend", "8.8.8.8", 443, Tcp, "unrestricted"),
        ],
    );
}

#[test]
fn default_deny_and_allow_all_mean_what_the_page_says() {
    let deny_ingress = "
metadata: { name: default-deny-ingress }
spec: { podSelector: {}, policyTypes: [Ingress] }
";
    check(
        &World::with(deny_ingress),
        &[
            (
                "worker",
                "frontend",
                80,
                Tcp,
                "denied default/default-deny-ingress",
            ),
            (
                "8.8.8.8",
                "db",
                6379,
                Tcp,
                "denied default/default-deny-ingress",
            ),
            // It does not restrict egress, nor other namespaces.
            ("frontend", "8.8.8.8", 443, Tcp, "unrestricted"),
            ("worker", "project-app", 80, Tcp, "unrestricted"),
        ],
    );
    let allow_ingress = "
metadata: { name: allow-all-ingress }
spec: { podSelector: {}, ingress: [{}], policyTypes: [Ingress] }
";
    check(
        &World::with(&format!("{deny_ingress}---{allow_ingress}")),
        &[(
            "worker",
            "frontend",
            80,
            Tcp,
            "allowed default/allow-all-ingress",
        )],
    );
    let deny_egress = "
metadata: { name: default-deny-egress }
spec: { podSelector: {}, policyTypes: [Egress] }
";
    check(
        &World::with(deny_egress),
        &[
            // The page warns: DNS too.
            (
                "frontend",
                "10.96.0.10",
                53,
                Udp,
                "denied default/default-deny-egress",
            ),
            (
                "frontend",
                "worker",
                80,
                Tcp,
                "denied default/default-deny-egress",
            ),
            ("project-app", "frontend", 80, Tcp, "unrestricted"),
        ],
    );
    let allow_egress = "
metadata: { name: allow-all-egress }
spec: { podSelector: {}, egress: [{}], policyTypes: [Egress] }
";
    check(
        &World::with(&format!("{deny_egress}---{allow_egress}")),
        &[(
            "frontend",
            "8.8.8.8",
            443,
            Tcp,
            "allowed default/allow-all-egress",
        )],
    );
    let deny_all = "
metadata: { name: default-deny-all }
spec: { podSelector: {}, policyTypes: [Ingress, Egress] }
";
    check(
        &World::with(deny_all),
        &[
            (
                "frontend",
                "worker",
                80,
                Tcp,
                "denied default/default-deny-all",
            ),
            (
                "project-app",
                "worker",
                80,
                Tcp,
                "denied default/default-deny-all",
            ),
            (
                "worker",
                "8.8.8.8",
                443,
                Tcp,
                "denied default/default-deny-all",
            ),
        ],
    );
    let egress_but_not_ingress = "
metadata: { name: allow-egress-deny-ingress }
spec: { podSelector: {}, policyTypes: [Egress, Ingress], egress: [{}], ingress: [] }
";
    check(
        &World::with(egress_but_not_ingress),
        &[
            (
                "frontend",
                "8.8.8.8",
                443,
                Tcp,
                "allowed default/allow-egress-deny-ingress",
            ),
            (
                "8.8.8.8",
                "frontend",
                80,
                Tcp,
                "denied default/allow-egress-deny-ingress",
            ),
        ],
    );
}

#[test]
fn port_ranges_namespaces_by_name_and_the_and_or_of_selectors() {
    let multi_port = "
metadata: { name: multi-port-egress, namespace: default }
spec:
  podSelector: { matchLabels: { role: db } }
  policyTypes: [Egress]
  egress:
  - to: [{ ipBlock: { cidr: 10.0.0.0/24 } }]
    ports: [{ protocol: TCP, port: 32000, endPort: 32768 }]
";
    check(
        &World::with(multi_port),
        &[
            (
                "db",
                "10.0.0.7",
                32000,
                Tcp,
                "allowed default/multi-port-egress",
            ),
            (
                "db",
                "10.0.0.7",
                32768,
                Tcp,
                "allowed default/multi-port-egress",
            ),
            (
                "db",
                "10.0.0.7",
                32769,
                Tcp,
                "denied default/multi-port-egress",
            ),
            (
                "db",
                "10.0.0.7",
                31999,
                Tcp,
                "denied default/multi-port-egress",
            ),
        ],
    );
    // A namespace targeted by the label the API server puts on every namespace, its name.
    let by_name = "
metadata: { name: from-myproject }
spec:
  podSelector: { matchLabels: { role: db } }
  ingress:
  - from: [{ namespaceSelector: { matchLabels: { kubernetes.io/metadata.name: myproject } } }]
";
    check(
        &World::with(by_name),
        &[
            (
                "project-app",
                "db",
                6379,
                Tcp,
                "allowed default/from-myproject",
            ),
            ("frontend", "db", 6379, Tcp, "denied default/from-myproject"),
        ],
    );
    // One element with both selectors: pods with role=client in namespaces of user alice.
    let and = "
metadata: { name: and }
spec:
  podSelector: { matchLabels: { role: db } }
  ingress:
  - from:
    - namespaceSelector: { matchLabels: { user: alice } }
      podSelector: { matchLabels: { role: client } }
";
    check(
        &World::with(and),
        &[
            ("alice-client", "db", 6379, Tcp, "allowed default/and"),
            ("alice-other", "db", 6379, Tcp, "denied default/and"),
            ("frontend", "db", 6379, Tcp, "denied default/and"),
        ],
    );
    // Two elements: the namespaces of alice, or role=client pods of the policy's namespace.
    let or = "
metadata: { name: or }
spec:
  podSelector: { matchLabels: { role: db } }
  ingress:
  - from:
    - namespaceSelector: { matchLabels: { user: alice } }
    - podSelector: { matchLabels: { role: client } }
";
    check(
        &World::with(or),
        &[
            ("alice-other", "db", 6379, Tcp, "allowed default/or"),
            ("alice-client", "db", 6379, Tcp, "allowed default/or"),
            ("frontend", "db", 6379, Tcp, "denied default/or"),
        ],
    );
}

#[test]
fn a_pod_reaches_itself_and_its_node_whatever_the_rules_and_named_ports_are_the_servers() {
    let deny_all = "
metadata: { name: default-deny-all }
spec: { podSelector: {}, policyTypes: [Ingress, Egress] }
";
    check(
        &World::with(deny_all),
        &[
            ("db", "db", 6379, Tcp, "allowed"),
            // db runs on node-a.
            ("192.168.0.1", "db", 6379, Tcp, "allowed"),
            (
                "192.168.0.2",
                "db",
                6379,
                Tcp,
                "denied default/default-deny-all",
            ),
            ("db", "192.168.0.1", 10250, Tcp, "allowed"),
        ],
    );
    let named = "
metadata: { name: redis-by-name }
spec:
  podSelector: { matchLabels: { role: db } }
  ingress: [{ ports: [{ port: redis }] }]
";
    check(
        &World::with(named),
        &[
            ("frontend", "db", 6379, Tcp, "allowed default/redis-by-name"),
            ("frontend", "db", 6380, Tcp, "denied default/redis-by-name"),
        ],
    );
    // Matching expressions select as labels do; policies add up.
    let expressions = "
metadata: { name: not-workers }
spec:
  podSelector: { matchLabels: { role: db } }
  ingress:
  - from: [{ podSelector: { matchExpressions: [{ key: role, operator: NotIn, values: [worker] }] } }]
---
metadata: { name: workers-on-6379 }
spec:
  podSelector: { matchLabels: { role: db } }
  ingress:
  - from: [{ podSelector: { matchLabels: { role: worker } } }]
    ports: [{ port: 6379 }]
";
    check(
        &World::with(expressions),
        &[
            ("frontend", "db", 9000, Tcp, "allowed default/not-workers"),
            ("worker", "db", 6379, Tcp, "allowed default/workers-on-6379"),
            (
                "worker",
                "db",
                9000,
                Tcp,
                "denied default/not-workers,default/workers-on-6379",
            ),
        ],
    );
}

#[test]
fn defaulted_policy_types_named_egress_ports_and_what_the_api_leaves_to_the_cni() {
    // No policyTypes: ingress always, egress because it has egress rules.
    let with_egress = "
metadata: { name: to-db-only }
spec:
  podSelector: { matchLabels: { role: frontend } }
  egress: [{ to: [{ podSelector: { matchLabels: { role: db } } }], ports: [{ port: redis }] }]
";
    check(
        &World::with(with_egress),
        &[
            // The named port is the destination pod's.
            ("frontend", "db", 6379, Tcp, "allowed default/to-db-only"),
            ("frontend", "worker", 6379, Tcp, "denied default/to-db-only"),
            ("frontend", "8.8.8.8", 443, Tcp, "denied default/to-db-only"),
            ("worker", "frontend", 80, Tcp, "denied default/to-db-only"),
        ],
    );
    // An empty egress list without policyTypes restricts ingress only; so does `policyTypes: []`.
    for manifest in [
        "metadata: { name: no-egress-rules }\nspec: { podSelector: {}, egress: [] }",
        "metadata: { name: no-egress-rules }\nspec: { podSelector: {}, policyTypes: [] }",
    ] {
        check(
            &World::with(manifest),
            &[
                ("frontend", "8.8.8.8", 443, Tcp, "unrestricted"),
                (
                    "worker",
                    "frontend",
                    80,
                    Tcp,
                    "denied default/no-egress-rules",
                ),
            ],
        );
    }
    // Whether a block matches a pod or a node by its address is the CNI's to say: no verdict,
    // unless the other end refuses anyway.
    let blocks = "
metadata: { name: from-the-pod-range }
spec:
  podSelector: { matchLabels: { role: db } }
  ingress: [{ from: [{ ipBlock: { cidr: 10.244.0.0/16 } }, { ipBlock: { cidr: 192.168.0.0/24 } }] }]
---
metadata: { name: worker-egress-nowhere, namespace: default }
spec: { podSelector: { matchLabels: { role: worker } }, policyTypes: [Egress] }
";
    check(
        &World::with(blocks),
        &[
            ("frontend", "db", 6379, Tcp, "untold"),
            ("192.168.0.2", "db", 6379, Tcp, "untold"),
            ("project-app", "db", 6379, Tcp, "untold"),
            (
                "worker",
                "db",
                6379,
                Tcp,
                "denied default/worker-egress-nowhere",
            ),
            (
                "8.8.8.8",
                "db",
                6379,
                Tcp,
                "denied default/from-the-pod-range",
            ),
        ],
    );
}
