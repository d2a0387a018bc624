//! Enrichment with 10,000 pods indexed: the memory the index takes (RSS growth while it is
//! built from pods, ReplicaSets, nodes and services as the API delivers them), beside the memory
//! the controller's store takes for the same cluster, and what one agent's (re)connection to the
//! controller costs (the listing's bytes, its encoding, and its decoding into a fresh index);
//! then records/s through the processor (both ends of usage records: mostly pods, some
//! services, nodes and external addresses, each judged against a NetworkPolicy per namespace),
//! on one core.
//!
//! `cargo bench -p spider-processor-k8s-attributes --bench enrich [-- PODS]`

use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use spider_collector::Factory;
use spider_collector::conformance;
use spider_collector::records::{Batch, NetworkUsage, Timestamp};
use spider_controller::store::Store;
use spider_kube::MetadataSource;
use spider_kube::feed::FeedEvent;
use spider_kube::index::{Index, RecordTime};
use spider_kube::model::{Controller, Key, Node, Object, Owner, Pod, Service};
use spider_kube::sink::ObjectSink;
use spider_processor_k8s_attributes::{K8S_ATTRIBUTES_PROCESSOR, K8sAttributesConfig};

const PODS_PER_NODE: usize = 50;
const PODS_PER_WORKLOAD: usize = 5;
const RECORDS: usize = 2_000_000;
const BATCH: usize = 4096;

fn pod_ip(i: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(0x0af4_0000 + i as u32))
}

fn node_ip(i: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(0xc0a8_0000 + i as u32))
}

fn service_ip(i: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(0x0a60_0000 + i as u32))
}

/// The cluster as the API would deliver it: nodes, Deployments' ReplicaSets, pods, services.
fn cluster(pods: usize) -> Vec<Object> {
    let workloads = pods / PODS_PER_WORKLOAD;
    let mut objects: Vec<Object> = (0..pods.div_ceil(PODS_PER_NODE))
        .map(|n| {
            Object::Node(Node {
                name: format!("node-{n}"),
                addresses: vec![node_ip(n)],
            })
        })
        .collect();
    for w in 0..workloads {
        let namespace = format!("team-{}", w % 40);
        objects.push(Object::Controller(Controller {
            kind: "ReplicaSet".into(),
            key: Key::new(&namespace, format!("app-{w}-7d9f8c6b5")),
            owner: Some(Owner {
                kind: "Deployment".into(),
                name: format!("app-{w}"),
            }),
        }));
        objects.push(Object::Service(Service {
            key: Key::new(&namespace, format!("app-{w}")),
            cluster_ips: vec![service_ip(w)],
        }));
    }
    for p in 0..pods {
        let w = p / PODS_PER_WORKLOAD;
        objects.push(Object::Pod(Pod {
            key: Key::new(
                format!("team-{}", w % 40),
                format!("app-{w}-7d9f8c6b5-{p:05}"),
            ),
            node: Some(format!("node-{}", p / PODS_PER_NODE)),
            ips: vec![pod_ip(p)],
            host_network: false,
            owner: Some(Owner {
                kind: "ReplicaSet".into(),
                name: format!("app-{w}-7d9f8c6b5"),
            }),
            created: 0,
            labels: [("app".to_owned(), format!("app-{w}"))].into(),
            ports: Vec::new(),
        }));
    }
    objects
}

/// Resident set size, bytes (Linux).
fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn main() {
    let pods: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(10_000);
    let objects = cluster(pods);
    let for_controller = objects.clone();
    let count = objects.len();
    let before = rss();
    let started = Instant::now();
    let mut index = Index::new(120_000_000);
    for object in objects {
        index.apply(object);
    }
    let built = started.elapsed();
    let grown = rss().saturating_sub(before);
    println!(
        "objects indexed      {count} in {:.1} ms",
        built.as_secs_f64() * 1e3
    );
    println!("index sizes          {:?}", index.sizes());
    println!(
        "index memory         {:.1} MB RSS growth ({:.0} bytes per pod)",
        grown as f64 / 1e6,
        grown as f64 / pods as f64
    );

    let lookups = 5_000_000;
    let started = Instant::now();
    let mut found = 0;
    for i in 0..lookups {
        found += usize::from(
            index
                .lookup(&pod_ip(i * 7919 % pods), RecordTime::Minute(0), 0)
                .is_some(),
        );
    }
    let seconds = started.elapsed().as_secs_f64();
    assert_eq!(found, lookups);
    println!(
        "index lookups        {:.1} M/s ({:.0} ns each)",
        lookups as f64 / seconds / 1e6,
        seconds / lookups as f64 * 1e9
    );
    controller_store(for_controller, pods);
    drop(index);

    // Through the processor, its index loaded from an inventory of the same cluster shape:
    // without NetworkPolicies, then with one a namespace, so every pod-to-pod record is judged.
    for policies in [false, true] {
        let (rate, per_record) = processor_rate(pods, policies);
        println!(
            "processor            {rate:.2} M records/s ({per_record:.0} ns per record, both ends), {} policies",
            if policies { 40 } else { 0 }
        );
    }
}

/// Records/s (millions) and ns per record through the processor, with or without policies.
fn processor_rate(pods: usize, policies: bool) -> (f64, f64) {
    let inventory = inventory_yaml(pods, policies);
    let path = std::env::temp_dir().join(format!(
        "spider-bench-inventory-{}.yaml",
        std::process::id()
    ));
    std::fs::write(&path, inventory).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let factory = K8S_ATTRIBUTES_PROCESSOR;
    let config = K8sAttributesConfig {
        source: MetadataSource::Static,
        inventory: Some(path.clone()),
        ..K8sAttributesConfig::default()
    };
    let mut processor = factory
        .create(config, conformance::context(&factory))
        .unwrap();
    runtime.block_on(processor.start()).unwrap();
    let batches: Vec<Batch> = (0..RECORDS / BATCH)
        .map(|b| Batch::Usage((0..BATCH).map(|i| record(b * BATCH + i, pods)).collect()))
        .collect();
    let records = batches.len() * BATCH;
    let started = Instant::now();
    let mut out = Vec::with_capacity(batches.len());
    runtime.block_on(async {
        for batch in batches {
            processor.process(batch, &mut out).await.unwrap();
        }
    });
    let seconds = started.elapsed().as_secs_f64();
    let _ = std::fs::remove_file(path);
    (
        records as f64 / seconds / 1e6,
        seconds / records as f64 * 1e9,
    )
}

/// The controller's store of the same cluster, and one agent's listing from it.
fn controller_store(objects: Vec<Object>, pods: usize) {
    let before = rss();
    let store = Store::new();
    // As the watchers deliver them: one complete list per kind.
    for kind in spider_kube::follower::KINDS {
        let of_kind = objects
            .iter()
            .filter(|o| o.kind() == kind)
            .cloned()
            .collect();
        store.replace_kind(kind, of_kind, 0);
    }
    drop(objects);
    let grown = rss().saturating_sub(before);
    println!(
        "controller store     {:.1} MB RSS growth ({:.0} bytes per pod), {} objects",
        grown as f64 / 1e6,
        grown as f64 / pods as f64,
        store.len()
    );
    let started = Instant::now();
    let mut encoded = Vec::new();
    for (kind, objects) in store.subscribe(None).listings {
        serde_json::to_writer(
            &mut encoded,
            &FeedEvent::<&Object>::ListStart { kind: kind.clone() },
        )
        .unwrap();
        encoded.push(b'\n');
        for object in &objects {
            serde_json::to_writer(&mut encoded, &FeedEvent::Listed { object: &**object }).unwrap();
            encoded.push(b'\n');
        }
        serde_json::to_writer(&mut encoded, &FeedEvent::<&Object>::ListEnd { kind }).unwrap();
        encoded.push(b'\n');
    }
    let encoding = started.elapsed();
    let started = Instant::now();
    let index = std::sync::RwLock::new(Index::new(120_000_000));
    let mut listed = Vec::new();
    for line in encoded
        .split(|&b| b == b'\n')
        .filter(|line| !line.is_empty())
    {
        match serde_json::from_slice::<FeedEvent<Object>>(line).unwrap() {
            FeedEvent::Listed { object } => listed.push(object),
            FeedEvent::ListEnd { kind } => {
                index.replace_kind(&kind, std::mem::take(&mut listed), 0)
            }
            _ => {}
        }
    }
    let decoding = started.elapsed();
    assert_eq!(index.read().unwrap().sizes().pods, pods);
    println!(
        "feed listing         {:.1} MB per agent connection, encoded in {:.0} ms, decoded into an index in {:.0} ms",
        encoded.len() as f64 / 1e6,
        encoding.as_secs_f64() * 1e3,
        decoding.as_secs_f64() * 1e3
    );
}

/// A usage record: a pod client, a server that is mostly a pod, else a service, node or outside.
fn record(i: usize, pods: usize) -> NetworkUsage {
    let server = match i % 10 {
        0 => service_ip(i % (pods / PODS_PER_WORKLOAD)),
        1 => node_ip(i % pods.div_ceil(PODS_PER_NODE)),
        2 => IpAddr::V4(Ipv4Addr::new(93, 184, 215, (i % 200) as u8)),
        _ => pod_ip(i * 31 % pods),
    };
    NetworkUsage {
        bucket_start: Timestamp::from_secs(1_795_240_800),
        client_ip: pod_ip(i * 7919 % pods),
        server_ip: server,
        ..NetworkUsage::default()
    }
}

/// The same cluster as an inventory file, with a NetworkPolicy a namespace or none.
fn inventory_yaml(pods: usize, policies: bool) -> String {
    let mut yaml = String::from("nodes:\n");
    for n in 0..pods.div_ceil(PODS_PER_NODE) {
        yaml += &format!("  - {{ name: node-{n}, addresses: [{}] }}\n", node_ip(n));
    }
    yaml += "workloads:\n";
    for w in 0..pods / PODS_PER_WORKLOAD {
        yaml += &format!(
            "  - namespace: team-{}\n    kind: Deployment\n    name: app-{w}\n    labels: {{ app: app-{w} }}\n    pods:\n",
            w % 40
        );
        for p in w * PODS_PER_WORKLOAD..(w + 1) * PODS_PER_WORKLOAD {
            yaml += &format!(
                "      - {{ name: app-{w}-{p:05}, node: node-{}, ips: [{}] }}\n",
                p / PODS_PER_NODE,
                pod_ip(p)
            );
        }
    }
    yaml += "services:\n";
    for w in 0..pods / PODS_PER_WORKLOAD {
        yaml += &format!(
            "  - {{ namespace: team-{}, name: app-{w}, cluster_ips: [{}] }}\n",
            w % 40,
            service_ip(w)
        );
    }
    // Each namespace takes ingress from its own pods only: every pod-to-pod record is judged.
    if policies {
        yaml += "network_policies:\n";
        for namespace in 0..40 {
            yaml += &format!(
                "  - metadata: {{ namespace: team-{namespace}, name: own-namespace }}\n    spec: {{ podSelector: {{}}, ingress: [{{ from: [{{ podSelector: {{}} }}] }}] }}\n"
            );
        }
    }
    yaml
}
