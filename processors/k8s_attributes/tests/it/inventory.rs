//! The processor with a static inventory: conformance, both ends of usage and capture records
//! attributed exactly, external ends named from host records, and bad inventories refused by
//! path.

use std::time::SystemTime;

use spider_collector::conformance;

use crate::support::{exchange, pod_meta, started, through, usage};
use spider_collector::ComponentConfig;
use spider_collector::records::{
    Batch, EndpointClass, EndpointMeta, HostName, NameSource, OwnerKind, Timestamp,
};
use spider_kube::MetadataSource;
use spider_processor_k8s_attributes::{K8S_ATTRIBUTES_PROCESSOR, K8sAttributesConfig};

const INVENTORY: &str = r#"
nodes:
  - { name: node-a, addresses: [192.168.5.1, 127.0.0.1] }
workloads:
  - namespace: shop
    kind: Deployment
    name: web
    pods:
      - { name: web-1, node: node-a, ips: [10.0.0.5, "fd00::5"] }
  - namespace: shop
    kind: StatefulSet
    name: db
    pods:
      - { name: db-0, node: node-a, ips: [10.0.0.6] }
  - namespace: infra
    kind: DaemonSet
    name: agent
    pods:
      - { name: agent-1, node: node-a, ips: [192.168.5.1], host_network: true }
services:
  - { namespace: shop, name: db, cluster_ips: [10.96.0.20] }
external:
  - { ip: 198.51.100.7, name: partner.example }
"#;

fn config_with(inventory: &str) -> K8sAttributesConfig {
    let path = spider_testkit::scratch("k8s-inventory").join("inventory.yaml");
    std::fs::write(&path, inventory).unwrap();
    K8sAttributesConfig {
        source: MetadataSource::Static,
        inventory: Some(path),
        ..K8sAttributesConfig::default()
    }
}

#[tokio::test]
async fn lifecycle_and_config_conform() {
    conformance::check_component(K8S_ATTRIBUTES_PROCESSOR, K8sAttributesConfig::default()).await;
    conformance::check_component(K8S_ATTRIBUTES_PROCESSOR, config_with(INVENTORY)).await;
}

#[tokio::test]
async fn both_ends_of_usage_records_are_attributed_from_the_inventory() {
    let mut processor = started(config_with(INVENTORY)).await;
    let records = vec![
        usage("10.0.0.5", "10.0.0.6", 1_795_240_800),
        usage("fd00::5", "10.96.0.20", 1_795_240_800),
        usage("::ffff:10.0.0.5", "192.168.5.1", 1_795_240_800),
        usage("127.0.0.1", "198.51.100.7", 1_795_240_800),
        usage("10.0.0.99", "203.0.113.50", 1_795_240_800),
    ];
    let Batch::Usage(records) = through(&mut processor, Batch::Usage(records)).await else {
        panic!("usage stays usage");
    };
    let web = pod_meta("shop", "web-1", "node-a", OwnerKind::Deployment, "web");
    let node = EndpointMeta {
        node: Some("node-a".into()),
        owner_kind: Some(OwnerKind::Node),
        owner_name: Some("node-a".into()),
        class: EndpointClass::Node,
        ..EndpointMeta::default()
    };
    let ends: Vec<(EndpointMeta, EndpointMeta)> =
        records.into_iter().map(|r| (r.client, r.server)).collect();
    assert_eq!(
        ends[0],
        (
            web.clone(),
            pod_meta("shop", "db-0", "node-a", OwnerKind::StatefulSet, "db")
        )
    );
    let service = EndpointMeta {
        namespace: Some("shop".into()),
        owner_kind: Some(OwnerKind::Service),
        owner_name: Some("db".into()),
        class: EndpointClass::Service,
        ..EndpointMeta::default()
    };
    assert_eq!(
        ends[1],
        (web.clone(), service),
        "IPv6 pod address, ClusterIP"
    );
    assert_eq!(
        ends[2],
        (web, node.clone()),
        "v4-mapped folds; host network is the node"
    );
    let partner = EndpointMeta {
        class: EndpointClass::External,
        dns_name: Some("partner.example".into()),
        ..EndpointMeta::default()
    };
    assert_eq!(
        ends[3],
        (node, partner),
        "loopback is listed for the node; named external"
    );
    let unknown = EndpointMeta::default();
    let nameless = EndpointMeta {
        class: EndpointClass::External,
        ..EndpointMeta::default()
    };
    assert_eq!(
        ends[4],
        (unknown, nameless),
        "private and unlisted: unknown"
    );
}

#[tokio::test]
async fn capture_records_are_attributed_and_host_records_name_external_ends() {
    let mut processor = started(config_with(INVENTORY)).await;
    let learnt = HostName {
        ip: "203.0.113.80".parse().unwrap(),
        name: "cdn.example".into(),
        source: NameSource::Dns,
        first_seen: Timestamp::from_secs(1),
        last_seen: Timestamp::from_secs(1),
    };
    through(&mut processor, Batch::Hosts(vec![learnt])).await;
    let from_db = |server: &str| exchange("10.0.0.6", server, 1_795_240_800);
    let mut seen_by_capture = from_db("203.0.113.81");
    seen_by_capture.server.dns_name = Some("api.example".into());
    let batch = Batch::Http(vec![from_db("203.0.113.80"), seen_by_capture]);
    let Batch::Http(records) = through(&mut processor, batch).await else {
        panic!("http stays http");
    };
    assert_eq!(
        records[0].client,
        pod_meta("shop", "db-0", "node-a", OwnerKind::StatefulSet, "db")
    );
    assert_eq!(
        (
            records[0].server.class,
            records[0].server.dns_name.as_deref()
        ),
        (EndpointClass::External, Some("cdn.example"))
    );
    assert_eq!(
        records[1].server.dns_name.as_deref(),
        Some("api.example"),
        "a name the record came with is kept"
    );
}

#[tokio::test]
async fn cluster_ranges_decide_external_or_unknown() {
    let config = K8sAttributesConfig {
        source: MetadataSource::Static,
        cluster_cidrs: vec!["10.244.0.0/16".parse().unwrap()],
        max_names: 1,
        ..K8sAttributesConfig::default()
    };
    let mut processor = started(config).await;
    let Batch::Usage(records) = through(
        &mut processor,
        Batch::Usage(vec![usage("10.244.3.3", "10.9.9.9", 1_795_240_800)]),
    )
    .await
    else {
        panic!("usage stays usage");
    };
    assert_eq!(records[0].client.class, EndpointClass::Unknown);
    assert_eq!(
        records[0].server.class,
        EndpointClass::External,
        "10/8 is not this cluster's"
    );
    let mut out = Vec::new();
    processor.tick(SystemTime::now(), &mut out).await.unwrap();
    assert!(out.is_empty());
}

#[test]
fn bad_inventories_are_refused_by_path() {
    let cases = [
        (
            "workloads: [{namespace: a, kind: Rollout, name: b}]",
            "kind \"Rollout\" is not one of Deployment, ReplicaSet, DaemonSet",
        ),
        (
            "nodes: [{name: n, addresses: [not-an-ip]}]",
            "invalid IP address syntax",
        ),
        ("pods: []", "unknown field `pods`"),
        (
            "network_policies: [{metadata: {namespace: a, name: b}, spec: {ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/33}}]}]}}]",
            "network policy a/b: ingress[0].peers[0]: ipBlock.cidr \"10.0.0.0/33\" is not a CIDR block",
        ),
        (
            "network_policies: [{metadata: {namespace: a, name: b}, spec: {egress: [{to: [{}]}]}}]",
            "network policy a/b: egress[0].peers[0]: needs a podSelector",
        ),
        (
            "network_policies: [{metadata: {namespace: a, name: b}, spec: {ingress: [{ports: [{protocol: tcp, port: 80}]}]}}]",
            "ingress[0].ports[0]: protocol \"tcp\" is not TCP, UDP or SCTP",
        ),
        (
            "network_policies: [{metadata: {namespace: a, name: b}, spec: {ingress: [{ports: [{port: http, endPort: 90}]}]}}]",
            "endPort needs a numbered port, not \"http\"",
        ),
        (
            "network_policies: [{metadata: {namespace: a, name: b}, spec: {podSelector: {matchExpressions: [{key: app, operator: Is}]}}}]",
            "podSelector: operator \"Is\" is not In, NotIn, Exists or DoesNotExist",
        ),
        (
            "network_policies: [{metadata: {namespace: a, name: b}, spec: {policyTypes: [ingress]}}]",
            "policyTypes: \"ingress\" is not Ingress or Egress",
        ),
        (
            "workloads: [{namespace: a, kind: Deployment, name: b, ports: [{name: http, port: 80, protocol: tcp}]}]",
            "workload a/b: port http's protocol \"tcp\" is not TCP, UDP or SCTP",
        ),
        (
            "network_policies: [{spec: {podSelector: {}}}]",
            "network_policies[0]: metadata.name is missing",
        ),
        (
            "network_policies: [{kind: Pod, metadata: {name: b}}]",
            "invalid value: string \"Pod\", expected NetworkPolicy",
        ),
    ];
    for (text, expected) in cases {
        let errors = config_with(text).validate();
        assert_eq!(errors.len(), 1, "{text}");
        assert_eq!(errors[0].path, "inventory");
        assert!(
            errors[0].message.contains(expected),
            "{text}: {}",
            errors[0].message
        );
    }
    let missing = K8sAttributesConfig {
        source: MetadataSource::Static,
        inventory: Some("/nonexistent/inventory.yaml".into()),
        ..K8sAttributesConfig::default()
    };
    let errors = missing.validate();
    assert!(
        errors[0]
            .message
            .contains("cannot read the inventory /nonexistent/inventory.yaml")
    );
}

#[tokio::test]
async fn a_changed_inventory_is_followed_and_a_broken_one_keeps_the_last_good_one() {
    let config = config_with(INVENTORY);
    let path = config.inventory.clone().unwrap();
    let mut processor = started(config).await;
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let (_, server) = crate::support::ends(&mut processor, "10.0.0.5", "10.0.0.9", now).await;
    assert_eq!(
        server.class,
        EndpointClass::Unknown,
        "not in the inventory yet"
    );

    // The workload scales: a second web pod is listed.
    let scaled = INVENTORY.replace(
        "      - { name: web-1, node: node-a, ips: [10.0.0.5, \"fd00::5\"] }\n",
        "      - { name: web-1, node: node-a, ips: [10.0.0.5, \"fd00::5\"] }\n      - { name: web-2, node: node-a, ips: [10.0.0.9] }\n",
    );
    assert_ne!(scaled, INVENTORY);
    std::fs::write(&path, &scaled).unwrap();
    let (_, server) = crate::support::ends(&mut processor, "10.0.0.5", "10.0.0.9", now).await;
    assert_eq!(
        server,
        pod_meta("shop", "web-2", "node-a", OwnerKind::Deployment, "web")
    );

    // A file that no longer parses changes nothing.
    std::fs::write(&path, "workloads: [{ kind: Rocket }]").unwrap();
    let (_, server) = crate::support::ends(&mut processor, "10.0.0.5", "10.0.0.9", now).await;
    assert_eq!(server.pod.as_deref(), Some("web-2"));
}
