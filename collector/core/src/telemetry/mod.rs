//! Self-telemetry: per-component counters and gauges, readable at runtime as Prometheus text
//! (`/metrics`), pushed over OTLP when a periodic reader is configured (both through the
//! OpenTelemetry SDK, `sdk.rs`), and written as periodic log lines.
//!
//! Every series is labelled with the component it belongs to (`receiver="pcap/eth0"`, and
//! `pipeline` for processors, which exist once per pipeline).

mod sdk;
mod server;

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

pub use sdk::{TelemetryError, otlp_provider};
pub use server::{metrics_router, serve_metrics};

use crate::config::PeriodicReader;

/// A monotonically increasing count.
#[derive(Debug, Clone, Default)]
pub struct Counter(Arc<AtomicU64>);

impl Counter {
    /// Adds `n`.
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    /// The current count.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Reads a gauge's current value when telemetry is rendered.
pub type GaugeFn = Arc<dyn Fn() -> f64 + Send + Sync>;

#[derive(Clone)]
enum Source {
    Counter(Counter),
    Gauge(GaugeFn),
}

impl Source {
    fn value(&self) -> f64 {
        match self {
            Source::Counter(counter) => counter.get() as f64,
            Source::Gauge(read) => read(),
        }
    }
}

#[derive(Clone)]
struct Series {
    name: String,
    help: String,
    labels: Vec<(String, String)>,
    source: Source,
}

/// The registry of every series of one collector.
#[derive(Clone)]
pub struct Telemetry {
    series: Arc<Mutex<Vec<Series>>>,
    sdk: Arc<sdk::Sdk>,
}

impl Default for Telemetry {
    fn default() -> Self {
        Self {
            series: Arc::default(),
            sdk: sdk::local(),
        }
    }
}

impl fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Telemetry")
            .field("series", &self.lock().len())
            .finish()
    }
}

/// One series as read at a moment.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    /// Metric name (`spider_exporter_sent_items_total`).
    pub name: String,
    /// Labels, in registration order.
    pub labels: Vec<(String, String)>,
    /// Value now.
    pub value: f64,
}

impl Telemetry {
    /// An empty registry, rendered for Prometheus alone.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty registry of the collector on `node` in `cluster`, also pushed by each periodic
    /// reader over OTLP/gRPC.
    pub fn with_readers(
        node: &str,
        cluster: &str,
        periodic: &[PeriodicReader],
    ) -> Result<Self, TelemetryError> {
        Ok(Self {
            series: Arc::default(),
            sdk: Arc::new(sdk::Sdk::new(sdk::resource(node, cluster), periodic)?),
        })
    }

    /// Pushes what the periodic readers have not sent yet and stops them.
    pub async fn shutdown(&self) -> Result<(), TelemetryError> {
        let sdk = self.sdk.clone();
        tokio::task::spawn_blocking(move || sdk.shutdown())
            .await
            .map_err(|error| TelemetryError::Shutdown(error.to_string()))?
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Series>> {
        self.series
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn register(&self, name: &str, help: &str, labels: &[(String, String)], source: Source) {
        let series = Series {
            name: name.to_owned(),
            help: help.to_owned(),
            labels: labels.to_vec(),
            source,
        };
        // The registry's lock is let go before the SDK's is taken: a collection holds the SDK's
        // and then takes the registry's, in its callbacks.
        self.lock().push(series.clone());
        self.sdk.instrument(&series, Arc::downgrade(&self.series));
    }

    /// The telemetry handle of one component.
    pub fn component(&self, labels: &[(&str, &str)]) -> ComponentTelemetry {
        ComponentTelemetry {
            telemetry: self.clone(),
            labels: labels
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    /// Every series' current value.
    pub fn read(&self) -> Vec<Reading> {
        self.lock()
            .iter()
            .map(|s| Reading {
                name: s.name.clone(),
                labels: s.labels.clone(),
                value: s.source.value(),
            })
            .collect()
    }

    /// The value of the series with this name whose labels include all of `labels`, summed.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.read()
            .iter()
            .filter(|r| r.name == name)
            .filter(|r| {
                labels
                    .iter()
                    .all(|(k, v)| r.labels.iter().any(|(rk, rv)| rk == k && rv == v))
            })
            .map(|r| r.value)
            .sum()
    }

    /// The whole registry in the Prometheus text exposition format.
    pub fn render_prometheus(&self) -> String {
        self.sdk.render_prometheus()
    }

    /// One line per component: its label set and every non-zero value, for the periodic log.
    pub fn summary_lines(&self) -> Vec<String> {
        let mut lines: Vec<(String, Vec<String>)> = Vec::new();
        for series in self.lock().iter() {
            let owner = series
                .labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" ");
            let short = series
                .name
                .trim_start_matches("spider_")
                .trim_end_matches("_total");
            let entry = format!("{short}={}", series.source.value());
            match lines.iter_mut().find(|(o, _)| *o == owner) {
                Some((_, entries)) => entries.push(entry),
                None => lines.push((owner, vec![entry])),
            }
        }
        lines
            .into_iter()
            .map(|(owner, entries)| format!("{owner}: {}", entries.join(" ")))
            .collect()
    }
}

/// A component's handle on the registry: its series carry its labels.
#[derive(Clone)]
pub struct ComponentTelemetry {
    telemetry: Telemetry,
    labels: Vec<(String, String)>,
}

impl ComponentTelemetry {
    /// A handle that records into a registry of its own (for tests and tools).
    pub fn detached(labels: &[(&str, &str)]) -> Self {
        Telemetry::new().component(labels)
    }

    /// Registers a counter (the name should end in `_total`).
    pub fn counter(&self, name: &str, help: &str) -> Counter {
        let counter = Counter::default();
        self.telemetry
            .register(name, help, &self.labels, Source::Counter(counter.clone()));
        counter
    }

    /// Registers a gauge read by `read` whenever telemetry is rendered.
    pub fn gauge(&self, name: &str, help: &str, read: impl Fn() -> f64 + Send + Sync + 'static) {
        self.telemetry
            .register(name, help, &self.labels, Source::Gauge(Arc::new(read)));
    }

    /// The registry it records into.
    pub fn registry(&self) -> &Telemetry {
        &self.telemetry
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_and_gauges_render_with_their_labels() {
        let telemetry = Telemetry::new();
        let exporter = telemetry.component(&[("exporter", "debug")]);
        let sent = exporter.counter("spider_exporter_sent_items_total", "Items delivered.");
        exporter.gauge("spider_exporter_queue_size", "Batches queued.", || 3.0);
        let other = telemetry.component(&[("exporter", "parquet/\"x\"")]);
        other
            .counter("spider_exporter_sent_items_total", "Items delivered.")
            .add(2);
        sent.add(40);
        sent.add(2);

        let text = telemetry.render_prometheus();
        assert_eq!(
            text.matches("# TYPE spider_exporter_sent_items_total counter")
                .count(),
            1
        );
        assert!(
            text.contains("spider_exporter_sent_items_total{exporter=\"debug\"} 42\n"),
            "{text}"
        );
        assert!(
            text.contains("spider_exporter_sent_items_total{exporter=\"parquet/\\\"x\\\"\"} 2\n"),
            "{text}"
        );
        assert!(text.contains("# TYPE spider_exporter_queue_size gauge\nspider_exporter_queue_size{exporter=\"debug\"} 3\n"));
        assert_eq!(
            telemetry.value("spider_exporter_sent_items_total", &[]),
            44.0
        );
        assert_eq!(
            telemetry.value("spider_exporter_sent_items_total", &[("exporter", "debug")]),
            42.0
        );
        assert_eq!(
            telemetry.summary_lines()[0],
            "exporter=debug: exporter_sent_items=42 exporter_queue_size=3"
        );
    }
}
