//! The registry on the OpenTelemetry SDK, as the Collector's own telemetry is: every metric name
//! is one observable instrument of an `SdkMeterProvider`, whose callback reads the registry's
//! series of that name. Components keep plain atomic counters on their hot paths; the SDK's
//! readers do the rest: its Prometheus exporter renders `/metrics`, its periodic readers push
//! over OTLP/gRPC.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, Weak};

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Meter, MeterProvider};
use opentelemetry_otlp::{MetricExporter, WithExportConfig, WithTonicConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::{PeriodicReader as SdkPeriodicReader, SdkMeterProvider};
use prometheus::{Encoder, TextEncoder};
use tonic::metadata::{MetadataKey, MetadataMap, MetadataValue};

use super::{Series, Source};
use crate::config::PeriodicReader;

/// The instrumentation scope every series is reported under.
const SCOPE: &str = "spider";

/// What the SDK could not be given.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The Prometheus exporter did not build.
    #[error("the Prometheus exporter of the self-telemetry: {0}")]
    Prometheus(String),
    /// An OTLP push did not build (an endpoint or header it refused).
    #[error("the self-telemetry push to {endpoint}: {reason}")]
    Push {
        /// The reader's endpoint.
        endpoint: String,
        /// Why.
        reason: String,
    },
    /// The readers did not stop cleanly (the last push failed or timed out).
    #[error("stopping the self-telemetry readers: {0}")]
    Shutdown(String),
}

/// The provider, its Prometheus registry and the instruments made so far.
pub(super) struct Sdk {
    provider: SdkMeterProvider,
    meter: Meter,
    prometheus: prometheus::Registry,
    instrumented: Mutex<HashSet<String>>,
}

impl Sdk {
    /// A provider with the Prometheus reader and one OTLP push per periodic reader.
    pub(super) fn new(
        resource: Resource,
        periodic: &[PeriodicReader],
    ) -> Result<Self, TelemetryError> {
        let prometheus = prometheus::Registry::new();
        let pull = opentelemetry_prometheus::exporter()
            .with_registry(prometheus.clone())
            .without_units()
            .scope_info_enabled(false)
            .build()
            .map_err(|error| TelemetryError::Prometheus(error.to_string()))?;
        let mut builder = SdkMeterProvider::builder()
            .with_resource(resource)
            .with_reader(pull);
        for reader in periodic {
            builder = builder.with_reader(
                SdkPeriodicReader::builder(push_exporter(reader)?)
                    .with_interval(reader.interval())
                    .build(),
            );
        }
        let provider = builder.build();
        Ok(Self {
            meter: provider.meter(SCOPE),
            provider,
            prometheus,
            instrumented: Mutex::new(HashSet::new()),
        })
    }

    /// Makes the instrument of `series`' name, once per name; its callback reads every series of
    /// that name in `registry` at each collection.
    pub(super) fn instrument(&self, series: &Series, registry: Weak<Mutex<Vec<Series>>>) {
        let mut instrumented = self
            .instrumented
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if !instrumented.insert(series.name.clone()) {
            return;
        }
        let name = series.name.clone();
        let help = series.help.clone();
        match series.source {
            // The Prometheus exporter adds `_total` to a counter's name, as Prometheus wants.
            Source::Counter(_) => {
                let instrument = name.trim_end_matches("_total").to_owned();
                self.meter
                    .u64_observable_counter(instrument)
                    .with_description(help)
                    .with_callback(move |observer| {
                        observe(&registry, &name, |source, labels| {
                            if let Source::Counter(counter) = source {
                                observer.observe(counter.get(), labels);
                            }
                        })
                    })
                    .build();
            }
            Source::Gauge(_) => {
                self.meter
                    .f64_observable_gauge(name.clone())
                    .with_description(help)
                    .with_callback(move |observer| {
                        observe(&registry, &name, |source, labels| {
                            observer.observe(source.value(), labels)
                        })
                    })
                    .build();
            }
        }
    }

    /// Every instrument in the Prometheus text exposition format.
    pub(super) fn render_prometheus(&self) -> String {
        let families = self.prometheus.gather();
        let mut text = Vec::new();
        match TextEncoder::new().encode(&families, &mut text) {
            Ok(()) => String::from_utf8(text).unwrap_or_default(),
            Err(error) => format!("# the self-telemetry could not be rendered: {error}\n"),
        }
    }

    /// Pushes what is left and stops the readers (blocking: call it off the async threads).
    pub(super) fn shutdown(&self) -> Result<(), TelemetryError> {
        self.provider
            .shutdown()
            .map_err(|error| TelemetryError::Shutdown(error.to_string()))
    }
}

/// Reports the value of every series named `name`, with its labels as attributes.
fn observe(
    registry: &Weak<Mutex<Vec<Series>>>,
    name: &str,
    mut report: impl FnMut(&Source, &[KeyValue]),
) {
    let Some(registry) = registry.upgrade() else {
        return;
    };
    let series = registry
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    for one in series.iter().filter(|s| s.name == name) {
        let labels: Vec<KeyValue> = one
            .labels
            .iter()
            .map(|(key, value)| KeyValue::new(key.clone(), value.clone()))
            .collect();
        report(&one.source, &labels);
    }
}

/// The OTLP/gRPC exporter of one periodic reader.
fn push_exporter(reader: &PeriodicReader) -> Result<MetricExporter, TelemetryError> {
    let otlp = &reader.exporter.otlp;
    let refused = |reason: String| TelemetryError::Push {
        endpoint: otlp.endpoint.clone(),
        reason,
    };
    let mut metadata = MetadataMap::new();
    for (name, value) in &otlp.headers {
        let key = MetadataKey::from_bytes(name.as_bytes())
            .map_err(|error| refused(format!("header {name:?}: {error}")))?;
        let value = MetadataValue::try_from(value.as_str())
            .map_err(|error| refused(format!("header {name:?}: {error}")))?;
        metadata.insert(key, value);
    }
    let mut builder = MetricExporter::builder()
        .with_tonic()
        .with_endpoint(otlp.endpoint.clone())
        .with_timeout(reader.timeout())
        .with_metadata(metadata);
    if otlp.endpoint.starts_with("https://") {
        builder = builder.with_tls_config(
            opentelemetry_otlp::tonic_types::transport::ClientTlsConfig::new().with_enabled_roots(),
        );
    }
    builder.build().map_err(|error| refused(error.to_string()))
}

/// A meter provider of its own that pushes over OTLP/gRPC as `reader` says, for a service that
/// reports something other than its component series (the query service's anomaly flags): its
/// instruments are the caller's.
pub fn otlp_provider(
    reader: &PeriodicReader,
    service: &str,
) -> Result<SdkMeterProvider, TelemetryError> {
    Ok(SdkMeterProvider::builder()
        .with_resource(
            Resource::builder()
                .with_service_name(service.to_owned())
                .build(),
        )
        .with_reader(
            SdkPeriodicReader::builder(push_exporter(reader)?)
                .with_interval(reader.interval())
                .build(),
        )
        .build())
}

/// What every series is reported as: Spider on this node, in this cluster.
pub(super) fn resource(node: &str, cluster: &str) -> Resource {
    let mut attributes = vec![KeyValue::new("service.instance.id", node.to_owned())];
    if !cluster.is_empty() {
        attributes.push(KeyValue::new("k8s.cluster.name", cluster.to_owned()));
    }
    Resource::builder()
        .with_service_name("spider")
        .with_attributes(attributes)
        .build()
}

/// A provider for registries made in tests and tools, with the Prometheus reader alone.
pub(super) fn local() -> Arc<Sdk> {
    Arc::new(
        Sdk::new(Resource::builder().with_service_name("spider").build(), &[])
            .expect("the Prometheus exporter builds without settings"),
    )
}
