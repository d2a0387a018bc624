//! The `otlp` exporter: network usage as OTLP metrics (OTLP/gRPC or OTLP/HTTP protobuf), so Spider
//! plugs into an existing OpenTelemetry Collector, Grafana or any OTLP backend.
//!
//! Requests are built from the official protobuf types (opentelemetry-proto) rather than through
//! the metrics SDK, so that each point keeps its one-minute bucket as its time window, and so that
//! the collector's queue and retry hold the exact request that failed. Cardinality is chosen with
//! `dimensions` (namespace and owner by default; pod, node, class, address and port on request).

mod config;
mod convert;
mod transport;

use async_trait::async_trait;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use spider_collector::records::{Batch, Signal};
use spider_collector::{ComponentError, Counter, CreateContext, Declared, ExportError, Exporter};

/// The resource attribute of the cluster (OTel's semantic conventions): `service.cluster`, unless
/// `resource:` names it.
pub const CLUSTER_ATTRIBUTE: &str = "k8s.cluster.name";

pub use config::{Dimension, OtlpConfig, Protocol, Resolved, Temporality, TlsSettings};
pub use convert::Converter;
pub use transport::Transport;

/// Builds [`OtlpExporter`]s.
pub const OTLP_EXPORTER: Declared<dyn Exporter, OtlpConfig> =
    Declared::new("otlp", &[Signal::Usage], create);

/// Builds one from its validated config.
fn create(config: OtlpConfig, context: CreateContext) -> Result<Box<dyn Exporter>, ComponentError> {
    let resolved = config
        .resolve(&|name| std::env::var(name).ok())
        .map_err(ComponentError::new)?;
    let transport = Transport::new(&resolved, &config.tls)?;
    // The cluster the records were filed under, as OTel names it, unless configured.
    let mut resource = config.resource.clone();
    resource
        .entry(CLUSTER_ATTRIBUTE.to_owned())
        .or_insert_with(|| context.cluster.clone());
    let resource = resource.into_iter().collect();
    let converter = Converter::new(
        config.temporality,
        config.dimensions(),
        resource,
        resolved.max_series,
    );
    let rejected = context.telemetry.counter(
        "spider_otlp_rejected_points_total",
        "Data points the endpoint accepted the request of but rejected.",
    );
    let overflowed = context.telemetry.counter(
        "spider_otlp_overflow_records_total",
        "Records folded into the overflow series (max_series reached).",
    );
    tracing::info!(exporter = %context.id, url = %resolved.url, protocol = ?resolved.protocol, "OTLP exporter ready");
    Ok(Box::new(OtlpExporter {
        converter,
        transport,
        unsent: None,
        rejected,
        overflowed,
    }))
}

/// Converts usage batches and sends them.
pub struct OtlpExporter {
    converter: Converter,
    transport: Transport,
    /// The request of a batch whose delivery failed retryably: a retry resends it, so cumulative
    /// totals never count a batch twice.
    unsent: Option<ExportMetricsServiceRequest>,
    rejected: Counter,
    overflowed: Counter,
}

impl OtlpExporter {
    async fn send(&mut self, request: ExportMetricsServiceRequest) -> Result<(), ExportError> {
        match self.transport.send(&request).await {
            Ok(rejected) => {
                if rejected > 0 {
                    tracing::warn!(rejected, "the OTLP endpoint rejected some data points");
                    self.rejected.add(rejected as u64);
                }
                Ok(())
            }
            Err(error) => {
                if matches!(error, ExportError::Retryable { .. }) {
                    self.unsent = Some(request);
                }
                Err(error)
            }
        }
    }
}

#[async_trait]
impl Exporter for OtlpExporter {
    async fn export(&mut self, batch: &Batch) -> Result<(), ExportError> {
        let Batch::Usage(records) = batch else {
            return Ok(());
        };
        let before = self.converter.overflowed();
        let request = self.converter.request(records);
        self.overflowed.add(self.converter.overflowed() - before);
        self.unsent = None;
        // A batch of reports the counting rule leaves out (a server's view of a conversation
        // its client's agent counts) has no point: nothing is sent for it.
        if request.resource_metrics.iter().all(|r| {
            r.scope_metrics
                .iter()
                .all(|s| s.metrics.iter().all(metric_is_empty))
        }) {
            return Ok(());
        }
        self.send(request).await
    }

    async fn retry(&mut self, batch: &Batch) -> Result<(), ExportError> {
        match self.unsent.take() {
            Some(request) => self.send(request).await,
            None => self.export(batch).await,
        }
    }

    async fn shutdown(&mut self) -> Result<(), ComponentError> {
        Ok(())
    }
}

/// Whether a metric has no data point.
fn metric_is_empty(metric: &opentelemetry_proto::tonic::metrics::v1::Metric) -> bool {
    use opentelemetry_proto::tonic::metrics::v1::metric::Data;
    match &metric.data {
        Some(Data::Sum(sum)) => sum.data_points.is_empty(),
        Some(Data::Gauge(gauge)) => gauge.data_points.is_empty(),
        Some(_) => false,
        None => true,
    }
}
