//! Fixtures: records of every kind, an exporter on a scratch directory, the Python readers.

use std::net::IpAddr;
use std::path::Path;

use serde_json::Value;
use spider_collector::records::{
    Batch, CloseReason, Direction, EndpointClass, EndpointMeta, HostName, HttpTransaction,
    NameSource, NetworkUsage, ObservedEnds, OwnerKind, Packet, PolicyVerdict, SessionState,
    TcpSession, Timestamp, Transport,
};
use spider_collector::telemetry::ComponentTelemetry;
use spider_collector::{CreateContext, Exporter, Factory};
pub use spider_exporter_parquet::files_ending;
use spider_exporter_parquet::{PARQUET_EXPORTER, ParquetConfig};
use spider_testkit::python_json;
pub use spider_testkit::scratch;

/// 2026-11-21T05:59:00Z: one minute before an hour boundary.
pub const BEFORE_SIX: Timestamp = Timestamp::from_secs(1_795_240_740);
/// 2026-11-21T06:00:00Z.
pub const SIX: Timestamp = Timestamp::from_secs(1_795_240_800);

/// A parquet exporter writing to `dir`, built by its factory.
pub fn exporter(config: ParquetConfig) -> Box<dyn Exporter> {
    let context = CreateContext {
        id: "parquet".parse().unwrap(),
        pipeline: None,
        telemetry: ComponentTelemetry::detached(&[("exporter", "parquet")]),
        node: "node-1".into(),
        cluster: spider_collector::DEFAULT_CLUSTER.into(),
    };
    PARQUET_EXPORTER.create(config, context).expect("create")
}

pub fn config(dir: &Path) -> ParquetConfig {
    ParquetConfig {
        path: dir.to_path_buf(),
        ..ParquetConfig::default()
    }
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn shop(pod: &str) -> EndpointMeta {
    EndpointMeta {
        namespace: Some("shop".into()),
        pod: Some(pod.into()),
        node: Some("node-a".into()),
        owner_kind: Some(OwnerKind::Deployment),
        owner_name: Some("cart".into()),
        class: EndpointClass::Pod,
        dns_name: None,
    }
}

/// `n` usage records, numbered by `bytes_to_server`, alternating between two hours.
pub fn usage(n: u64) -> Vec<NetworkUsage> {
    (0..n)
        .map(|i| NetworkUsage {
            bucket_start: if i % 2 == 0 { BEFORE_SIX } else { SIX },
            reporter: "node-a".into(),
            client_ip: ip("10.244.0.7"),
            server_ip: if i % 3 == 0 {
                ip("fd00::5")
            } else {
                ip("10.96.0.10")
            },
            server_port: 53,
            transport: Transport::Udp,
            bytes_to_server: i,
            bytes_to_client: 2 * i,
            messages_to_server: 1,
            messages_to_client: 1,
            packets_to_server: 1,
            packets_to_client: 1,
            client: shop("cart-7d9f-abcde"),
            server: EndpointMeta {
                class: EndpointClass::Service,
                ..EndpointMeta::default()
            },
            observed: Some(ObservedEnds::Client),
            service_ip: (i % 2 == 0).then(|| ip("10.96.0.10")),
            service_port: (i % 2 == 0).then_some(53),
            service_namespace: (i % 2 == 0).then(|| "kube-system".to_owned()),
            service_name: (i % 2 == 0).then(|| "kube-dns".to_owned()),
            policy: (i % 3 == 0).then_some(PolicyVerdict::Allowed),
            policy_by: (i % 3 == 0).then(|| "kube-system/dns-from-anywhere".to_owned()),
        })
        .collect()
}

/// One record of every capture kind.
pub fn capture() -> Vec<Batch> {
    let packet = Packet {
        time: SIX,
        interface: "eth0".into(),
        capturer: Some("node-1".into()),
        ip_version: 4,
        src_ip: ip("10.0.0.1"),
        dst_ip: ip("10.0.0.2"),
        src_port: Some(40000),
        dst_port: Some(80),
        protocol: 6,
        wire_length: 74,
        captured_length: 74,
        payload_length: 0,
        payload_offset: 54,
        fragment: false,
        tcp_flags: Some(0x02),
        seq: Some(0),
        ack: None,
        direction: Direction::ToServer,
        session_id: Some(1),
        link_type: 1,
        frame: vec![0xAB; 74].into(),
        src: EndpointMeta::default(),
        dst: EndpointMeta::default(),
    };
    let session = TcpSession {
        session_id: 1,
        interface: "eth0".into(),
        capturer: Some("node-1".into()),
        client_ip: ip("10.0.0.1"),
        client_port: 40000,
        server_ip: ip("10.0.0.2"),
        server_port: 80,
        state: SessionState::Closed,
        first_packet: SIX,
        connected: Some(SIX.plus_micros(150)),
        handshake_latency_us: Some(150),
        last_packet: SIX.plus_micros(5000),
        duration_us: 5000,
        bytes_to_server: 120,
        bytes_to_client: 900,
        packets_to_server: 5,
        packets_to_client: 4,
        missed_syn: false,
        close_reason: CloseReason::Fin,
        server_host: Some("web.local".into()),
        client: EndpointMeta::default(),
        server: shop("web-0"),
    };
    let http = HttpTransaction {
        session_id: 1,
        capturer: Some("node-1".into()),
        client_ip: ip("10.0.0.1"),
        client_port: 40000,
        server_ip: ip("10.0.0.2"),
        server_port: 80,
        method: Some("GET".into()),
        host: Some("web.local".into()),
        path: Some("/index.html".into()),
        query: Some("a=1".into()),
        version: Some("HTTP/1.1".into()),
        status: Some(200),
        user_agent: Some("curl/7.88".into()),
        request_content_type: None,
        response_content_type: Some("text/html".into()),
        request_body_size: Some(0),
        response_body_size: Some(612),
        request_time: Some(SIX.plus_micros(200)),
        response_time: Some(SIX.plus_micros(900)),
        latency_us: Some(700),
        anomalies: None,
        client: EndpointMeta::default(),
        server: shop("web-0"),
    };
    let host = HostName {
        ip: ip("10.0.0.2"),
        name: "web.local".into(),
        source: NameSource::Host,
        first_seen: SIX,
        last_seen: SIX.plus_micros(900),
    };
    vec![
        Batch::Packets(vec![packet]),
        Batch::TcpSessions(vec![session]),
        Batch::Http(vec![http]),
        Batch::Hosts(vec![host]),
    ]
}

/// Runs `tests/python/datasets.py ARGS` and parses its JSON.
pub fn python(args: &[&str]) -> Value {
    python_json("datasets.py", args)
}
