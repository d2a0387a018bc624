//! The Python OTLP receiver (the testkit's) and the exporter under test.

use spider_collector::telemetry::ComponentTelemetry;
use spider_collector::{CreateContext, Exporter, Factory};
use spider_exporter_otlp::{OTLP_EXPORTER, OtlpConfig, Protocol};
pub use spider_testkit::otlp_peer::Peer;
pub use spider_testkit::{free_port, scratch};

/// The peer's endpoint for a protocol.
pub trait Endpoint {
    /// `scheme://localhost:PORT` of the port that speaks `protocol`.
    fn endpoint(&self, protocol: Protocol, scheme: &str) -> String;
}

impl Endpoint for Peer {
    fn endpoint(&self, protocol: Protocol, scheme: &str) -> String {
        match protocol {
            Protocol::Grpc => format!("{scheme}://localhost:{}", self.grpc_port),
            Protocol::HttpProtobuf => format!("{scheme}://localhost:{}", self.http_port),
        }
    }
}

/// An exporter built by the factory.
pub fn exporter(config: OtlpConfig) -> Box<dyn Exporter> {
    exporter_in(config, spider_collector::DEFAULT_CLUSTER)
}

/// An exporter built by the factory for a collector of `cluster` (`service.cluster`).
pub fn exporter_in(config: OtlpConfig, cluster: &str) -> Box<dyn Exporter> {
    let context = CreateContext {
        id: "otlp".parse().unwrap(),
        pipeline: None,
        telemetry: ComponentTelemetry::detached(&[("exporter", "otlp")]),
        node: "node-1".into(),
        cluster: cluster.into(),
    };
    OTLP_EXPORTER.create(config, context).expect("create")
}
