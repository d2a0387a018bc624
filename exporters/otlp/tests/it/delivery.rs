//! What arrives, over gRPC and HTTP: names, units, attributes, values, windows, headers; how
//! failures are classified; TLS.

use std::collections::BTreeMap;
use std::process::Command;

use spider_collector::ExportError;
use spider_collector::conformance;
use spider_collector::records::{
    Batch, EndpointMeta, NetworkUsage, ObservedEnds, OwnerKind, PolicyVerdict, Timestamp, Transport,
};
use spider_exporter_otlp::{
    Dimension, OTLP_EXPORTER, OtlpConfig, Protocol, Temporality, TlsSettings,
};

use crate::peer::{Endpoint, Peer, exporter, exporter_in, scratch};
use crate::points::{points, value};

/// 2026-11-21T06:00:00Z, in nanoseconds.
const SIX_NANOS: u64 = 1_795_240_800_000_000_000;

fn meta(namespace: &str, kind: OwnerKind, owner: &str) -> EndpointMeta {
    EndpointMeta {
        namespace: Some(namespace.into()),
        owner_kind: Some(kind),
        owner_name: Some(owner.into()),
        ..EndpointMeta::default()
    }
}

fn records() -> Vec<NetworkUsage> {
    let db = NetworkUsage {
        bucket_start: Timestamp::from_secs(1_795_240_800),
        reporter: "node-a".into(),
        client_ip: "10.0.0.1".parse().unwrap(),
        server_ip: "10.0.0.2".parse().unwrap(),
        server_port: 5432,
        transport: Transport::Tcp,
        bytes_to_server: 100,
        bytes_to_client: 1000,
        messages_to_server: 2,
        messages_to_client: 3,
        packets_to_server: 4,
        packets_to_client: 5,
        client: meta("shop", OwnerKind::Deployment, "cart"),
        server: meta("payments", OwnerKind::StatefulSet, "db"),
        policy: Some(PolicyVerdict::Denied),
        ..NetworkUsage::default()
    };
    let db_again = NetworkUsage {
        bytes_to_server: 50,
        bytes_to_client: 500,
        messages_to_server: 1,
        messages_to_client: 1,
        packets_to_server: 1,
        packets_to_client: 1,
        ..db.clone()
    };
    let dns = NetworkUsage {
        reporter: "node-b".into(),
        client_ip: "fd00::9".parse().unwrap(),
        server_ip: "fd00::53".parse().unwrap(),
        server_port: 53,
        transport: Transport::Udp,
        bytes_to_server: 70,
        bytes_to_client: 0,
        messages_to_server: 1,
        messages_to_client: 0,
        packets_to_server: 1,
        packets_to_client: 0,
        client: EndpointMeta::default(),
        server: EndpointMeta::default(),
        // No verdict: the attribute is left out.
        policy: None,
        ..db.clone()
    };
    // The db server's own agent reported the same conversation: the client's agent counts it
    // (the counted-once rule), so this report adds nothing to any point.
    let db_seen_by_server = NetworkUsage {
        reporter: "node-b".into(),
        observed: Some(ObservedEnds::Server),
        bytes_to_server: 999_999,
        ..db.clone()
    };
    vec![db, db_again, dns, db_seen_by_server]
}

fn config(peer: &Peer, protocol: Protocol, temporality: Temporality) -> OtlpConfig {
    OtlpConfig {
        endpoint: Some(peer.endpoint(protocol, "http")),
        protocol: Some(protocol),
        headers: [("Api-Key".to_owned(), "s3cret".to_owned())].into(),
        temporality,
        dimensions: Some(vec![
            Dimension::Namespace,
            Dimension::Owner,
            Dimension::Port,
            Dimension::Policy,
        ]),
        resource: [("k8s.cluster.name".to_owned(), "prod".to_owned())].into(),
        ..OtlpConfig::default()
    }
}

#[tokio::test]
async fn lifecycle_and_config_conform() {
    conformance::check_component(OTLP_EXPORTER, OtlpConfig::default()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_collectors_cluster_is_the_resource_k8s_cluster_name_unless_configured() {
    for (configured, expected) in [(false, "east"), (true, "prod")] {
        let peer = Peer::start(&[]);
        let mut config = config(&peer, Protocol::Grpc, Temporality::Delta);
        if !configured {
            config.resource.clear();
        }
        let mut otlp = exporter_in(config, "east");
        otlp.export(&Batch::Usage(records())).await.unwrap();
        let points = points(&peer.wait_for(1));
        assert!(!points.is_empty());
        for point in &points {
            assert_eq!(point.resource["k8s.cluster.name"], expected);
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn grpc_and_http_carry_exact_names_attributes_and_values() {
    for protocol in [Protocol::Grpc, Protocol::HttpProtobuf] {
        let peer = Peer::start(&[]);
        let mut otlp = exporter(config(&peer, protocol, Temporality::Delta));
        otlp.export(&Batch::Usage(records())).await.unwrap();
        let requests = peer.wait_for(1);
        assert_eq!(requests[0]["headers"]["api-key"], "s3cret", "{protocol:?}");
        let points = points(&requests);
        assert_eq!(
            points.len(),
            12,
            "3 metrics × 2 series × 2 directions, {protocol:?}"
        );

        let bytes = points
            .iter()
            .find(|p| p.metric == "network.flow.bytes")
            .unwrap();
        assert_eq!(
            (
                bytes.unit.as_str(),
                bytes.temporality.as_str(),
                bytes.monotonic
            ),
            ("By", "AGGREGATION_TEMPORALITY_DELTA", true)
        );
        assert_eq!(
            (bytes.start, bytes.time),
            (SIX_NANOS, SIX_NANOS + 60_000_000_000),
            "the one-minute bucket"
        );

        let db = [("destination.port", "5432"), ("network.transport", "tcp")];
        let expected_attributes: BTreeMap<String, String> = [
            ("network.transport", "tcp"),
            ("network.type", "ipv4"),
            ("source.k8s.namespace.name", "shop"),
            ("source.k8s.owner.name", "cart"),
            ("source.k8s.owner.type", "Deployment"),
            ("destination.k8s.namespace.name", "payments"),
            ("destination.k8s.owner.name", "db"),
            ("destination.k8s.owner.type", "StatefulSet"),
            ("destination.port", "5432"),
            ("spider.network.policy", "denied"),
            ("network.io.direction", "transmit"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let transmit = points
            .iter()
            .find(|p| {
                p.metric == "network.flow.bytes"
                    && p.attributes.get("destination.port").map(String::as_str) == Some("5432")
                    && p.attributes["network.io.direction"] == "transmit"
            })
            .unwrap();
        assert_eq!(transmit.attributes, expected_attributes, "{protocol:?}");
        assert_eq!(transmit.resource["host.name"], "node-a");
        assert_eq!(transmit.resource["service.name"], "spider");
        assert_eq!(transmit.resource["k8s.cluster.name"], "prod");

        let direction = |d| [db[0], db[1], ("network.io.direction", d)];
        assert_eq!(
            value(&points, "network.flow.bytes", &direction("transmit")),
            150
        );
        assert_eq!(
            value(&points, "network.flow.bytes", &direction("receive")),
            1500
        );
        assert_eq!(
            value(
                &points,
                "spider.network.flow.messages",
                &direction("transmit")
            ),
            3
        );
        assert_eq!(
            value(
                &points,
                "spider.network.flow.messages",
                &direction("receive")
            ),
            4
        );
        assert_eq!(
            value(
                &points,
                "spider.network.flow.packets",
                &direction("receive")
            ),
            6
        );

        let dns = [
            ("destination.port", "53"),
            ("network.type", "ipv6"),
            ("network.transport", "udp"),
        ];
        assert_eq!(
            value(
                &points,
                "network.flow.bytes",
                &[dns[0], dns[1], dns[2], ("network.io.direction", "transmit")]
            ),
            70
        );
        assert_eq!(
            value(
                &points,
                "network.flow.bytes",
                &[dns[0], ("network.io.direction", "receive")]
            ),
            0
        );
        let dns_point = points
            .iter()
            .find(|p| p.attributes.get("destination.port").map(String::as_str) == Some("53"))
            .unwrap();
        assert_eq!(dns_point.resource["host.name"], "node-b");
        assert!(
            !dns_point
                .attributes
                .contains_key("source.k8s.namespace.name"),
            "unknown metadata is left out"
        );
        assert!(
            !dns_point.attributes.contains_key("spider.network.policy"),
            "so is an unknown verdict"
        );
        otlp.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn cumulative_points_carry_running_totals_from_the_first_bucket() {
    let peer = Peer::start(&[]);
    let mut otlp = exporter(config(&peer, Protocol::Grpc, Temporality::Cumulative));
    otlp.export(&Batch::Usage(records())).await.unwrap();
    let mut later = records();
    for record in &mut later {
        record.bucket_start = record.bucket_start.plus_micros(120_000_000);
    }
    otlp.export(&Batch::Usage(later)).await.unwrap();
    let requests = peer.wait_for(2);
    let last = points(&requests[1..]);
    let transmit = [
        ("destination.port", "5432"),
        ("network.io.direction", "transmit"),
    ];
    assert_eq!(value(&last, "network.flow.bytes", &transmit), 300);
    let point = last
        .iter()
        .find(|p| p.metric == "network.flow.bytes")
        .unwrap();
    assert_eq!(point.temporality, "AGGREGATION_TEMPORALITY_CUMULATIVE");
    assert_eq!(
        (point.start, point.time),
        (SIX_NANOS, SIX_NANOS + 180_000_000_000),
        "start stays, time moves"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn rejected_credentials_are_permanent_and_unavailability_retryable_without_double_counting() {
    for protocol in [Protocol::Grpc, Protocol::HttpProtobuf] {
        let guarded = Peer::start(&["--require-header", "api-key=other"]);
        let mut otlp = exporter(config(&guarded, protocol, Temporality::Cumulative));
        let error = otlp.export(&Batch::Usage(records())).await.unwrap_err();
        assert!(
            matches!(error, ExportError::Permanent(_)),
            "{protocol:?}: {error}"
        );

        let busy = Peer::start(&["--unavailable", "1"]);
        let mut otlp = exporter(config(&busy, protocol, Temporality::Cumulative));
        let batch = Batch::Usage(records());
        let error = otlp.export(&batch).await.unwrap_err();
        assert!(
            matches!(error, ExportError::Retryable { .. }),
            "{protocol:?}: {error}"
        );
        otlp.retry(&batch).await.unwrap();
        let points = points(&busy.wait_for(1));
        let transmit = [
            ("destination.port", "5432"),
            ("spider.network.policy", "denied"),
            ("network.io.direction", "transmit"),
        ];
        assert_eq!(
            value(&points, "network.flow.bytes", &transmit),
            150,
            "{protocol:?}: the retry resent, it did not add again"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_with_a_private_ca_works_over_both_protocols() {
    let dir = scratch("tls");
    let path = |name: &str| dir.join(name).to_str().unwrap().to_owned();
    std::fs::write(
        dir.join("leaf.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    let steps: [Vec<String>; 3] = [
        [
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=spider-test-ca",
        ]
        .map(String::from)
        .into_iter()
        .chain([
            "-keyout".into(),
            path("ca.key"),
            "-out".into(),
            path("ca.pem"),
        ])
        .collect(),
        [
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
        ]
        .map(String::from)
        .into_iter()
        .chain([
            "-keyout".into(),
            path("key.pem"),
            "-out".into(),
            path("leaf.csr"),
        ])
        .collect(),
        ["x509", "-req", "-days", "1", "-CAcreateserial"]
            .map(String::from)
            .into_iter()
            .chain([
                "-in".into(),
                path("leaf.csr"),
                "-CA".into(),
                path("ca.pem"),
                "-CAkey".into(),
                path("ca.key"),
                "-extfile".into(),
                path("leaf.ext"),
                "-out".into(),
                path("cert.pem"),
            ])
            .collect(),
    ];
    for step in steps {
        let made = Command::new("openssl").args(&step).output().unwrap();
        assert!(
            made.status.success(),
            "openssl {step:?}: {}",
            String::from_utf8_lossy(&made.stderr)
        );
    }
    let (ca, cert, key) = (
        dir.join("ca.pem"),
        dir.join("cert.pem"),
        dir.join("key.pem"),
    );
    let peer = Peer::start(&["--tls", cert.to_str().unwrap(), key.to_str().unwrap()]);
    for protocol in [Protocol::Grpc, Protocol::HttpProtobuf] {
        let trusted = OtlpConfig {
            endpoint: Some(peer.endpoint(protocol, "https")),
            tls: TlsSettings {
                ca_file: Some(ca.clone()),
                ..TlsSettings::default()
            },
            ..config(&peer, protocol, Temporality::Delta)
        };
        exporter(trusted)
            .export(&Batch::Usage(records()))
            .await
            .unwrap_or_else(|e| panic!("{protocol:?}: {e}"));
        let untrusted = OtlpConfig {
            endpoint: Some(peer.endpoint(protocol, "https")),
            ..config(&peer, protocol, Temporality::Delta)
        };
        assert!(
            exporter(untrusted)
                .export(&Batch::Usage(records()))
                .await
                .is_err(),
            "{protocol:?}: an unknown CA is refused"
        );
    }
    let transports: Vec<_> = peer
        .wait_for(2)
        .iter()
        .map(|r| r["transport"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(transports, ["grpc", "http"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_batch_the_counting_rule_leaves_out_sends_nothing_then_the_next_is_sent() {
    let peer = Peer::start(&[]);
    let mut otlp = exporter_in(config(&peer, Protocol::Grpc, Temporality::Delta), "east");
    // A server's own report of a conversation its client's agent counts.
    let server_side: Vec<NetworkUsage> = records()
        .into_iter()
        .map(|record| NetworkUsage {
            observed: Some(ObservedEnds::Server),
            ..record
        })
        .collect();
    otlp.export(&Batch::Usage(server_side)).await.unwrap();
    otlp.export(&Batch::Usage(records())).await.unwrap();
    let requests = peer.wait_for(1);
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(
        peer.requests().len(),
        1,
        "no empty request for the left-out batch: {requests:?}"
    );
    assert!(!points(&requests).is_empty());
}
